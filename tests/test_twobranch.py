"""The DASR-style two-branch network: shapes, the degradation-aware conv against a per-sample loop, and the
contrastive loss on cases with known answers."""
import math

import pytest
import torch
import torch.nn.functional as F

from faiglib.models.twobranch import DAConv, TwoBranchSR, contrastive_loss, split_views


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shapes(scale):
    net = TwoBranchSR(num_feat=8, num_block=2, upscale=scale).double()
    x = torch.rand(2, 3, 10, 12, dtype=torch.float64)
    assert net(x).shape == (2, 3, 10 * scale, 12 * scale)
    rep = net.representation(x)
    assert rep.shape == (2, 8)  # 2 * enc_feat, enc_feat = num_feat // 2
    assert net.encoder.project(rep).shape == (2, 8)
    torch.testing.assert_close(net.restore(x, rep), net(x), rtol=0, atol=0)


def test_untrained_network_is_the_bilinear_skip():
    net = TwoBranchSR(num_feat=8, num_block=1).double()
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    expected = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    torch.testing.assert_close(net(x), expected, rtol=0, atol=0)  # zero last conv, as MSRResNet


def test_daconv_matches_a_per_sample_loop():
    torch.manual_seed(0)
    da = DAConv(num_feat=4, rep_dim=3).double()
    x = torch.randn(3, 4, 7, 6, dtype=torch.float64)
    r = torch.randn(3, 3, dtype=torch.float64)
    out = da(x, r)
    for b in range(3):
        kernel = da.kernel(r[b:b + 1]).reshape(4, 1, 3, 3)
        y = F.conv2d(x[b:b + 1], kernel, padding=1, groups=4)  # depthwise, this sample's kernels only
        y = da.pointwise(F.leaky_relu(y, 0.1))
        expected = y + x[b:b + 1] * da.attention(r[b:b + 1]).reshape(1, 4, 1, 1)
        torch.testing.assert_close(out[b:b + 1], expected, rtol=0, atol=1e-12)


def test_output_depends_on_the_representation():
    torch.manual_seed(1)
    net = TwoBranchSR(num_feat=8, num_block=1).double()
    torch.nn.init.normal_(net.conv_last.weight, std=0.1)
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    rep = net.representation(x)
    assert not torch.allclose(net.restore(x, rep), net.restore(x, rep + 1.0))
    # and the L1 loss reaches the encoder through the DA convs
    net.restore(x, net.representation(x)).abs().sum().backward()
    assert net.encoder.convs[0].weight.grad.abs().sum() > 0


def test_split_views_are_the_two_halves():
    lr = torch.arange(2 * 3 * 4 * 7, dtype=torch.float64).reshape(2, 3, 4, 7)
    left, right = split_views(lr)
    assert left.shape == right.shape == (2, 3, 4, 3)
    assert torch.equal(left, lr[..., :3]) and torch.equal(right, lr[..., 3:6])
    with pytest.raises(ValueError, match="2 pixels"):
        split_views(lr[..., :1])


def test_contrastive_loss_known_values():
    # orthonormal queries, keys equal to them: logits are 1/t on the diagonal and 0 elsewhere
    t, b = 0.5, 4
    q = torch.eye(b, dtype=torch.float64)
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + (b - 1)))
    assert float(contrastive_loss(q, q.clone(), t)) == pytest.approx(expected, rel=1e-12)
    # scaling does not matter (the embeddings are normalised)
    assert float(contrastive_loss(3 * q, 0.1 * q, t)) == pytest.approx(expected, rel=1e-12)
    # all keys alike: every key is as likely, loss log B
    keys = torch.ones(b, 3, dtype=torch.float64)
    assert float(contrastive_loss(torch.randn(b, 3, dtype=torch.float64), keys, t)) == pytest.approx(math.log(b))
    # keys swapped: the positive is the worst candidate, the loss is larger
    assert float(contrastive_loss(q, q.flip(0), t)) > expected


def test_contrastive_loss_refuses_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        contrastive_loss(torch.ones(1, 3), torch.ones(1, 3))
    with pytest.raises(ValueError, match="\\(B, D\\)"):
        contrastive_loss(torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="temperature"):
        contrastive_loss(torch.ones(2, 3), torch.ones(2, 3), 0.0)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="scale"):
        TwoBranchSR(upscale=5)
    with pytest.raises(ValueError, match="num_feat"):
        TwoBranchSR(num_feat=0)

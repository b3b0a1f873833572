"""Shapes, BasicSR key layout and initialisation of the two SR networks."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from faiglib.models.networks import MSRResNet, SRCNNStyle, build_network

SCALES = (2, 3, 4)


def _expected_msrresnet_keys(num_block: int, scale: int) -> list[str]:
    # BasicSR's MSRResNet (basicsr/archs/srresnet_arch.py), written out by hand.
    modules = ["conv_first"]
    modules += [f"body.{i}.conv{j}" for i in range(num_block) for j in (1, 2)]
    modules += ["upconv1"] + (["upconv2"] if scale == 4 else []) + ["conv_hr", "conv_last"]
    return [f"{m}.{p}" for m in modules for p in ("weight", "bias")]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("arch,kwargs", [("msrresnet", {"num_feat": 4, "num_block": 2}),
                                         ("srcnn_style", {"num_feat": 4})])
def test_output_shapes(arch, kwargs, scale):
    net = build_network(arch, upscale=scale, **kwargs)
    x = torch.rand(2, 3, 5, 7)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 3, 5 * scale, 7 * scale)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("num_block", [0, 1, 3])
def test_msrresnet_keys_match_basicsr(scale, num_block):
    net = MSRResNet(num_feat=4, num_block=num_block, upscale=scale)
    assert list(net.state_dict().keys()) == _expected_msrresnet_keys(num_block, scale)


@pytest.mark.parametrize("scale,shuffle", [(2, 2), (3, 3), (4, 2)])
def test_msrresnet_upconv_widths(scale, shuffle):
    nf = 4
    sd = MSRResNet(num_feat=nf, num_block=1, upscale=scale).state_dict()
    assert sd["conv_first.weight"].shape == (nf, 3, 3, 3)
    assert sd["upconv1.weight"].shape == (nf * shuffle * shuffle, nf, 3, 3)
    if scale == 4:
        assert sd["upconv2.weight"].shape == (nf * 4, nf, 3, 3)
    assert sd["conv_last.weight"].shape == (3, nf, 3, 3)


def test_srcnn_style_keys_x2():
    net = SRCNNStyle(num_feat=4, upscale=2)
    expected = [f"features.{i}.{p}" for i in (0, 2, 4, 6, 8, 10, 12, 15, 17) for p in ("weight", "bias")]
    assert list(net.state_dict().keys()) == expected


@pytest.mark.parametrize("w", [4, 64])
def test_srcnn_style_widths(w):
    net = SRCNNStyle(num_feat=w, upscale=2)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 9
    assert [c.out_channels for c in convs[:6]] == [w, 2 * w, 2 * w, 2 * w, 2 * w, 2 * w]
    assert [c.in_channels for c in convs[:6]] == [3, w, 2 * w, 2 * w, 2 * w, 2 * w]
    assert convs[6].out_channels == 2 * w * 4  # pixel-shuffle x2 upsampling conv
    assert convs[7].out_channels == 2 * w and convs[8].out_channels == 3
    assert all(c.kernel_size == (3, 3) for c in convs)


def test_unknown_arch_raises_with_name():
    with pytest.raises(ValueError, match="no_such_net"):
        build_network("no_such_net")


def test_bad_kwargs_raise_valueerror_naming_them():
    with pytest.raises(ValueError, match="bogus_kwarg"):
        build_network("msrresnet", bogus_kwarg=3)
    with pytest.raises(ValueError, match="srcnn_style"):
        build_network("srcnn_style", num_block=3)  # SRCNNStyle has no num_block


@pytest.mark.parametrize("arch", ["msrresnet", "srcnn_style"])
def test_bad_scale_raises(arch):
    with pytest.raises(ValueError):
        build_network(arch, upscale=5)


@pytest.mark.parametrize("scale", SCALES)
def test_fresh_msrresnet_is_bilinear_upsample(scale):
    torch.manual_seed(0)
    net = MSRResNet(num_feat=8, num_block=2, upscale=scale).eval()
    const = torch.full((1, 3, 6, 6), 0.37)
    with torch.no_grad():
        y = net(const)
    torch.testing.assert_close(y, torch.full((1, 3, 6 * scale, 6 * scale), 0.37), atol=1e-6, rtol=0)
    # conv_last is zero-initialised, so any input gives exactly the bilinear skip.
    x = torch.rand(1, 3, 6, 5)
    with torch.no_grad():
        y = net(x)
    ref = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    torch.testing.assert_close(y, ref, atol=1e-6, rtol=0)

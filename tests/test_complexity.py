"""FLOP and parameter counts against hand counts, and the MSRResNet block matching of Table 1."""
import pytest
from torch import nn

from faiglib.models.complexity import Complexity, complexity, match_msrresnet_blocks
from faiglib.models.networks import MSRResNet
from faiglib.profiles import PROFILES
from faiglib.models.twobranch import TwoBranchSR


def test_conv_flops_by_hand():
    # 3 -> 5 channels, 3x3, on 7x6: 2 FLOPs per multiply-add, one per output value and kernel tap
    conv = nn.Conv2d(3, 5, 3, 1, 1)
    c = complexity(conv, (7, 6))
    assert c.flops == 2 * (7 * 6) * 5 * (3 * 9)
    assert c.params == 5 * 3 * 9 + 5 and c.lr_size == (7, 6)
    # grouped (depthwise) convs count only their group's inputs; stride 2 quarters the outputs
    dw = nn.Conv2d(3, 3, 3, 2, 1, groups=3)
    assert complexity(dw, (8, 8)).flops == 2 * (4 * 4) * 3 * 9


def test_msrresnet_flops_by_hand():
    f, n, h, w = 4, 2, 5, 6
    net = MSRResNet(num_feat=f, num_block=n, upscale=2)
    lr_px, hr_px = h * w, 4 * h * w
    macs = (lr_px * f * 3 * 9  # conv_first
            + 2 * n * lr_px * f * f * 9  # body
            + lr_px * 4 * f * f * 9  # upconv1 (to 4f channels, then pixel shuffle)
            + hr_px * f * f * 9  # conv_hr
            + hr_px * 3 * f * 9)  # conv_last
    assert complexity(net, (h, w)).flops == 2 * macs
    assert complexity(net, (h, w)).params == sum(p.numel() for p in net.parameters())


def test_twobranch_counts_the_encoder_and_the_per_sample_kernels():
    net = TwoBranchSR(num_feat=8, num_block=1, enc_feat=4, rep_dim=2)
    without_block = TwoBranchSR(num_feat=8, num_block=0, enc_feat=4, rep_dim=2)
    h = w = 6
    block = complexity(net, (h, w)).flops - complexity(without_block, (h, w)).flops
    px, f, r = h * w, 8, 2
    da_conv = px * f * 9 + px * f * f + (r * r + r * f * 9) + (r * 2 + 2 * f)  # depthwise, 1x1, kernel MLP, attention MLP
    assert block == 2 * (2 * da_conv + 2 * px * f * f * 9)


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_profiles_match_within_ten_percent(name):
    p = PROFILES[name]
    two = TwoBranchSR(num_feat=p.table1_feat, num_block=p.table1_blocks, upscale=p.scale)
    m = match_msrresnet_blocks(two, p.table1_feat, p.scale, (32, 32))
    fr, pr = m.ratios
    assert abs(fr - 1) <= 0.10 and abs(pr - 1) <= 0.10 and m.gap == max(abs(fr - 1), abs(pr - 1))
    # the measured matched network is the one the linear model predicted, and its neighbours are worse
    assert m.matched == complexity(MSRResNet(num_feat=p.table1_feat, num_block=m.num_block, upscale=p.scale), (32, 32))
    for other in (m.num_block - 1, m.num_block + 1):
        c = complexity(MSRResNet(num_feat=p.table1_feat, num_block=other, upscale=p.scale), (32, 32))
        fo, po = c.ratio(m.reference)
        assert max(abs(fo - 1), abs(po - 1)) >= m.gap


def test_matching_a_known_msrresnet_and_refusing_an_impossible_one():
    ref = complexity(MSRResNet(num_feat=8, num_block=5, upscale=2), (16, 16))
    m = match_msrresnet_blocks(ref, 8, 2)
    assert m.num_block == 5 and m.gap == 0.0
    # a reference with many parameters and almost no FLOPs cannot be matched
    odd = Complexity(flops=ref.flops, params=ref.params * 10, lr_size=(16, 16))
    with pytest.raises(ValueError, match="within 10%"):
        match_msrresnet_blocks(odd, 8, 2)
    assert match_msrresnet_blocks(odd, 8, 2, tolerance=None).gap > 0.1


def test_bad_size_is_refused():
    with pytest.raises(ValueError, match="lr_size"):
        complexity(nn.Conv2d(3, 3, 3), (0, 4))

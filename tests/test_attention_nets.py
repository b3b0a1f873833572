"""The attention networks (faiglib.models.rcan, faiglib.models.swinir): window partition / shift / relative
position index against hand-computed cases, pad and crop, BasicSR key names, checkpoint round trips,
NetSpec labels."""
import pytest
import torch
import torch.nn.functional as F

from faiglib.core.checkpoint import save_model
from faiglib.models.loading import load_model
from faiglib.models.networks import build_network
from faiglib.models.rcan import RCAN
from faiglib.models.swinir import (SwinIR, pad_to_window, relative_position_index, shift_attention_mask,
                                   window_partition, window_reverse)
from faiglib.profiles import PROFILES, NetSpec


def test_window_partition_hand_case():
    x = torch.arange(16.0).view(1, 4, 4, 1)  # rows 0-3, 4-7, 8-11, 12-15
    w = window_partition(x, 2)
    assert w.shape == (4, 4, 1)
    assert w[..., 0].tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
    assert torch.equal(window_reverse(w, 2, 4, 4), x)
    y = torch.randn(2, 8, 12, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(window_reverse(window_partition(y, 4), 4, 8, 12), y)
    with pytest.raises(ValueError, match="multiples of the window"):
        window_partition(torch.zeros(1, 5, 4, 1), 2)


def test_relative_position_index_hand_case():
    # tokens (0,0) (0,1) (1,0) (1,1); index = (dy + 1) * 3 + (dx + 1)
    assert relative_position_index(2).tolist() == [[4, 3, 1, 0], [5, 4, 2, 1], [7, 6, 4, 3], [8, 7, 5, 4]]
    idx = relative_position_index(3)
    assert idx.shape == (9, 9) and int(idx.min()) == 0 and int(idx.max()) == 24
    assert (idx.diagonal() == 12).all()  # zero offset: the centre of the 5x5 table
    assert torch.equal(idx + idx.T, torch.full((9, 9), 24))  # offset and its negative are mirror rows


def test_shift_mask_hand_case():
    # 4x4 map, windows of 2, shift 1: regions per axis [0, 2), [2, 3), [3, 4); labels ry * 3 + rx:
    #   0 0 1 2 / 0 0 1 2 / 3 3 4 5 / 6 6 7 8  ->  windows [0 0 0 0], [1 2 1 2], [3 3 6 6], [4 5 7 8]
    mask = shift_attention_mask(4, 4, 2, 1)
    labels = [[0, 0, 0, 0], [1, 2, 1, 2], [3, 3, 6, 6], [4, 5, 7, 8]]
    expected = torch.tensor([[[0.0 if a == b else -100.0 for b in lab] for a in lab] for lab in labels])
    assert torch.equal(mask, expected)


def test_shifted_block_attends_within_regions():
    """A shifted Swin block's output at a token depends only on tokens of its own window after the roll and of its
    own region (the mask): changing a token in a masked-off region leaves it unchanged."""
    torch.manual_seed(0)
    net = SwinIR(embed_dim=4, depths=(2,), num_heads=1, window_size=2, num_feat=4).double()
    block = net.layers[0].residual_group.blocks[1]
    assert block.shift == 1
    x = torch.randn(1, 16, 4, dtype=torch.float64)
    y0 = block(x, (4, 4))
    x2 = x.clone()
    x2[0, 0] += 1.0  # token (0, 0): after the roll by -1 it sits at (3, 3), in the window with (3,0), (0,3)...
    y1 = block(x2, (4, 4))
    changed = ((y1 - y0).abs().amax(-1) > 1e-12).view(4, 4)
    # region of (0,0) in the rolled map is (3,3): label 8 alone in its window -> only token (0, 0) changes
    assert changed.sum() == 1 and changed[0, 0]


def test_pad_and_crop_for_sizes_not_a_multiple_of_the_window():
    torch.manual_seed(0)
    net = SwinIR(embed_dim=8, depths=(2,), num_heads=2, window_size=4, num_feat=8, upscale=2).double().eval()
    x = torch.rand(1, 3, 13, 10, dtype=torch.float64)
    y = net(x)
    assert y.shape == (1, 3, 26, 20)
    padded = F.pad(x, (0, 2, 0, 3), mode="reflect")  # 13 -> 16, 10 -> 12
    assert pad_to_window(x, 4).shape == (1, 3, 16, 12)
    torch.testing.assert_close(y, net(padded)[..., :26, :20], rtol=0, atol=1e-12)
    # an image smaller than the padding it needs (2x3 with window 4) is padded by replication, not refused
    assert net(torch.rand(1, 3, 2, 3, dtype=torch.float64)).shape == (1, 3, 4, 6)


RCAN_KEYS = ["conv_first", "body.0.residual_group.0.rcab.0", "body.0.residual_group.0.rcab.2",
             "body.0.residual_group.0.rcab.3.attention.1", "body.0.residual_group.0.rcab.3.attention.3",
             "body.0.conv", "conv_after_body", "upsample.0", "upsample.2", "conv_last"]
SWIN_BLOCK = ["norm1.weight", "norm1.bias", "attn.relative_position_bias_table", "attn.relative_position_index",
              "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias", "norm2.weight",
              "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"]


def test_basicsr_key_names():
    rcan = RCAN(num_feat=8, num_group=1, num_block=1, squeeze_factor=4, upscale=4)
    assert list(rcan.state_dict()) == [f"{k}.{p}" for k in RCAN_KEYS for p in ("weight", "bias")]
    swin = SwinIR(embed_dim=8, depths=(2,), num_heads=2, window_size=4, num_feat=8, upscale=2)
    blocks = [f"layers.0.residual_group.blocks.{j}.{k}" for j in range(2) for k in SWIN_BLOCK]
    expected = (["conv_first.weight", "conv_first.bias", "patch_embed.norm.weight", "patch_embed.norm.bias"] + blocks
                + ["layers.0.conv.weight", "layers.0.conv.bias", "norm.weight", "norm.bias", "conv_after_body.weight",
                   "conv_after_body.bias", "conv_before_upsample.0.weight", "conv_before_upsample.0.bias",
                   "upsample.0.weight", "upsample.0.bias", "conv_last.weight", "conv_last.bias"])
    assert list(swin.state_dict()) == expected
    assert swin.state_dict()["layers.0.residual_group.blocks.0.attn.relative_position_bias_table"].shape == (49, 2)


@pytest.mark.parametrize("arch,kwargs", [
    ("rcan", dict(num_feat=8, num_group=2, num_block=1, squeeze_factor=4, upscale=2)),
    ("swinir", dict(embed_dim=8, num_feat=8, depths=[2, 1], num_heads=2, window_size=4, upscale=3)),
])
def test_checkpoint_round_trip(tmp_path, arch, kwargs):
    torch.manual_seed(1)
    net = build_network(arch, **kwargs).eval()
    x = torch.rand(1, 3, 9, 11)
    path = save_model(tmp_path / "m.pth", net, arch=arch, arch_kwargs=kwargs, seed=0)
    back = load_model(path)
    assert type(back) is type(net)
    for k, v in net.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    assert torch.equal(back(x), net(x))
    # a bare BasicSR-style state dict ({"params": ...}, no meta) loads by naming the architecture
    torch.save({"params": net.state_dict()}, tmp_path / "basicsr.pth")
    assert torch.equal(load_model(tmp_path / "basicsr.pth", arch=arch, **kwargs)(x), net(x))


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="squeeze_factor"):
        RCAN(num_feat=8, squeeze_factor=16)
    with pytest.raises(ValueError, match="divisible"):
        SwinIR(embed_dim=10, depths=(2,), num_heads=4, window_size=4)
    with pytest.raises(ValueError, match="one head count per group"):
        SwinIR(embed_dim=8, depths=(2, 2), num_heads=(2,), window_size=4)


def test_netspec_labels_and_kwargs():
    cnn = NetSpec("msrresnet", 32, 4)
    assert cnn.label == "msrresnet-32x4" and cnn.kwargs(2) == {"num_feat": 32, "upscale": 2, "num_block": 4}
    rcan = NetSpec("rcan", 32, 3, num_group=2)
    assert rcan.label == "rcan-32x3-g2"
    assert rcan.kwargs(2) == {"num_feat": 32, "upscale": 2, "num_block": 3, "num_group": 2}
    swin = NetSpec("swinir", 60, depths=[6, 6, 6, 6], num_heads=6, window_size=8)
    assert swin.depths == (6, 6, 6, 6) and swin.label == "swinir-60-d6.6.6.6-h6-w8"
    assert swin.kwargs(4)["embed_dim"] == 60 and swin.kwargs(4)["depths"] == [6, 6, 6, 6]
    with pytest.raises(ValueError, match="swinir option"):
        NetSpec("msrresnet", 32, 4, window_size=8)
    with pytest.raises(ValueError, match="rcan option"):
        NetSpec("swinir", 32, num_group=2)
    for name in ("smoke", "cpu", "paper"):
        p = PROFILES[name]
        assert len(p.attention_networks) == 2
        for spec in p.attention_networks:
            assert p.network(spec.label) is spec
            build_network(spec.arch, **spec.kwargs(p.scale)) if name != "paper" else None


@pytest.mark.parametrize("arch, kwargs", [
    ("msrresnet", {"num_feat": 4, "num_block": 2, "upscale": 3}),
    ("rcan", {"num_feat": 8, "num_group": 2, "num_block": 1, "squeeze_factor": 4, "upscale": 2}),
    ("swinir", {"embed_dim": 8, "depths": (1, 1), "num_heads": 2, "window_size": 2, "upsampler": "pixelshuffle"}),
    ("swinir", {"embed_dim": 8, "depths": (1,), "num_heads": 2, "window_size": 2, "upsampler": "pixelshuffledirect"}),
    ("swinir", {"embed_dim": 8, "depths": (1,), "num_heads": 2, "window_size": 2, "upsampler": "nearest+conv",
                "upscale": 4}),
])
def test_every_architecture_declares_representation_layers_that_exist(arch, kwargs):
    net = build_network(arch, **kwargs)
    layers = net.representation_layers()
    names = dict(net.named_modules())
    assert layers and all(n in names for n in layers) and len(set(layers)) == len(layers)
    assert layers[-1] in {"conv_last", "upsample"}  # the last representation is the tail's output

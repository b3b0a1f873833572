"""Community checkpoints in (issue 25, item 1, first part): EDSR and RRDBNet with BasicSR's key names against
functional replicas written from the papers' definitions, parameter counts by hand, and load_sr_model's detection
of the architecture and its sizes from a state dict alone."""
import pickle

import pytest
import torch
import torch.nn.functional as F

import faiglib
from faiglib.core.checkpoint import CheckpointError, atomic_save
from faiglib.core.units import FilterIndex
from faiglib.models.loading import detect_architecture
from faiglib.models.networks import build_network


def _randomised(net, seed=0, std=0.05):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return net.double().eval()


def _conv(x, sd, name):
    return F.conv2d(x, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)


def _edsr_reference(sd, x, n_block, scale, res_scale=1.0):
    """EDSR (Lim et al. 2017) written out: mean shift on a 0-255 scale, residual blocks, long skip, sub-pixel tail."""
    # the DIV2K mean as the original code holds it: a float32 tensor, cast to the input's dtype
    mean = torch.tensor([0.4488, 0.4371, 0.4040], dtype=torch.float32).to(x.dtype).view(1, 3, 1, 1)
    h = _conv((x - mean) * 255.0, sd, "conv_first")
    r = h
    for b in range(n_block):
        r = r + _conv(torch.relu(_conv(r, sd, f"body.{b}.conv1")), sd, f"body.{b}.conv2") * res_scale
    r = _conv(r, sd, "conv_after_body") + h
    steps = [(0, 3)] if scale == 3 else [(2 * i, 2) for i in range(scale.bit_length() - 1)]
    for index, factor in steps:
        r = F.pixel_shuffle(_conv(r, sd, f"upsample.{index}"), factor)
    return _conv(r, sd, "conv_last") / 255.0 + mean


def _rrdb_reference(sd, x, n_block, scale):
    """ESRGAN's generator written out: dense blocks (each conv reads all earlier outputs), 0.2 residual scaling
    twice, nearest x2 upsampling twice, LeakyReLU 0.2; x2 / x1 unshuffle the input by 2 / 4 first."""
    lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    if scale in (1, 2):
        s = 4 // scale
        b, c, h, w = x.shape  # pixel unshuffle by its definition: channel c*s*s + i*s + j <- pixel (s*y+i, s*x+j)
        x = x.view(b, c, h // s, s, w // s, s).permute(0, 1, 3, 5, 2, 4).reshape(b, c * s * s, h // s, w // s)
    feat = _conv(x, sd, "conv_first")
    out = feat
    for k in range(n_block):
        block_in = out
        for d in (1, 2, 3):
            feats = [out]
            for i in range(1, 5):
                feats.append(lrelu(_conv(torch.cat(feats, 1), sd, f"body.{k}.rdb{d}.conv{i}")))
            out = _conv(torch.cat(feats, 1), sd, f"body.{k}.rdb{d}.conv5") * 0.2 + out
        out = out * 0.2 + block_in
    feat = feat + _conv(out, sd, "conv_body")
    feat = lrelu(_conv(F.interpolate(feat, scale_factor=2, mode="nearest"), sd, "conv_up1"))
    feat = lrelu(_conv(F.interpolate(feat, scale_factor=2, mode="nearest"), sd, "conv_up2"))
    return _conv(lrelu(_conv(feat, sd, "conv_hr")), sd, "conv_last")


def _params_3x3(pairs):
    return sum(9 * cin * cout + cout for cin, cout in pairs)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_edsr_equals_its_definition_and_counts_by_hand(scale):
    nf, nb = 8, 2
    net = _randomised(build_network("edsr", num_feat=nf, num_block=nb, upscale=scale))
    x = torch.rand(1, 3, 6, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    sd = net.state_dict()
    assert torch.allclose(net(x), _edsr_reference(sd, x, nb, scale), rtol=1e-12, atol=1e-12)
    tail = [(nf, 9 * nf)] if scale == 3 else [(nf, 4 * nf)] * (scale.bit_length() - 1)
    pairs = [(3, nf)] + [(nf, nf)] * (2 * nb) + [(nf, nf)] + tail + [(nf, 3)]
    assert sum(p.numel() for p in net.parameters()) == _params_3x3(pairs)
    assert "mean" not in sd  # a constant, as in BasicSR: not among the checkpoint's keys


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_rrdbnet_equals_its_definition_and_counts_by_hand(scale):
    nf, nb, gc = 8, 2, 4
    net = _randomised(build_network("rrdbnet", num_feat=nf, num_block=nb, num_grow_ch=gc, scale=scale))
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(net(x), _rrdb_reference(net.state_dict(), x, nb, scale), rtol=1e-12, atol=1e-12)
    dense = [(nf + i * gc, gc) for i in range(4)] + [(nf + 4 * gc, nf)]
    pairs = [(3 * (4 // scale) ** 2, nf)] + dense * 3 * nb + [(nf, nf)] * 4 + [(nf, 3)]
    assert sum(p.numel() for p in net.parameters()) == _params_3x3(pairs)


def test_the_published_sizes_have_their_published_parameter_counts():
    # ESRGAN's RRDBNet x4 (64 features, 23 blocks, growth 32): 16,697,987 parameters; EDSR-baseline x2 (64, 16):
    # 1,369,859 -- both by the hand formula above, and the numbers the community quotes (16.7M, 1.37M)
    rrdb = build_network("rrdbnet")
    dense = [(64 + i * 32, 32) for i in range(4)] + [(64 + 4 * 32, 64)]
    assert sum(p.numel() for p in rrdb.parameters()) == _params_3x3([(3, 64)] + dense * 69 + [(64, 64)] * 4 + [(64, 3)])
    assert sum(p.numel() for p in rrdb.parameters()) == 16_697_987
    edsr = build_network("edsr", num_feat=64, num_block=16, upscale=2)
    assert sum(p.numel() for p in edsr.parameters()) == 1_369_859


@pytest.mark.parametrize("arch, kwargs", [
    ("msrresnet", {"num_feat": 8, "num_block": 3, "upscale": 2}),
    ("msrresnet", {"num_feat": 8, "num_block": 1, "upscale": 3}),
    ("msrresnet", {"num_feat": 6, "num_block": 2, "upscale": 4}),
    ("edsr", {"num_feat": 8, "num_block": 3, "upscale": 2}),
    ("edsr", {"num_feat": 8, "num_block": 2, "upscale": 3}),
    ("edsr", {"num_feat": 4, "num_block": 1, "upscale": 8}),
    ("rrdbnet", {"num_feat": 8, "num_block": 2, "num_grow_ch": 4, "scale": 4}),
    ("rrdbnet", {"num_feat": 6, "num_block": 1, "num_grow_ch": 3, "scale": 2}),
    ("rrdbnet", {"num_feat": 6, "num_block": 1, "num_grow_ch": 3, "scale": 1}),
    ("rcan", {"num_feat": 8, "num_group": 2, "num_block": 2, "squeeze_factor": 4, "upscale": 2}),
    ("rcan", {"num_feat": 8, "num_group": 1, "num_block": 3, "squeeze_factor": 8, "upscale": 3}),
    ("rcan", {"num_feat": 4, "num_group": 2, "num_block": 1, "squeeze_factor": 2, "upscale": 4}),
    ("swinir", {"embed_dim": 8, "depths": [2, 2], "num_heads": [2, 4], "window_size": 4, "mlp_ratio": 2.0,
                "resi_connection": "1conv", "num_in_ch": 3, "upsampler": "pixelshuffle", "num_feat": 6, "upscale": 2}),
    ("swinir", {"embed_dim": 8, "depths": [2, 1, 2], "num_heads": [2, 2, 2], "window_size": 2, "mlp_ratio": 1.5,
                "resi_connection": "1conv", "num_in_ch": 3, "upsampler": "pixelshuffledirect", "upscale": 3}),
    ("swinir", {"embed_dim": 8, "depths": [2], "num_heads": [2], "window_size": 4, "mlp_ratio": 2.0,
                "resi_connection": "3conv", "num_in_ch": 3, "upsampler": "nearest+conv", "num_feat": 6, "upscale": 4}),
    ("swinir", {"embed_dim": 8, "depths": [2], "num_heads": [4], "window_size": 4, "mlp_ratio": 2.0,
                "resi_connection": "1conv", "num_in_ch": 3, "upsampler": "nearest+conv", "num_feat": 4, "upscale": 2}),
])
def test_load_sr_model_detects_every_size_from_the_keys_and_gives_the_same_outputs(tmp_path, arch, kwargs):
    net = _randomised(build_network(arch, **kwargs)).float()
    assert detect_architecture(net.state_dict()) == (arch, kwargs)
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    for layout in ("params_ema", "params", "bare"):
        sd = net.state_dict()
        path = tmp_path / f"{layout}.pth"
        torch.save(sd if layout == "bare" else {layout: sd}, path)  # the community files carry no faiglib meta
        loaded = faiglib.load_sr_model(path)
        assert loaded.arch == arch and not loaded.training
        assert torch.equal(loaded(x), net(x))
    scale = kwargs.get("upscale", kwargs.get("scale"))
    assert faiglib.load_sr_model(net.state_dict()).scale == scale
    with pytest.raises(ValueError, match=f"x{scale} {arch}, not x5"):
        faiglib.load_sr_model(net.state_dict(), scale=5)
    if arch != "swinir":  # SwinIR's units also cover its Linear rows and bias-table heads
        assert len(FilterIndex(loaded)) == sum(m.weight.shape[0] * m.weight.shape[1]  # convs: the paper's units
                                               for m in loaded.modules() if isinstance(m, torch.nn.Conv2d))


def test_swinir_checkpoints_with_their_stored_shift_masks_load():
    # the original SwinIR registers each shifted block's mask as a buffer, sized for its training patch: the
    # published files carry `...blocks.<odd>.attn_mask` entries that a network recomputes for every input size
    kwargs = {"embed_dim": 8, "depths": [2], "num_heads": [2], "window_size": 4, "upscale": 2, "num_feat": 4}
    net = _randomised(build_network("swinir", **kwargs)).float()
    sd = dict(net.state_dict())
    sd["layers.0.residual_group.blocks.1.attn_mask"] = torch.zeros(16, 16, 16)
    x = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(5))
    loaded = faiglib.load_sr_model(sd)
    assert loaded.arch == "swinir" and torch.equal(loaded(x), net(x))


def _swinir_params(dim, depths, heads, window, mlp, tail):
    """SwinIR's parameters counted by hand: conv_first, patch_embed.norm, per block two LayerNorms, qkv, proj,
    the bias table ((2W - 1)^2 x heads), fc1 and fc2, per group a 3x3 conv, the final norm, conv_after_body and the
    tail's convs (given as (in, out) pairs of 3x3 convs)."""
    conv = lambda i, o: 9 * i * o + o  # noqa: E731
    hidden = int(dim * mlp)
    block = lambda h: (2 * 2 * dim + (dim * 3 * dim + 3 * dim) + (dim * dim + dim) + (2 * window - 1) ** 2 * h  # noqa: E731
                       + (dim * hidden + hidden) + (hidden * dim + dim))
    body = sum(d * block(h) + conv(dim, dim) for d, h in zip(depths, heads))
    return conv(3, dim) + 2 * dim + body + 2 * dim + conv(dim, dim) + sum(conv(i, o) for i, o in tail)


def test_swinir_and_rcan_published_sizes_count_by_hand():
    for scale in (2, 3, 4):  # SwinIR-light: 60 wide, 4 groups of 6 blocks, 6 heads, window 8, one-step tail
        light = build_network("swinir", embed_dim=60, depths=(6,) * 4, num_heads=6, window_size=8, mlp_ratio=2,
                              upsampler="pixelshuffledirect", upscale=scale)
        count = sum(p.numel() for p in light.parameters())
        assert count == _swinir_params(60, [6] * 4, [6] * 4, 8, 2, [(60, 3 * scale ** 2)])
        # the SwinIR paper quotes 878K / 886K / 897K: the same count without the 24 bias tables (225 x 6 each)
        assert round((count - 24 * 225 * 6) / 1000) == {2: 878, 3: 886, 4: 897}[scale]
    classical = build_network("swinir", embed_dim=180, depths=(6,) * 6, num_heads=6, window_size=8, upscale=4)
    assert sum(p.numel() for p in classical.parameters()) == _swinir_params(
        180, [6] * 6, [6] * 6, 8, 2, [(180, 64), (64, 256), (64, 256), (64, 3)])
    # RCAN x4 (64 wide, 10 groups of 20 blocks, squeeze 16): 15,592,355 parameters, RCAN's quoted 15.59M
    rcan = build_network("rcan", num_feat=64, num_group=10, num_block=20, squeeze_factor=16, upscale=4)
    rcab = 2 * (9 * 64 * 64 + 64) + (64 * 4 + 4) + (4 * 64 + 64)
    group = 20 * rcab + 9 * 64 * 64 + 64
    hand = (9 * 3 * 64 + 64) + 10 * group + (9 * 64 * 64 + 64) + 2 * (9 * 64 * 256 + 256) + (9 * 64 * 3 + 3)
    assert sum(p.numel() for p in rcan.parameters()) == hand == 15_592_355


def test_faiglibs_own_checkpoints_load_from_their_metadata(tmp_path):
    from faiglib.core.checkpoint import save_model

    net = build_network("srcnn_style", num_feat=4, upscale=2)
    save_model(tmp_path / "own.pth", net, arch="srcnn_style", arch_kwargs={"num_feat": 4, "upscale": 2})
    loaded = faiglib.load_sr_model(tmp_path / "own.pth")
    assert loaded.arch == "srcnn_style" and loaded.scale == 2


class _Payload:
    def __reduce__(self):
        return (print, ("code ran while loading",))


def test_bad_checkpoints_are_refused_with_the_reason(tmp_path):
    net = build_network("edsr", num_feat=4, num_block=1, upscale=2)
    atomic_save({"params": net.state_dict()}, tmp_path / "good.pth")
    data = (tmp_path / "good.pth").read_bytes()
    (tmp_path / "short.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupt or not a weights-only"):
        faiglib.load_sr_model(tmp_path / "short.pth")
    with open(tmp_path / "code.pth", "wb") as fh:
        pickle.dump({"params": _Payload()}, fh)
    with pytest.raises(CheckpointError, match="weights-only"):
        faiglib.load_sr_model(tmp_path / "code.pth")
    sd = dict(net.state_dict())
    sd["attention.qkv.weight"] = sd.pop("conv_after_body.weight")  # an unknown layout, close to EDSR's
    with pytest.raises(ValueError, match=r"closest known one is edsr .*missing \['conv_after_body.weight'\].*"
                                         r"unexpected \['attention.qkv.weight'\]"):
        faiglib.load_sr_model(sd)


def test_safetensors_files_load_or_name_the_missing_package(tmp_path):
    net = _randomised(build_network("edsr", num_feat=4, num_block=1, upscale=2)).float()
    path = tmp_path / "edsr.safetensors"
    try:
        from safetensors.torch import save_file
    except ImportError:  # this venv: the loader names the package to install, before reading anything
        path.write_bytes(b"\x00" * 16)
        with pytest.raises(ValueError, match=r"needs the safetensors package \(pip install safetensors\)"):
            faiglib.load_sr_model(path)
        return
    save_file(net.state_dict(), str(path))
    x = torch.rand(1, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    assert torch.equal(faiglib.load_sr_model(path)(x), net(x))


class _MeanShift(torch.nn.Conv2d):
    """The original EDSR / RCAN code's fixed mean shift: a 1x1 conv, identity weight, bias sign · 255 · mean."""

    def __init__(self, sign):
        super().__init__(3, 3, 1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * 255 * torch.tensor([0.4488, 0.4371, 0.4040]))


class _OriginalEDSROrRCAN(torch.nn.Module):
    """The EDSR-PyTorch layout written out from the original code's structure (head / body / tail, inputs on the
    0-255 scale): EDSR blocks ``x + res_scale · conv(relu(conv(x)))``; RCAN groups of RCABs
    ``x + CA(conv(relu(conv(x))))`` with ``CA = x · sigmoid(conv(relu(conv(avgpool(x)))))`` and a closing conv."""

    def __init__(self, rcan, nf=8, groups=2, blocks=2, reduction=4, scale=2, res_scale=1.0):
        super().__init__()
        conv = lambda i, o, k=3: torch.nn.Conv2d(i, o, k, padding=k // 2)  # noqa: E731
        self.rcan, self.res_scale = rcan, res_scale
        self.sub_mean, self.add_mean = _MeanShift(-1), _MeanShift(+1)
        self.head = torch.nn.Sequential(conv(3, nf))
        if rcan:
            def rcab():
                ca = torch.nn.Module()
                ca.conv_du = torch.nn.Sequential(conv(nf, nf // reduction, 1), torch.nn.ReLU(),
                                                 conv(nf // reduction, nf, 1), torch.nn.Sigmoid())
                b = torch.nn.Module()
                b.body = torch.nn.Sequential(conv(nf, nf), torch.nn.ReLU(), conv(nf, nf), ca)
                return b
            group = lambda: torch.nn.Sequential(*[rcab() for _ in range(blocks)], conv(nf, nf))  # noqa: E731
            units = []
            for _ in range(groups):
                g = torch.nn.Module()
                g.body = group()
                units.append(g)
        else:
            units = []
            for _ in range(blocks):
                b = torch.nn.Module()
                b.body = torch.nn.Sequential(conv(nf, nf), torch.nn.ReLU(), conv(nf, nf))
                units.append(b)
        self.body = torch.nn.Sequential(*units, conv(nf, nf))
        up = [conv(nf, 4 * nf), torch.nn.PixelShuffle(2)] * (scale // 2) if scale in (2, 4) else \
            [conv(nf, 9 * nf), torch.nn.PixelShuffle(3)]
        self.tail = torch.nn.Sequential(torch.nn.Sequential(*up), conv(nf, 3))

    def forward(self, x):  # x on the 0-255 scale
        x = self.head(self.sub_mean(x))
        res = x
        for unit in self.body[:-1]:
            if self.rcan:
                g = res
                for layer in unit.body[:-1]:
                    b = layer.body
                    y = b[2](b[1](b[0](g)))
                    g = g + y * b[3].conv_du(y.mean(dim=(2, 3), keepdim=True))
                res = res + unit.body[-1](g)
            else:
                b = unit.body
                res = res + b[2](b[1](b[0](res))) * self.res_scale
        res = x + self.body[-1](res)
        return self.add_mean(self.tail(res))


@pytest.mark.parametrize("rcan, scale", [(True, 2), (True, 3), (False, 4), (False, 2)])
def test_original_edsr_and_rcan_layouts_load_and_compute_the_original(rcan, scale):
    original = _randomised(_OriginalEDSROrRCAN(rcan, scale=scale)).double()
    with torch.no_grad():  # _randomised perturbed the fixed shifts too: put them back
        original.sub_mean.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        original.add_mean.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        for shift, sign in ((original.sub_mean, -1), (original.add_mean, 1)):
            shift.bias.copy_(sign * 255 * torch.tensor([0.4488, 0.4371, 0.4040]))
    loaded = faiglib.load_sr_model({k: v.float() for k, v in original.state_dict().items()}).double()
    assert loaded.arch == ("rcan" if rcan else "edsr") and loaded.scale == scale
    x = torch.rand(1, 3, 7, 9, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    with torch.no_grad():
        expected = original(x * 255) / 255
    assert torch.allclose(loaded(x), expected.float().double(), rtol=1e-5, atol=1e-5)
    sd = dict(original.state_dict())
    sd["sub_mean.bias"] = sd["sub_mean.bias"] + 1.0  # another mean: refused, not silently replaced
    with pytest.raises(ValueError, match="not the DIV2K mean shift"):
        faiglib.load_sr_model(sd)


def test_the_published_edsr_gets_its_residual_scaling():
    # EDSR (256 wide, 32 blocks) scales every residual by 0.1, a number no tensor of its checkpoint holds
    sizes = detect_architecture(build_network("edsr", num_feat=256, num_block=32, upscale=2).state_dict())[1]
    assert sizes == {"num_feat": 256, "num_block": 32, "upscale": 2, "res_scale": 0.1}

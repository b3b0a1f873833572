"""Checkpoints: round trips, BasicSR layouts, corrupt files, NaN, atomic writes."""
import pytest
import torch

from faiglib.core import checkpoint as ckpt
from faiglib.core.checkpoint import CheckpointError, atomic_save, load_state, save_model
from faiglib.models.loading import load_model
from faiglib.models.networks import MSRResNet, SRCNNStyle

KW = {"num_feat": 4, "num_block": 1, "upscale": 2}


def _randomised(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return model


def _assert_same_weights(model, state):
    sd = model.state_dict()
    assert set(sd) == set(state)
    for k in sd:
        assert torch.equal(sd[k], state[k]), k


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_save_load_round_trip(tmp_path):
    model = _randomised(MSRResNet(**KW))
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    path = save_model(tmp_path / "m.pth", model, arch="msrresnet", arch_kwargs=KW, stage="baseline", iteration=7)
    assert path.is_file()
    loaded = load_model(path)
    assert isinstance(loaded, MSRResNet) and not loaded.training
    _assert_same_weights(loaded, expected)
    state, meta = load_state(path)
    assert meta["arch"] == "msrresnet" and meta["arch_kwargs"] == KW
    assert meta["stage"] == "baseline" and meta["iteration"] == 7
    # the file is a plain weights-only torch file
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"params", "meta"}
    for k, v in expected.items():
        assert torch.equal(raw["params"][k], v)
    assert _files(tmp_path) == ["m.pth"]


def test_save_with_ema_prefers_ema(tmp_path):
    model = _randomised(MSRResNet(**KW), 0)
    ema = _randomised(MSRResNet(**KW), 1)
    path = save_model(tmp_path / "m.pth", model, arch="msrresnet", arch_kwargs=KW, ema=ema)
    _assert_same_weights(load_model(path), ema.state_dict())
    _assert_same_weights(load_model(path, key="params"), model.state_dict())


def test_save_rejects_non_json_meta(tmp_path):
    with pytest.raises(TypeError):
        save_model(tmp_path / "m.pth", MSRResNet(**KW), arch="msrresnet", arch_kwargs=KW, bad=object())
    assert not (tmp_path / "m.pth").exists()


def test_truncated_file(tmp_path):
    path = save_model(tmp_path / "m.pth", _randomised(MSRResNet(**KW)), arch="msrresnet", arch_kwargs=KW)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated|corrupt"):
        load_model(path)
    with pytest.raises(CheckpointError, match="truncated|corrupt"):
        load_state(path)


def test_garbage_and_missing_files(tmp_path):
    (tmp_path / "g.pth").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError):
        load_state(tmp_path / "g.pth")
    with pytest.raises(CheckpointError, match="not found"):
        load_state(tmp_path / "missing.pth")


def test_basicsr_params(tmp_path):
    sd = _randomised(MSRResNet(**KW)).state_dict()
    torch.save({"params": sd}, tmp_path / "b.pth")
    with pytest.raises(CheckpointError, match="arch"):
        load_model(tmp_path / "b.pth")  # no meta: the architecture must be named
    model = load_model(tmp_path / "b.pth", arch="msrresnet", **KW)
    _assert_same_weights(model, sd)


def test_basicsr_params_ema(tmp_path):
    sd_ema = _randomised(MSRResNet(**KW), 1).state_dict()
    sd = _randomised(MSRResNet(**KW), 2).state_dict()
    torch.save({"params_ema": sd_ema, "params": sd}, tmp_path / "b.pth")
    state, meta = load_state(tmp_path / "b.pth")
    assert meta == {}
    for k in sd_ema:
        assert torch.equal(state[k], sd_ema[k])
    _assert_same_weights(load_model(tmp_path / "b.pth", arch="msrresnet", **KW), sd_ema)
    _assert_same_weights(load_model(tmp_path / "b.pth", arch="msrresnet", key="params", **KW), sd)
    with pytest.raises(CheckpointError, match="nope"):
        load_state(tmp_path / "b.pth", key="nope")


def test_bare_state_dict_with_module_prefix(tmp_path):
    sd = _randomised(MSRResNet(**KW), 3).state_dict()
    torch.save({f"module.{k}": v for k, v in sd.items()}, tmp_path / "dp.pth")
    state, _ = load_state(tmp_path / "dp.pth")
    assert set(state) == set(sd)
    _assert_same_weights(load_model(tmp_path / "dp.pth", arch="msrresnet", **KW), sd)


def _official_srcnn_shapes(w, scale=2):
    """The official SRCNN-style layout, written out by hand (conv widths w, 2w x5, upconv, 2 HR convs)."""
    shapes = {0: (w, 3), 2: (2 * w, w), 4: (2 * w, 2 * w), 6: (2 * w, 2 * w), 8: (2 * w, 2 * w),
              10: (2 * w, 2 * w), 12: (2 * w * scale * scale, 2 * w), 15: (2 * w, 2 * w), 17: (3, 2 * w)}
    out = {}
    for i, (o, c) in shapes.items():
        out[f"features.{i}.weight"] = (o, c, 3, 3)
        out[f"features.{i}.bias"] = (o,)
    return out


def test_official_srcnn_layout_loads(tmp_path):
    w = 8
    g = torch.Generator().manual_seed(5)
    sd = {k: torch.randn(s, generator=g) for k, s in _official_srcnn_shapes(w).items()}
    torch.save({"params": sd}, tmp_path / "srcnn.pth")
    model = load_model(tmp_path / "srcnn.pth", arch="srcnn_style", num_feat=w, upscale=2)
    assert isinstance(model, SRCNNStyle)
    _assert_same_weights(model, sd)
    # and the paper's num_feat=64 layout has exactly the official shapes
    ref = SRCNNStyle(num_feat=64).state_dict()
    assert {k: tuple(v.shape) for k, v in ref.items()} == _official_srcnn_shapes(64)


def test_srcnn_round_trip_from_model(tmp_path):
    model = _randomised(SRCNNStyle(num_feat=8), 6)
    torch.save(model.state_dict(), tmp_path / "s.pth")
    _assert_same_weights(load_model(tmp_path / "s.pth", arch="srcnn_style", num_feat=8), model.state_dict())


def test_nan_raises_naming_parameter(tmp_path):
    sd = _randomised(MSRResNet(**KW)).state_dict()
    sd["body.0.conv2.weight"][0, 0, 1, 1] = float("nan")
    torch.save({"params": sd}, tmp_path / "nan.pth")
    with pytest.raises(CheckpointError, match=r"body\.0\.conv2\.weight"):
        load_model(tmp_path / "nan.pth", arch="msrresnet", **KW)
    sd["body.0.conv2.weight"][0, 0, 1, 1] = 0.0
    sd["conv_hr.bias"][1] = float("inf")
    torch.save(sd, tmp_path / "inf.pth")
    with pytest.raises(CheckpointError, match=r"conv_hr\.bias"):
        load_state(tmp_path / "inf.pth")
    # saving NaN weights is refused too
    model = MSRResNet(**KW)
    with torch.no_grad():
        model.conv_first.weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(CheckpointError, match=r"conv_first\.weight"):
        save_model(tmp_path / "n2.pth", model, arch="msrresnet", arch_kwargs=KW)
    assert not (tmp_path / "n2.pth").exists()


def test_wrong_size_raises(tmp_path):
    path = save_model(tmp_path / "m.pth", MSRResNet(**KW), arch="msrresnet", arch_kwargs=KW)
    with pytest.raises(CheckpointError):
        load_model(path, num_feat=8)  # same keys, other shapes
    with pytest.raises(CheckpointError):
        load_model(path, num_block=2)  # missing keys
    with pytest.raises(CheckpointError):
        load_model(path, upscale=4)  # upconv2 missing
    with pytest.raises(CheckpointError):
        load_model(path, arch="srcnn_style", num_feat=4)


def test_atomic_save_leaves_no_temp_file(tmp_path):
    atomic_save({"a": torch.arange(5)}, tmp_path / "sub" / "x.pt")
    assert _files(tmp_path / "sub") == ["x.pt"]
    assert torch.equal(torch.load(tmp_path / "sub" / "x.pt", weights_only=True)["a"], torch.arange(5))
    atomic_save({"a": torch.arange(3)}, tmp_path / "sub" / "x.pt")  # overwrite
    assert _files(tmp_path / "sub") == ["x.pt"]
    assert torch.equal(torch.load(tmp_path / "sub" / "x.pt", weights_only=True)["a"], torch.arange(3))


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "x.pt"
    atomic_save({"a": torch.ones(4)}, path)
    before = path.read_bytes()

    def broken_save(obj, fh, *args, **kwargs):
        fh.write(b"partial garbage")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        atomic_save({"a": torch.zeros(4)}, path)
    with pytest.raises(RuntimeError, match="disk full"):
        save_model(path, MSRResNet(**KW), arch="msrresnet", arch_kwargs=KW)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _files(tmp_path) == ["x.pt"]
    assert torch.equal(ckpt.load_file(path)["a"], torch.ones(4))


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_artefacts_get_the_umask_mode_not_0600(tmp_path, umask, mode):
    import os
    import stat

    old = os.umask(umask)
    try:
        path = atomic_save({"a": torch.ones(2)}, tmp_path / "x.pt")
        text = ckpt.atomic_write_text("{}", tmp_path / "r.json")
        atomic_save({"a": torch.zeros(2)}, tmp_path / "x.pt")  # replacing a file too
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert stat.S_IMODE(text.stat().st_mode) == mode

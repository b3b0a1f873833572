"""Controllable restoration: interpolating chosen filters restores weights bit for bit; λ = 1 is the target and
λ = 0 is masking, exactly; the curves and the live widget on the smoke profile."""
import pytest
import torch

from faiglib.studies.control import control_curve, control_strip, control_table
from faiglib.core.edits import interpolated
from faiglib.core.units import FilterIndex
from faiglib.core.edits import masked
from faiglib.measures.gradient_maps import output_difference
from faiglib.measures.metrics import psnr
from faiglib.models.networks import build_network


def nets():
    """Target model and baseline state of a tiny MSRResNet, every weight drawn at random (the default init
    zeroes some layers, and a zero filter in both would make interpolation invisible)."""
    g = torch.Generator().manual_seed(0)
    target = build_network("msrresnet", num_feat=4, num_block=2).double()
    baseline = build_network("msrresnet", num_feat=4, num_block=2).double()
    with torch.no_grad():
        for p in list(target.parameters()) + list(baseline.parameters()):
            p.copy_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return target, baseline.state_dict()


def test_interpolated_sets_the_chosen_filters_and_restores_them_bit_for_bit():
    model, base = nets()
    index = FilterIndex(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    chosen = torch.tensor([0, 7, len(index) - 1, index.flat("body.1.conv2", 3, 2)])
    for lam in (0.25, 1.5, -0.5):
        with interpolated(model, base, chosen, lam, index):
            inside = {k: v.clone() for k, v in model.state_dict().items()}
        for flat in range(len(index)):
            layer, o, i = index.locate(flat)
            w = f"{layer}.weight"
            if flat in chosen.tolist():
                expected = lam * before[w][o, i] + (1 - lam) * base[w][o, i]
                torch.testing.assert_close(inside[w][o, i], expected, rtol=0, atol=1e-12)
                assert not torch.equal(inside[w][o, i], before[w][o, i])
            else:
                assert torch.equal(inside[w][o, i], before[w][o, i])
        assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    with pytest.raises(RuntimeError, match="boom"):
        with interpolated(model, base, torch.arange(30), 0.5):
            raise RuntimeError("boom")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_lambda_one_is_the_target_and_zero_is_masking_exactly():
    model, base = nets()
    model = model.float()
    base = {k: v.float() for k, v in base.items()}
    chosen = torch.arange(5, 60, 3)
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    target_out = model(x)
    with interpolated(model, base, chosen, 1.0):
        assert torch.equal(model(x), target_out)
    with masked(model, base, chosen):
        masked_state = {k: v.clone() for k, v in model.state_dict().items()}
        masked_out = model(x)
    with interpolated(model, base, chosen, 0.0):
        assert all(torch.equal(model.state_dict()[k], v) for k, v in masked_state.items())
        assert torch.equal(model(x), masked_out)
    for bad in (float("nan"), float("inf"), True, "1"):
        with pytest.raises(ValueError, match="lam"):
            with interpolated(model, base, chosen, bad):
                pass


def test_control_curve_ends_are_the_target_and_the_masked_network():
    model, base = nets()
    model = model.float().eval()
    base = {k: v.float() for k, v in base.items()}
    g = torch.Generator().manual_seed(5)
    xs = [torch.rand(3, 8, 8, generator=g) for _ in range(2)]
    ys = [torch.rand(3, 16, 16, generator=g) for _ in range(2)]
    chosen = torch.arange(0, 40)
    curve = control_curve(model, base, chosen, xs, ys, lambdas=(0.0, 1.0), crop_border=2)
    assert curve["lambda"] == [0.0, 1.0]
    assert curve["gradient_mse"][1] == 0.0
    with torch.no_grad():
        target = [model(x.unsqueeze(0)) for x in xs]
        with masked(model, base, chosen):
            gone = [model(x.unsqueeze(0)) for x in xs]
    expect_psnr = sum(float(psnr(o[0], y, crop_border=2)) for o, y in zip(gone, ys)) / 2
    expect_mse = sum(float(output_difference(o, r)[0]) for o, r in zip(gone, target)) / 2
    assert curve["psnr"][0] == pytest.approx(expect_psnr) and curve["gradient_mse"][0] == pytest.approx(expect_mse)
    assert curve["gradient_mse"][0] > 0
    with pytest.raises(ValueError, match="ground truths"):
        control_curve(model, base, chosen, xs, ys[:1])


def test_control_table_and_strip_on_the_smoke_profile(smoke_experiment):
    exp = smoke_experiment
    table = control_table(exp, proportion=0.05, lambdas=(0.0, 1.0, 1.5))
    assert set(table) == {"deblur_filters", "denoise_filters"}
    for per_input in table.values():
        assert set(per_input) == {"blur_input", "noise_input"}
        for curve in per_input.values():
            assert curve["gradient_mse"][1] == 0.0 and curve["gradient_mse"][0] > 0
    # λ = 1 is the target: its PSNR is the target's PSNR on those inputs
    aset = exp.analysis_set()
    model = exp.model("target")
    with torch.no_grad():
        ref = sum(float(psnr(model(x.unsqueeze(0))[0], y, crop_border=2)) for x, y in zip(aset.lr["noise"], aset.hr))
    assert table["denoise_filters"]["noise_input"]["psnr"][1] == pytest.approx(ref / len(aset))
    strip = control_strip(exp, "noise", lambdas=(0.0, 1.0), proportion=0.05)
    assert list(strip) == ["input", "λ = 0", "λ = 1", "ground truth"]
    with pytest.raises(ValueError, match="degradation"):
        control_strip(exp, "jpeg")


def test_control_explorer_redraws(smoke_experiment, monkeypatch):
    pytest.importorskip("ipywidgets")
    import matplotlib

    matplotlib.use("Agg")
    import faiglib.studies.control as control
    from faiglib.report.widgets import control_explorer

    calls = []
    original = control.control_strip
    monkeypatch.setattr(control, "control_strip", lambda *a: calls.append(a[1:]) or original(*a))
    widget = control_explorer(smoke_experiment, proportion=0.05)
    (lam, filters), (kind, image) = (box.children for box in widget.children[:2])
    assert lam.value == 1.0 and lam.max == 1.5 and image.max == len(smoke_experiment.analysis_set()) - 1
    lam.value = 0.4
    filters.value = "noise"
    kind.value = "noise"
    assert calls == [("blur", "blur", 0.05, (1.0,), 0), ("blur", "blur", 0.05, (0.4,), 0),
                     ("noise", "blur", 0.05, (0.4,), 0), ("noise", "noise", 0.05, (0.4,), 0)]

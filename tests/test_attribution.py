"""FAIG (Eq. 6) and the discriminative-filter ranking (Eq. 7) on tiny float64 nets with known answers."""
import math

import pytest
import torch
from torch import nn

from faiglib import faig
from faiglib.methods.faig import DiscriminativeFilters, check_pair, discriminative_filters, path_gradients, top_count
from faiglib.core.checkpoint import CheckpointError
from faiglib.data.degradations import Degradation, build_analysis_set
from faiglib.core.units import FilterIndex
from faiglib.models.networks import build_network
from faiglib.core.paths import interpolate, quadrature


class LinearConv(nn.Module):
    """F(θ, x) = conv(x, W) + b: the loss is quadratic in θ, so ∂L/∂θ is linear along the path."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


def pair_of(model, scale=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = {k: v.detach().clone() for k, v in model.state_dict().items()}
    target = {k: v + scale * torch.randn(v.shape, generator=g, dtype=v.dtype) for k, v in base.items()}
    return base, target


@pytest.fixture
def linear_setup():
    torch.manual_seed(0)
    model = LinearConv().double()
    base, target = pair_of(model)
    x = torch.rand(2, 2, 5, 5, dtype=torch.float64)
    y = torch.rand(2, 3, 5, 5, dtype=torch.float64)
    return model, base, target, x, y


def loss_at(model, state, x, y):
    return float(((torch.func.functional_call(model, state, (x,)) - y) ** 2).sum())


def test_linear_model_closed_form(linear_setup):
    """With a gradient linear in α, ∫ ∂L dα = ∂L at the midpoint; trapezoid and midpoint rules are exact."""
    model, base, target, x, y = linear_setup
    mid = {k: ((base[k] + target[k]) / 2).requires_grad_() for k in base}
    loss = ((torch.func.functional_call(model, mid, (x,)) - y) ** 2).sum()
    grads = torch.autograd.grad(loss, list(mid.values()))
    expected = {k: (target[k] - base[k]) * g for k, g in zip(mid, grads)}
    for method in ("trapezoid", "midpoint"):
        r = faig(model, base, target, x, y, n_steps=1, method=method)
        for k in expected:
            torch.testing.assert_close(r.param_attributions[k], expected[k], rtol=1e-10, atol=1e-12)
        assert abs(float(r.delta)) < 1e-9 * abs(float(r.loss_target - r.loss_baseline)) + 1e-12


def test_left_rule_error_is_known_for_linear_gradient(linear_setup):
    """Left rule on a linear integrand g(α): error = (g(0) − g(1)) / (2N) exactly."""
    model, base, target, x, y = linear_setup
    exact = loss_at(model, target, x, y) - loss_at(model, base, x, y)
    # φ(α) = L(θ(α)); the attribution sum with the left rule is −Σ_k φ'(α_k)/N, φ' linear, so the error is
    # −(φ'(0) − φ'(1))/(2N) with φ'(α) = ∇L(θ(α)) · (θ̄ − θ).
    def dphi(state):
        s = {k: v.clone().requires_grad_() for k, v in state.items()}
        g = torch.autograd.grad(((torch.func.functional_call(model, s, (x,)) - y) ** 2).sum(), list(s.values()))
        return sum(float((gi * (base[k] - target[k])).sum()) for k, gi in zip(s, g))

    assert abs(dphi(base) - dphi(target)) > 1e-3  # the integrand really varies along the path
    for n in (1, 3, 10):
        r = faig(model, base, target, x, y, n_steps=n, method="left")
        assert float(r.loss_target - r.loss_baseline) == pytest.approx(exact, rel=1e-12)
        # delta = ∫φ' − (1/N) Σ φ'(k/N) = (φ'(1) − φ'(0)) / (2N), with φ'(1) at the baseline
        assert float(r.delta) == pytest.approx((dphi(base) - dphi(target)) / (2 * n), rel=1e-8, abs=1e-10)


def test_completeness_converges_on_nonlinear_net():
    torch.manual_seed(1)
    model = build_network("msrresnet", num_feat=4, num_block=1, upscale=2).double()
    base, target = pair_of(model, scale=0.05, seed=3)
    x = torch.rand(1, 3, 6, 6, dtype=torch.float64)
    y = torch.rand(1, 3, 12, 12, dtype=torch.float64)
    change = None
    gaps = {}
    for method in ("left", "trapezoid"):
        gaps[method] = []
        for n in (2, 8, 32, 128):
            r = faig(model, base, target, x, y, n_steps=n, method=method)
            change = float(r.loss_target - r.loss_baseline)
            gaps[method].append(abs(float(r.delta)))
    assert abs(change) > 1e-3
    # first order for the left rule: each 4x more steps cuts the gap ~4x; trapezoid is far smaller
    for a, b in zip(gaps["left"], gaps["left"][1:]):
        assert b < a / 2.5
    assert gaps["left"][-1] < 0.02 * abs(change)
    assert gaps["trapezoid"][-1] < gaps["left"][-1] / 10


def test_filter_score_is_sum_of_abs_attributions(linear_setup):
    model, base, target, x, y = linear_setup
    r = faig(model, base, target, x, y, n_steps=4)
    w = r.param_attributions["conv.weight"]  # (3, 2, 3, 3)
    manual = torch.stack([w[o, i].abs().sum() for o in range(3) for i in range(2)])
    torch.testing.assert_close(r.filter_scores, manual)
    assert len(r.index) == 6


def test_path_end_points_and_rules():
    b = {"w": torch.tensor([1.0, -2.0]), "v": torch.tensor([[3.0]])}
    t = {"w": torch.tensor([0.5, 4.0]), "v": torch.tensor([[-1.0]])}
    for k in b:
        assert torch.equal(interpolate(b, t, 0.0)[k], t[k])  # α = 0 is the target
        assert torch.equal(interpolate(b, t, 1.0)[k], b[k])  # α = 1 is the baseline
    alphas, weights = quadrature(4, "left")
    assert alphas.tolist() == [0.0, 0.25, 0.5, 0.75] and weights.tolist() == [0.25] * 4
    assert quadrature(4, "right")[0].tolist() == [0.25, 0.5, 0.75, 1.0]
    a, w = quadrature(4, "trapezoid")
    assert a.tolist() == [0, 0.25, 0.5, 0.75, 1.0] and w.tolist() == [0.125, 0.25, 0.25, 0.25, 0.125]
    for method in ("left", "right", "midpoint", "trapezoid", "gauss-legendre"):
        assert math.isclose(float(quadrature(7, method)[1].sum()), 1.0, rel_tol=1e-12)
    # Gauss-Legendre with 3 nodes integrates α^5 exactly
    a, w = quadrature(3, "gauss-legendre")
    assert float((w * a ** 5).sum()) == pytest.approx(1 / 6, rel=1e-12)


def test_per_example_and_chunked_agree_with_separate_calls():
    torch.manual_seed(2)
    model = build_network("msrresnet", num_feat=4, num_block=1, upscale=2).double()
    base, target = pair_of(model, scale=0.05)
    x = torch.rand(3, 3, 5, 5, dtype=torch.float64)
    y = torch.rand(3, 3, 10, 10, dtype=torch.float64)
    batched = faig(model, base, target, x, y, n_steps=5, per_example=True)
    chunked = faig(model, base, target, x, y, n_steps=5, per_example=True, internal_batch_size=2)
    for i in range(3):
        single = faig(model, base, target, x[i], y[i], n_steps=5)
        torch.testing.assert_close(batched.filter_scores[i], single.filter_scores)
        torch.testing.assert_close(batched.delta[i], single.delta)
    torch.testing.assert_close(chunked.filter_scores, batched.filter_scores)
    summed = faig(model, base, target, x, y, n_steps=5)
    summed_chunk = faig(model, base, target, x, y, n_steps=5, internal_batch_size=3)
    torch.testing.assert_close(summed.filter_scores, summed_chunk.filter_scores)
    # gradients are linear in the loss: per-example attributions add up to those of the summed loss
    for k, v in summed.param_attributions.items():
        torch.testing.assert_close(batched.param_attributions[k].sum(0), v)


def test_faig_leaves_model_untouched(linear_setup):
    model, base, target, x, y = linear_setup
    before = {k: v.clone() for k, v in model.state_dict().items()}
    faig(model, base, target, x, y, n_steps=3)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("n_steps", [0, -3, 2.5, True, "10"])
def test_bad_n_steps(linear_setup, n_steps):
    model, base, target, x, y = linear_setup
    with pytest.raises(ValueError, match="n_steps"):
        faig(model, base, target, x, y, n_steps=n_steps)


def test_unknown_method(linear_setup):
    model, base, target, x, y = linear_setup
    with pytest.raises(ValueError, match="quadrature method"):
        faig(model, base, target, x, y, n_steps=3, method="simpson")


def test_different_architectures_rejected():
    model = build_network("msrresnet", num_feat=4, num_block=1)
    other_depth = build_network("msrresnet", num_feat=4, num_block=2).state_dict()
    other_width = build_network("msrresnet", num_feat=8, num_block=1).state_dict()
    srcnn = build_network("srcnn_style", num_feat=4).state_dict()
    x, y = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 8, 8)
    for other in (other_depth, other_width, srcnn):
        with pytest.raises(ValueError, match="different architectures"):
            faig(model, model.state_dict(), other, x, y, n_steps=2)
    with pytest.raises(ValueError, match="different architectures"):
        check_pair(model, other_width, model.state_dict())


def test_nan_weights_rejected(linear_setup):
    model, base, target, x, y = linear_setup
    bad = dict(target)
    bad["conv.weight"] = target["conv.weight"].clone()
    bad["conv.weight"][0, 0, 0, 0] = float("nan")
    with pytest.raises(CheckpointError, match="conv.weight"):
        faig(model, base, bad, x, y, n_steps=2)


def test_top_count_and_bad_proportions():
    assert top_count(0.01, 151936) == 1519  # the official 1 % of MSRResNet-64/16 x2
    assert top_count(0.05, 151936) == 7596
    assert top_count(1.0, 10) == 10 and top_count(1e-6, 10) == 1
    for bad in (0, -0.1, 1.5, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="proportion"):
            top_count(bad, 100)


def test_eq7_from_per_image_scores(tmp_path):
    blur = torch.tensor([[3.0, 1.0, 0.0, 2.0], [5.0, 1.0, 0.0, 2.0]])
    noise = torch.tensor([[1.0, 4.0, 0.0, 2.0], [1.0, 2.0, 2.0, 2.0]])
    df = DiscriminativeFilters(("blur", "noise"), {"blur": blur, "noise": noise},
                               {"blur": torch.zeros(2, 2), "noise": torch.zeros(2, 2)},
                               {"blur": torch.zeros(2), "noise": torch.zeros(2)}, ["a", "b"])
    torch.testing.assert_close(df.scores("blur"), torch.tensor([3.0, -2.0, -1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(df.scores("noise", eliminate=False), torch.tensor([1.0, 3.0, 1.0, 2.0], dtype=torch.float64))
    assert df.top("blur", 0.5).tolist() == [0, 3]
    assert df.top("noise", 0.25).tolist() == [1]
    assert df.top("noise", 0.5, eliminate=False).tolist() == [1, 3]
    with pytest.raises(ValueError, match="proportion"):
        df.top("blur", 0.0)
    with pytest.raises(KeyError, match="jpeg"):
        df.scores("jpeg")
    loaded = DiscriminativeFilters.load(df.save(tmp_path / "s.pt"))
    assert torch.equal(loaded.scores("blur"), df.scores("blur")) and loaded.image_names == ["a", "b"]


def test_discriminative_filters_matches_per_image_faig():
    torch.manual_seed(4)
    model = build_network("msrresnet", num_feat=4, num_block=1).double()
    base, target = pair_of(model, scale=0.05)
    g = torch.Generator().manual_seed(0)
    images = [(f"im{i}", torch.rand(3, 24, 24, generator=g, dtype=torch.float64)) for i in range(2)]
    aset = build_analysis_set(images, Degradation(blur_size=7), seed=0)
    df = discriminative_filters(model, base, target, aset, n_steps=3)
    for d in ("blur", "noise"):
        for i in range(2):
            single = faig(model, base, target, aset.lr[d][i], aset.hr[i], n_steps=3)
            torch.testing.assert_close(df.per_image[d][i], single.filter_scores.float())
    assert df.per_image["blur"].shape == (2, len(FilterIndex(model)))


def test_faig_works_inside_no_grad(linear_setup):
    model, base, target, x, y = linear_setup
    expected = faig(model, base, target, x, y, n_steps=3)
    with torch.no_grad():
        got = faig(model, base, target, x, y, n_steps=3)
    torch.testing.assert_close(got.filter_scores, expected.filter_scores)


def test_bf16_precision_is_close_and_unknown_precision_rejected():
    torch.manual_seed(5)
    model = build_network("msrresnet", num_feat=8, num_block=1)
    base, target = pair_of(model, scale=0.05)
    x, y = torch.rand(1, 3, 12, 12), torch.rand(1, 3, 24, 24)
    exact = faig(model, base, target, x, y, n_steps=4)
    approx = faig(model, base, target, x, y, n_steps=4, precision="bf16")
    scale = float(exact.filter_scores.max())
    assert float((approx.filter_scores - exact.filter_scores).abs().max()) < 0.05 * scale
    assert not torch.equal(approx.filter_scores, exact.filter_scores)  # it really ran in bfloat16
    with pytest.raises(ValueError, match="precision"):
        faig(model, base, target, x, y, n_steps=2, precision="fp16")


def test_top_filters_match_the_independent_official_style_loop_of_the_benchmark():
    """The benchmark's reference (the official script's workflow: a network rebuilt at every α, one image at a
    time, gradients read from .grad) and faiglib rank the filters alike on a tiny trained-like pair."""
    import importlib.util
    from pathlib import Path

    from faiglib.data.degradations import Degradation, build_analysis_set
    from faiglib.profiles import NetSpec
    from faiglib.training.stages import build_seeded

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_faig.py"
    spec_ = importlib.util.spec_from_file_location("bench_faig", path)
    bench = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(bench)

    spec = NetSpec("msrresnet", 6, 1)
    baseline = build_seeded(spec, 2, 0).state_dict()
    g = torch.Generator().manual_seed(1)
    target = {k: v + 0.05 * torch.randn(v.shape, generator=g) for k, v in baseline.items()}
    gen = torch.Generator().manual_seed(2)
    images = [(f"im{i}", torch.rand(3, 48, 48, generator=gen)) for i in range(2)]
    aset = build_analysis_set(images, Degradation(scale=2), seed=0)
    ours = discriminative_filters(build_network("msrresnet", **spec.kwargs(2)), baseline, target, aset, n_steps=4)
    n = ours.n_filters
    for d, other in (("blur", "noise"), ("noise", "blur")):
        ref = bench.reference_ranking("msrresnet", spec.kwargs(2), baseline, target, aset.lr[d], aset.lr[other],
                                      aset.hr, 4)
        for p in (0.01, 0.05):
            k = max(1, int(p * n))
            assert set(ours.ranking(d)[:k].tolist()) == set(ref[:k].tolist()), (d, p)
        ranks_ours = torch.empty(n).index_put_((ours.ranking(d),), torch.arange(n, dtype=torch.float))
        ranks_ref = torch.empty(n).index_put_((ref,), torch.arange(n, dtype=torch.float))
        assert float(torch.corrcoef(torch.stack([ranks_ours, ranks_ref]))[0, 1]) > 0.9999


# ---- strict inputs at the API boundary (issue 12, part 2) ----------------------------------------------------
def _x2_setup():
    torch.manual_seed(6)
    model = build_network("msrresnet", num_feat=4, num_block=1)  # x2
    base, target = pair_of(model, scale=0.05)
    g = torch.Generator().manual_seed(1)
    return model, base, target, torch.rand(1, 3, 8, 8, generator=g), torch.rand(1, 3, 16, 16, generator=g)


@pytest.mark.parametrize("shape", [(1, 1, 16, 16), (1, 3, 1, 1), (1, 3, 16, 1)])
def test_rejects_targets_that_only_broadcast_against_the_output(shape):
    model, base, target, x, _ = _x2_setup()
    y = torch.rand(shape)
    with pytest.raises(ValueError, match=r"output shape \(1, 3, 16, 16\)"):
        faig(model, base, target, x, y, n_steps=2)
    with pytest.raises(ValueError, match=r"output shape \(1, 3, 16, 16\)"):
        path_gradients(model, base, target, x, y, n_steps=2)
    with pytest.raises(ValueError, match=r"output shape"):  # the vectorised path checks too
        faig(model, base, target, x, y, n_steps=2, internal_batch_size=2, per_example=True)


def test_scale_mismatch_names_both_shapes_and_the_scale():
    model, base, target, x, _ = _x2_setup()
    y = torch.rand(1, 3, 24, 24)  # x3 of the input, the model is x2
    with pytest.raises(ValueError, match=r"\(1, 3, 24, 24\).*\(1, 3, 16, 16\).*x2") as err:
        faig(model, base, target, x, y, n_steps=2)
    assert "(1, 3, 8, 8)" in str(err.value)


@pytest.mark.parametrize("which", ["inputs", "targets"])
def test_rejects_0_255_and_integer_images(which):
    model, base, target, x, y = _x2_setup()
    for bad, message in (((x if which == "inputs" else y) * 255, r"\[0, 1\].*divide"),
                         (((x if which == "inputs" else y) * 255).to(torch.uint8), r"float.*divide uint8.*255")):
        args = (bad, y) if which == "inputs" else (x, bad)
        with pytest.raises(ValueError, match=message):
            faig(model, base, target, *args, n_steps=2)
        with pytest.raises(ValueError, match=message):
            path_gradients(model, base, target, *args, n_steps=2)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_rejects_nan_and_inf_images(value):
    model, base, target, x, y = _x2_setup()
    bad = x.clone()
    bad[0, 1, 2, 3] = value
    with pytest.raises(ValueError, match="NaN or inf"):
        faig(model, base, target, bad, y, n_steps=2)
    bad = y.clone()
    bad[0, 0, 0, 0] = value
    with pytest.raises(ValueError, match="NaN or inf"):
        faig(model, base, target, x, bad, n_steps=2)


def test_small_overshoot_within_the_tolerance_is_accepted():
    model, base, target, x, y = _x2_setup()
    from faiglib.core.validate import RANGE_TOLERANCE

    y = y.clone()
    y[0, 0, 0, 0], y[0, 0, 0, 1] = 1 + RANGE_TOLERANCE / 2, -RANGE_TOLERANCE / 2
    faig(model, base, target, x, y, n_steps=2)  # float rounding of [0, 1] images is fine
    y[0, 0, 0, 0] = 1 + 2 * RANGE_TOLERANCE
    with pytest.raises(ValueError, match="tolerance"):
        faig(model, base, target, x, y, n_steps=2)


def test_discriminative_filters_rejects_a_0_255_analysis_set():
    model, base, target, _, _ = _x2_setup()
    g = torch.Generator().manual_seed(0)
    aset = build_analysis_set([("im0", torch.rand(3, 24, 24, generator=g))], Degradation(blur_size=7), seed=0)
    aset.hr[0] = aset.hr[0] * 255
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        discriminative_filters(model, base, target, aset, n_steps=2)

"""The L2X chapter's study functions (faiglib.studies.l2x) on a tiny fake workspace."""
from dataclasses import dataclass, field

import pytest
import torch

from faiglib.core.paths import blur_baseline
from faiglib.methods.l2x import WindowObjective
from faiglib.models.networks import build_network
from faiglib.studies.l2x import (COMPARED_METHODS, separating_replacement, separation_from_permutation, attribute, attribution_cka, paired_differences, cka_patches, cka_study, l2x_examples, representation_layers,
                                 ordering_by_auc, remove_replace_study, window_case)


def net(seed):
    m = build_network("msrresnet", num_feat=4, num_block=1, upscale=2).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return m.eval()


@dataclass
class FakeSet:
    names: list
    hr: list
    lr: dict

    def __len__(self):
        return len(self.names)


@dataclass
class FakeWorkspace:
    seed: int = 0
    models: dict = field(default_factory=lambda: {"baseline": net(1), "target": net(2)})

    def analysis_set(self):
        g = torch.Generator().manual_seed(5)
        hr = [torch.rand(3, 48, 48, generator=g, dtype=torch.float64) for _ in range(2)]
        lr = {k: [torch.nn.functional.avg_pool2d(h[None], 2)[0] for h in hr] for k in ("clean", "blur", "noise")}
        return FakeSet(["a", "b"], hr, lr)

    def model(self, which):
        return self.models[which]


def test_window_case_crop_has_the_whole_images_objective_and_reference():
    m = net(1)
    lr = torch.rand(3, 30, 30, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    case = window_case(m, lr, (20, 24), 8)  # context "auto": the measured receptive radius + 2, verified
    assert case.context is not None and case.x.shape[-1] < 30  # cropped
    with pytest.raises(ValueError, match="context 2 is too small"):  # an explicit context is checked, not widened
        window_case(m, lr, (20, 24), 8, context=2)
    with torch.no_grad():
        full = WindowObjective(m, (20, 24), 8)(lr[None])
        crop = WindowObjective(m, case.window, 8)(case.x[None])
    assert float(crop) == pytest.approx(float(full), rel=1e-4)
    r0, r1, c0, c1 = case.box
    assert torch.equal(case.reference, blur_baseline(lr)[:, r0:r1, c0:c1])


def test_every_method_explains_the_same_objective():
    m = net(2)
    lr = torch.rand(3, 30, 30, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    case = window_case(m, lr, (20, 24), 8)
    with torch.no_grad():
        delta = float(WindowObjective(m, case.window, 8)(torch.stack([case.x, case.reference])).diff().neg())
    maps = {}
    for method in COMPARED_METHODS:
        maps[method], cost = attribute(m, case, method, fold=40, ig_steps=40)
        assert maps[method].shape == case.x.shape
    assert float(maps["l2x"].sum()) == pytest.approx(delta, rel=1e-9)  # summation-to-delta
    assert float(maps["ig_blur"].sum()) == pytest.approx(delta, rel=0.05)  # completeness up to the quadrature
    assert float(maps["lam"].sum()) == pytest.approx(delta, rel=0.2)  # a different path, same end points


def test_remove_replace_study_on_a_fake_workspace():
    ws = FakeWorkspace()
    r = remove_replace_study(ws, kinds=("blur",), n_windows=1, window_size=8, fold=8, ig_steps=8,
                             percents=(0, 10, 50, 100))
    assert r["percents"] == [0.0, 10.0, 50.0, 100.0]
    for which in ("baseline", "target"):
        for method in COMPARED_METHODS:
            for order in ("absolute", "positive", "negative"):
                curves = r["curves"][which]["blur"][method][order]
                ends = [1 - d1 / d0 for d0, d1 in r["objectives"][which]["blur"]]  # f(100) = ΔD / D(F(x))
                assert len(curves) == 2 and all(c[0] == 0 for c in curves)
                assert [c[-1] for c in curves] == pytest.approx(ends, rel=1e-9)
                assert len(r["summary"][which][method][order]["values"]) == 2
    assert r["costs"]["l2x"]["forward"]["mean"] == 4 and r["costs"]["l2x"]["backward"]["mean"] == 2
    assert r["costs"]["ig_blur"]["backward"]["mean"] == 8 and r["costs"]["lam"]["backward"]["mean"] == 8
    assert r["costs"]["random"]["forward"]["mean"] == 0
    assert r["relative_gap"]["l2x"]["mean"] < 1e-9
    # same seed, same numbers
    again = remove_replace_study(ws, kinds=("blur",), n_windows=1, window_size=8, fold=8, ig_steps=8,
                                 percents=(0, 10, 50, 100))
    assert again["auc"] == r["auc"]


def test_both_replacements_and_the_permuted_floor():
    ws = FakeWorkspace()
    r = remove_replace_study(ws, kinds=("blur",), methods=("l2x", "random"), models=("target",), n_windows=1,
                             window_size=8, percents=(0, 50, 100))
    assert list(r["by_replacement"]) == ["mean", "blur"] and r["settings"]["replacement"] == "mean"
    assert r["auc"] == r["by_replacement"]["mean"]["auc"]
    aset = ws.analysis_set()
    for case, (name, windows) in enumerate(r["windows"].items()):
        lr = aset.lr["blur"][case]
        # the mean replacement's end point, by hand: the window's D on the image filled with its channel means
        flat = lr.mean(dim=(1, 2), keepdim=True).expand_as(lr)
        with torch.no_grad():
            d_flat = float(WindowObjective(ws.model("target"), tuple(windows[0]), 8)(flat[None])[0])
        assert r["by_replacement"]["mean"]["objectives"]["target"]["blur"][case][1] == pytest.approx(d_flat, rel=1e-9)
    for rep in ("mean", "blur"):  # at 100 % every pixel is the replacement's: f = 1 − D(F(x̄)) / D(F(x))
        sub = r["by_replacement"][rep]
        ends = [1 - d1 / d0 for d0, d1 in sub["objectives"]["target"]["blur"]]
        assert [c[-1] for c in sub["curves"]["target"]["blur"]["l2x"]["absolute"]] == pytest.approx(ends, rel=1e-9)
    assert r["by_replacement"]["mean"]["objectives"] != r["by_replacement"]["blur"]["objectives"]
    sep = separation_from_permutation(r["by_replacement"]["blur"])
    assert set(sep["target"]) == {"l2x", "random"} and sep["target"]["l2x"]["n"] == 2
    with pytest.raises(ValueError, match="unknown replacement"):
        remove_replace_study(ws, kinds=("blur",), replacements=("zero",))


def test_separation_from_permutation_known_answer():
    study = {"auc": {"net": {"blur": {"m": {"absolute": [0.9, 0.8], "negative": [0.1, 0.0]}},
                             "noise": {"m": {"absolute": [0.7, 0.9], "negative": [0.3, 0.2]}}}},
             "permuted_auc": {"net": {"blur": {"m": {"absolute": [0.5, 0.5], "negative": [0.4, 0.4]}},
                                      "noise": {"m": {"absolute": [0.5, 0.5], "negative": [0.4, 0.4]}}}}}
    s = separation_from_permutation(study)["net"]["m"]
    # differences 0.4, 0.3, 0.2, 0.4: mean 0.325, sample std 0.0957, s.e. 0.0479, z 6.79
    assert s["difference"]["mean"] == pytest.approx(0.325) and s["n"] == 4
    assert s["standard_error"] == pytest.approx(0.09574271 / 2, rel=1e-6)
    assert s["z"] == pytest.approx(0.325 / (0.09574271 / 2), rel=1e-6)
    neg = separation_from_permutation(study, "negative")["net"]["m"]  # lower is better: 0.3, 0.4, 0.1, 0.2
    assert neg["difference"]["mean"] == pytest.approx(0.25)


def test_separating_replacement_takes_the_larger_median_z_without_the_controls():
    def per_net(*zs):
        return {m: {"z": z} for m, z in zip(("l2x", "lam", "random"), zs)}

    # mean: z of the maps 1, 3 (baseline) and 2, None->0 (target): median of 0, 1, 2, 3 = 1.5;
    # blur: 4, 0.5, 1, 2 -> median 1.5 too: the tie goes to the replacement given first
    sep = {"mean": {"absolute": {"baseline": per_net(1.0, 3.0, 99.0), "target": per_net(2.0, None, 99.0)}},
           "blur": {"absolute": {"baseline": per_net(4.0, 0.5, -99.0), "target": per_net(1.0, 2.0, -99.0)}}}
    r = separating_replacement(sep)
    assert r == {"replacement": "mean", "median_z": {"mean": 1.5, "blur": 1.5}}
    sep["blur"]["absolute"]["target"]["l2x"]["z"] = 3.0  # blur: 0.5, 2, 3, 4 -> 2.5
    assert separating_replacement(sep) == {"replacement": "blur", "median_z": {"mean": 1.5, "blur": 2.5}}
    with pytest.raises(ValueError, match="unknown order"):
        separating_replacement(sep, "sideways")
    with pytest.raises(ValueError, match="no map but the controls"):
        separating_replacement({"mean": {"absolute": {"target": {"random": {"z": 1.0}}}}})


def test_remove_replace_study_bad_input():
    with pytest.raises(ValueError, match="no analysis inputs"):
        remove_replace_study(FakeWorkspace(), kinds=("fog",))
    with pytest.raises(ValueError, match="unknown method"):
        remove_replace_study(FakeWorkspace(), methods=("l2x", "shap"))


def test_ordering_by_auc():
    summary = {"a": {"absolute": {"mean": 0.5, "std": 0.1}, "negative": {"mean": 0.2, "std": 0.01}},
               "b": {"absolute": {"mean": 0.9, "std": 0.1}, "negative": {"mean": -0.3, "std": 0.01}},
               "c": {"absolute": {"mean": 0.85, "std": 0.2}, "negative": {"mean": 0.1, "std": 0.01}}}
    o = ordering_by_auc(summary, "absolute")
    assert o["methods"] == ["b", "c", "a"] and o["separated"] == [False, True]
    assert ordering_by_auc(summary, "negative")["methods"] == ["b", "c", "a"]
    tie = {"x": {"absolute": {"mean": 0.5 - 1e-9, "std": 0.1}}, "y": {"absolute": {"mean": 0.5, "std": 0.1}}}
    assert ordering_by_auc(tie)["methods"] == ["x", "y"]  # equal to 4 decimals: the given order


def test_examples_and_cka_on_a_fake_workspace():
    ws = FakeWorkspace()
    ex = l2x_examples(ws, window_size=8, n_windows=1)
    assert set(ex) == {"blur", "noise"}
    assert all(abs(r.summation_gap) < 1e-9 * max(1, abs(r.delta)) for r, _ in ex.values())
    batches = cka_patches(ws, patch=8, per_image=2, batch_size=4)
    assert len(batches) == 3 and batches[0].shape == (4, 3, 8, 8)  # 2 images x 2 positions x 3 kinds = 12
    layers = representation_layers(ws.model("target"))
    assert layers == ["lrelu_first", "body.0", "lrelu_up1", "lrelu_hr", "conv_last"]
    c = cka_study({"same": (ws.model("target"), ws.model("target"))}, batches)
    assert c["same"]["diagonal"] == pytest.approx([1.0] * len(layers), abs=1e-10)


def test_attribution_cka_of_networks():
    ws = FakeWorkspace()
    r = attribution_cka(ws, {"a": ws.model("baseline"), "b": ws.model("target"), "a again": ws.model("baseline")},
                        kinds=("blur", "noise"), n_windows=1, window_size=8)
    m = torch.tensor(r["matrix"])
    assert r["samples"] == 4 and m.shape == (3, 3)
    assert m.diagonal().tolist() == pytest.approx([1.0, 1.0, 1.0], abs=1e-10)
    assert float(m[0, 2]) == pytest.approx(1.0, abs=1e-10)  # the same network twice
    assert torch.allclose(m, m.t(), atol=1e-12)
    with pytest.raises(ValueError, match="part must be"):
        attribution_cka(ws, {"a": ws.model("baseline"), "b": ws.model("target")}, part="both")


def test_attribution_cka_of_images_of_different_sizes():
    # Set14-like analysis sets mix image sizes: every sample shares the largest image's grid
    ws = FakeWorkspace()
    aset = ws.analysis_set()
    g = torch.Generator().manual_seed(7)
    aset.hr[1] = torch.rand(3, 40, 56, generator=g, dtype=torch.float64)
    for kind in aset.lr:
        aset.lr[kind][1] = torch.nn.functional.avg_pool2d(aset.hr[1][None], 2)[0]
    ws.analysis_set = lambda: aset
    r = attribution_cka(ws, {"a": ws.model("baseline"), "b": ws.model("target"), "a again": ws.model("baseline")},
                        kinds=("blur", "noise"), n_windows=1, window_size=8)
    m = torch.tensor(r["matrix"])
    assert r["samples"] == 4 and m.diagonal().tolist() == pytest.approx([1.0] * 3, abs=1e-10)
    assert float(m[0, 2]) == pytest.approx(1.0, abs=1e-10)


def test_difference_normalisation_ends_at_one():
    r = remove_replace_study(FakeWorkspace(), kinds=("blur",), methods=("l2x", "random"), models=("target",),
                             n_windows=1, window_size=8, percents=(0, 50, 100), normalise="difference")
    assert all(c[-1] == pytest.approx(1.0) for c in r["curves"]["target"]["blur"]["l2x"]["absolute"])


def test_paired_differences_known_answer():
    study = {"auc": {"net": {"blur": {"l2x": {"absolute": [0.5, 0.6], "negative": [0.1, 0.0]},
                                      "lam": {"absolute": [0.4, 0.5], "negative": [0.1, 0.2]}},
                             "noise": {"l2x": {"absolute": [0.7, 0.7], "negative": [0.3, 0.1]},
                                       "lam": {"absolute": [0.6, 0.6], "negative": [0.2, 0.2]}}}}}
    d = paired_differences(study, "l2x", "absolute")["net"]["lam"]
    assert d["difference"]["values"] == pytest.approx([0.1] * 4) and d["difference"]["std"] == pytest.approx(0, abs=1e-12)
    assert d["n"] == 4 and d["resolved"] and d["verdict"] == "l2x better"
    neg = paired_differences(study, "l2x", "negative")["net"]["lam"]  # lower is better: lam − l2x
    assert neg["difference"]["values"] == pytest.approx([0.0, 0.2, -0.1, 0.1])
    assert neg["difference"]["mean"] == pytest.approx(0.05) and not neg["resolved"]
    with pytest.raises(ValueError, match="no method"):
        paired_differences(study, "shap")
    tiny = {"auc": {"net": {"blur": {"l2x": {"absolute": [0.5, 0.6]}, "ig": {"absolute": [0.5 - 1e-6, 0.6 - 1e-6]}}}}}
    assert not paired_differences(tiny)["net"]["ig"]["resolved"]  # consistent, but below the margin


def test_representation_layers_of_every_architecture_and_cka_across_them():
    import torch

    from faiglib.models.networks import build_network
    from faiglib.studies.l2x import cka_study, representation_layers

    torch.manual_seed(0)
    msr = build_network("msrresnet", num_feat=8, num_block=2, upscale=2)
    torch.nn.init.normal_(msr.conv_last.weight, std=0.1)  # initialised to zero: a constant layer has no CKA
    rcan = build_network("rcan", num_feat=8, num_block=1, num_group=2, squeeze_factor=4, upscale=2)
    swin = build_network("swinir", num_feat=8, embed_dim=8, depths=(2, 2), num_heads=2, window_size=4, upscale=2)
    assert representation_layers(rcan) == ["conv_first", "body.0", "body.1", "conv_after_body", "conv_last"]
    assert representation_layers(swin) == ["conv_first", "layers.0", "layers.1", "conv_after_body",
                                           "conv_before_upsample", "conv_last"]
    assert representation_layers(msr)[:3] == ["lrelu_first", "body.0", "body.1"]
    with pytest.raises(ValueError, match="no CKA layer list for Sequential"):
        representation_layers(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3)))
    batches = [torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    # untrained tiny nets: the biased HSIC (>= 0) keeps every layer's self-similarity positive on few samples
    r = cka_study({"msr vs rcan": (msr, rcan), "rcan vs itself": (rcan, rcan), "msr vs swin": (msr, swin)}, batches,
                  unbiased=False)
    assert len(r["msr vs rcan"]["matrix"]) == len(representation_layers(msr))
    assert len(r["msr vs swin"]["matrix"][0]) == 6 and r["msr vs rcan"]["diagonal"] == []
    assert r["rcan vs itself"]["diagonal"] == pytest.approx([1.0] * 5)  # a representation with itself


def test_every_pixel_method_has_one_call_shape_and_result():
    from faiglib.methods.pixel_attribution import PIXEL_METHODS, PixelAttribution, attribute as pixel_attribute

    m = net(4)
    lr = torch.rand(3, 30, 30, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    case = window_case(m, lr, (20, 24), 8)
    with torch.no_grad():
        change = float(WindowObjective(m, case.window, 8)(torch.stack([case.x, case.reference])).diff().neg())
    for method in PIXEL_METHODS:
        r = pixel_attribute(method, m, case, fold=40, ig_steps=40, generator=torch.Generator().manual_seed(0))
        assert isinstance(r, PixelAttribution) and r.method == method and r.map.shape == case.x.shape
        assert torch.equal(r.positive + r.negative, r.map) and r.positive.min() >= 0 >= r.negative.max()
        if method in ("l2x", "lam", "ig_blur"):  # relative to the blurred reference: Σ map = g(x) − g(x̄) + delta
            assert r.objective_change == pytest.approx(change, rel=1e-9)
            assert float(r.map.sum()) == pytest.approx(r.objective_change + r.delta, rel=1e-9, abs=1e-9)
        else:
            assert r.delta is None and r.relative_gap is None
    with pytest.raises(ValueError, match="unknown pixel method"):
        pixel_attribute("shap", m, case)


def test_ig_map_in_batches_is_the_gauss_legendre_integral_written_out():
    """IG of 120 steps (batches of 50, 50, 20) against the straight-line Gauss-Legendre quadrature by hand:
    map = (x − x̄) · Σ_i w_i ∇g(x̄ + a_i (x − x̄)), nodes and weights from numpy mapped from [−1, 1] to [0, 1]."""
    import numpy as np
    from faiglib.methods.pixel_attribution import IG_BATCH, attribute as pixel_attribute, integrated_gradients

    m = net(4)
    lr = torch.rand(3, 30, 30, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    case = window_case(m, lr, (20, 24), 8)
    steps = 120
    assert steps > 2 * IG_BATCH  # more than two batches
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    g = WindowObjective(m, case.window, 8)
    total = torch.zeros_like(case.x)
    for a, w in zip((nodes + 1) / 2, weights / 2):
        point = (case.reference + float(a) * (case.x - case.reference)).unsqueeze(0).requires_grad_(True)
        total += float(w) * torch.autograd.grad(g(point).sum(), point)[0][0]
    expected = (case.x - case.reference) * total
    r = pixel_attribute("ig_blur", m, case, ig_steps=steps)
    # float64 throughout; what is left (2e-9 of the largest value, measured) is captum's node arithmetic
    assert float((r.map - expected).abs().max()) <= 1e-8 * float(expected.abs().max())
    one_batch, _ = integrated_gradients(m, case.x, case.reference, case.window, 8, n_steps=steps,
                                        internal_batch_size=None)
    assert torch.allclose(r.map, one_batch, rtol=0, atol=1e-12)  # the batches only split the sum


def test_l2x_where_valid_refuses_a_transformer_and_uses_ig_instead():
    from faiglib.studies.l2x import l2x_where_valid

    swin = build_network("swinir", embed_dim=8, depths=(2,), num_heads=2, window_size=4, upscale=2).double().eval()
    spaces = {"cnn": FakeWorkspace(), "swin": FakeWorkspace(models={"baseline": swin, "target": swin})}
    rows = l2x_where_valid(spaces, kinds=("blur",), window_size=8, ig_steps=16)
    by = {r["network"]: r for r in rows}
    assert by["cnn"]["method"] == "l2x" and by["cnn"]["refused"] is None and by["cnn"]["relative_gap"] < 0.01
    # SwinIR's LayerNorm / GELU have no rescale rule: refused with the reason, and IG's map stands in
    assert by["swin"]["method"] == "ig_blur" and "LayerNorm" in by["swin"]["refused"]
    assert by["swin"]["relative_gap"] is not None
    assert by["cnn"]["ig_steps"] is None and by["cnn"]["ig_gaps"] == {}


def test_l2x_where_valid_raises_ig_steps_until_the_gap_is_small():
    from faiglib.studies.l2x import l2x_where_valid

    swin = build_network("swinir", embed_dim=8, depths=(2,), num_heads=2, window_size=4, upscale=2).double().eval()
    spaces = {"swin": FakeWorkspace(models={"baseline": swin, "target": swin})}
    # no gap is that small: every rung is tried and the last one stands, its gap shown
    row, = l2x_where_valid(spaces, kinds=("blur",), window_size=8, ig_steps=2, max_gap=1e-300, ig_ladder=(1, 4, 8))
    assert row["ig_steps"] == 8 and list(row["ig_gaps"]) == [2, 4, 8]  # rungs below ig_steps are skipped
    assert row["relative_gap"] == row["ig_gaps"][8]
    # any gap is small enough: the chapter's own steps stand
    row, = l2x_where_valid(spaces, kinds=("blur",), window_size=8, ig_steps=2, max_gap=10.0, ig_ladder=(4, 8))
    assert row["ig_steps"] == 2 and list(row["ig_gaps"]) == [2]

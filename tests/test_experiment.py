"""Workspace's selection-method comparison on the smoke profile (seconds)."""
import pytest
import torch

from faiglib.models.loading import load_model
from faiglib.measures.metrics import psnr
from faiglib.studies.masking import masking_table, method_masking
from faiglib.studies.retraining import depth_summary, retrained, retraining_table, single_task_retraining
from faiglib.studies.workspace import SELECTION_METHODS, Workspace, workspaces


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    return Workspace(profile="smoke", out=root / "a", results=root / "r", progress=False)


def test_method_masking_agrees_with_masking_table_and_has_every_method(exp):
    full = method_masking(exp, proportions=(0.01, 0.05), channels=("gray", "blue"))
    assert set(full) == {"gray", "blue"} and set(full["gray"]) == {"mask_1pct", "mask_5pct"}
    cell = full["gray"]["mask_5pct"]["deblur_filters"]["blur_input"]
    assert set(cell) == set(SELECTION_METHODS) | {"random_std", "random_median", "random_q1", "random_q3"}
    assert cell["random_q1"] <= cell["random_median"] <= cell["random_q3"]
    assert all(v >= 0 for v in cell.values())
    assert cell["faig"] > 0
    old = masking_table(exp, proportions=(0.01, 0.05), channel="gray")
    for mask, entry in old.items():
        for filters, per_input in entry.items():
            for inp, values in per_input.items():
                for key, v in values.items():
                    assert full["gray"][mask][filters][inp][key] == v


def test_rankings_cover_the_methods_and_ig_is_cached(exp):
    rankings = exp.rankings()
    assert list(rankings) == list(SELECTION_METHODS)
    n = len(exp.filter_index)
    for method, r in rankings.items():
        for d in ("blur", "noise"):
            top = r.top(d, 0.05)
            assert top.unique().numel() == top.numel() and int(top.max()) < n, method
    # |θ−θ̄| and random cannot tell degradations apart; IG's input paths differ per degradation
    assert torch.equal(rankings["abs_change"].top("blur", 0.1), rankings["abs_change"].top("noise", 0.1))
    assert not torch.equal(rankings["ig"].scores("blur"), rankings["ig"].scores("noise"))
    cached = list(exp.store.root.glob("ig/*/result.pt"))
    assert len(cached) == 1
    fresh = Workspace(profile="smoke", out=exp.out, results=exp.results, progress=False)
    assert torch.equal(fresh.ig_ranking().scores("blur"), rankings["ig"].scores("blur"))
    with pytest.raises(ValueError, match="unknown selection method"):
        exp.ranking("gradcam")


def test_random_rankings_match_the_masking_selections(exp):
    draws = exp.random_rankings()
    assert len(draws) == exp.profile.random_draws
    sel = exp.selections(0.05)
    for r, chosen in zip(draws, sel["blur"]["random"]):
        assert torch.equal(r.top("blur", 0.05), chosen)
    assert not torch.equal(draws[0].ranking("blur"), draws[1].ranking("blur"))


def test_experiments_spans_networks_and_seeds(tmp_path):
    exps = workspaces("smoke", out=tmp_path, results=tmp_path)
    assert [(e.spec.arch, e.seed) for e in exps] == [("msrresnet", 0), ("msrresnet", 1), ("srcnn_style", 0),
                                                     ("srcnn_style", 1)]
    only = workspaces("smoke", seeds=[3], archs=["srcnn_style"], out=tmp_path, results=tmp_path)
    assert [(e.spec.arch, e.seed) for e in only] == [("srcnn_style", 3)]
    with pytest.raises(ValueError, match="at least one seed"):
        workspaces("smoke", seeds=[], out=tmp_path)
    with pytest.raises(ValueError, match="no network"):
        workspaces("smoke", archs=["vgg"], out=tmp_path)


def test_retraining_table_trains_each_distinct_selection_once(exp):
    table = retraining_table(exp, methods=("faig", "abs_change", "random"))
    assert set(table) == {"upper_bound", "deblur_filters", "denoise_filters", "baseline", "target"}
    for filters in ("deblur_filters", "denoise_filters"):
        assert set(table[filters]) == {"faig", "abs_change", "random"}
        for values in table[filters].values():
            assert set(values) == {"blur_input", "noise_input"}
    # a cell equals the PSNR of its own retrained checkpoint, evaluated here by hand
    top = exp.ranking("faig").top("blur", exp.profile.retrain_proportion)
    model = load_model(retrained(exp, top, "faig-deblur-5pct").checkpoint).eval()
    aset = exp.analysis_set()
    with torch.no_grad():
        want = sum(float(psnr(model(x.unsqueeze(0))[0], y, crop_border=exp.profile.scale))
                   for x, y in zip(aset.lr["blur"], aset.hr)) / len(aset.hr)
    assert table["deblur_filters"]["faig"]["blur_input"] == round(want, 3)
    # |θ−θ̄| and random pick the same filters for both functions: one checkpoint each, shared
    assert table["deblur_filters"]["abs_change"] == table["denoise_filters"]["abs_change"]
    names = sorted(p.name.split("_retrain-")[1] for p in exp.store.root.glob("retrain/*/*_retrain-*.pth"))
    assert names == ["abs_change-deblur-5pct.pth", "all.pth", "faig-deblur-5pct.pth", "faig-denoise-5pct.pth",
                     "random-deblur-5pct.pth"]
    assert table["baseline"]["blur_input"] == exp.psnr_table()["blur"]["baseline"]


def test_single_task_retraining_is_its_own_model_on_its_own_data(exp):
    from faiglib.core.checkpoint import load_state

    table = single_task_retraining(exp, degradations=("blur",), proportion=0.05)
    assert set(table) == {"deblur_filters"} and set(table["deblur_filters"]) == {"faig", "random", "baseline"}
    assert table["deblur_filters"]["faig"] != table["deblur_filters"]["random"]
    assert table["deblur_filters"]["baseline"] == exp.psnr_table()["blur"]["baseline"]
    top = exp.scores().top("blur", 0.05)
    blur_only = load_state(retrained(exp, top, "faig-deblur-5pct", "blur").checkpoint)
    blind = load_state(retrained(exp, top, "faig-deblur-5pct").checkpoint)
    assert blur_only[1]["config_key"] != blind[1]["config_key"]
    assert any(not torch.equal(blur_only[0][k], blind[0][k]) for k in blind[0])
    assert retrained(exp, top, "faig-deblur-5pct", "blur").checkpoint.name == \
        f"{exp.spec.label}_retrain-faig-deblur-5pct-blur-only.pth"
    with pytest.raises(ValueError, match="retraining task"):
        retrained(exp, top, "x", "jpeg")


def test_depth_summary_is_a_mean_relative_depth(exp):
    d = depth_summary(exp, 0.05)
    depth = exp.filter_index.relative_depth()
    assert d["all_filters"] == pytest.approx(float(depth.mean()))
    top = exp.scores().top("blur", 0.05)
    assert d["deblur_filters"] == pytest.approx(float(depth[top].mean()))
    # all filters: each layer's share of the filters times its depth i / (n − 1), by hand
    layers = exp.filter_index.layers
    by_hand = sum(i / (len(layers) - 1) * layer.count for i, layer in enumerate(layers)) / len(exp.filter_index)
    assert d["all_filters"] == pytest.approx(by_hand)


def test_an_explicit_zero_is_an_error_not_the_profile_default(exp):
    with pytest.raises(ValueError, match="n_steps"):
        exp.scores(n_steps=0)
    with pytest.raises(ValueError, match="proportion"):
        retraining_table(exp, proportion=0)
    with pytest.raises(ValueError, match="proportion"):
        single_task_retraining(exp, proportion=0)
    with pytest.raises(ValueError, match="proportion"):
        masking_table(exp, proportions=(0,))
    with pytest.raises(ValueError, match="no proportions"):
        method_masking(exp, proportions=())


def test_the_workspace_checks_its_device_and_sizes_at_once_and_keeps_training_images_as_stored(tmp_path):
    with pytest.raises(ValueError, match="unknown device"):
        Workspace(profile="smoke", device="gpu", out=tmp_path)
    small = Workspace(profile=Workspace(profile="smoke").profile.with_(analysis_crop=None, max_analysis_pixels=64 * 64),
                      out=tmp_path)
    with pytest.raises(ValueError, match="analysis_crop"):
        small.analysis_images()
    ws = Workspace(profile="smoke", out=tmp_path)
    assert {x.dtype for _, x in ws.train_images()} == {torch.uint8}

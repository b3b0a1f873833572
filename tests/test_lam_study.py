"""The LAM pixels study (faiglib.studies.lam): seeded windows, paired DI comparison, a stub workspace."""
import dataclasses
import math

import pytest
import torch

from faiglib.data.degradations import AnalysisSet, Degradation
from faiglib.models.networks import build_network
from faiglib.report.tables import diffusion_comparison_markdown
from faiglib.methods.receptive_field import receptive_radius
import faiglib.studies.lam as lam_study
from faiglib.studies.lam import (architecture_verdict, choose_windows, compare_architectures, compare_diffusion,
                                 diffusion_answer, diffusion_study, lam_examples, stored_architectures,
                                 stored_diffusion_study)


def textured(h=64, w=80, square=(24, 40, 16)):
    """Flat grey HR image with one noisy square (top, left, side): all gradient energy lies in and around it."""
    img = torch.full((3, h, w), 0.5, dtype=torch.float64)
    t, l, s = square
    img[:, t: t + s, l: l + s] = torch.rand(3, s, s, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return img


def test_windows_go_to_the_texture_and_are_seeded():
    hr = textured()
    top9 = 9 / (15 * 18)  # of the 15 x 18 candidates on the grid of step 4
    wins = choose_windows(hr, 2, size=8, generator=torch.Generator().manual_seed(3), top=top9)
    assert len(wins) == 2 and len(set(wins)) == 2
    for y, x in wins:  # on the grid of step 4, inside the textured square's rows/columns
        assert y % 4 == 0 and x % 4 == 0 and 24 <= y <= 32 and 40 <= x <= 48
    assert wins == choose_windows(hr, 2, size=8, generator=torch.Generator().manual_seed(3), top=top9)
    assert wins != choose_windows(hr, 2, size=8, generator=torch.Generator().manual_seed(4), top=top9)
    all_top = choose_windows(hr, 9, size=8, generator=torch.Generator().manual_seed(0), top=top9)
    assert sorted(all_top) == [(y, x) for y in (24, 28, 32) for x in (40, 44, 48)]  # the 9 windows fully inside
    with pytest.raises(ValueError, match="fewer than n"):
        choose_windows(torch.rand(3, 17, 17), 5, size=16)


def test_compare_diffusion_pairs_the_differences():
    study = {"di": {"baseline": {"blur": [1.0, 2.0, 3.0], "noise": [5.0, 5.0, 5.0], "clean": [1.0]},
                    "target": {"blur": [2.0, 3.5, 4.0], "noise": [4.0, 5.0, 6.0], "clean": [9.0]}}}
    out = compare_diffusion(study)
    blur = out["blur"]
    assert blur["difference"]["values"] == [1.0, 1.5, 1.0]
    assert blur["difference"]["mean"] == pytest.approx(7 / 6)
    assert blur["difference"]["std"] == pytest.approx(math.sqrt(1 / 12))
    assert blur["resolved"] and blur["more_diffuse"] and blur["verdict"] == "target diffuses more"
    assert out["noise"]["difference"]["mean"] == 0 and out["noise"]["verdict"] == "no difference resolved"
    assert not out["clean"]["resolved"] and out["clean"]["standard_error"] is None  # one pair: no spread
    less = compare_diffusion({"di": {"baseline": {"blur": [2.0, 3.5, 4.0]}, "target": {"blur": [1.0, 2.0, 3.0]}}})
    assert [diffusion_answer(c) for c in (blur, less["blur"], out["noise"], out["clean"])] == [
        "yes", "no, it diffuses less", "not resolved by these windows", "not resolved by these windows"]
    table = diffusion_comparison_markdown(out)
    assert "| blur | +1.17 ± 0.29 | 0.33 | 3 | target diffuses more |" in table and "| clean | +8 ± 0 | – | 1 |" in table
    with pytest.raises(ValueError, match="pair up"):
        compare_diffusion({"di": {"baseline": {"blur": [1.0]}, "target": {"blur": [1.0, 2.0]}}})


class StubWorkspace:
    """What the study uses of a Workspace: a tiny analysis set and two random tiny networks."""

    seed = 0

    def __init__(self):
        g = torch.Generator().manual_seed(1)
        hr = [textured(48, 48, (16, 16, 16)), textured(48, 56, (8, 24, 16))]
        lr = {k: [torch.rand(3, x.shape[1] // 2, x.shape[2] // 2, generator=g) for x in hr]
              for k in ("clean", "blur", "noise")}
        self.aset = AnalysisSet(["a", "b"], [x.float() for x in hr], lr, Degradation(), 0)
        self.models = {}
        for i, which in enumerate(("baseline", "target")):
            net = build_network("msrresnet", num_feat=4, num_block=1 + i)
            with torch.no_grad():
                for p in net.parameters():
                    p.copy_(0.3 * torch.randn(p.shape, generator=g))
            self.models[which] = net.eval()

    def analysis_set(self):
        return self.aset

    def model(self, which):
        return self.models[which]


def test_receptive_radius_of_msrresnet():
    ws = StubWorkspace()
    # 1 + 2·blocks + 1 LR convs, then two HR convs (+1 LR pixel at x2); the bilinear skip is within that
    assert receptive_radius(ws.model("baseline")) == 5 and receptive_radius(ws.model("target")) == 7


def test_diffusion_study_on_a_stub_workspace():
    ws = StubWorkspace()
    study = diffusion_study(ws, kinds=("blur", "noise"), n_windows=2, window_size=8, fold=4)
    assert study["windows"] == {n: [list(w) for w in choose_windows(ws.aset.hr[i], 2, 8,
                                                                      torch.Generator().manual_seed(i))]
                                for i, n in enumerate(("a", "b"))}
    for which in ("baseline", "target"):
        for kind in ("blur", "noise"):
            values = study["di"][which][kind]
            assert len(values) == 4 and study["summary"][which][kind]["values"] == values
        assert max(study["completeness"][which]["blur"]) < 0.5  # fold 4: a coarse but sane Riemann sum
    ex = lam_examples(ws, image=1, kind="noise", window_size=8, fold=4, n_windows=2)
    assert list(ex["target"][0].window) == study["windows"]["b"][0]
    assert ex["target"][0].diffusion_index == pytest.approx(study["di"]["target"]["noise"][2], rel=1e-5)
    with pytest.raises(ValueError, match="no analysis inputs"):
        diffusion_study(ws, kinds=("blur+noise",))


def _study(di_target, windows=None):
    return {"windows": windows or {"a": [[0, 0], [8, 8]]}, "settings": {"kinds": list(di_target)},
            "di": {"baseline": {k: [0.0] * len(v) for k, v in di_target.items()}, "target": di_target}}


def test_compare_architectures_pairs_each_network_with_the_reference():
    studies = {"cnn": _study({"blur": [10.0, 12.0, 11.0]}),
               "attn": _study({"blur": [13.0, 14.0, 15.0]}),
               "other": _study({"blur": [10.0, 11.0, 12.0]})}
    out = compare_architectures(studies, "cnn")
    assert set(out) == {"attn", "other"}
    attn = out["attn"]["target"]["blur"]
    assert attn["difference"]["values"] == [3.0, 2.0, 4.0] and attn["difference"]["mean"] == pytest.approx(3.0)
    assert attn["standard_error"] == pytest.approx(1 / math.sqrt(3)) and attn["verdict"] == "attn diffuses more"
    assert out["other"]["target"]["blur"]["difference"]["values"] == [0.0, -1.0, 1.0]
    assert architecture_verdict(out) == "not resolved"  # "other" is not resolved
    assert architecture_verdict({"attn": out["attn"]}) == "holds"
    studies["less"] = _study({"blur": [5.0, 6.0, 7.0]})
    assert architecture_verdict({k: v for k, v in compare_architectures(studies, "cnn").items()
                                 if k in ("attn", "less")}) == "mixed"
    with pytest.raises(ValueError, match="other windows"):
        compare_architectures({"cnn": studies["cnn"], "x": _study({"blur": [1.0, 2.0, 3.0]}, {"a": [[4, 4]]})}, "cnn")
    with pytest.raises(ValueError, match="reference network"):
        compare_architectures(studies, "vgg")


def test_stored_diffusion_study_is_computed_once_then_read_and_keyed_by_its_settings(smoke_experiment, monkeypatch):
    ws = smoke_experiment
    settings = dict(kinds=("blur",), n_windows=1, window_size=8, fold=4)
    first = stored_diffusion_study(ws, **settings)
    assert first["di"] == diffusion_study(ws, **settings)["di"]  # the study itself, computed directly

    def must_not_run(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(lam_study, "diffusion_study", must_not_run)
    fresh = dataclasses.replace(ws, _cache={})  # a later run on the same store: nothing in memory
    again = stored_diffusion_study(fresh, internal_batch_size=2, n_images=99, **settings)  # same study
    assert again["di"] == first["di"] and again["windows"] == first["windows"]
    for other in (dict(settings, fold=5), dict(settings, kinds=("noise",)), dict(settings, n_windows=2)):
        with pytest.raises(AssertionError, match="computed again"):  # another study is another entry
            stored_diffusion_study(fresh, **other)


def test_stored_architectures_keep_the_callers_store_access(smoke_experiment):
    ws = smoke_experiment
    ws.pair()
    found, missing = stored_architectures(ws, [ws.spec.label])
    assert missing == [] and found[ws.spec.label].read_only is False
    found, _ = stored_architectures(dataclasses.replace(ws, read_only=True, _cache={}), [ws.spec.label])
    assert found[ws.spec.label].read_only is True

"""Degradation classification by overlap score (Eq. 8) with known answers, and the Sec. 5.4 ablation glue."""
import pytest
import torch
from torch import nn

from faiglib.methods.faig import DiscriminativeFilters, discriminative_filters
from faiglib.studies.classification import (EMBEDDED_TEST, EMBEDDED_VALIDATION, classification_images, classify, elimination_ablation, image_filter_scores)
from faiglib.measures.overlap import (accuracies, choose_threshold, confusion, label_of, overlap_score, overlap_scores, predict, top_sets)
from faiglib.studies.levels import build_level_set, level_kinds, level_of, level_overlaps, level_psnr, level_set
from faiglib.data.degradations import DEGRADATION_KINDS, AnalysisSet, Degradation
from faiglib.studies.workspace import Workspace


def test_top_sets_take_the_highest_scores_ties_in_index_order():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.9], [3.0, 0.0, 0.0, 0.0]])
    assert top_sets(scores, 0.5).tolist() == [[1, 3], [0, 1]]
    assert top_sets(scores[0], 0.25).tolist() == [1]
    with pytest.raises(ValueError, match="n_images, n_filters"):
        top_sets(torch.zeros(2, 2, 2), 0.5)


def test_overlap_score_known_answers():
    sets = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7], [1, 9, 2, 8]])
    assert overlap_score(sets, torch.tensor([1, 2, 9])).tolist() == [0.5, 0.0, 0.75]
    assert float(overlap_score(torch.tensor([9, 8]), torch.tensor([8]))) == 0.5
    with pytest.raises(ValueError, match="image sets"):
        overlap_score(torch.zeros(2, 0, dtype=torch.long), torch.tensor([1]))


def test_choose_threshold_separates_and_breaks_ties_by_margin():
    t, acc = choose_threshold(torch.tensor([0.6, 0.7, 0.8]), torch.tensor([0.1, 0.2, 0.5]))
    assert t == pytest.approx(0.55) and acc == 1.0
    # 0.2 and 0.7 both give balanced accuracy 0.75; 0.7 sits in the wider gap (0.5 .. 0.9)
    t, acc = choose_threshold(torch.tensor([0.3, 0.9]), torch.tensor([0.1, 0.5]))
    assert t == pytest.approx(0.7) and acc == 0.75
    # no information: the inner candidate wins over "all positive" / "all negative"
    t, acc = choose_threshold(torch.tensor([0.2, 0.4]), torch.tensor([0.2, 0.4]))
    assert t == pytest.approx(0.3) and acc == 0.5
    with pytest.raises(ValueError, match="positive and negative"):
        choose_threshold(torch.tensor([]), torch.tensor([0.1]))


def test_predict_confusion_and_accuracies():
    assert [label_of(b, n) for b, n in ((0, 0), (1, 0), (0, 1), (1, 1))] == list(DEGRADATION_KINDS)
    scores = {"blur": {"clean": torch.tensor([0.1, 0.6]), "blur": torch.tensor([0.7, 0.8]),
                       "noise": torch.tensor([0.0, 0.1]), "blur+noise": torch.tensor([0.5, 0.2])},
              "noise": {"clean": torch.tensor([0.0, 0.0]), "blur": torch.tensor([0.9, 0.0]),
                        "noise": torch.tensor([0.6, 0.7]), "blur+noise": torch.tensor([0.6, 0.6])}}
    pred = predict(scores, {"blur": 0.5, "noise": 0.6})
    assert pred == {"clean": ["clean", "blur"], "blur": ["blur+noise", "blur"], "noise": ["noise", "noise"],
                    "blur+noise": ["blur+noise", "noise"]}
    table = confusion(pred)
    assert table["clean"] == {"clean": 1, "blur": 1, "noise": 0, "blur+noise": 0}
    assert table["blur+noise"] == {"clean": 0, "blur": 0, "noise": 1, "blur+noise": 1}
    acc = accuracies(pred)
    # blur task wrong on: clean#2 (said blur), b+n#2 (missed) -> 6/8; noise task wrong on blur#1 -> 7/8
    assert acc == {"blur": 0.75, "noise": 0.875, "four_way": 0.625}  # 5 of 8 labels right


class ChannelNet(nn.Module):
    """One 3x3 conv, 3 -> 3 channels: filter W[o, i] only sees input channel i."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)

    def forward(self, x):
        return self.conv(x)


def test_overlap_scores_end_to_end_on_a_net_with_known_filters():
    # Inputs of each kind live in their own input channels (blur: 0, noise: 1, clean: 2, blur+noise: 0 and 1),
    # so only the filters reading those channels get FAIG > 0: the per-image top third (3 of 9 filters) of a
    # blurry image is {W[o, 0]}, and Eq. 7's blur set (blur minus noise) is that same set.
    torch.manual_seed(0)
    model = ChannelNet().double()
    g = torch.Generator().manual_seed(1)
    base = {"conv.weight": torch.randn(3, 3, 3, 3, generator=g, dtype=torch.float64)}
    target = {"conv.weight": base["conv.weight"] + torch.randn(3, 3, 3, 3, generator=g, dtype=torch.float64)}
    channels = {"clean": (2,), "blur": (0,), "noise": (1,), "blur+noise": (0, 1)}

    def image(kind, i):
        x = torch.zeros(3, 6, 6, dtype=torch.float64)
        for c in channels[kind]:
            x[c] = torch.rand(6, 6, generator=torch.Generator().manual_seed(10 * i + c), dtype=torch.float64)
        return x

    hr = [torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(100 + i), dtype=torch.float64) for i in range(2)]
    aset = AnalysisSet(["a", "b"], hr, {k: [image(k, i) for i in range(2)] for k in DEGRADATION_KINDS},
                       Degradation(scale=1), 0)
    dataset = discriminative_filters(model, base, target, aset, degradations=("blur", "noise"), n_steps=4)
    per_image = discriminative_filters(model, base, target, aset, degradations=DEGRADATION_KINDS, n_steps=4)
    sets = {d: dataset.top(d, 1 / 3) for d in ("blur", "noise")}
    assert sorted(sets["blur"].tolist()) == [0, 3, 6] and sorted(sets["noise"].tolist()) == [1, 4, 7]
    os_ = overlap_scores(per_image.per_image, sets, 1 / 3)
    assert os_["blur"]["blur"].tolist() == [1.0, 1.0] and os_["noise"]["blur"].tolist() == [0.0, 0.0]
    assert os_["noise"]["noise"].tolist() == [1.0, 1.0] and os_["blur"]["noise"].tolist() == [0.0, 0.0]
    assert os_["blur"]["clean"].tolist() == [0.0, 0.0] and os_["noise"]["clean"].tolist() == [0.0, 0.0]
    assert (os_["blur"]["blur+noise"] + os_["noise"]["blur+noise"]).tolist() == [1.0, 1.0]


def test_embedded_splits_are_disjoint_and_cropped():
    assert not set(EMBEDDED_VALIDATION) & set(EMBEDDED_TEST)
    images = classification_images("embedded:test", 2, 32, 3)
    assert [n for n, _ in images] == list(EMBEDDED_TEST[:3])
    assert all(x.shape == (3, 32, 32) for _, x in images)


@pytest.fixture
def exp(smoke_experiment):
    return smoke_experiment


def test_classify_on_the_smoke_profile(exp):
    result = classify(exp)
    k = result["n_filters_per_set"]
    assert result["n_images"] == {"validation": 2, "test": 2}
    assert set(result["confusion"]) == set(DEGRADATION_KINDS)
    assert sum(sum(row.values()) for row in result["confusion"].values()) == 4 * 2
    for split in ("validation", "test"):
        for d in ("blur", "noise"):
            for values in result["overlaps"][split][d].values():
                assert all(0 <= v <= 1 and abs(v * k - round(v * k)) < 1e-4 for v in values)
    # validation has as many positive as negative inputs per task, so accuracy equals balanced accuracy
    for d in ("blur", "noise"):
        assert result["validation_accuracy"][d] == pytest.approx(result["validation_balanced_accuracy"][d])
    # the accuracies, recomputed by hand from the returned overlap scores and thresholds
    t = result["thresholds"]
    pairs = [(kind, result["overlaps"]["test"]["blur"][kind][i] >= t["blur"],
              result["overlaps"]["test"]["noise"][kind][i] >= t["noise"])
             for kind in DEGRADATION_KINDS for i in range(2)]
    want_blur = sum(("blur" in kind) == b for kind, b, _ in pairs) / len(pairs)
    want_noise = sum(("noise" in kind) == n for kind, _, n in pairs) / len(pairs)
    assert result["accuracy"]["blur"] == pytest.approx(want_blur)
    assert result["accuracy"]["noise"] == pytest.approx(want_noise)
    cached = sorted(DiscriminativeFilters.load(p).meta["name"] for p in exp.store.root.glob("image-faig/*/result.pt"))
    assert cached == ["test", "validation"]
    again = image_filter_scores(Workspace(profile="smoke", out=exp.out, results=exp.results, progress=False), "test")
    assert torch.equal(again.per_image["blur"], image_filter_scores(exp, "test").per_image["blur"])
    with pytest.raises(ValueError, match="split"):
        image_filter_scores(exp, "train")


def test_elimination_ablation_masks_two_different_sets(exp):
    numbers, images = elimination_ablation(exp, proportion=0.05)
    assert set(numbers) == {"with_elimination", "without_elimination", "overlap"}
    scores = exp.scores()
    a = set(scores.top("blur", 0.05, eliminate=True).tolist())
    b = set(scores.top("blur", 0.05, eliminate=False).tolist())
    assert numbers["overlap"] == len(a & b) / len(a | b)
    for label in ("with_elimination", "without_elimination"):
        assert set(numbers[label]) == {"blur_input", "noise_input"}
        assert all(v > 0 for v in numbers[label].values())
    assert list(images) == ["blur", "noise"]
    row = images["noise"]
    assert list(row) == ["input", "target output", "masked (with elimination)", "masked (without elimination)",
                         "ground truth"]
    assert row["target output"].shape == row["ground truth"].shape


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_profiles_keep_validation_and_test_apart(name):
    from faiglib.profiles import get_profile

    p = get_profile(name)
    assert p.classify_validation_data != p.classify_test_data
    assert 0 < p.classify_proportion <= 1
    if name == "paper":
        assert p.classify_images is None and p.classify_crop is None  # full sets, whole images


# ---------------------------------------------------------------- levels (beyond the paper)

def test_level_kinds_and_their_parsing():
    kinds = level_kinds((1, 2.5), (0.05, 0.1))
    assert kinds == ["clean", "blur 1", "blur 2.5", "noise 0.05", "noise 0.1"]
    assert [level_of(k) for k in kinds] == [(None, 0.0), ("blur", 1.0), ("blur", 2.5), ("noise", 0.05), ("noise", 0.1)]
    with pytest.raises(ValueError, match="> 0"):
        level_kinds((0, 1), (0.1,))
    with pytest.raises(ValueError, match="at least one"):
        level_kinds((), (0.1,))


def test_level_set_grows_in_strength_and_scales_one_noise_draw():
    hr = 0.25 + 0.5 * torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    deg = Degradation(blur_size=9)
    aset = build_level_set([("a", hr), ("b", hr.flip(-1))], deg, (0.5, 1.5, 3.0), (0.05, 0.1), seed=7)
    assert list(aset.lr) == level_kinds((0.5, 1.5, 3.0), (0.05, 0.1)) and aset.names == ["a", "b"]
    clean = aset.lr["clean"][0]
    change = [float((aset.lr[f"blur {s:g}"][0] - clean).abs().mean()) for s in (0.5, 1.5, 3.0)]
    assert change[0] < change[1] < change[2]
    # same draw, twice the sigma: twice the residual (no pixel is clipped at these values)
    low, high = (aset.lr[f"noise {s:g}"][0] - clean for s in (0.05, 0.1))
    assert torch.allclose(high, 2 * low, atol=1e-12)
    assert not torch.allclose(aset.lr["noise 0.1"][1] - aset.lr["clean"][1], high.flip(-1))  # per-image draws


def test_levels_experiment_shares_the_baseline_and_reports_tracking(tmp_path):
    fixed = Workspace(profile="smoke", out=tmp_path / "a", results=tmp_path / "r", progress=False)
    levels = Workspace(profile="smoke", out=tmp_path / "a", results=tmp_path / "r", progress=False, levels=True)
    assert levels.pair_keys()[0] == fixed.pair_keys()[0] and levels.pair_keys()[1] != fixed.pair_keys()[1]
    (base, target), (base_l, target_l) = fixed.pair(), levels.pair()
    assert base.checkpoint == base_l.checkpoint and target.checkpoint != target_l.checkpoint
    result = level_overlaps(levels, {"blur": 0.5, "noise": 0.5})
    p = levels.profile
    assert result["kinds"] == level_kinds(p.levels_blur, p.levels_noise)
    assert result["n_images"] == p.classify_images
    for d in ("blur", "noise"):
        t = result["tracking"][d]
        assert t["levels"] == [0.0] + [float(v) for v in (p.levels_blur if d == "blur" else p.levels_noise)]
        assert t["mean"] == pytest.approx([result["mean_overlap"][d][k] for k in
                                           ["clean"] + [k for k in result["kinds"] if k.startswith(d)]])
        assert t["increasing"] == all(b > a for a, b in zip(t["mean"], t["mean"][1:]))
        assert all(0 <= v <= 1 for v in result["detected"][d].values())
    psnr = level_psnr(levels)
    assert list(psnr) == result["kinds"]
    from faiglib.measures.metrics import psnr as psnr_of

    model, aset = levels.model("target"), level_set(levels)
    with torch.no_grad():
        want = sum(float(psnr_of(model(x.unsqueeze(0))[0], y, crop_border=2))
                   for x, y in zip(aset.lr["noise 0.1"], aset.hr)) / len(aset.hr)
    assert psnr["noise 0.1"] == pytest.approx(want, abs=1e-9)
    stored = [DiscriminativeFilters.load(q).meta for q in levels.store.root.glob("image-faig/*/result.pt")]
    assert [m["name"] for m in stored] == ["levels"]

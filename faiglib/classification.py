"""Degradation classification by overlap score (paper Sec. 4.3, 5.3, Eq. 8) and the gradient-elimination
ablation (Sec. 5.4, Fig. 5).

For a degradation ``D`` (blur or noise), ``{filter^D}`` is the top-``p`` set of Eq. 7 on the analysis set
(data-set level, with gradient elimination). For one input ``x`` whose ground truth is known,
``{filter^x}`` is the top-``p`` set of its own FAIG scores (Eq. 6, no elimination). The overlap score::

    OS(x, D) = |{filter^D} ∩ {filter^x}| / |{filter^x}|                                        (Eq. 8)

is high when ``x`` makes the network use the filters that remove ``D``. An input is predicted to carry blur
if ``OS(x, blur) ≥ T^blur`` and noise if ``OS(x, noise) ≥ T^noise`` (both: blur+noise; neither: clean).

Threshold rule (:func:`choose_threshold`): on the validation images, every midpoint between two consecutive
distinct scores (and one point below / above all of them) is a candidate; the candidate with the highest
balanced accuracy (mean of the true-positive and true-negative rates) wins, ties going to the widest gap
between neighbouring validation scores (largest margin; "all positive" / "all negative" count as no margin),
then to the lower threshold.

The functions on tensors (:func:`top_sets`, :func:`overlap_score`, :func:`choose_threshold`, ...) are
independent of any network; :func:`classify` and :func:`elimination_ablation` are the glue that takes an
:class:`~faiglib.experiment.Experiment`.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping, Sequence

import torch

from .attribution import DiscriminativeFilters, discriminative_filters, top_count
from .data import center_crop, embedded_images, resolve_images
from .degradations import DEGRADATION_KINDS, build_analysis_set

__all__ = ["EMBEDDED_VALIDATION", "EMBEDDED_TEST", "TASKS", "PAPER_ACCURACY", "top_sets", "overlap_score",
           "overlap_scores", "choose_threshold", "predict", "confusion", "accuracies", "label_of",
           "classification_images", "image_filter_scores", "classify", "elimination_ablation"]

#: Default validation / test images when no folder is given: scikit-image's bundled photos that are not
#: analysis images, split in two disjoint halves. (They are the networks' training photos -- the bundled
#: set has no others; point the parameters at real folders, e.g. BSD100 and DIV2K validation, as the paper.)
EMBEDDED_VALIDATION = ("camera", "coins", "brick", "grass", "hubble_deep_field", "immunohistochemistry",
                       "motorcycle_left", "page")
EMBEDDED_TEST = ("retina", "motorcycle_right", "moon", "gravel", "clock", "cell", "text")

#: binary task -> the input kinds that are positives for it
TASKS: dict[str, tuple[str, ...]] = {"blur": ("blur", "blur+noise"), "noise": ("noise", "blur+noise")}

#: the paper's accuracies (Sec. 5.3): thresholds T^noise = 0.6, T^blur = 0.5, tested on DIV2K
PAPER_ACCURACY = {"blur": 0.96, "noise": 0.98}
PAPER_THRESHOLDS = {"blur": 0.5, "noise": 0.6}


def top_sets(scores: torch.Tensor, proportion: float) -> torch.Tensor:
    """Indices of the top ``proportion`` of filters by descending score (ties keep index order), as
    :meth:`~faiglib.attribution.DiscriminativeFilters.top`: ``(n_filters,)`` -> ``(k,)``, or one row per image
    ``(n, n_filters)`` -> ``(n, k)``, with ``k = top_count(proportion, n_filters)``."""
    if scores.dim() not in (1, 2):
        raise ValueError(f"scores must be (n_filters,) or (n_images, n_filters), got {tuple(scores.shape)}")
    k = top_count(proportion, scores.shape[-1])
    return torch.sort(scores, dim=-1, descending=True, stable=True).indices[..., :k]


def overlap_score(image_sets: torch.Tensor, dataset_set: torch.Tensor) -> torch.Tensor:
    """Eq. 8: ``|{filter^D} ∩ {filter^x}| / |{filter^x}|`` for each row of ``image_sets``.

    ``image_sets``: ``(n, k)`` filter indices (one set per image, no repeats) or ``(k,)``; ``dataset_set``:
    ``(m,)`` indices. Returns ``(n,)`` (or ``()``) float64 in [0, 1].
    """
    sets = image_sets.unsqueeze(0) if image_sets.dim() == 1 else image_sets
    if sets.dim() != 2 or sets.shape[1] == 0 or dataset_set.dim() != 1:
        raise ValueError(f"expected image sets (n, k) with k > 0 and a data-set set (m,), got "
                         f"{tuple(image_sets.shape)} and {tuple(dataset_set.shape)}")
    hits = torch.isin(sets, dataset_set.to(sets.device)).double().sum(1) / sets.shape[1]
    return hits[0] if image_sets.dim() == 1 else hits


def overlap_scores(per_image: Mapping[str, torch.Tensor], dataset_sets: Mapping[str, torch.Tensor],
                   proportion: float) -> dict[str, dict[str, torch.Tensor]]:
    """``{D: {kind: (n_images,)}}``: OS(x, D) for every input kind (``per_image[kind]``: ``(n, n_filters)``
    FAIG scores of Eq. 6) against every data-set set ``dataset_sets[D]``."""
    image_sets = {kind: top_sets(s, proportion) for kind, s in per_image.items()}
    return {d: {kind: overlap_score(sets, ds) for kind, sets in image_sets.items()} for d, ds in dataset_sets.items()}


def choose_threshold(positives: torch.Tensor, negatives: torch.Tensor) -> tuple[float, float]:
    """The threshold ``T`` (predict positive if ``score ≥ T``) with the highest balanced accuracy on these
    validation scores, and that accuracy. Candidates: midpoints between consecutive distinct scores, plus
    one below the lowest and one above the highest score; ties are broken by the largest gap between the
    neighbouring scores (margin; 0 for the two outer candidates), then by the lower threshold. Both inputs
    are non-empty."""
    pos, neg = positives.double().flatten(), negatives.double().flatten()
    if pos.numel() == 0 or neg.numel() == 0:
        raise ValueError(f"need positive and negative validation scores, got {pos.numel()} and {neg.numel()}")
    values = torch.unique(torch.cat([pos, neg]))  # sorted
    edges = torch.cat([values[:1] - 1.0, values, values[-1:] + 1.0])
    candidates = (edges[1:] + edges[:-1]) / 2
    margins = (edges[1:] - edges[:-1]) / 2
    margins[0] = margins[-1] = 0.0  # "all positive" / "all negative" win a tie only if nothing else does
    tpr = (pos.unsqueeze(0) >= candidates.unsqueeze(1)).double().mean(1)
    tnr = (neg.unsqueeze(0) < candidates.unsqueeze(1)).double().mean(1)
    balanced = (tpr + tnr) / 2
    # lexicographic: balanced accuracy, then margin, then lower threshold (sort is stable, candidates ascend)
    order = sorted(range(len(candidates)), key=lambda i: (-float(balanced[i]), -float(margins[i])))
    best = order[0]
    return float(candidates[best]), float(balanced[best])


def label_of(has_blur: bool, has_noise: bool) -> str:
    """The input kind of :data:`~faiglib.degradations.DEGRADATION_KINDS` with these two properties."""
    return {(False, False): "clean", (True, False): "blur", (False, True): "noise", (True, True): "blur+noise"}[
        (bool(has_blur), bool(has_noise))]


def predict(scores: Mapping[str, Mapping[str, torch.Tensor]], thresholds: Mapping[str, float]) -> dict[str, list[str]]:
    """``{true kind: [predicted kind per image]}`` from :func:`overlap_scores` and ``{"blur": T, "noise": T}``."""
    kinds = list(scores["blur"])
    out = {}
    for kind in kinds:
        blur = scores["blur"][kind] >= thresholds["blur"]
        noise = scores["noise"][kind] >= thresholds["noise"]
        out[kind] = [label_of(b, n) for b, n in zip(blur.tolist(), noise.tolist())]
    return out


def confusion(predictions: Mapping[str, Sequence[str]]) -> dict[str, dict[str, int]]:
    """4x4 counts ``{true kind: {predicted kind: n}}`` over :data:`~faiglib.degradations.DEGRADATION_KINDS`."""
    return {t: {p: sum(1 for q in predictions.get(t, ()) if q == p) for p in DEGRADATION_KINDS}
            for t in DEGRADATION_KINDS if t in predictions}


def accuracies(predictions: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Accuracy of each binary task of :data:`TASKS` over all inputs (``"blur"``: is blur present?), and
    of the four-way label (``"four_way"``)."""
    pairs = [(t, p) for t, preds in predictions.items() for p in preds]
    if not pairs:
        raise ValueError("no predictions")
    out = {task: sum((t in pos) == (p in pos) for t, p in pairs) / len(pairs) for task, pos in TASKS.items()}
    out["four_way"] = sum(t == p for t, p in pairs) / len(pairs)
    return out


# ---- glue: an Experiment's networks, analysis set and validation / test images --------------------------

def classification_images(source: str, scale: int, crop: int | None, count: int | None):
    """Named HR images ``(3, H, W)`` for classification: ``"embedded:validation"`` / ``"embedded:test"``
    (:data:`EMBEDDED_VALIDATION` / :data:`EMBEDDED_TEST`) or anything :func:`~faiglib.data.resolve_images`
    takes; the first ``count`` (``None``: all) in name order, central ``crop`` (``None``: whole)."""
    named = {"embedded:validation": EMBEDDED_VALIDATION, "embedded:test": EMBEDDED_TEST}
    images = embedded_images(named[source], scale) if source in named else resolve_images(source, scale)
    if count:
        images = images[:count]
    if crop:
        images = [(n, center_crop(x, crop, scale)) for n, x in images]
    return images


_SPLIT_SEEDS = {"validation": 10_000, "test": 20_000}  # noise of split s: seed _SPLIT_SEEDS[s] + experiment seed


def image_filter_scores(exp, split: str, source: str | None = None) -> DiscriminativeFilters:
    """Per-image FAIG scores (Eq. 6, each image with its own ground truth) of every input kind (clean /
    blur / noise / blur+noise) of the ``"validation"`` or ``"test"`` images, cached in the experiment's
    workdir. ``source``: default the profile's ``classify_validation_data`` / ``classify_test_data``.
    The noise of the split is seeded by ``10 000 + seed`` (validation) or ``20 000 + seed`` (test)."""
    if split not in _SPLIT_SEEDS:
        raise ValueError(f"split must be 'validation' or 'test', got {split!r}")
    p = exp.profile
    source = source or {"validation": p.classify_validation_data, "test": p.classify_test_data}[split]
    n_steps = p.classify_n_steps or p.n_steps
    noise_seed = _SPLIT_SEEDS[split] + exp.seed
    key = hashlib.sha256(json.dumps([str(source), p.classify_crop, p.classify_images, p.scale, noise_seed],
                                    sort_keys=True).encode()).hexdigest()[:10]
    path = exp.workdir / f"classify_{split}_{key}_N{n_steps}_{p.method}_{p.precision}.pt"
    if str(path) in exp._cache:
        return exp._cache[str(path)]
    if path.exists():
        result = DiscriminativeFilters.load(path)
    else:
        aset = build_analysis_set(classification_images(source, p.scale, p.classify_crop, p.classify_images),
                                  exp.degradation, noise_seed)
        base, target = exp.states()
        on = lambda xs: [x.to(exp.device) for x in xs]  # noqa: E731
        result = discriminative_filters(
            exp.architecture(), {k: v.to(exp.device) for k, v in base.items()},
            {k: v.to(exp.device) for k, v in target.items()},
            type(aset)(aset.names, on(aset.hr), {k: on(v) for k, v in aset.lr.items()}, aset.degradation, aset.seed),
            degradations=DEGRADATION_KINDS, n_steps=n_steps, method=p.method,
            internal_batch_size=p.internal_batch_size, precision=p.precision, progress=exp.progress)
        result.per_image = {k: v.cpu() for k, v in result.per_image.items()}
        result.losses = {k: v.cpu() for k, v in result.losses.items()}
        result.deltas = {k: v.cpu() for k, v in result.deltas.items()}
        result.meta.update(profile=p.name, seed=exp.seed, network=exp.spec.label, data=str(source), split=split)
        result.save(path)
    exp._cache[str(path)] = result
    return result


def classify(exp, proportion: float | None = None, validation: str | None = None,
             test: str | None = None) -> dict[str, Any]:
    """Sec. 5.3 for one experiment: data-set sets ``{filter^D}`` (Eq. 7, top ``proportion``, default the
    profile's ``classify_proportion``) on the analysis set, OS of every validation and test input, the
    thresholds chosen on validation (:func:`choose_threshold`), and the test accuracies and confusion table.

    Returns ``{"thresholds": {"blur", "noise"}, "validation_balanced_accuracy": {...}, "accuracy": {"blur",
    "noise", "four_way"}, "validation_accuracy": {...}, "confusion": {true: {pred: n}}, "mean_overlap":
    {"validation"|"test": {D: {kind: mean OS}}}, "overlaps": {split: {D: {kind: [OS per image]}}},
    "n_images": {...}, "n_filters_per_set": k}``.
    """
    proportion = proportion or exp.profile.classify_proportion
    scores = exp.scores()
    dataset_sets = {d: scores.top(d, proportion) for d in TASKS}
    splits = {"validation": image_filter_scores(exp, "validation", validation),
              "test": image_filter_scores(exp, "test", test)}
    os_ = {s: overlap_scores(r.per_image, dataset_sets, proportion) for s, r in splits.items()}
    thresholds, balanced = {}, {}
    for d, positives in TASKS.items():
        val = os_["validation"][d]
        pos = torch.cat([val[k] for k in DEGRADATION_KINDS if k in positives])
        neg = torch.cat([val[k] for k in DEGRADATION_KINDS if k not in positives])
        thresholds[d], balanced[d] = choose_threshold(pos, neg)
    predictions = {s: predict(o, thresholds) for s, o in os_.items()}
    return {
        "proportion": proportion,
        "n_filters_per_set": top_count(proportion, scores.n_filters),
        "thresholds": thresholds,
        "validation_balanced_accuracy": balanced,
        "validation_accuracy": accuracies(predictions["validation"]),
        "accuracy": accuracies(predictions["test"]),
        "confusion": confusion(predictions["test"]),
        "mean_overlap": {s: {d: {k: float(v.mean()) for k, v in per.items()} for d, per in o.items()}
                         for s, o in os_.items()},
        "overlaps": {s: {d: {k: [round(float(x), 6) for x in v] for k, v in per.items()} for d, per in o.items()}
                     for s, o in os_.items()},
        "n_images": {s: len(r.image_names) for s, r in splits.items()},
        "image_names": {s: list(r.image_names) for s, r in splits.items()},
    }


@torch.no_grad()
def elimination_ablation(exp, proportion: float = 0.01, image: int = 0) -> tuple[dict, dict]:
    """Sec. 5.4 / Fig. 5: mask the top ``proportion`` deblurring filters found with and without gradient
    elimination (Eq. 7 with and without its second term) and measure the output difference
    (:func:`~faiglib.masking.output_difference`, gray, x1e3) on the blurry and the noisy analysis inputs.

    Returns ``(numbers, images)``: ``numbers = {"with_elimination": {"blur_input": mean, "noise_input": mean},
    "without_elimination": {...}, "overlap": Jaccard of the two sets}``; ``images`` = ``{kind: {"input",
    "target output", "masked (with elimination)", "masked (without elimination)", "ground truth"}}``
    (``(3, H, W)`` tensors of analysis image ``image``, for :func:`~faiglib.plots.masking_grid`).
    """
    from .masking import masked, masking_effect, reference_outputs

    scores = exp.scores()
    chosen = {"with_elimination": scores.top("blur", proportion, eliminate=True),
              "without_elimination": scores.top("blur", proportion, eliminate=False)}
    model = exp.model("target")
    base = {k: v.to(exp.device) for k, v in exp.states()[0].items()}
    aset = exp.analysis_set()
    kinds = tuple(TASKS)
    reference = reference_outputs(model, aset, kinds)
    numbers: dict[str, Any] = {}
    for label, filters in chosen.items():
        effect = masking_effect(model, base, filters, aset, kinds, "gray", exp.filter_index, reference)
        numbers[label] = {f"{k}_input": float(v.mean()) for k, v in effect.items()}
    a, b = (set(f.tolist()) for f in chosen.values())
    numbers["overlap"] = len(a & b) / len(a | b)
    images: dict[str, dict[str, torch.Tensor]] = {}
    for kind in kinds:
        x = aset.lr[kind][image].unsqueeze(0).to(exp.device)
        row = {"input": aset.lr[kind][image], "target output": model(x)[0].clamp(0, 1).cpu()}
        for label, filters in chosen.items():
            with masked(model, base, filters, exp.filter_index):
                row[f"masked ({label.replace('_', ' ')})"] = model(x)[0].clamp(0, 1).cpu()
        row["ground truth"] = aset.hr[image]
        images[kind] = row
    return numbers, images

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
from dataclasses import replace
from typing import Any, Mapping, Sequence

import torch

from .attribution import DiscriminativeFilters, discriminative_filters, top_count
from .data import center_crop, embedded_images, resolve_images
from .degradations import DEGRADATION_KINDS, AnalysisSet, Degradation, build_analysis_set
from .statistics import spearman

__all__ = ["EMBEDDED_VALIDATION", "EMBEDDED_TEST", "TASKS", "PAPER_ACCURACY", "top_sets", "overlap_score",
           "overlap_scores", "choose_threshold", "predict", "confusion", "accuracies", "label_of",
           "classification_images", "image_filter_scores", "classify", "elimination_ablation", "level_kinds",
           "level_of", "build_level_set", "level_set", "level_filter_scores", "level_psnr", "level_overlaps"]

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


def _cached_image_scores(exp, name: str, key_parts, build_set, kinds, meta) -> DiscriminativeFilters:
    """Per-image FAIG scores (Eq. 6, each image against its own ground truth) of ``build_set()`` (an
    :class:`~faiglib.degradations.AnalysisSet`) for its input ``kinds``, cached in the experiment's workdir
    under ``classify_<name>_<key of key_parts>_N…``: the one cache behind :func:`image_filter_scores` and
    :func:`level_filter_scores`."""
    p = exp.profile
    n_steps = p.classify_n_steps or p.n_steps
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True).encode()).hexdigest()[:10]
    path = exp.workdir / f"classify_{name}_{key}_N{n_steps}_{p.method}_{p.precision}.pt"
    if str(path) in exp._cache:
        return exp._cache[str(path)]
    if path.exists():
        result = DiscriminativeFilters.load(path)
    else:
        aset = build_set()
        base, target = exp.states()
        on = lambda xs: [x.to(exp.device) for x in xs]  # noqa: E731
        result = discriminative_filters(
            exp.architecture(), {k: v.to(exp.device) for k, v in base.items()},
            {k: v.to(exp.device) for k, v in target.items()},
            type(aset)(aset.names, on(aset.hr), {k: on(v) for k, v in aset.lr.items()}, aset.degradation, aset.seed),
            degradations=tuple(kinds), n_steps=n_steps, method=p.method,
            internal_batch_size=p.internal_batch_size, precision=p.precision, progress=exp.progress)
        result.per_image = {k: v.cpu() for k, v in result.per_image.items()}
        result.losses = {k: v.cpu() for k, v in result.losses.items()}
        result.deltas = {k: v.cpu() for k, v in result.deltas.items()}
        result.meta.update(profile=p.name, seed=exp.seed, network=exp.spec.label, **meta)
        result.save(path)
    exp._cache[str(path)] = result
    return result


def _split_source(exp, split: str, source: str | None) -> str:
    if split not in _SPLIT_SEEDS:
        raise ValueError(f"split must be 'validation' or 'test', got {split!r}")
    p = exp.profile
    return source or {"validation": p.classify_validation_data, "test": p.classify_test_data}[split]


def image_filter_scores(exp, split: str, source: str | None = None) -> DiscriminativeFilters:
    """Per-image FAIG scores (Eq. 6, each image with its own ground truth) of every input kind (clean /
    blur / noise / blur+noise) of the ``"validation"`` or ``"test"`` images, cached in the experiment's
    workdir. ``source``: default the profile's ``classify_validation_data`` / ``classify_test_data``.
    The noise of the split is seeded by ``10 000 + seed`` (validation) or ``20 000 + seed`` (test)."""
    source = _split_source(exp, split, source)
    p = exp.profile
    noise_seed = _SPLIT_SEEDS[split] + exp.seed

    def build():
        return build_analysis_set(classification_images(source, p.scale, p.classify_crop, p.classify_images),
                                  exp.degradation, noise_seed)

    return _cached_image_scores(exp, split, [str(source), p.classify_crop, p.classify_images, p.scale, noise_seed],
                                build, DEGRADATION_KINDS, dict(data=str(source), split=split))


# ---- beyond the paper: degradation levels ----------------------------------------------------------------

def level_kinds(blur_levels: Sequence[float], noise_levels: Sequence[float]) -> list[str]:
    """Input kinds of the level study: ``"clean"``, ``"blur <sigma>"`` per blur level and ``"noise <sigma>"``
    per noise level (e.g. ``"blur 2"``, ``"noise 0.1"``)."""
    if not blur_levels or not noise_levels:
        raise ValueError(f"need at least one blur and one noise level, got {blur_levels} and {noise_levels}")
    if min(blur_levels) <= 0 or min(noise_levels) <= 0:
        raise ValueError(f"levels must be > 0 (level 0 is the clean input), got {blur_levels} and {noise_levels}")
    return ["clean"] + [f"blur {s:g}" for s in blur_levels] + [f"noise {s:g}" for s in noise_levels]


def level_of(kind: str) -> tuple[str | None, float]:
    """``"blur 2"`` -> ``("blur", 2.0)``, ``"clean"`` -> ``(None, 0.0)``."""
    if kind == "clean":
        return None, 0.0
    degradation, value = kind.split(" ")
    return degradation, float(value)


def build_level_set(images, degradation: Degradation, blur_levels: Sequence[float], noise_levels: Sequence[float],
                    seed: int) -> AnalysisSet:
    """Every HR image ``(3, H, W)`` of ``images`` (``(name, image)`` pairs) as a clean LR input, blurred at
    each blur sigma (then resized, no noise) and noisy at each noise sigma (resized, then noise; no blur).
    The noise of image ``i`` is one draw from a generator seeded ``(seed, i)``, scaled to each level, so
    that levels differ in strength only. ``lr`` keys: :func:`level_kinds`."""
    pairs = list(images)
    if not pairs:
        raise ValueError("build_level_set got no images")
    lr: dict[str, list[torch.Tensor]] = {k: [] for k in level_kinds(blur_levels, noise_levels)}
    for i, (_, hr) in enumerate(pairs):
        lr["clean"].append(degradation(hr, blur=False, noise=False))
        for s in blur_levels:
            lr[f"blur {s:g}"].append(replace(degradation, blur_sigma=float(s))(hr, blur=True, noise=False))
        for s in noise_levels:
            gen = torch.Generator().manual_seed(seed * 1_000_003 + i)
            lr[f"noise {s:g}"].append(replace(degradation, noise_sigma=float(s))(hr, blur=False, noise=True,
                                                                                 generator=gen))
    return AnalysisSet([n for n, _ in pairs], [x for _, x in pairs], lr, degradation, seed)


def _level_key(exp, source: str) -> list:
    p = exp.profile
    return [str(source), p.classify_crop, p.classify_images, p.scale, _SPLIT_SEEDS["test"] + exp.seed,
            list(p.levels_blur), list(p.levels_noise)]


def level_set(exp, source: str | None = None) -> AnalysisSet:
    """The test images (default the profile's ``classify_test_data``) at every level of ``profile.levels_blur``
    / ``levels_noise`` (:func:`build_level_set`; noise seeded as the test split of :func:`image_filter_scores`)."""
    source = _split_source(exp, "test", source)
    p = exp.profile
    key = "level_set:" + json.dumps(_level_key(exp, source))
    if key not in exp._cache:
        exp._cache[key] = build_level_set(classification_images(source, p.scale, p.classify_crop, p.classify_images),
                                          exp.degradation, p.levels_blur, p.levels_noise, _SPLIT_SEEDS["test"] + exp.seed)
    return exp._cache[key]


def level_filter_scores(exp, source: str | None = None) -> DiscriminativeFilters:
    """Per-image FAIG scores of :func:`level_set` for every level kind, cached in the experiment's workdir."""
    source = _split_source(exp, "test", source)
    kinds = level_kinds(exp.profile.levels_blur, exp.profile.levels_noise)
    return _cached_image_scores(exp, "levels", _level_key(exp, source), lambda: level_set(exp, source), kinds,
                                dict(data=str(source), split="test-levels"))


@torch.no_grad()
def level_psnr(exp, which: str = "target", source: str | None = None) -> dict[str, float]:
    """``{kind: mean RGB PSNR (dB)}`` of the experiment's ``"baseline"`` or ``"target"`` network on
    :func:`level_set` (is every level restored at all?)."""
    from .training import evaluate_psnr

    aset = level_set(exp, source)
    model = exp.model(which)
    return {kind: evaluate_psnr(model, aset, (kind,), exp.device) for kind in aset.lr}


def level_overlaps(exp, thresholds: Mapping[str, float], proportion: float | None = None,
                   test: str | None = None) -> dict[str, Any]:
    """Does OS(x, D) track the strength of D? For the test images at every level (:func:`level_filter_scores`):

    ``{"kinds": [...], "overlaps": {D: {kind: [OS per image]}}, "mean_overlap": {D: {kind: mean}},
    "detected": {D: {kind: fraction with OS(x, D) ≥ thresholds[D]}}, "tracking": {D: {"levels": [0, l_1, …],
    "mean": [mean OS(x, D) per level], "increasing": bool, "spearman": ρ}}}``.

    ``tracking[D]`` uses the clean inputs as level 0 and the inputs degraded by D alone at each level;
    ``increasing``: the mean rises strictly from level to level; ``spearman``: rank correlation of level and
    OS over all those (image, level) pairs. ``thresholds``: e.g. :func:`classify`'s (chosen on validation).
    """
    proportion = proportion or exp.profile.classify_proportion
    scores = exp.scores()
    dataset_sets = {d: scores.top(d, proportion) for d in TASKS}
    result = level_filter_scores(exp, test)
    os_ = overlap_scores(result.per_image, dataset_sets, proportion)
    kinds = list(result.per_image)
    tracking = {}
    for d in TASKS:
        chain = ["clean"] + [k for k in kinds if level_of(k)[0] == d]
        levels = [level_of(k)[1] for k in chain]
        means = [float(os_[d][k].mean()) for k in chain]
        xs = torch.cat([torch.full_like(os_[d][k], lv) for k, lv in zip(chain, levels)])
        ys = torch.cat([os_[d][k] for k in chain])
        tracking[d] = {"levels": levels, "mean": means,
                       "increasing": all(b > a for a, b in zip(means, means[1:])),
                       "spearman": spearman(xs, ys)}
    return {
        "proportion": proportion, "kinds": kinds, "thresholds": dict(thresholds),
        "overlaps": {d: {k: [round(float(x), 6) for x in v] for k, v in per.items()} for d, per in os_.items()},
        "mean_overlap": {d: {k: float(v.mean()) for k, v in per.items()} for d, per in os_.items()},
        "detected": {d: {k: float((v >= thresholds[d]).double().mean()) for k, v in per.items()}
                     for d, per in os_.items()},
        "tracking": tracking, "n_images": len(result.image_names), "image_names": list(result.image_names),
    }


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

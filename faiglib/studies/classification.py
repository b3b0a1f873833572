"""Degradation classification study (paper Sec. 5.3) and the gradient-elimination ablation (Sec. 5.4, Fig. 5).

The overlap score (Eq. 8), the threshold rule and the classifier are in :mod:`faiglib.measures.overlap`;
this module gives them per-image FAIG scores of a :class:`~faiglib.studies.workspace.Workspace`'s pair on
validation images (thresholds; the paper: BSD100) and test images (accuracy; the paper: DIV2K).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from faiglib.core.ranking import check_proportion
from faiglib.methods.faig import FAIG_VERSION, DiscriminativeFilters, discriminative_filters, top_count
from faiglib.data.images import center_crop, embedded_images, resolve_images
from faiglib.data.degradations import DEGRADATION_KINDS, build_analysis_set
from faiglib.measures.overlap import TASKS, accuracies, choose_threshold, confusion, overlap_scores, predict
from faiglib.measures.statistics import mean_std
from faiglib.measures.verdicts import seed_verdict
from faiglib.studies.claims import PAPER, Claim, mean_text

__all__ = ["CLAIMS", "elimination_ratios", "EMBEDDED_VALIDATION", "EMBEDDED_TEST", "PAPER_ACCURACY", "PAPER_THRESHOLDS", "classification_images",
           "image_filter_scores", "classify", "elimination_ablation"]

#: Default validation / test images when no folder is given: scikit-image's bundled photos that are not
#: analysis images, split in two disjoint halves. (They are the networks' training photos -- the bundled
#: set has no others; point the parameters at real folders, e.g. BSD100 and DIV2K validation, as the paper.)
EMBEDDED_VALIDATION = ("camera", "coins", "brick", "grass", "hubble_deep_field", "immunohistochemistry",
                       "motorcycle_left", "page")
EMBEDDED_TEST = ("retina", "motorcycle_right", "moon", "gravel", "clock", "cell", "text")

#: the paper's accuracies (Sec. 5.3): thresholds T^noise = 0.6, T^blur = 0.5, tested on DIV2K
PAPER_ACCURACY = {d: PAPER[f"classification/accuracy/{d}"].value for d in ("blur", "noise")}
PAPER_THRESHOLDS = {d: PAPER[f"classification/threshold/{d}"].value for d in ("blur", "noise")}


# ---- glue: an Workspace's networks, analysis set and validation / test images --------------------------

def classification_images(source: str, scale: int, crop: int | None, count: int | None):
    """Named HR images ``(3, H, W)`` for classification: ``"embedded:validation"`` / ``"embedded:test"``
    (:data:`EMBEDDED_VALIDATION` / :data:`EMBEDDED_TEST`) or anything :func:`~faiglib.data.images.resolve_images`
    takes; the first ``count`` (``None``: all) in name order, central ``crop`` (``None``: whole)."""
    for what, value in (("count", count), ("crop", crop)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            default = "all images" if what == "count" else "the whole image"
            raise ValueError(f"{what} must be an integer >= 1, or None for {default}; got {value!r}")
    named = {"embedded:validation": EMBEDDED_VALIDATION, "embedded:test": EMBEDDED_TEST}
    images = embedded_images(named[source], scale) if source in named else resolve_images(source, scale)
    if count is not None:
        images = images[:count]
    if crop is not None:
        images = [(n, center_crop(x, crop, scale)) for n, x in images]
    return images


_SPLIT_SEEDS = {"validation": 10_000, "test": 20_000}  # noise of split s: seed _SPLIT_SEEDS[s] + experiment seed


def _cached_image_scores(ws, name: str, aset, kinds, meta) -> DiscriminativeFilters:
    """Per-image FAIG scores (Eq. 6, each image against its own ground truth) of the inputs ``kinds`` of
    ``aset`` (an :class:`~faiglib.data.degradations.AnalysisSet`), stored under the pair's keys and the
    digest of the very tensors attributed: the one cache behind :func:`image_filter_scores` and
    :func:`~faiglib.studies.levels.level_filter_scores`. ``name`` labels the entry (``validation``, ``test``, …)."""
    p = ws.profile
    n_steps = p.n_steps if p.classify_n_steps is None else p.classify_n_steps
    kinds = tuple(kinds)
    parts = {"version": FAIG_VERSION, "pair": ws.pair_keys(), "kinds": list(kinds),
             "inputs": aset.key(kinds),
             "n_steps": n_steps, "method": p.method, "precision": p.precision}

    def compute() -> DiscriminativeFilters:
        base, target = ws.states()
        on = lambda xs: [x.to(ws.device) for x in xs]  # noqa: E731
        result = discriminative_filters(
            ws.architecture(), {k: v.to(ws.device) for k, v in base.items()},
            {k: v.to(ws.device) for k, v in target.items()},
            type(aset)(aset.names, on(aset.hr), {k: on(v) for k, v in aset.lr.items()}, aset.degradation, aset.seed),
            degradations=kinds, n_steps=n_steps, method=p.method,
            internal_batch_size=p.internal_batch_size, precision=p.precision, progress=ws.progress)
        result.per_image = {k: v.cpu() for k, v in result.per_image.items()}
        result.losses = {k: v.cpu() for k, v in result.losses.items()}
        result.deltas = {k: v.cpu() for k, v in result.deltas.items()}
        result.meta.update(profile=p.name, seed=ws.seed, network=ws.spec.label, name=name, **meta)
        return result

    return ws.cached("image-faig", parts, compute, lambda r, path: r.save(path), DiscriminativeFilters.load)


def _split_source(ws, split: str, source: str | None) -> str:
    if split not in _SPLIT_SEEDS:
        raise ValueError(f"split must be 'validation' or 'test', got {split!r}")
    p = ws.profile
    return source or {"validation": p.classify_validation_data, "test": p.classify_test_data}[split]


def image_filter_scores(ws, split: str, source: str | None = None) -> DiscriminativeFilters:
    """Per-image FAIG scores (Eq. 6, each image with its own ground truth) of every input kind (clean /
    blur / noise / blur+noise) of the ``"validation"`` or ``"test"`` images, stored. ``source``: default the profile's ``classify_validation_data`` / ``classify_test_data``.
    The noise of the split is seeded by ``10 000 + seed`` (validation) or ``20 000 + seed`` (test)."""
    source = _split_source(ws, split, source)
    p = ws.profile
    noise_seed = _SPLIT_SEEDS[split] + ws.seed

    aset = ws.memo(f"split-set:{split}:{source}", lambda: build_analysis_set(
        classification_images(source, p.scale, p.classify_crop, p.classify_images), ws.degradation, noise_seed))
    return _cached_image_scores(ws, split, aset, DEGRADATION_KINDS, dict(data=str(source), split=split))


def classify(ws, proportion: float | None = None, validation: str | None = None,
             test: str | None = None) -> dict[str, Any]:
    """Sec. 5.3 for one experiment: data-set sets ``{filter^D}`` (Eq. 7, top ``proportion``, default the
    profile's ``classify_proportion``) on the analysis set, OS of every validation and test input, the
    thresholds chosen on validation (:func:`choose_threshold`), and the test accuracies and confusion table.

    Returns ``{"thresholds": {"blur", "noise"}, "validation_balanced_accuracy": {...}, "accuracy": {"blur",
    "noise", "four_way"}, "validation_accuracy": {...}, "confusion": {true: {pred: n}}, "mean_overlap":
    {"validation"|"test": {D: {kind: mean OS}}}, "overlaps": {split: {D: {kind: [OS per image]}}},
    "n_images": {...}, "n_filters_per_set": k}``.
    """
    proportion = check_proportion(ws.profile.classify_proportion if proportion is None else proportion)
    scores = ws.scores()
    dataset_sets = {d: scores.top(d, proportion) for d in TASKS}
    splits = {"validation": image_filter_scores(ws, "validation", validation),
              "test": image_filter_scores(ws, "test", test)}
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
def elimination_ablation(ws, proportion: float = 0.01, image: int = 0) -> tuple[dict, dict]:
    """Sec. 5.4 / Fig. 5: mask the top ``proportion`` deblurring filters found with and without gradient
    elimination (Eq. 7 with and without its second term) and measure the output difference
    (:func:`~faiglib.measures.gradient_maps.output_difference`, gray, x1e3) on the blurry and the noisy analysis inputs.

    Returns ``(numbers, images)``: ``numbers = {"with_elimination": {"blur_input": mean, "noise_input": mean},
    "without_elimination": {...}, "overlap": Jaccard of the two sets}``; ``images`` = ``{kind: {"input",
    "target output", "masked (with elimination)", "masked (without elimination)", "ground truth"}}``
    (``(3, H, W)`` tensors of analysis image ``image``, for :func:`~faiglib.report.plots.masking_grid`).
    """
    from faiglib.core.edits import masked
    from faiglib.studies.masking import masking_effect, reference_outputs

    scores = ws.scores()
    chosen = {"with_elimination": scores.top("blur", proportion, eliminate=True),
              "without_elimination": scores.top("blur", proportion, eliminate=False)}
    model = ws.model("target")
    base = {k: v.to(ws.device) for k, v in ws.states()[0].items()}
    aset = ws.analysis_set()
    kinds = tuple(TASKS)
    reference = reference_outputs(model, aset, kinds)
    numbers: dict[str, Any] = {}
    for label, filters in chosen.items():
        effect = masking_effect(model, base, filters, aset, kinds, "gray", ws.filter_index, reference)
        numbers[label] = {f"{k}_input": float(v.mean()) for k, v in effect.items()}
    a, b = (set(f.tolist()) for f in chosen.values())
    numbers["overlap"] = len(a & b) / len(a | b)
    images: dict[str, dict[str, torch.Tensor]] = {}
    for kind in kinds:
        x = aset.lr[kind][image].unsqueeze(0).to(ws.device)
        row = {"input": aset.lr[kind][image], "target output": model(x)[0].clamp(0, 1).cpu()}
        for label, filters in chosen.items():
            with masked(model, base, filters, ws.filter_index):
                row[f"masked ({label.replace('_', ' ')})"] = model(x)[0].clamp(0, 1).cpu()
        row["ground truth"] = aset.hr[image]
        images[kind] = row
    return numbers, images


def elimination_ratios(ablation: Sequence[Mapping[str, Any]], floor: float = 1e-12) -> dict[str, Any]:
    """Sec. 5.4 over seeds: per seed, the noisy-input masking effect of the deblurring set chosen *without*
    gradient elimination divided by that of the set chosen *with* it (``ablation``: the numbers of
    :func:`~faiglib.studies.classification.elimination_ablation`). The paper's effect: every ratio > 1."""
    ratios = [n["without_elimination"]["noise_input"] / max(n["with_elimination"]["noise_input"], floor)
              for n in ablation]
    return {"ratios": ratios, "shows_paper_effect": bool(ratios) and all(r > 1 for r in ratios)}


def _accuracy_claim(kind: str) -> Claim:
    paper = PAPER_ACCURACY[kind]

    def measure(found, network):
        a = found.get("accuracy", {}).get(kind)
        return (mean_text(a), seed_verdict(a["values"], paper, threshold=0.5)) if a else None

    return Claim(f"degradation prediction accuracy, {kind} (above chance 0.5)", "Sec. 5.3", f"{paper:.2f}",
                 "seed_verdict(per-seed accuracies, paper; chance 0.5)", "classification", measure)


def _ablation_measure(found, network):
    ratios = found.get("ablation_noise_input_without_over_with")
    return (mean_text(mean_std(ratios)), seed_verdict(ratios, threshold=1.0)) if ratios else None


#: the claims this study measures (Sec. 5.3 and 5.4), for the scorecard
CLAIMS = (*(_accuracy_claim(kind) for kind in ("blur", "noise")),
          Claim("without gradient elimination, the deblurring set hurts noisy input more (ratio)", "Sec. 5.4, Fig. 5",
                "> 1", "seed_verdict(per-seed ratios, > 1)", "classification", _ablation_measure))

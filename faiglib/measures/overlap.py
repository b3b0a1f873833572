"""Overlap scores and the degradation classifier built on them (paper Sec. 4.3, 5.3, Eq. 8).

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
then to the lower threshold. These functions work on tensors and are independent of any network.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch

from faiglib.data.degradations import DEGRADATION_KINDS
from faiglib.core.ranking import top_indices

__all__ = ["TASKS", "top_sets", "overlap_score", "overlap_scores", "choose_threshold", "label_of", "predict",
           "confusion", "accuracies"]

#: binary task -> the input kinds that are positives for it
TASKS: dict[str, tuple[str, ...]] = {"blur": ("blur", "blur+noise"), "noise": ("noise", "blur+noise")}


def top_sets(scores: torch.Tensor, proportion: float) -> torch.Tensor:
    """Indices of the top ``proportion`` of filters by descending score (ties keep index order), as
    :meth:`~faiglib.methods.faig.DiscriminativeFilters.top`: ``(n_filters,)`` -> ``(k,)``, or one row per image
    ``(n, n_filters)`` -> ``(n, k)``, with ``k = top_count(proportion, n_filters)``."""
    if scores.dim() not in (1, 2):
        raise ValueError(f"scores must be (n_filters,) or (n_images, n_filters), got {tuple(scores.shape)}")
    return top_indices(scores, proportion)


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
    """The input kind of :data:`~faiglib.data.degradations.DEGRADATION_KINDS` with these two properties."""
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
    """4x4 counts ``{true kind: {predicted kind: n}}`` over :data:`~faiglib.data.degradations.DEGRADATION_KINDS`."""
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

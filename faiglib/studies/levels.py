"""Beyond the paper: degradation levels. Does OS(x, D) (Eq. 8) track the *strength* of D?

A second target is fine-tuned from the same baseline on a range of blur / noise levels
(``Workspace(levels=True)``); the test images are attributed at every level of ``profile.levels_blur`` /
``levels_noise`` and their overlap scores compared with the validation thresholds of the classification study.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Mapping, Sequence

import torch

from faiglib.data.degradations import AnalysisSet, Degradation
from faiglib.methods.faig import DiscriminativeFilters
from faiglib.core.ranking import check_proportion
from faiglib.measures.overlap import TASKS, overlap_scores
from faiglib.measures.statistics import spearman
from faiglib.studies.classification import _SPLIT_SEEDS, _cached_image_scores, _split_source, classification_images

__all__ = ["tracking_summary", "level_kinds", "level_of", "build_level_set", "level_set", "level_filter_scores", "level_psnr",
           "level_overlaps"]


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


def _level_key(ws, source: str) -> list:
    p = ws.profile
    return [str(source), p.classify_crop, p.classify_images, p.scale, _SPLIT_SEEDS["test"] + ws.seed,
            list(p.levels_blur), list(p.levels_noise)]


def level_set(ws, source: str | None = None) -> AnalysisSet:
    """The test images (default the profile's ``classify_test_data``) at every level of ``profile.levels_blur``
    / ``levels_noise`` (:func:`build_level_set`; noise seeded as the test split of :func:`image_filter_scores`)."""
    source = _split_source(ws, "test", source)
    p = ws.profile
    return ws.memo("level_set:" + json.dumps(_level_key(ws, source)), lambda: build_level_set(
        classification_images(source, p.scale, p.classify_crop, p.classify_images), ws.degradation,
        p.levels_blur, p.levels_noise, _SPLIT_SEEDS["test"] + ws.seed))


def level_filter_scores(ws, source: str | None = None) -> DiscriminativeFilters:
    """Per-image FAIG scores of :func:`level_set` for every level kind, stored."""
    source = _split_source(ws, "test", source)
    kinds = level_kinds(ws.profile.levels_blur, ws.profile.levels_noise)
    return _cached_image_scores(ws, "levels", level_set(ws, source), kinds,
                                dict(data=str(source), split="test-levels"))


@torch.no_grad()
def level_psnr(ws, which: str = "target", source: str | None = None) -> dict[str, float]:
    """``{kind: mean RGB PSNR (dB)}`` of the experiment's ``"baseline"`` or ``"target"`` network on
    :func:`level_set` (is every level restored at all?)."""
    from faiglib.training.stages import evaluate_psnr

    aset = level_set(ws, source)
    model = ws.model(which)
    return {kind: evaluate_psnr(model, aset, (kind,), ws.device) for kind in aset.lr}


def level_overlaps(ws, thresholds: Mapping[str, float], proportion: float | None = None,
                   test: str | None = None) -> dict[str, Any]:
    """Does OS(x, D) track the strength of D? For the test images at every level (:func:`level_filter_scores`):

    ``{"kinds": [...], "overlaps": {D: {kind: [OS per image]}}, "mean_overlap": {D: {kind: mean}},
    "detected": {D: {kind: fraction with OS(x, D) ≥ thresholds[D]}}, "tracking": {D: {"levels": [0, l_1, …],
    "mean": [mean OS(x, D) per level], "increasing": bool, "spearman": ρ}}}``.

    ``tracking[D]`` uses the clean inputs as level 0 and the inputs degraded by D alone at each level;
    ``increasing``: the mean rises strictly from level to level; ``spearman``: rank correlation of level and
    OS over all those (image, level) pairs. ``thresholds``: e.g. :func:`classify`'s (chosen on validation).
    """
    proportion = check_proportion(ws.profile.classify_proportion if proportion is None else proportion)
    scores = ws.scores()
    dataset_sets = {d: scores.top(d, proportion) for d in TASKS}
    result = level_filter_scores(ws, test)
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


def tracking_summary(levels: Mapping[Any, Mapping[str, Any]],
                     kinds: Sequence[str] = ("blur", "noise")) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """Over seeds, does the overlap track the strength? ``levels``: ``{seed: result}`` with each result's
    ``"tracking"`` per kind (Spearman's rho of level against OS, and whether the mean OS rises at every step).
    Returns ``(rho, rises)``: rho's mean ± std over seeds per kind, and per kind the number of seeds whose
    mean OS rises at every step."""
    from faiglib.measures.statistics import mean_std

    rho = {d: mean_std([r["tracking"][d]["spearman"] for r in levels.values()]) for d in kinds}
    rises = {d: sum(bool(r["tracking"][d]["increasing"]) for r in levels.values()) for d in kinds}
    return rho, rises

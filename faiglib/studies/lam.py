"""Pixels: how many LR pixels do the baseline and the target use? LAM diffusion indices on the analysis set.

For every analysis image, windows are chosen on the HR ground truth by a seeded rule (:func:`choose_windows`:
among the windows of highest gradient energy -- LAM explains edges and texture, and flat windows have
nothing to explain), so both networks and every input kind are measured on the same windows. For each
(network, input kind, image, window), :func:`faiglib.methods.lam.lam` gives a map and its diffusion index (DI);
:func:`compare_diffusion` pairs the target's DI with the baseline's on the same window and input and says
whether the difference is resolved.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import math
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F

from faiglib.core.checkpoint import atomic_write_text, load_json
from faiglib.core.store import ReadOnlyStoreError
from faiglib.measures.statistics import mean_std, paired_difference
from faiglib.methods.lam import LAMResult, lam

__all__ = ["window_generator", "choose_windows", "diffusion_study", "stored_diffusion_study", "compare_diffusion",
           "diffusion_answer", "compare_architectures", "architecture_verdict", "stored_architectures", "lam_examples",
           "PAIR_ROLES", "DIFFUSION_STUDY_VERSION"]

PAIR_ROLES = ("baseline", "target")
#: part of the store key of every stored diffusion study: raise it when LAM's formulas, the diffusion index or the
#: window rule change, so that no map of the old code is served
DIFFUSION_STUDY_VERSION = 1


def window_generator(seed: int, image: int) -> torch.Generator:
    """The generator that draws the windows of analysis image ``image`` for a run of seed ``seed``: seeded with
    ``1000 · seed + image``, so that LAM, L2X and every pixel method of a run explain the same windows."""
    return torch.Generator().manual_seed(1000 * int(seed) + int(image))


def choose_windows(hr: torch.Tensor, n: int, size: int = 16, generator: torch.Generator | None = None,
                   stride: int | None = None, top: float = 0.25) -> list[tuple[int, int]]:
    """Top-left corners ``(y, x)`` (HR pixels) of ``n`` distinct ``size x size`` windows of ``hr`` ``(C, H, W)``.

    Candidates are the windows on a grid of step ``stride`` (default ``size // 2``) that fit the official LAM
    objective (``y + size <= H − 1``); each is scored by its gradient energy (Σ over channels and window of
    the squared forward differences). ``n`` are drawn without replacement, by ``generator``, from the top
    ``top`` fraction of candidates (at least ``n`` of them). ValueError when the image has fewer than ``n``
    candidates."""
    if not torch.is_tensor(hr) or hr.dim() != 3:
        raise ValueError(f"hr must be one image (C, H, W), got {getattr(hr, 'shape', type(hr).__name__)}")
    if n < 1 or size < 1 or not 0 < top <= 1:
        raise ValueError(f"need n >= 1, size >= 1 and top in (0, 1], got n={n}, size={size}, top={top}")
    stride = stride or max(1, size // 2)
    x = hr.detach().to(torch.float64).cpu()
    dv = (x[:, :-1, :-1] - x[:, 1:, :-1]) ** 2
    dh = (x[:, :-1, :-1] - x[:, :-1, 1:]) ** 2
    energy = (dv + dh).sum(0)  # (H−1, W−1): the grid the objective's window lives on
    if min(energy.shape) < size:
        raise ValueError(f"image {tuple(hr.shape[-2:])} is too small for {size}x{size} windows")
    scores = F.avg_pool2d(energy[None, None], size, stride=stride)[0, 0]  # (rows, cols) of candidates
    flat = scores.flatten()
    if flat.numel() < n:
        raise ValueError(f"image {tuple(hr.shape[-2:])} has only {flat.numel()} candidate windows of {size}x{size} "
                         f"(stride {stride}), fewer than n={n}; ask for fewer windows or a smaller size")
    keep = max(n, math.ceil(top * flat.numel()))
    best = torch.argsort(flat, descending=True, stable=True)[:keep]
    picked = best[torch.randperm(keep, generator=generator)[:n]]
    cols = scores.shape[1]
    return [(int(i // cols) * stride, int(i % cols) * stride) for i in sorted(picked.tolist())]


def diffusion_study(ws, kinds: Sequence[str] = ("clean", "blur", "noise"), n_windows: int = 3,
                    n_images: int | None = None, window_size: int = 16, sigma: float = 1.2, fold: int = 50,
                    kernel_size: int = 9, internal_batch_size: int | None = None) -> dict[str, Any]:
    """LAM diffusion indices of the baseline and the target of a :class:`~faiglib.studies.workspace.Workspace`
    (anything with ``analysis_set()``, ``model(which)`` and ``seed``).

    Windows: :func:`choose_windows` on each HR image, ``generator`` seeded with ``(ws.seed, image index)``.
    Returns ``{"windows": {image: [[y, x], …]}, "di": {model: {kind: [DI per (image, window)]}},
    "completeness": {model: {kind: [relative gap, …]}}, "objective_change": {model: {kind: [D(F(x)) − D(F(x₀)), …]}},
    "summary": {model: {kind: {"mean", "std", "values"}}},
    "settings": {...}}``; the DI lists are in the same (image, window) order for every model and kind, so they
    pair up (:func:`compare_diffusion`).
    """
    aset = ws.analysis_set()
    missing = [k for k in kinds if k not in aset.lr]
    if missing:
        raise ValueError(f"no analysis inputs of kind {missing}; the analysis set has {list(aset.lr)}")
    count = len(aset) if n_images is None else min(n_images, len(aset))
    if count < 1:
        raise ValueError("the analysis set has no images")
    windows = {}
    for i in range(count):
        g = window_generator(ws.seed, i)
        windows[aset.names[i]] = choose_windows(aset.hr[i], n_windows, window_size, g)
    di: dict[str, dict[str, list[float]]] = {}
    gaps: dict[str, dict[str, list[float]]] = {}
    change: dict[str, dict[str, list[float]]] = {}
    for which in PAIR_ROLES:
        model = ws.model(which)
        di[which], gaps[which], change[which] = {}, {}, {}
        for kind in kinds:
            di[which][kind], gaps[which][kind], change[which][kind] = [], [], []
            for i, name in enumerate(windows):
                for window in windows[name]:
                    r = lam(model, aset.lr[kind][i], tuple(window), window_size=window_size, sigma=sigma,
                            fold=fold, kernel_size=kernel_size, internal_batch_size=internal_batch_size)
                    di[which][kind].append(r.diffusion_index)
                    gaps[which][kind].append(r.relative_completeness_gap)
                    change[which][kind].append(r.objective - r.baseline_objective)
    return {"windows": {n: [list(w) for w in ws_] for n, ws_ in windows.items()}, "di": di, "completeness": gaps,
            "objective_change": change,
            "summary": {m: {k: mean_std(v) for k, v in per.items()} for m, per in di.items()},
            "settings": {"kinds": list(kinds), "n_windows": n_windows, "n_images": count,
                         "window_size": window_size, "sigma": sigma, "fold": fold, "kernel_size": kernel_size,
                         "convention": "official"}}


_DIFFUSION_STUDY_SIGNATURE = inspect.signature(diffusion_study)  # its parameters and defaults: the entry's key


def stored_diffusion_study(ws, **settings: Any) -> dict[str, Any]:
    """:func:`diffusion_study` of the workspace ``ws`` (a :class:`~faiglib.studies.workspace.Workspace`) with
    ``settings`` (its keyword arguments), stored in ``ws``'s store (entry ``lam-di``) under the pair's keys, the
    analysis set's key, the seed (it draws the windows) and the resolved settings, so that a chapter reads what a
    background job (``tools/fill_store.py lam``) or an earlier run computed, and an interrupted render resumes
    network by network. ``internal_batch_size`` only changes how the path steps are batched and is not part of
    the key. A read-only workspace reads the entry or raises :class:`~faiglib.core.store.ReadOnlyStoreError`."""
    bound = _DIFFUSION_STUDY_SIGNATURE.bind(ws, **settings)
    bound.apply_defaults()
    resolved = {name: value for name, value in bound.arguments.items() if name not in ("ws", "internal_batch_size")}
    count = len(ws.analysis_set())
    resolved["n_images"] = count if resolved["n_images"] is None else min(int(resolved["n_images"]), count)
    resolved["kinds"] = list(resolved["kinds"])
    parts = {"version": DIFFUSION_STUDY_VERSION, "pair": ws.pair_keys(), "analysis": ws.analysis_digest(),
             "seed": ws.seed, **resolved}
    return ws.cached("lam-di", parts, lambda: diffusion_study(ws, **settings),
                     lambda study, path: atomic_write_text(json.dumps(study) + "\n", path), load_json,
                     filename="study.json")


def compare_diffusion(study: Mapping[str, Any], first: str = "baseline", second: str = "target") -> dict[str, Any]:
    """Does ``second`` diffuse more than ``first``? Per input kind, the paired differences
    ``DI(second) − DI(first)`` on the same (image, window): ``{kind: {"difference": {"mean", "std", "values"},
    "standard_error", "n", "more_diffuse": bool (mean > 0), "resolved": bool (|mean| > 2 s.e.), "verdict"}}``.
    With one pair there is no spread: standard error None, never resolved."""
    out = {}
    for kind, a in study["di"][first].items():
        b = study["di"][second][kind]
        if len(a) != len(b) or not a:
            raise ValueError(f"{kind}: {first} has {len(a)} values and {second} {len(b)}; they must pair up")
        paired = paired_difference(b, a)
        mean, se = paired["difference"]["mean"], paired["standard_error"]
        resolved = se is not None and abs(mean) > 2 * se
        verdict = (f"{second} diffuses more" if mean > 0 else f"{second} diffuses less") if resolved \
            else "no difference resolved"
        out[kind] = {**paired, "more_diffuse": mean > 0, "resolved": resolved, "verdict": verdict}
    return out


def diffusion_answer(cell: Mapping[str, Any]) -> str:
    """The plain answer to "does the second network diffuse more?" for one input kind of :func:`compare_diffusion`:
    ``"yes"`` (resolved, more), ``"no, it diffuses less"`` (resolved, less) or ``"not resolved by these windows"``."""
    if not cell["resolved"]:
        return "not resolved by these windows"
    return "yes" if cell["more_diffuse"] else "no, it diffuses less"


def stored_architectures(ws, labels: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """Workspaces of the networks ``labels`` with ``ws``'s profile, seed, data and store, for those whose baseline
    and target are already in the store -- ``({label: workspace}, [labels not trained yet])``; nothing is trained
    here (another chapter trains them, e.g. the attention chapter). Each is checked through a read-only workspace;
    the one returned writes the store as ``ws`` does, so that what is measured on it can be stored
    (:func:`stored_diffusion_study`)."""
    found, missing = {}, []
    for label in labels:
        other = dataclasses.replace(ws, arch=label, read_only=True, _cache={})
        try:
            for which in PAIR_ROLES:
                other.model(which)
        except ReadOnlyStoreError:
            missing.append(label)
            continue
        found[label] = dataclasses.replace(other, read_only=ws.read_only)
    return found, missing


def compare_architectures(studies: Mapping[str, Mapping[str, Any]], reference: str,
                          which: Sequence[str] = PAIR_ROLES) -> dict[str, Any]:
    """Do other networks diffuse more than ``reference``? ``studies``: ``{network label: diffusion_study(...)}``,
    all on the same windows (same analysis images and seed; ValueError otherwise). For every other network and
    each of ``which`` (baseline, target): :func:`compare_diffusion` of its DI against the reference network's
    same model, window by window -- ``{label: {which: {kind: {"difference", "standard_error", "n",
    "more_diffuse", "resolved", "verdict"}}}}`` (difference = DI(label) − DI(reference))."""
    if reference not in studies:
        raise ValueError(f"no study of the reference network {reference!r}; have {list(studies)}")
    ref = studies[reference]
    out: dict[str, Any] = {}
    for label, study in studies.items():
        if label == reference:
            continue
        if study["windows"] != ref["windows"] or study["settings"]["kinds"] != ref["settings"]["kinds"]:
            raise ValueError(f"{label} was measured on other windows or input kinds than {reference}; run "
                             f"diffusion_study with the same seed, analysis images and settings for both")
        out[label] = {}
        for model in which:
            merged = {"di": {reference: ref["di"][model], label: study["di"][model]}}
            out[label][model] = compare_diffusion(merged, first=reference, second=label)
    return out


def architecture_verdict(comparison: Mapping[str, Any], kinds: Sequence[str] | None = None,
                         model: str = "target") -> str:
    """The LAM paper's ordering -- networks with attention or larger receptive fields have a higher DI than the
    plain CNN -- judged on :func:`compare_architectures` output for ``model`` over ``kinds`` (default all):
    ``"holds"`` when every network's difference is resolved and positive for every kind, ``"reversed"`` when
    every one is resolved and negative, ``"mixed"`` when resolved ones disagree, ``"not resolved"`` otherwise."""
    cells = [c for per in comparison.values() for kind, c in per[model].items() if kinds is None or kind in kinds]
    if not cells:
        raise ValueError("no comparison to judge")
    resolved = [c for c in cells if c["resolved"]]
    if len(resolved) == len(cells) and all(c["more_diffuse"] for c in cells):
        return "holds"
    if len(resolved) == len(cells) and not any(c["more_diffuse"] for c in cells):
        return "reversed"
    if {c["more_diffuse"] for c in resolved} == {True, False}:
        return "mixed"
    return "not resolved"


def lam_examples(ws, image: int = 0, kind: str = "blur", window: tuple[int, int] | None = None,
                 window_size: int = 16, n_windows: int = 3, **kwargs: Any) -> dict[str, tuple[LAMResult, torch.Tensor]]:
    """LAM of the baseline and the target on one analysis input, for the pictures: ``{model: (result, lr)}``.
    ``window``: default the first of the ``n_windows`` windows :func:`diffusion_study` chooses for that image;
    ``kwargs`` go to :func:`~faiglib.methods.lam.lam` (``sigma``, ``fold``, ...)."""
    aset = ws.analysis_set()
    if kind not in aset.lr:
        raise ValueError(f"no analysis inputs of kind {kind!r}; have {list(aset.lr)}")
    if window is None:
        g = window_generator(ws.seed, image)
        window = choose_windows(aset.hr[image], n_windows, window_size, g)[0]
    lr = aset.lr[kind][image]
    out = {}
    for which in PAIR_ROLES:
        model = ws.model(which)
        out[which] = (lam(model, lr, tuple(window), window_size=window_size, **kwargs), lr)
    return out

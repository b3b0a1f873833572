"""L2X: positive and negative evidence in one pass -- maps, remove-and-replace of five attributions, costs, CKA.

Windows are chosen as in the LAM chapter (:func:`faiglib.studies.lam.choose_windows`, seeded per image). Every
attribution explains the same objective, LAM's gradient magnitude ``D`` of the window
(:class:`~faiglib.methods.l2x.WindowObjective`), and is computed on the same LR crop: the window's footprint plus
``context`` LR pixels (:func:`window_case`; the window's output on the crop is checked against the whole image's,
and the context doubled until they agree). The reference ``x̄`` is the *whole* image blurred (σ, LAM's baseline) and then
cropped, which is also LAM's baseline, so L2X, IG and LAM share their reference. Remove-and-replace percentages
are of the crop's pixels (pixels outside it cannot change the window).

Methods (:data:`COMPARED_METHODS`): ``l2x`` (:func:`~faiglib.methods.l2x.rescale_attribution`), ``lam``
(:func:`~faiglib.methods.lam.lam`, ``fold`` steps of the progressive-blur path), ``gradient_x_input``,
``ig_blur`` (straight-line IG from the blurred reference, ``ig_steps`` steps), ``random`` (a seeded normal map).
"""
from __future__ import annotations

import statistics
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from faiglib.measures.cka import CKAAccumulator, layer_cka
from faiglib.measures.costs import count_passes
from faiglib.measures.remove_replace import (ORDERS, DEFAULT_PERCENTS, REPLACEMENTS, channel_mean_reference,
                                             permuted_map, remove_and_replace)
from faiglib.measures.statistics import mean_std, paired_difference
from faiglib.methods.l2x import L2XResult, WindowObjective, rescale_attribution
from faiglib.methods.pixel_attribution import PIXEL_METHODS, attribute as pixel_attribute
from faiglib.methods.window import WindowCase, window_case
from faiglib.studies.attention import sufficient_n_steps
from faiglib.studies.lam import PAIR_ROLES, choose_windows, window_generator

__all__ = ["COMPARED_METHODS", "cost_ratios", "WindowCase", "window_case", "attribute", "remove_replace_study", "separation_from_permutation",
           "separating_replacement", "ordering_by_auc", "paired_differences",
           "l2x_examples", "l2x_where_valid", "representation_layers", "cka_patches", "cka_study", "attribution_cka"]

COMPARED_METHODS = tuple(PIXEL_METHODS)  # the pixel methods the chapter compares: all of them


def attribute(model: nn.Module, case: WindowCase, method: str, *, fold: int = 50, ig_steps: int = 50,
              sigma: float = 1.2, kernel_size: int = 9, generator: torch.Generator | None = None,
              ) -> tuple[torch.Tensor, dict[str, Any]]:
    """The ``method``'s map of ``case`` ``(C, h', w')`` float64 (crop pixels, by
    :func:`~faiglib.methods.pixel_attribution.attribute`) and its cost ``{"forward", "backward", "seconds", ...}``
    (images through ``model``; LAM's two whole-image forwards count as two), with ``relative_gap`` for the methods
    relative to the reference."""
    if method not in COMPARED_METHODS:
        raise ValueError(f"unknown method {method!r}; known: {COMPARED_METHODS}")
    with count_passes(model) as cost:
        r = pixel_attribute(method, model, case, fold=fold, ig_steps=ig_steps, sigma=sigma, kernel_size=kernel_size,
                            generator=generator)
    extra = {} if r.relative_gap is None else {"relative_gap": r.relative_gap}
    return r.map, {**cost.as_dict(), **extra}


def remove_replace_study(ws, kinds: Sequence[str] = ("blur", "noise"), methods: Sequence[str] = COMPARED_METHODS,
                         models: Sequence[str] = PAIR_ROLES, n_windows: int = 3, n_images: int | None = None,
                         window_size: int = 16, sigma: float = 1.2, fold: int = 50, ig_steps: int = 50,
                         percents: Sequence[float] = DEFAULT_PERCENTS, normalise: str = "objective",
                         replacements: Sequence[str] = REPLACEMENTS) -> dict[str, Any]:
    """Remove-and-replace AUCs of every method, order, network and input kind, over images x windows, for every
    replacement, and of every map permuted within its crop (the floor a measure must separate a map from).

    ``ws``: a :class:`~faiglib.studies.workspace.Workspace` (``analysis_set()``, ``model(which)``, ``seed``).
    Windows: :func:`~faiglib.studies.lam.choose_windows` with the LAM chapter's generators (:func:`~faiglib.studies.lam.window_generator`);
    the random map of a case and the permutation of every map are seeded with ``(seed, case number)``.
    ``replacements``: of :data:`~faiglib.measures.remove_replace.REPLACEMENTS` -- ``"mean"``, the L2X paper's
    per-channel mean of the whole LR image, and ``"blur"``, the blurred reference ``x̄``; the first is the primary
    measure. ``normalise``: see :func:`~faiglib.measures.remove_replace.remove_and_replace` (default
    ``"objective"``: the fraction of ``D(F(x))`` removed, well conditioned).

    Returns, for the primary replacement at the top level and for each under ``"by_replacement"``:
    ``{"auc": {model: {kind: {method: {order: [AUC per case]}}}}, "permuted_auc": (same, of the permuted maps),
    "curves": {model: {kind: {method: {order: [fraction list per case]}}}}, "summary": {model: {method: {order:
    mean_std over kinds x cases}}}, "objectives": {model: {kind: [[D(F(x)), D(F(replacement))] per case]}},
    "percents", "settings"}``; besides ``"costs"``: ``{method: {"forward", "backward", "seconds"}: mean_std per
    case}``, ``"relative_gap"``: ``{method: ...}`` and ``"windows"``."""
    aset = ws.analysis_set()
    missing = [k for k in kinds if k not in aset.lr]
    if missing:
        raise ValueError(f"no analysis inputs of kind {missing}; the analysis set has {list(aset.lr)}")
    unknown = [m for m in methods if m not in COMPARED_METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; known: {COMPARED_METHODS}")
    bad = [r for r in replacements if r not in REPLACEMENTS] or ([] if replacements else ["(none)"])
    if bad:
        raise ValueError(f"unknown replacement(s) {bad}; known: {REPLACEMENTS}")
    count = len(aset) if n_images is None else min(n_images, len(aset))
    windows = {}
    for i in range(count):
        g = window_generator(ws.seed, i)
        windows[aset.names[i]] = choose_windows(aset.hr[i], n_windows, window_size, g)

    def nested():
        return {which: {kind: {m: {o: [] for o in ORDERS} for m in methods} for kind in kinds} for which in models}

    per = {rep: {"auc": nested(), "permuted_auc": nested(), "curves": nested(),
                 "objectives": {which: {kind: [] for kind in kinds} for which in models}} for rep in replacements}
    costs: dict[str, list[dict]] = {m: [] for m in methods}
    gaps: dict[str, list[float]] = {m: [] for m in methods if m != "random" and m != "gradient_x_input"}
    ks: list[float] = []
    case_no = 0
    for which in models:
        model = ws.model(which)
        for kind in kinds:
            for i, name in enumerate(windows):
                for window in windows[name]:
                    case = window_case(model, aset.lr[kind][i], tuple(window), window_size, sigma=sigma)
                    objective = WindowObjective(model, case.window, window_size)
                    references = {"mean": channel_mean_reference(case.lr, case.x), "blur": case.reference}
                    for method in methods:
                        g = torch.Generator().manual_seed(1_000_003 * int(ws.seed) + case_no)
                        a, cost = attribute(model, case, method, fold=fold, ig_steps=ig_steps, sigma=sigma,
                                            generator=g)
                        if "relative_gap" in cost:
                            gaps[method].append(cost.pop("relative_gap"))
                        costs[method].append(cost)
                        shuffled = permuted_map(a, torch.Generator().manual_seed(2_000_003 * int(ws.seed) + case_no))
                        for rep in replacements:
                            for order in ORDERS:
                                c = remove_and_replace(objective, case.x, references[rep], a, order, percents,
                                                       normalise=normalise)
                                cp = remove_and_replace(objective, case.x, references[rep], shuffled, order,
                                                        percents, normalise=normalise)
                                per[rep]["auc"][which][kind][method][order].append(c.auc)
                                per[rep]["permuted_auc"][which][kind][method][order].append(cp.auc)
                                per[rep]["curves"][which][kind][method][order].append(c.fraction)
                                ks = c.percents
                    with torch.no_grad():
                        for rep in replacements:
                            ends = objective(torch.stack([case.x, references[rep]])).to(torch.float64)
                            per[rep]["objectives"][which][kind].append([float(ends[0]), float(ends[1])])
                    case_no += 1
    settings = {"kinds": list(kinds), "methods": list(methods), "models": list(models), "n_windows": n_windows,
                "n_images": count, "window_size": window_size, "sigma": sigma, "fold": fold, "ig_steps": ig_steps,
                "objective": "LAM's D (official convention)", "normalise": normalise,
                "attribution_reference": f"whole LR image blurred with sigma {sigma}, cropped",
                "replacements": list(replacements)}
    labels = {"mean": "per-channel mean of the whole LR image (the L2X paper's)",
              "blur": f"whole LR image blurred with sigma {sigma}, cropped (the attribution's reference)"}
    by_replacement = {}
    for rep in replacements:
        sub = per[rep]
        sub["summary"] = {which: {m: {o: mean_std([v for kind in kinds for v in sub["auc"][which][kind][m][o]])
                                      for o in ORDERS} for m in methods} for which in models}
        sub["percents"] = ks
        sub["settings"] = {**settings, "replacement": rep, "reference": labels[rep]}
        by_replacement[rep] = sub
    primary = by_replacement[replacements[0]]
    return {**primary, "by_replacement": by_replacement, "costs": {m: mean_std(costs[m]) for m in methods},
            "relative_gap": {m: mean_std(v) for m, v in gaps.items() if v},
            "windows": {n: [list(w) for w in ws_] for n, ws_ in windows.items()}}


def separation_from_permutation(study: Mapping[str, Any], order: str = "absolute") -> dict[str, Any]:
    """How well a remove-and-replace measure tells each map from the same map permuted within its crop: per
    network and method of (one replacement of) :func:`remove_replace_study`, the per-case differences
    ``AUC(map) − AUC(permuted)`` (``AUC(permuted) − AUC(map)`` for ``"negative"``: there lower is better), so that
    positive means the map beats its permutation. ``{network: {method: {"difference": {"mean", "std",
    "values"}, "standard_error", "n", "z"}}}``, ``z = mean / standard error`` (how many standard errors separate
    them; None with one case or no spread)."""
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; known: {ORDERS}")
    sign = -1.0 if order == "negative" else 1.0
    out: dict[str, Any] = {}
    for which, per_kind in study["auc"].items():
        out[which] = {}
        for method in next(iter(per_kind.values())):
            real = [v for k in per_kind for v in per_kind[k][method][order]]
            shuffled = [v for k in per_kind for v in study["permuted_auc"][which][k][method][order]]
            paired = paired_difference(real, shuffled, sign)
            se = paired["standard_error"]
            out[which][method] = {**paired, "z": paired["difference"]["mean"] / se if se else None}
    return out


def separating_replacement(separation: Mapping[str, Mapping[str, Any]], order: str = "absolute",
                           controls: Sequence[str] = ("random",)) -> dict[str, Any]:
    """Which remove-and-replace measure tells maps from their permutations better, for one ``order``: per
    replacement, the median ``z`` of :func:`separation_from_permutation` over networks and methods (``controls``
    left out: a random map has nothing to tell apart; a ``z`` of None counts as 0). ``separation``: ``{replacement:
    {order: separation_from_permutation(...)}}``. ``{"replacement": the one with the largest median (the first
    given on a tie), "median_z": {replacement: median}}``."""
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; known: {ORDERS}")
    median_z = {}
    for rep, per_order in separation.items():
        zs = [cell["z"] or 0.0 for per_method in per_order[order].values()
              for method, cell in per_method.items() if method not in controls]
        if not zs:
            raise ValueError(f"replacement {rep!r} has no map but the controls {tuple(controls)} to judge")
        median_z[rep] = statistics.median(zs)
    best = max(median_z, key=lambda rep: median_z[rep])  # max keeps the first of equal values
    return {"replacement": best, "median_z": median_z}


def ordering_by_auc(summary: Mapping[str, Mapping[str, Any]], order: str = "absolute",
                    decimals: int = 4) -> dict[str, Any]:
    """Methods by mean AUC of ``order`` (``summary[method][order]`` = ``{"mean", "std"}``), best first: descending
    for ``"absolute"`` / ``"positive"``, ascending for ``"negative"``. Means equal to ``decimals`` places keep the
    order of ``summary`` (float32 rounding must not reorder methods that tie). ``{"methods": [...], "means",
    "stds", "separated": [bool per neighbouring pair: means further apart than the larger of the two stds]}``."""
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; known: {ORDERS}")
    sign = 1 if order == "negative" else -1
    names = sorted(summary, key=lambda m: sign * round(summary[m][order]["mean"], decimals))
    means = [summary[m][order]["mean"] for m in names]
    stds = [summary[m][order]["std"] for m in names]
    separated = [abs(means[i] - means[i + 1]) > max(stds[i], stds[i + 1]) for i in range(len(names) - 1)]
    return {"methods": names, "means": means, "stds": stds, "separated": separated}


def paired_differences(study: Mapping[str, Any], first: str = "l2x", order: str = "absolute",
                       margin: float = 1e-3) -> dict[str, Any]:
    """``first`` against every other method on the same windows: per network of
    :func:`remove_replace_study`, the per-window AUC differences, signed so that positive means ``first`` is
    better (``AUC(first) − AUC(m)`` for ``"absolute"`` / ``"positive"``, ``AUC(m) − AUC(first)`` for
    ``"negative"``). ``{network: {method: {"difference": {"mean", "std", "values"}, "standard_error", "n",
    "resolved" (|mean| > 2 s.e. and > ``margin``), "verdict"}}}``. ``margin``: AUC differences smaller than this
    are not told apart (float32 rounding and the quadrature error of IG / LAM are of that order; without it the
    verdict between two near-identical maps would follow the sign of rounding noise). With one window there is
    no spread: never resolved."""
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; known: {ORDERS}")
    sign = -1.0 if order == "negative" else 1.0
    out: dict[str, Any] = {}
    for which, per_kind in study["auc"].items():
        kinds = list(per_kind)
        if first not in per_kind[kinds[0]]:
            raise ValueError(f"no method {first!r} in the study; it has {list(per_kind[kinds[0]])}")
        mine = [v for k in kinds for v in per_kind[k][first][order]]
        out[which] = {}
        for method in per_kind[kinds[0]]:
            if method == first:
                continue
            other = [v for k in kinds for v in per_kind[k][method][order]]
            paired = paired_difference(mine, other, sign)
            mean, se = paired["difference"]["mean"], paired["standard_error"]
            resolved = se is not None and abs(mean) > max(2 * se, margin)
            verdict = (f"{first} better" if mean > 0 else f"{method} better") if resolved else "no difference resolved"
            out[which][method] = {**paired, "resolved": resolved, "verdict": verdict}
    return out


def cost_ratios(costs: Mapping[str, Mapping[str, Mapping[str, float]]], method: str = "lam",
                against: str = "l2x") -> dict[str, float]:
    """What ``method`` costs per window against ``against`` (``costs``: the study's ``"costs"``, mean images
    forward / backward and seconds per method): ``{"backward": ratio of backward images, "wall": ratio of wall
    times}``; a zero denominator counts as one image or 1 ns."""
    return {"backward": costs[method]["backward"]["mean"] / max(costs[against]["backward"]["mean"], 1),
            "wall": costs[method]["seconds"]["mean"] / max(costs[against]["seconds"]["mean"], 1e-9)}


def l2x_examples(ws, image: int = 0, kinds: Sequence[str] = ("blur", "noise"), which: str = "target",
                 window_size: int = 16, n_windows: int = 3, sigma: float = 1.2) -> dict[str, tuple[L2XResult, WindowCase]]:
    """L2X of one network on the first window (the LAM chapter's rule) of one analysis image, per input kind:
    ``{kind: (result, case)}`` (maps over the crop)."""
    aset = ws.analysis_set()
    g = window_generator(ws.seed, image)
    window = choose_windows(aset.hr[image], n_windows, window_size, g)[0]
    model = ws.model(which)
    out = {}
    for kind in kinds:
        if kind not in aset.lr:
            raise ValueError(f"no analysis inputs of kind {kind!r}; have {list(aset.lr)}")
        case = window_case(model, aset.lr[kind][image], tuple(window), window_size, sigma=sigma)
        out[kind] = (rescale_attribution(model, case.x, case.window, window_size=window_size,
                                         reference=case.reference), case)
    return out


#: the IG steps tried after the chapter's own (only those above it) where IG stands in for a refused L2X map
IG_STEPS_LADDER = (200, 800)


def l2x_where_valid(workspaces: Mapping[str, Any], image: int = 0, kinds: Sequence[str] = ("blur", "noise"),
                    window_size: int = 16, n_windows: int = 3, sigma: float = 1.2, ig_steps: int = 50,
                    max_gap: float = 0.05, ig_ladder: Sequence[int] = IG_STEPS_LADDER) -> list[dict[str, Any]]:
    """L2X on the target of every workspace (``{label: workspace}``), on the first window of one analysis image,
    only where it is valid: captum's rescale rule is checked for ReLU-like nonlinearities, not for softmax /
    LayerNorm / GELU, and :func:`~faiglib.methods.l2x.rescale_attribution` refuses a network with modules it has no
    rule for, or a map whose sum misses the objective's change by more than 1 %. Where it refuses, the chapter's
    IG map (straight line from the blurred reference) stands in, with ``ig_steps`` steps raised along
    ``ig_ladder`` until its completeness gap is at most ``max_gap`` (the quadrature error of a path through a
    channel attention's sigmoid can be large: RCAN-32x3-g2 on noisy input, 61 % at 50 steps, 9.5 % at 200; the
    last rung stands if none gets there, and its gap is shown). One row per network and input kind:
    ``{"network", "kind", "method" ("l2x" or "ig_blur"), "relative_gap", "refused" (the reason, or None),
    "ig_steps" (None for L2X), "ig_gaps" ({steps: gap} for every number of steps tried; empty for L2X)}``."""
    rows = []
    for label, ws in workspaces.items():
        aset = ws.analysis_set()
        window = choose_windows(aset.hr[image], n_windows, window_size, window_generator(ws.seed, image))[0]
        model = ws.model("target")
        for kind in kinds:
            case = window_case(model, aset.lr[kind][image], tuple(window), window_size, sigma=sigma)
            steps, maps = None, {}
            try:
                r, refused = pixel_attribute("l2x", model, case), None
            except ValueError as err:  # the rule does not hold for this network: say so, use IG instead
                refused = str(err).splitlines()[0]

                def ig_gap(n):
                    maps[n] = pixel_attribute("ig_blur", model, case, ig_steps=n)
                    return {"ig": {"median": maps[n].relative_gap}}

                steps, _ = sufficient_n_steps(ig_gap, [ig_steps] + [n for n in ig_ladder if n > ig_steps], max_gap)
                r = maps[steps]
            rows.append({"network": label, "kind": kind, "method": r.method, "relative_gap": r.relative_gap,
                         "refused": refused, "ig_steps": steps,
                         "ig_gaps": {n: m.relative_gap for n, m in maps.items()}})
    return rows


def representation_layers(model: nn.Module) -> list[str]:
    """The layers of ``model`` whose outputs CKA compares, first to last, as the architecture declares them
    (``model.representation_layers()``: MSRResNet, RCAN, SwinIR). ValueError for a network that declares none."""
    declared = getattr(model, "representation_layers", None)
    if not callable(declared):
        raise ValueError(f"no CKA layer list for {type(model).__name__}: give the class a representation_layers() "
                         f"method returning module names, or pass layers=<function net -> module names>")
    return list(declared())


def cka_patches(ws, kinds: Sequence[str] = ("clean", "blur", "noise"), patch: int = 24, per_image: int = 4,
                batch_size: int = 8, seed: int = 0) -> list[torch.Tensor]:
    """LR patches ``patch x patch`` of the analysis inputs of ``kinds`` at seeded positions (the same positions
    for every kind), shuffled by a seeded permutation into batches of ``batch_size`` (the last partial batch is
    dropped: the unbiased HSIC needs equal, >= 4 samples)."""
    aset = ws.analysis_set()
    g = torch.Generator().manual_seed(seed)
    items = []
    for i in range(len(aset)):
        h, w = aset.lr[kinds[0]][i].shape[-2:]
        if min(h, w) < patch:
            raise ValueError(f"analysis image {i} ({h}x{w}) is smaller than the {patch}-pixel patches")
        ys = torch.randint(0, h - patch + 1, (per_image,), generator=g)
        xs = torch.randint(0, w - patch + 1, (per_image,), generator=g)
        for kind in kinds:
            for y, x in zip(ys.tolist(), xs.tolist()):
                items.append(aset.lr[kind][i][:, y: y + patch, x: x + patch])
    perm = torch.randperm(len(items), generator=g).tolist()
    stacked = torch.stack([items[j] for j in perm])
    n = (len(items) // batch_size) * batch_size
    if n == 0:
        raise ValueError(f"{len(items)} patches are fewer than one batch of {batch_size}")
    return list(stacked[:n].split(batch_size))


def cka_study(pairs: Mapping[str, tuple[nn.Module, nn.Module]], batches: Sequence[torch.Tensor],
              layers=representation_layers, unbiased: bool = True) -> dict[str, dict[str, Any]]:
    """:func:`~faiglib.measures.cka.layer_cka` for every named pair of networks ``{name: (net_a, net_b)}`` on the
    same input ``batches``; ``layers``: a function ``net -> [module names]``. Returns ``{name: {"matrix": nested
    list, "layers_a", "layers_b", "diagonal": [CKA of same-named layers] (two networks of one class; else empty),
    "batches", "samples"}}``."""
    out = {}
    for name, (a, b) in pairs.items():
        r = layer_cka(a, layers(a), b, layers(b), batches, unbiased=unbiased)
        m = r["matrix"]
        # same-named layers correspond only within one architecture (RCAN's body.0 is not MSRResNet's body.0)
        diag = [float(m[i, r["layers_b"].index(n)]) for i, n in enumerate(r["layers_a"])
                if n in r["layers_b"]] if type(a) is type(b) else []
        out[name] = {"matrix": m.tolist(), "layers_a": r["layers_a"], "layers_b": r["layers_b"], "diagonal": diag,
                     "batches": r["batches"], "samples": r["samples"], "unbiased": unbiased}
    return out


def attribution_cka(ws, models: Mapping[str, nn.Module], kinds: Sequence[str] = ("blur", "noise"),
                    n_windows: int = 3, n_images: int | None = None, window_size: int = 16, sigma: float = 1.2,
                    part: str = "positive", unbiased: bool = True) -> dict[str, Any]:
    """The seed's CKA (Sec. 4.3): similarity of the L2X *attributions* of several networks, ``{name: model}``, on
    the same samples -- every (input kind, analysis image, window) of :func:`remove_replace_study`'s rule.
    A sample's features are its map's ``part`` (``"positive"`` as in the seed, ``"negative"`` or ``"map"``),
    placed on the whole LR image's grid (zeros outside the crop), flattened; images of different sizes share the
    largest image's grid (top-left aligned, zeros beyond an image) so that a flat index is one pixel position
    for every sample. One batch of all samples
    (``n >= 4`` for the unbiased HSIC). Returns ``{"names", "matrix" (nested list, models x models),
    "samples", "part"}``."""
    if part not in ("positive", "negative", "map"):
        raise ValueError(f"part must be 'positive', 'negative' or 'map', got {part!r}")
    if len(models) < 2:
        raise ValueError("give at least two networks to compare")
    aset = ws.analysis_set()
    count = len(aset) if n_images is None else min(n_images, len(aset))
    windows = [(i, w) for i in range(count)
               for w in choose_windows(aset.hr[i], n_windows, window_size,
                                       window_generator(ws.seed, i))]
    channels = aset.lr[kinds[0]][0].shape[0]
    height = max(aset.lr[k][i].shape[-2] for k in kinds for i, _ in windows)
    width = max(aset.lr[k][i].shape[-1] for k in kinds for i, _ in windows)
    features = {}
    for name, model in models.items():
        rows = []
        for kind in kinds:
            for i, window in windows:
                lr = aset.lr[kind][i]
                case = window_case(model, lr, tuple(window), window_size, sigma=sigma)
                r = rescale_attribution(model, case.x, case.window, window_size=window_size,
                                        reference=case.reference)
                grid = torch.zeros(channels, height, width, dtype=torch.float64)
                r0, r1, c0, c1 = case.box
                grid[:, r0:r1, c0:c1] = getattr(r, part)
                rows.append(grid.flatten())
        features[name] = torch.stack(rows)
    names = list(models)
    acc = CKAAccumulator(len(names), len(names), unbiased)
    acc.update([features[n] for n in names], [features[n] for n in names])
    return {"names": names, "matrix": acc.matrix().tolist(), "samples": len(windows) * len(kinds), "part": part}

"""Masking study (paper Sec. 5.2.1, Table 2, Fig. 2-3): mask the top filters of each selection method
(:func:`faiglib.core.edits.masked`) and measure the output change
(:func:`faiglib.measures.gradient_maps.output_difference`, MSE x 1e3 of gradient maps).

:func:`masking_effects` works on any model; :func:`method_masking`, :func:`masking_table` and the example grids
take a :class:`~faiglib.studies.workspace.Workspace`.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import torch

from faiglib.core.checkpoint import atomic_write_text, load_json
from faiglib.core.edits import in_evaluation_mode, masked
from faiglib.core.ranking import check_proportion
from faiglib.methods.baselines import IG_VERSION
from faiglib.methods.faig import FAIG_VERSION
from faiglib.core.units import FilterIndex
from faiglib.measures.yardstick import median_iqr
from faiglib.measures.gradient_maps import output_difference
from faiglib.measures.verdicts import ordering_verdict, ratio_seed_verdict
from faiglib.studies.claims import CLAIMED_CELLS, Claim, paper_ratio, seeds_text
from faiglib.studies.workspace import FUNCTIONS, SELECTION_METHODS

__all__ = ["CLAIMS", "masking_ratios", "discriminativeness", "random_summary", "reference_outputs", "masking_effects", "masking_effect", "MASKING_VERSION", "yardstick_masking", "yardstick_effects", "method_masking",
           "masking_table",
           "example_outputs", "method_example_outputs"]


@torch.no_grad()
@in_evaluation_mode
def reference_outputs(model: torch.nn.Module, analysis, kinds=("blur", "noise")) -> dict[str, list[torch.Tensor]]:
    """The unmasked model's outputs ``{kind: [(1, 3, H, W), …]}`` on the analysis inputs of each kind."""
    device = next(model.parameters()).device
    return {k: [model(x.unsqueeze(0).to(device)) for x in analysis.lr[k]] for k in kinds}


@torch.no_grad()
@in_evaluation_mode
def masking_effects(model: torch.nn.Module, baseline_state: Mapping[str, torch.Tensor], filters: torch.Tensor,
                    analysis, kinds=("blur", "noise"), channels: Sequence[str] = ("gray",),
                    index: FilterIndex | None = None,
                    reference: Mapping[str, list[torch.Tensor]] | None = None) -> dict[str, dict[str, torch.Tensor]]:
    """Output difference (:func:`output_difference`) caused by masking ``filters``, for several channels
    from one set of forward passes: ``{channel: {kind: (n_images,)}}``.

    ``reference``: the unmasked outputs from :func:`reference_outputs`, to pass when masking many
    selections of one model.
    """
    index = index or FilterIndex(model)
    device = next(model.parameters()).device
    reference = reference if reference is not None else reference_outputs(model, analysis, kinds)
    values: dict[str, dict[str, list[torch.Tensor]]] = {c: {k: [] for k in kinds} for c in channels}
    with masked(model, baseline_state, filters, index):
        for k in kinds:
            for x, r in zip(analysis.lr[k], reference[k]):
                y = model(x.unsqueeze(0).to(device))
                for c in channels:
                    values[c][k].append(output_difference(y, r, channel=c).cpu())
    return {c: {k: torch.cat(v) for k, v in per_kind.items()} for c, per_kind in values.items()}


def masking_effect(model: torch.nn.Module, baseline_state: Mapping[str, torch.Tensor], filters: torch.Tensor,
                   analysis, kinds=("blur", "noise"), channel: str = "gray",
                   index: FilterIndex | None = None,
                   reference: Mapping[str, list[torch.Tensor]] | None = None) -> dict[str, torch.Tensor]:
    """Output difference (MSE x 1e3 of gradient maps, :func:`output_difference`) caused by masking ``filters``.

    Returns ``{kind: (n_images,)}`` -- per-image values for inputs of each degradation kind. ``reference``:
    the unmasked outputs from :func:`reference_outputs`, to pass when masking many selections of one model.
    """
    return masking_effects(model, baseline_state, filters, analysis, kinds, (channel,), index, reference)[channel]


def random_summary(draw_effects: torch.Tensor) -> dict[str, float]:
    """The random cells of a masking table from the effects of the random draws ``(n_draws,)``: ``random``
    (mean) and ``random_std`` (kept for older readers), and the yardstick to divide by, ``random_median`` with
    its quartiles ``random_q1`` / ``random_q3``."""
    values = draw_effects.double().flatten()
    robust = median_iqr(values.tolist())  # the yardstick's one definition of median and quartiles
    return {"random": float(values.mean()), "random_std": float(values.std()) if len(values) > 1 else 0.0,
            "random_median": robust["median"], "random_q1": robust["q1"], "random_q3": robust["q3"]}


#: Bump when a change to the masking study changes its numbers: stored masking tables are recomputed.
MASKING_VERSION = 1


def yardstick_masking(ws, proportions=None, channels=("gray", "blue"), methods=tuple(SELECTION_METHODS),
                      draws: int | None = None, batch: int | None = None) -> dict[str, dict]:
    """:func:`method_masking` and the effect of every random draw: ``{"table": method_masking's table,
    "draws": {channel: {"mask_1pct": {"deblur_filters": {"blur_input": [effect of draw 1, …], …}, …}, …}}}``
    (mean output difference over the analysis images, one number per draw).

    ``draws``: how many random selections (default ``profile.yardstick_draws``; draw ``r`` is
    :meth:`~faiglib.studies.workspace.Workspace.random_rankings`' ``r``-th, so the first draws of a longer run
    are those of a shorter one). A random order is the same for both functions, so each random set is masked
    once and its effect shared by the deblurring and the denoising rows.

    Stored (entry ``masking``) under the pair's keys, the analysis set's key, the rankings' settings (N, rule,
    precision; the seed draws the random sets) and the table's own: computed once -- one selection at a time,
    or ``batch`` selections per vectorised call (:func:`~faiglib.studies.batched_masking.batched_yardstick_masking`,
    e.g. on a GPU) -- then read by every chapter that asks for the same table.
    """
    p = ws.profile
    proportions = tuple(p.curve_proportions if proportions is None else proportions)
    if not proportions:
        raise ValueError("no proportions to mask: pass e.g. (0.01, 0.05), or None for the profile's")
    for q in proportions:
        check_proportion(q)
    draws = p.yardstick_draws if draws is None else int(draws)
    if "random" in methods and draws < 1:
        raise ValueError(f"the random yardstick needs at least one draw, got {draws}; set yardstick_draws >= 1")
    # the rankings' own versions too: a changed FAIG or IG computation must not meet a table of the old rankings
    parts = {"version": MASKING_VERSION, "faig_version": FAIG_VERSION, "ig_version": IG_VERSION,
             "pair": ws.pair_keys(), "analysis": ws.analysis_digest(),
             "n_steps": p.n_steps, "method": p.method, "precision": p.precision, "seed": ws.seed,
             "proportions": list(proportions), "channels": list(channels), "methods": list(methods),
             "draws": draws if "random" in methods else 0}

    return ws.cached("masking", parts, lambda: yardstick_effects(ws, proportions, channels, methods, draws, batch),
                     lambda result, path: atomic_write_text(json.dumps(result) + "\n", path),
                     load_json, filename="result.json")


def yardstick_effects(ws, proportions, channels, methods, draws: int, batch: int | None = None) -> dict[str, dict]:
    """What :func:`yardstick_masking` stores, computed (arguments as resolved there). ``batch``: ``None`` masks
    one selection at a time (a random set once for both functions); a number masks that many selections per
    vectorised call (:func:`~faiglib.studies.batched_masking.batched_masking_effects`, for GPUs)."""
    kinds = tuple(FUNCTIONS)
    model = ws.model("target")
    base = {k: v.to(ws.device) for k, v in ws.states()[0].items()}
    aset = ws.analysis_set()
    reference = reference_outputs(model, aset, kinds)
    ranked = {m: ws.ranking(m) for m in methods if m != "random"}
    randoms = ws.random_rankings(draws) if "random" in methods else []
    memo: dict[tuple[int, ...], dict] = {}  # a random set is masked once for both functions

    def effects_of(selections):
        if batch is not None:
            from faiglib.studies.batched_masking import batched_masking_effects

            return batched_masking_effects(model, base, selections, aset, kinds, channels, ws.filter_index,
                                           reference, batch)
        out = []
        for filters in selections:
            key = tuple(sorted(filters.tolist()))
            if key not in memo:
                memo[key] = masking_effects(model, base, filters, aset, kinds, channels, ws.filter_index, reference)
            out.append(memo[key])
        return out

    table: dict[str, dict] = {c: {} for c in channels}
    drawn_effects: dict[str, dict] = {c: {} for c in channels}
    for p in proportions:
        mask = f"mask_{p * 100:g}pct"
        for c in channels:
            table[c][mask] = {}
            drawn_effects[c][mask] = {}
        memo.clear()
        for d in kinds:
            effects = effects_of([r.top(d, p) for r in ranked.values()] + [r.top(d, p) for r in randoms])
            found, drawn = dict(zip(ranked, effects[: len(ranked)])), effects[len(ranked):]
            for c in channels:
                per_input: dict[str, dict] = {}
                per_input_draws: dict[str, list[float]] = {}
                for k in kinds:
                    row = {m: float(e[c][k].mean()) for m, e in found.items()}
                    if drawn:
                        values = torch.stack([e[c][k].mean() for e in drawn])
                        row.update(random_summary(values))
                        per_input_draws[f"{k}_input"] = [float(v) for v in values.double()]
                    per_input[f"{k}_input"] = row
                table[c][mask][f"{FUNCTIONS[d]}_filters"] = per_input
                drawn_effects[c][mask][f"{FUNCTIONS[d]}_filters"] = per_input_draws
    return {"table": table, "draws": drawn_effects}


def method_masking(ws, proportions=None, channels=("gray", "blue"), methods=tuple(SELECTION_METHODS),
                   draws: int | None = None) -> dict[str, dict]:
    """Mean output difference when the top filters of each selection method are masked (Table 2, Fig. 3).

    ``{channel: {"mask_1pct": {"deblur_filters": {"blur_input": {"faig": x, "ig": …, "abs_change": …,
    "random": m, "random_std": s, "random_median": …, "random_q1": …, "random_q3": …}, "noise_input": {...}},
    "denoise_filters": {...}}, ...}}``: values are means over the analysis images; ``random`` is the mean over
    ``draws`` random draws (default ``profile.yardstick_draws``), ``random_std`` their standard deviation,
    ``random_median``/``random_q1``/``random_q3`` their quartiles (the yardstick to divide by:
    :func:`faiglib.measures.yardstick.ratio_to_random`). Every channel comes from the same forward passes.
    Default proportions: ``profile.curve_proportions``. The draws themselves: :func:`yardstick_masking`.
    """
    return yardstick_masking(ws, proportions, channels, methods, draws)["table"]


def masking_table(ws, proportions=None, channel: str = "gray") -> dict[str, dict]:
    """FAIG versus random filters: :meth:`method_masking` for one channel and the profile's
    ``mask_proportions``: ``{"mask_1pct": {"deblur_filters": {"blur_input": {"faig", "random",
    "random_std", "random_median", "random_q1", "random_q3"}, ...}, ...}, ...}``."""
    proportions = ws.profile.mask_proportions if proportions is None else proportions
    return method_masking(ws, proportions, (channel,), ("faig", "random"))[channel]


@torch.no_grad()
def _masked_rows(ws, image: int, columns) -> dict[str, dict[str, torch.Tensor]]:
    """For each degraded input: input, target output, ``columns(kind)`` = ``{label: filters}`` masked, GT."""
    model = ws.model("target")
    base, _ = ws.states()
    aset = ws.analysis_set()
    out: dict[str, dict[str, torch.Tensor]] = {}
    for kind in FUNCTIONS:
        x = aset.lr[kind][image].unsqueeze(0).to(ws.device)
        row = {"input": aset.lr[kind][image], "target output": model(x)[0].clamp(0, 1).cpu()}
        for label, filters in columns(kind).items():
            with masked(model, base, filters, ws.filter_index):
                row[label] = model(x)[0].clamp(0, 1).cpu()
        row["ground truth"] = aset.hr[image]
        out[kind] = row
    return out


def example_outputs(ws, proportion: float = 0.01, image: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Images for a Fig. 2-style grid: for each degraded input, the input, the target's output and the
    outputs with the top ``proportion`` deblurring / denoising filters masked. Tensors ``(3, H, W)``."""
    scores = ws.scores()
    return _masked_rows(ws, image, lambda kind: {f"{FUNCTIONS[d]} filters masked": scores.top(d, proportion)
                                                  for d in FUNCTIONS})


def method_example_outputs(ws, proportion: float = 0.01, image: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Images for a Fig. 3-style grid: for the blurry (noisy) input, the outputs with the top ``proportion``
    deblurring (denoising) filters of each method of :data:`SELECTION_METHODS` masked. Tensors ``(3, H, W)``."""
    rankings = ws.rankings()
    return _masked_rows(ws, image, lambda kind: {f"{SELECTION_METHODS[m]} masked": r.top(kind, proportion)
                                                  for m, r in rankings.items()})


def masking_ratios(one: Mapping[str, Any]) -> dict[str, float]:
    """The masking chapter's ratios at one proportion (``one``: ``masking_table(...)["mask_1pct"]``): FAIG /
    random on the input each set is for, and discriminativeness -- masking the *other* function's filters
    against masking the right ones, on each input (small: the sets are specific). The random yardstick is the
    median of the draws (``random_median``) where the cell has it, else their mean (``random``)."""
    def cell(filters, inp, method):
        return float(one[filters][inp][method])

    def random(filters, inp):
        c = one[filters][inp]
        return float(c["random_median"] if "random_median" in c else c["random"])

    return {
        "deblur_filters_blur_input_faig_over_random": cell("deblur_filters", "blur_input", "faig")
        / random("deblur_filters", "blur_input"),
        "denoise_filters_noise_input_faig_over_random": cell("denoise_filters", "noise_input", "faig")
        / random("denoise_filters", "noise_input"),
        "noise_input_deblur_over_denoise_masking": cell("deblur_filters", "noise_input", "faig")
        / cell("denoise_filters", "noise_input", "faig"),
        "blur_input_denoise_over_deblur_masking": cell("denoise_filters", "blur_input", "faig")
        / cell("deblur_filters", "blur_input", "faig"),
    }


def discriminativeness(tables: Sequence[Mapping[str, Any]], metric: str = "gray") -> dict[str, dict[str, Any]]:
    """Discriminativeness of FAIG's sets at 1 % over seeds: the two "other set ÷ right set" ratios of
    :func:`masking_ratios` per seed (``tables``: one :func:`method_masking`-shaped table per seed, with
    ``{metric: {"mask_1pct": ...}}``), as mean ± std: ``{"noise_input_deblur_over_denoise_masking": {"mean",
    "std", "values"}, "blur_input_denoise_over_deblur_masking": {...}}``. Both below 1: each set is specific."""
    from faiglib.measures.statistics import mean_std

    return mean_std([{k: v for k, v in masking_ratios(t[metric]["mask_1pct"]).items() if k.endswith("_masking")}
                     for t in tables])


def _ordering_claim(filters: str, inp: str, label: str) -> Claim:
    order = ["faig", "ig", "abs_change", "random"]

    def measure(found, network):
        o = found.get("orderings_1pct", {}).get(network, {}).get("gray", {}).get(f"{filters}/{inp}")
        if not o:
            return None
        return (" > ".join(o["by_mean"]) + ("" if o["same_in_every_seed"] else " (not in every seed)"),
                ordering_verdict(o["by_mean"], o["per_seed"], order))

    return Claim(f"FAIG > IG > |θ−θ̄| > random, 1 %, {label} input", "Table 2", " > ".join(order),
                 "ordering_verdict (every seed)", "table2", measure)


def _ratio_claim(filters: str, inp: str, label: str) -> Claim:
    paper = paper_ratio(filters, inp)

    def measure(found, network):
        y = found.get("yardstick", {}).get(network, {}).get("gray", {}).get("mask_1pct", {})
        cell = found.get("masking", {}).get(network, {}).get("gray", {}).get("mask_1pct", {})
        if y:
            r = y[filters][inp]["faig_over_random"]
            values = r.get("values", [r["ratio"]])
            return (f"{r['ratio']:.3g} [{r['low']:.3g}, {r['high']:.3g}] (median yardstick; {seeds_text(values)})",
                    ratio_seed_verdict(values, paper))
        if cell:  # results from before the yardstick: the mean of a few random draws
            c = cell[filters][inp]
            values = [f / r for f, r in zip(c["faig"]["values"], c["random"]["values"])]
            return (f"{sum(values) / len(values):.3g} (mean of few draws, no interval; {seeds_text(values)})",
                    ratio_seed_verdict(values, paper))
        return None

    return Claim(f"FAIG / random, 1 %, {label} input", "Table 2", f"{paper:.3g}",
                 "seed_verdict(log per-seed ratios, log paper)", "table2", measure)


#: the claims this study measures (Table 2, in the baselines chapter), for the scorecard
CLAIMS = tuple(claim for cell in CLAIMED_CELLS for claim in (_ordering_claim(*cell), _ratio_claim(*cell)))

"""Attention networks: does FAIG find a small set of units per degradation beyond plain CNNs?

The paper (Sec. 5.1, 5.5) analysed only SRCNN-style and SRResNet networks, whose units are 3x3 filters, and left
attention modules open. Here the blind pair (baseline, target) of an RCAN-style and a SwinIR-style network is
trained by the MSRResNet recipe (:class:`~faiglib.studies.workspace.Workspace` with ``arch`` one of
``profile.attention_networks``; the SwinIR-style target of the cpu and dev profiles gets 12000 target iterations,
its ``NetSpec.training``, without which it never learned to deblur); FAIG attributes the loss change to the units of
:mod:`faiglib.core.units` (conv slices, Linear rows, one unit per head of each relative-position-bias table), and
the same measures as for MSRResNet are taken:

* :func:`network_summary` -- per network: unit counts by component, FAIG completeness, PSNR of the pair, the
  masking table of FAIG's top units against the random yardstick (median and IQR of many random draws, FAIG /
  median(random) with a bootstrap interval), discriminativeness in both directions, and where the top units sit
  (:func:`unit_locations`);
* :func:`small_set_verdict` -- the answer for one network, by a stated rule (the networks side by side:
  :func:`faiglib.report.attention_tables.comparison_markdown`).

A unit's score is the sum of ``|FAIG|`` over its weights (the paper's rule for 3x3 filters). With units of
different sizes -- a Linear row of ``qkv`` has as many weights as its input width, a channel-attention 1x1
conv unit one weight, a 3x3 filter nine -- larger units have more terms in their sum; :func:`unit_locations`
reports the mean size of the selected units against that of all units, so that bias is visible, not hidden.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping, Sequence

import torch

from faiglib.core.units import FilterIndex, UnitLayer

__all__ = ["COMPONENTS", "PROPORTIONS", "CHANNEL", "N_STEPS_LADDER", "component_of", "unit_components",
           "unit_locations", "completeness_gaps", "sufficient_n_steps", "complete_workspace", "network_summary",
           "small_set_verdict", "SEED_MEASURES", "over_seeds"]

#: Where a unit sits: plain convolutions (including the upsampler), attention (channel attention's 1x1 convs,
#: q/k/v and output projections, relative-position-bias heads), the transformer MLPs.
COMPONENTS = ("conv", "attention", "mlp")

#: The study's masked proportions of the units and its gradient-map channel ("gray": the paper's gray images).
#: The chapter's ``None`` parameters and ``tools/fill_store.py attention`` both read them, so a store filled in
#: the background holds exactly the entries the chapter asks for.
PROPORTIONS = (0.01, 0.05)
CHANNEL = "gray"


def component_of(layer: UnitLayer) -> str:
    """The component of a unit layer, from its module name and kind: ``"attention"`` for the relative-position
    tables (kind ``head``/``qkv_head``), anything inside a Swin ``attn`` module and RCAN's channel attention
    (``...rcab.3.attention.*``); ``"mlp"`` inside a transformer MLP (``.mlp.``); else ``"conv"``."""
    name = f".{layer.name}."
    if layer.kind in ("head", "qkv_head") or ".attn." in name or ".attention." in name:
        return "attention"
    if ".mlp." in name:
        return "mlp"
    return "conv"


def unit_components(index: FilterIndex) -> list[str]:
    """The component (:data:`COMPONENTS`) of every unit, in flat-index order (``len(index)`` entries)."""
    return [c for layer in index.layers for c in [component_of(layer)] * layer.count]


def _unit_sizes(index: FilterIndex) -> torch.Tensor:
    """Weights per unit, ``(len(index),)`` float64."""
    return torch.cat([torch.full((layer.count,), math.prod(layer.shape) / layer.count, dtype=torch.float64)
                      for layer in index.layers])


def unit_locations(index: FilterIndex, selected: torch.Tensor) -> dict[str, Any]:
    """Where the units ``selected`` (flat indices) sit, against where all units sit (what a random set of the
    same size would give on average):

    ``{"n", "share": {component: fraction of the selected}, "chance": {component: fraction of all units},
    "depth": mean relative depth of the selected units' layers (0 first layer, 1 last, module order),
    "depth_chance": the same over all units, "size": mean weights per selected unit, "size_chance": over all
    units, "layers": {layer name: count} of the selected}``. Fractions in [0, 1]."""
    flat = torch.as_tensor(selected, dtype=torch.long).flatten()
    if flat.numel() == 0:
        raise ValueError("unit_locations needs at least one selected unit")
    index.selection(flat)  # range check: IndexError outside [0, len(index))
    comps = unit_components(index)
    depth = index.relative_depth().double()
    sizes = _unit_sizes(index)
    picked = [comps[i] for i in flat.tolist()]
    layer_ids = index.layer_ids(flat).tolist()
    layers: dict[str, int] = {}
    for i in layer_ids:
        layers[index.layers[i].name] = layers.get(index.layers[i].name, 0) + 1
    return {
        "n": int(flat.numel()),
        "share": {c: picked.count(c) / len(picked) for c in COMPONENTS},
        "chance": {c: comps.count(c) / len(comps) for c in COMPONENTS},
        "depth": float(depth[flat].mean()), "depth_chance": float(depth.mean()),
        "size": float(sizes[flat].mean()), "size_chance": float(sizes.mean()),
        "layers": layers,
    }


def completeness_gaps(scores) -> dict[str, dict[str, float]]:
    """FAIG's completeness per degradation over the analysis images of a
    :class:`~faiglib.methods.faig.DiscriminativeFilters`: ``|Σ FAIG − ΔL| / |ΔL|`` per image, as
    ``{degradation: {"median", "max"}}`` (the gap of the profile's quadrature, N and rule)."""
    out = {}
    for d in scores.degradations:
        change = (scores.losses[d][:, 1] - scores.losses[d][:, 0]).abs().clamp_min(1e-30)
        gap = scores.deltas[d].abs() / change
        out[d] = {"median": float(gap.median()), "max": float(gap.max())}
    return out


#: the N tried after the profile's own, in order (only those above it), until FAIG's median completeness gap is at
#: most ``profile.max_completeness_gap`` (a 33 % gap at N = 20, as the first SwinIR-style target had, leaves a
#: third of the loss change unattributed).
N_STEPS_LADDER = (50, 100, 200)

def sufficient_n_steps(gaps_at: Callable[[int], Mapping[str, Mapping[str, float]]], n_steps: Sequence[int],
                       max_gap: float) -> tuple[int, dict[int, Any]]:
    """The first N of ``n_steps`` whose median completeness gap is at most ``max_gap`` for every degradation,
    and ``{N: gaps_at(N)}`` for every N tried (``gaps_at``: N -> :func:`completeness_gaps`). If none gets there:
    the last N (its gap is then above ``max_gap``, and shown as such)."""
    if not n_steps:
        raise ValueError("n_steps must name at least one N")
    if not max_gap > 0:
        raise ValueError(f"max_gap must be > 0, got {max_gap!r}")
    tried: dict[int, Any] = {}
    for n in n_steps:
        tried[n] = gaps_at(n)
        if all(g["median"] <= max_gap for g in tried[n].values()):
            break
    return n, tried


def complete_workspace(ws, max_gap: float | None = None, ladder: Sequence[int] = N_STEPS_LADDER):
    """``(workspace, {N: gaps})``: ``ws`` with its profile's N raised along ``ladder`` (:func:`sufficient_n_steps`)
    until FAIG's median completeness gap is at most ``max_gap`` (default: ``profile.max_completeness_gap``; where
    that is None too, no bound). ``ladder=()`` keeps the profile's N. Only N changes, so the pair and the analysis
    set are the same store entries."""
    max_gap = ws.profile.max_completeness_gap if max_gap is None else max_gap
    n0 = ws.profile.n_steps
    if max_gap is None:  # the profile asks for no bound: its N as it is
        max_gap, ladder = math.inf, ()
    candidates = [n0] + [n for n in ladder if n > n0]
    n, tried = sufficient_n_steps(lambda k: completeness_gaps(ws.scores(n_steps=k)), candidates, max_gap)
    if n == n0:
        return ws, tried
    return dataclasses.replace(ws, profile=ws.profile.with_(n_steps=n), _cache={}), tried


def network_summary(ws, proportions: Sequence[float] | None = None, channel: str = CHANNEL,
                    draws: int | None = None, location_proportion: float = 0.01,
                    max_gap: float | None = None, ladder: Sequence[int] = N_STEPS_LADDER) -> dict[str, Any]:
    """Everything the chapter reports for one trained pair (``ws``: a Workspace), JSON-ready.

    ``proportions``: the masked proportions (default ``profile.mask_proportions``; must include
    ``location_proportion``); ``draws``: random draws (default ``profile.yardstick_draws``). Masking tables and
    FAIG scores come from the workspace's store (:func:`~faiglib.studies.masking.yardstick_masking`, keyed by
    the same arguments as the masking chapter's, so one computed there is reused). FAIG's N is the profile's,
    raised along ``ladder`` where its median completeness gap exceeds ``max_gap`` (:func:`complete_workspace`;
    default the profile's ``max_completeness_gap``); the masking uses the scores at that N.

    Returns ``{"label", "arch", "n_units", "units_by_component", "completeness", "psnr", "masking" (the
    table), "yardstick" (:func:`~faiglib.measures.yardstick.yardstick_table`), "ratios" ({mask: masking_ratios}),
    "locations" ({"deblur", "denoise"}: :func:`unit_locations` of the top ``location_proportion``), "draws",
    "n_steps" (the N used), "completeness_by_n" ({N: gaps} of every N tried)}``.
    """
    from faiglib.measures.yardstick import yardstick_table
    from faiglib.studies.masking import masking_ratios
    from faiglib.studies.masking import yardstick_masking
    from faiglib.studies.workspace import FUNCTIONS

    proportions = tuple(ws.profile.mask_proportions if proportions is None else proportions)
    mask_key = f"mask_{location_proportion * 100:g}pct"
    if location_proportion not in proportions:
        raise ValueError(f"location_proportion {location_proportion} must be one of the masked proportions "
                         f"{proportions}")
    ws, tried = complete_workspace(ws, max_gap, ladder)
    index = ws.filter_index
    comps = unit_components(index)
    scores = ws.scores()
    masked = yardstick_masking(ws, proportions, (channel,), ("faig", "random"), draws)
    table, drawn = masked["table"][channel], masked["draws"][channel]
    return {
        "label": ws.spec.label, "arch": ws.spec.arch, "seed": ws.seed, "n_units": len(index),
        "units_by_component": {c: comps.count(c) for c in COMPONENTS},
        "completeness": tried[ws.profile.n_steps],
        "psnr": ws.psnr_table(),
        "masking": table,
        "yardstick": yardstick_table(table, drawn, ("faig",), seed=ws.seed),
        "ratios": {mask: masking_ratios(entry) for mask, entry in table.items()},
        "locations": {FUNCTIONS[d]: unit_locations(index, scores.top(d, location_proportion)) for d in FUNCTIONS},
        "location_mask": mask_key, "channel": channel,
        "draws": len(next(iter(next(iter(drawn[mask_key].values())).values()))),
        "n_steps": ws.profile.n_steps, "completeness_by_n": {str(n): g for n, g in tried.items()},
    }


def small_set_verdict(summary: Mapping[str, Any], mask: str = "mask_1pct") -> dict[str, Any]:
    """Does the network hold a small set of units per degradation (at ``mask``)? The rule, stated:

    * **effective**: for both functions, masking FAIG's top units changes the output on the input that needs
      them more than random units beyond the yardstick's noise -- the lower end of the 95 % bootstrap interval
      of FAIG / median(random) is above 1;
    * **specific**: in both directions, masking the *other* function's set changes that input less than masking
      the right set (both discriminativeness ratios below 1).

    ``{"effective", "specific", "answer": "yes" | "effective, not specific" | "specific, not effective" | "no",
    "ratios": {...the four numbers and the intervals' lower ends}}``."""
    y = summary["yardstick"][mask]
    r = summary["ratios"][mask]
    deblur = y["deblur_filters"]["blur_input"]["faig_over_random"]
    denoise = y["denoise_filters"]["noise_input"]["faig_over_random"]
    effective = deblur["low"] > 1 and denoise["low"] > 1
    specific = r["noise_input_deblur_over_denoise_masking"] < 1 and r["blur_input_denoise_over_deblur_masking"] < 1
    answer = {(True, True): "yes", (True, False): "effective, not specific", (False, True): "specific, not effective",
              (False, False): "no"}[(effective, specific)]
    return {"effective": effective, "specific": specific, "answer": answer,
            "ratios": {"deblur_faig_over_random": deblur["ratio"], "deblur_low": deblur["low"],
                       "denoise_faig_over_random": denoise["ratio"], "denoise_low": denoise["low"],
                       "noise_input_deblur_over_denoise": r["noise_input_deblur_over_denoise_masking"],
                       "blur_input_denoise_over_deblur": r["blur_input_denoise_over_deblur_masking"]}}


def _ratio(mask: str, filters: str, inp: str) -> Callable[[Mapping[str, Any]], float]:
    return lambda s: s["yardstick"][mask][filters][inp]["faig_over_random"]["ratio"]


#: what :func:`over_seeds` summarises per network: ``{key: (label, value of one network_summary)}``.
SEED_MEASURES: dict[str, tuple[str, Callable[[Mapping[str, Any]], float]]] = {
    "gain_blur_db": ("target − baseline, blurry input (dB)",
                     lambda s: s["psnr"]["blur"]["target"] - s["psnr"]["blur"]["baseline"]),
    "gain_noise_db": ("target − baseline, noisy input (dB)",
                      lambda s: s["psnr"]["noise"]["target"] - s["psnr"]["noise"]["baseline"]),
    "deblur_over_random_1pct": ("FAIG / random at 1 %, deblur set, blurry input",
                                _ratio("mask_1pct", "deblur_filters", "blur_input")),
    "denoise_over_random_1pct": ("FAIG / random at 1 %, denoise set, noisy input",
                                 _ratio("mask_1pct", "denoise_filters", "noise_input")),
    "deblur_over_random_5pct": ("FAIG / random at 5 %, deblur set, blurry input",
                                _ratio("mask_5pct", "deblur_filters", "blur_input")),
    "denoise_over_random_5pct": ("FAIG / random at 5 %, denoise set, noisy input",
                                 _ratio("mask_5pct", "denoise_filters", "noise_input")),
    "noise_input_deblur_over_denoise": ("noisy input: deblur / denoise masking at 1 %",
                                        lambda s: s["ratios"]["mask_1pct"]["noise_input_deblur_over_denoise_masking"]),
    "blur_input_denoise_over_deblur": ("blurry input: denoise / deblur masking at 1 %",
                                       lambda s: s["ratios"]["mask_1pct"]["blur_input_denoise_over_deblur_masking"]),
    "attention_share_deblur": ("share of the top-1 % deblur units in attention",
                               lambda s: s["locations"]["deblur"]["share"]["attention"]),
    "attention_share_denoise": ("share of the top-1 % denoise units in attention",
                                lambda s: s["locations"]["denoise"]["share"]["attention"]),
}


def over_seeds(by_seed: Mapping[int, Mapping[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """The chapter's networks over independently trained pairs: ``by_seed`` is ``{seed: {label: network_summary}}``
    (every seed with the same networks). One row per network, in the first seed's order: ``{"network", "seeds",
    "summary": {key: {"mean", "std", "per_seed"}} for the :data:`SEED_MEASURES` a summary has (std: sample std, 0
    for one seed), "answers": the per-seed :func:`small_set_verdict` answers, "answer"}`` -- the answer every seed
    gives, or ``"differs by seed"``."""
    from faiglib.measures.statistics import seed_spread

    seeds = list(by_seed)
    if not seeds:
        raise ValueError("over_seeds needs at least one seed's summaries")
    labels = list(by_seed[seeds[0]])
    for seed in seeds[1:]:
        if list(by_seed[seed]) != labels:
            raise ValueError(f"seed {seed} has the networks {list(by_seed[seed])}, seed {seeds[0]} has {labels}")
    rows = []
    for label in labels:
        summaries = [by_seed[seed][label] for seed in seeds]
        summary = seed_spread(summaries, {key: value for key, (_, value) in SEED_MEASURES.items()})
        answers = [small_set_verdict(s)["answer"] for s in summaries]
        rows.append({"network": label, "seeds": seeds, "summary": summary, "answers": answers,
                     "answer": answers[0] if len(set(answers)) == 1 else "differs by seed"})
    return rows

"""Masking many filter selections at once (paper Sec. 5.2.1, Table 2): the networks of ``S`` selections differ
only in a few conv weights, so their outputs on one image come from one vectorised call
(``torch.func.vmap`` over ``functional_call`` with the masked weights stacked), ``chunk`` selections at a time.
On a GPU this turns hundreds of small forward passes (e.g. a random yardstick of 100 draws) into a few large
ones; the numbers are those of :func:`faiglib.studies.masking.masking_effects` up to float rounding.

* :func:`masked_outputs`: ``(S, 3, H, W)`` outputs of one input under ``S`` selections.
* :func:`batched_masking_effects`: :func:`~faiglib.studies.masking.masking_effects` for ``S`` selections.
* :func:`batched_yardstick_masking`: :func:`~faiglib.studies.masking.yardstick_masking`'s result, with any
  number of random draws; ``yardstick_masking(ws, …, batch=chunk)`` computes it this way and keeps it in the
  workspace's store (entry kind ``masking``), where the notebooks read it.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

from faiglib.core.checkpoint import as_state_dict
from faiglib.core.ranking import check_proportion
from faiglib.core.units import FilterIndex
from faiglib.measures.gradient_maps import output_difference
from faiglib.studies.masking import random_summary
from faiglib.studies.workspace import FUNCTIONS, METHODS

__all__ = ["masked_outputs", "batched_masking_effects", "batched_yardstick_masking", "batched_method_masking"]



def _stacked_weights(model: nn.Module, baseline: Mapping[str, torch.Tensor], selections: Sequence[torch.Tensor],
                     index: FilterIndex) -> dict[str, torch.Tensor]:
    """``{name: (S, *shape)}`` for every conv weight that some selection masks: the model's weight with the
    selection's filters replaced by the baseline's."""
    params = dict(model.named_parameters())
    masks = [index.masks(torch.as_tensor(s, dtype=torch.long)) for s in selections]
    touched = sorted({n for m in masks for n, v in m.items() if v.any()})
    out = {}
    for name in touched:
        w = params[name].detach()
        b = baseline[name].to(w)
        rows = [torch.where(m[name].to(w.device)[:, :, None, None], b, w) if name in m else w for m in masks]
        out[name] = torch.stack(rows)
    return out


@torch.no_grad()
def masked_outputs(model: nn.Module, baseline_params: nn.Module | Mapping[str, torch.Tensor],
                   selections: Sequence[torch.Tensor], x: torch.Tensor, index: FilterIndex | None = None,
                   chunk: int = 8) -> torch.Tensor:
    """Outputs ``(S, 3, H, W)`` of ``model`` (target weights) on one input ``x`` ``(1, 3, h, w)`` with the
    filters of each of the ``S`` ``selections`` (flat indices of ``index``) holding the baseline's weights.
    ``chunk`` selections share one vectorised call (memory grows with it). ``model`` is not changed."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"masked_outputs takes one input (1, C, h, w), got {tuple(x.shape)}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if len(selections) == 0:
        raise ValueError("masked_outputs got no selections")
    index = index or FilterIndex(model)
    baseline = as_state_dict(baseline_params)
    fixed = {n: p.detach() for n, p in model.named_parameters()}
    fixed.update({n: b for n, b in model.named_buffers()})
    outs = []
    for start in range(0, len(selections), chunk):
        stacked = _stacked_weights(model, baseline, selections[start: start + chunk], index)
        n = len(selections[start: start + chunk])
        if not stacked:  # only empty selections: the unmasked output, n times
            outs.append(functional_call(model, fixed, (x,)).expand(n, -1, -1, -1))
            continue
        call = lambda p: functional_call(model, {**fixed, **p}, (x,))[0]  # noqa: E731
        outs.append(vmap(call)(stacked))
    return torch.cat(outs)


@torch.no_grad()
def batched_masking_effects(model: nn.Module, baseline_state: Mapping[str, torch.Tensor],
                            selections: Sequence[torch.Tensor], analysis, kinds=("blur", "noise"),
                            channels: Sequence[str] = ("gray",), index: FilterIndex | None = None,
                            reference: Mapping[str, list[torch.Tensor]] | None = None,
                            chunk: int = 8) -> list[dict[str, dict[str, torch.Tensor]]]:
    """:func:`~faiglib.studies.masking.masking_effects` of each selection: a list (one per selection) of
    ``{channel: {kind: (n_images,)}}`` output differences (MSE x 1e3 of gradient maps)."""
    index = index or FilterIndex(model)
    device = next(model.parameters()).device
    if reference is None:
        reference = {k: [model(x.unsqueeze(0).to(device)) for x in analysis.lr[k]] for k in kinds}
    values = [{c: {k: [] for k in kinds} for c in channels} for _ in selections]
    for k in kinds:
        for x, r in zip(analysis.lr[k], reference[k]):
            ys = masked_outputs(model, baseline_state, selections, x.unsqueeze(0).to(device), index, chunk)
            for c in channels:
                diff = output_difference(ys, r.expand_as(ys), channel=c).cpu()
                for s in range(len(selections)):
                    values[s][c][k].append(diff[s: s + 1])
    return [{c: {k: torch.cat(v) for k, v in per_kind.items()} for c, per_kind in sel.items()} for sel in values]


def batched_yardstick_masking(ws, proportions=None, channels=("gray", "blue"), methods=tuple(METHODS),
                              draws: int | None = None, chunk: int = 8) -> dict[str, dict]:
    """What :func:`faiglib.studies.masking.yardstick_masking` computes (same layout: ``{"table": {channel:
    {"mask_1pct": {"deblur_filters": {"blur_input": {"faig", …, "random", "random_median", …}}}}}, "draws":
    {…: [effect of each random draw]}}``), every selection of one proportion and degradation masked in batched
    calls of ``chunk`` selections. ``draws``: default ``profile.yardstick_draws``. Use it through
    ``yardstick_masking(ws, …, batch=chunk)``, which keeps the result in the store."""
    proportions = ws.profile.mask_proportions if proportions is None else proportions
    if not proportions:
        raise ValueError("no proportions to mask: pass e.g. (0.01, 0.05), or None for the profile's")
    for p in proportions:
        check_proportion(p)
    kinds = tuple(FUNCTIONS)
    model = ws.model("target")
    base = {k: v.to(ws.device) for k, v in ws.states()[0].items()}
    aset = ws.analysis_set()
    with torch.no_grad():
        reference = {k: [model(x.unsqueeze(0).to(ws.device)) for x in aset.lr[k]] for k in kinds}
    ranked = {m: ws.ranking(m) for m in methods if m != "random"}
    draws = ws.profile.yardstick_draws if draws is None else int(draws)
    randoms = ws.random_rankings(draws) if "random" in methods else []
    table: dict[str, dict] = {c: {} for c in channels}
    drawn_effects: dict[str, dict] = {c: {} for c in channels}
    for p in proportions:
        mask = f"mask_{p * 100:g}pct"
        for c in channels:
            table[c][mask] = {}
            drawn_effects[c][mask] = {}
        for d in kinds:
            named = list(ranked)
            selections = [ranked[m].top(d, p) for m in named] + [r.top(d, p) for r in randoms]
            effects = batched_masking_effects(model, base, selections, aset, kinds, channels, ws.filter_index,
                                              reference, chunk)
            found, drawn = dict(zip(named, effects[: len(named)])), effects[len(named):]
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


def batched_method_masking(ws, proportions=None, channels=("gray", "blue"), methods=tuple(METHODS),
                           draws: int | None = None, chunk: int = 8) -> dict[str, dict]:
    """The table of :func:`batched_yardstick_masking` (the layout of
    :func:`~faiglib.studies.masking.method_masking`), computed, not stored."""
    return batched_yardstick_masking(ws, proportions, channels, methods, draws, chunk)["table"]

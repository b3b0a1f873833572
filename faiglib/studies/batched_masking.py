"""Masking many filter selections at once (paper Sec. 5.2.1, Table 2): the networks of ``S`` selections differ
only in a few conv weights, so their outputs on one image come from one vectorised call
(``torch.func.vmap`` over ``functional_call`` with the masked weights stacked), ``chunk`` selections at a time.
On a GPU this turns hundreds of small forward passes (e.g. a random yardstick of 100 draws) into a few large
ones; the numbers are those of :func:`faiglib.studies.masking.masking_effects` up to float rounding.

* :func:`masked_outputs`: ``(S, 3, H, W)`` outputs of one input under ``S`` selections.
* :func:`batched_masking_effects`: :func:`~faiglib.studies.masking.masking_effects` for ``S`` selections.
* ``yardstick_masking(ws, …, batch=chunk)`` (:mod:`faiglib.studies.masking`) masks the selections of a masking
  table this way and keeps the table in the workspace's store (entry kind ``masking``), where the chapters read it.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

from faiglib.core.checkpoint import as_state_dict
from faiglib.core.units import FilterIndex, expand_mask
from faiglib.measures.gradient_maps import output_difference

__all__ = ["masked_outputs", "batched_masking_effects"]



def _stacked_weights(model: nn.Module, baseline: Mapping[str, torch.Tensor], selections: Sequence[torch.Tensor],
                     index: FilterIndex) -> dict[str, torch.Tensor]:
    """``{name: (S, *shape)}`` for every unit weight that some selection masks: the model's weight with the
    selection's units replaced by the baseline's."""
    params = dict(model.named_parameters())
    masks = [index.masks(torch.as_tensor(s, dtype=torch.long)) for s in selections]
    touched = sorted({n for m in masks for n, v in m.items() if v.any()})
    out = {}
    for name in touched:
        w = params[name].detach()
        b = baseline[name].to(w)
        rows = [torch.where(expand_mask(m[name].to(w.device), w), b, w) if name in m else w for m in masks]
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

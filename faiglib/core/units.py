"""Filters as the paper defines them (Sec. 4.1, footnote): one K x K slice ``W[out, in]`` of a conv weight.

:class:`FilterIndex` enumerates the filters of every ``nn.Conv2d`` of a model in ``named_modules`` order
(layer by layer, then ``out``, then ``in``), so that a filter has a flat index in ``[0, len(index))``.
Grouped convs have ``in_channels // groups`` filters per output channel; bias-free convs are fine; nothing
is hard-coded, so any model built from ``Conv2d`` layers works.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import torch
from torch import nn

__all__ = ["ConvLayer", "FilterIndex", "UNIT_RULES", "conv_units"]


@dataclass(frozen=True)
class ConvLayer:
    """One conv layer: module name, its weight's parameter name, ``out x in_per_group`` filters from ``offset``."""

    name: str
    param: str
    out_channels: int
    in_per_group: int
    kernel: tuple[int, int]
    offset: int

    @property
    def count(self) -> int:
        return self.out_channels * self.in_per_group


def conv_units(name: str, module: nn.Conv2d, offset: int) -> ConvLayer:
    """A conv's units: one ``K×K`` slice ``W[out, in]`` per (output, input-of-its-group) channel pair."""
    out_ch, in_per_group, kh, kw = module.weight.shape
    return ConvLayer(name, f"{name}.weight" if name else "weight", out_ch, in_per_group, (kh, kw), offset)


#: How a module's weight splits into attribution units, keyed by module type (the first ``isinstance`` match
#: wins). FAIG, masking and retraining only see flat unit indices, so a new unit type (a ``Linear`` row, an
#: attention head) is a new rule here, not a change to them. Modules of other types hold no units.
UNIT_RULES: dict[type, Callable[[str, nn.Module, int], ConvLayer]] = {nn.Conv2d: conv_units}


class FilterIndex:
    """Bijection between filters ``(layer name, out, in)`` and flat indices, plus per-filter reductions.

    ``rules``: the unit rules by module type (default :data:`UNIT_RULES`)."""

    def __init__(self, model: nn.Module, rules: Mapping[type, Callable[[str, nn.Module, int], ConvLayer]] | None = None):
        rules = UNIT_RULES if rules is None else rules
        layers, offset = [], 0
        for name, module in model.named_modules():
            rule = next((r for kind, r in rules.items() if isinstance(module, kind)), None)
            if rule is not None:
                layers.append(rule(name, module, offset))
                offset += layers[-1].count
        if not layers:
            raise ValueError(f"{type(model).__name__} has no module with attribution units (types with a rule: "
                             f"{[k.__name__ for k in rules]}): nothing to attribute")
        self.layers: tuple[ConvLayer, ...] = tuple(layers)
        self._by_name = {layer.name: layer for layer in layers}
        self._offsets = torch.tensor([layer.offset for layer in layers])
        self.total = offset

    def __len__(self) -> int:
        return self.total

    def __repr__(self) -> str:
        return f"FilterIndex({len(self.layers)} conv layers, {self.total} filters)"

    @property
    def param_names(self) -> list[str]:
        return [layer.param for layer in self.layers]

    def layer(self, name: str) -> ConvLayer:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no conv layer named {name!r}; layers: {list(self._by_name)}") from None

    def flat(self, layer: str, out: int, inp: int) -> int:
        """Flat index of filter ``W[out, inp]`` of conv ``layer``."""
        conv = self.layer(layer)
        if not (0 <= out < conv.out_channels and 0 <= inp < conv.in_per_group):
            raise IndexError(f"filter ({out}, {inp}) outside {layer} ({conv.out_channels} x {conv.in_per_group})")
        return conv.offset + out * conv.in_per_group + inp

    def locate(self, flat: int) -> tuple[str, int, int]:
        """Inverse of :meth:`flat`: ``(layer name, out, in)``."""
        if not 0 <= flat < self.total:
            raise IndexError(f"filter index {flat} outside [0, {self.total})")
        conv = self.layers[int(torch.searchsorted(self._offsets, torch.tensor(flat), right=True)) - 1]
        out, inp = divmod(flat - conv.offset, conv.in_per_group)
        return conv.name, out, inp

    def layer_ids(self, flat: torch.Tensor) -> torch.Tensor:
        """Layer position (0 = first conv) of each flat index in ``flat``."""
        return torch.searchsorted(self._offsets, torch.as_tensor(flat), right=True) - 1

    def reduce(self, per_param: Mapping[str, torch.Tensor], absolute: bool = True) -> torch.Tensor:
        """Per-filter sums of weight-shaped tensors: ``Σ_{kh,kw} |t[out, in]|`` (or signed), 1-D ``(len(self),)``.

        Leading batch dimensions are kept: a ``(B, out, in, kh, kw)`` tensor gives ``(B, len(self))``.
        """
        chunks = []
        for conv in self.layers:
            t = per_param[conv.param]
            t = t.abs() if absolute else t
            chunks.append(t.sum(dim=(-1, -2)).flatten(start_dim=-2))
        return torch.cat(chunks, dim=-1)

    def selection(self, filters) -> torch.Tensor:
        """A filter selection as a bool vector ``(len(self),)`` (``True``: selected).

        ``filters`` is either integer flat indices (any shape; duplicates are fine; ``IndexError`` outside
        ``[0, len(self))``) or a bool mask of exactly ``(len(self),)`` that selects its ``True`` positions. Any
        other bool shape, and float indices (which would be truncated), are ``ValueError``.
        """
        t = torch.as_tensor(filters).cpu()
        if t.dtype == torch.bool:
            if tuple(t.shape) != (self.total,):
                raise ValueError(f"a bool mask over filters must have shape ({self.total},) (one entry per filter "
                                 f"of this {self!r}), got {tuple(t.shape)}; pass a mask of that length or flat "
                                 f"integer indices")
            return t.clone()
        selected = torch.zeros(self.total, dtype=torch.bool)
        if t.numel() == 0:  # nothing selected; torch.as_tensor([]) is float32
            return selected
        if t.is_floating_point() or t.is_complex():
            raise ValueError(f"filter indices must be integers, got dtype {t.dtype} (float indices would be "
                             f"truncated); pass integer flat indices, e.g. idx.long() after checking they are whole")
        flat = t.to(torch.long).flatten()
        if flat.min() < 0 or flat.max() >= self.total:
            raise IndexError(f"filter indices must lie in [0, {self.total})")
        selected[flat] = True
        return selected

    def masks(self, flat) -> dict[str, torch.Tensor]:
        """Boolean ``(out, in)`` masks per weight parameter selecting the filters in ``flat`` (integer flat
        indices or a bool mask of length ``len(self)``, see :meth:`selection`)."""
        selected = self.selection(flat)
        return {conv.param: selected[conv.offset: conv.offset + conv.count].view(conv.out_channels, conv.in_per_group)
                for conv in self.layers}

    def relative_depth(self) -> torch.Tensor:
        """Per-filter depth of its layer in [0, 1] (first conv 0, last conv 1), 1-D ``(len(self),)``."""
        n = len(self.layers)
        depth = torch.cat([torch.full((conv.count,), i / max(n - 1, 1)) for i, conv in enumerate(self.layers)])
        return depth

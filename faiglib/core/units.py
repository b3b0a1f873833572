"""Attribution units. For CNNs the paper's filters (Sec. 4.1, footnote): one K x K slice ``W[out, in]`` of a conv
weight; beyond the paper, rows of Linear layers and attention heads.

:class:`FilterIndex` enumerates the units of every module that has a rule in a unit map keyed by module type
(layer by layer in ``named_modules`` order, then ``out``, then ``in``), so that a unit has a flat index in
``[0, len(index))``. Rules (a rule returns a :class:`UnitLayer`, a tuple of them, or ``None``):

* :func:`conv_units` -- any ``nn.Conv2d``: one ``kh x kw`` slice ``W[out, in]`` per (output, input-of-its-group)
  pair; a 1x1 conv's units are its single weights ``W[out, in]``. Grouped and bias-free convs are fine.
* :func:`linear_rows` -- ``nn.Linear``: one output row ``W[out, :]`` (all the weights that feed one output).
* :func:`head_table` -- a module with a ``relative_position_bias_table`` ``(positions, heads)``: one unit per
  head (the column of that head's biases).
* :func:`attention_head_units` -- optional, per head instead of per row: the table's column, the ``q``/``k``/``v``
  rows of a head in ``qkv`` (units ``(3, heads)``) and the input columns of a head in ``proj`` (units ``heads``).

:data:`UNIT_RULES` is the default, and it is strict: it gives units to ``Conv2d`` of any kernel,
``ConvTranspose2d`` (:func:`conv_transpose_units`), ``Linear`` rows, ``MultiheadAttention``'s input projection
rows (:func:`in_projection_rows`; its output projection is a ``Linear``) and, on any module that holds one, each
head of a ``relative_position_bias_table``; it lists the parameter-holding types that carry no units (norms,
``PReLU``, embeddings: :data:`NO_UNITS`, mapped to ``None``, as biases are not units either). Every other module
that holds parameters is a ``ValueError`` naming its type and how to declare a rule -- a new kind of layer is
never silently left out of the attribution (before, FAIG on a network with Linear, attention or transposed-conv
layers silently attributed its convs only). The paper's CNNs hold 3x3 convs only, so their units, order and
scores are those of the convs-only map. A network class may declare its own map as the class attribute
``unit_rules`` (the attention networks do), applied just as strictly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Union

import torch
from torch import nn

__all__ = ["UnitLayer", "ConvLayer", "FilterIndex", "UNIT_RULES", "CONV_RULES", "ATTENTION_RULES", "NO_UNITS",
           "conv_units", "conv_transpose_units", "linear_rows", "in_projection_rows", "head_table",
           "attention_head_units", "expand_mask"]


@dataclass(frozen=True)
class UnitLayer:
    """The units of one parameter: module name, parameter name, an ``out x in_per_group`` grid of units from flat
    index ``offset`` (``in_per_group`` is 1 for a 1-D grid: Linear rows, heads).

    ``kernel``: the conv kernel (``(1, 1)`` for other kinds). ``shape``: the parameter's shape; ``view``: the
    shape it is viewed as, whose axes ``unit_axes`` (increasing) index the units and whose other axes are summed
    over within a unit. ``kind``: ``"conv"``, ``"linear"``, ``"head"`` (one head's table column / proj columns)
    or ``"qkv_head"``. Defaults (``shape=()``): a conv weight ``(out, in, kh, kw)`` with units ``(out, in)``."""

    name: str
    param: str
    out_channels: int
    in_per_group: int
    kernel: tuple[int, int]
    offset: int
    kind: str = "conv"
    shape: tuple[int, ...] = ()
    view: tuple[int, ...] = ()
    unit_axes: tuple[int, ...] = (0, 1)

    def __post_init__(self) -> None:
        if not self.shape:  # a conv weight
            shape = (self.out_channels, self.in_per_group, *self.kernel)
            object.__setattr__(self, "shape", shape)
        if not self.view:
            object.__setattr__(self, "view", self.shape)
        if math.prod(self.view) != math.prod(self.shape):
            raise ValueError(f"{self.param}: view {self.view} does not hold the parameter's shape {self.shape}")
        if math.prod(self.view[a] for a in self.unit_axes) != self.count:
            raise ValueError(f"{self.param}: unit axes {self.unit_axes} of {self.view} do not give "
                             f"{self.out_channels} x {self.in_per_group} units")

    @property
    def count(self) -> int:
        return self.out_channels * self.in_per_group

    def reduce(self, t: torch.Tensor) -> torch.Tensor:
        """Per-unit sums of a parameter-shaped tensor ``(*lead, *shape)`` -> ``(*lead, count)``."""
        lead = t.shape[: t.dim() - len(self.shape)]
        v = t.reshape(*lead, *self.view)
        others = [len(lead) + i for i in range(len(self.view)) if i not in self.unit_axes]
        return (v.sum(dim=others) if others else v).reshape(*lead, self.count)

    def mask(self, selected: torch.Tensor) -> torch.Tensor:
        """Bool mask of the entries of the units ``selected`` (bool ``(count,)``): ``(out, in)`` for a conv and
        ``(out,)`` for Linear rows -- leading dimensions of the weight, so ``weight[mask]`` picks whole units --
        else a mask of the parameter's full shape."""
        k = len(self.unit_axes)
        if self.unit_axes == tuple(range(k)) and self.view[:k] == self.shape[:k]:
            return selected.view(self.shape[:k])
        grid = [self.view[a] if a in self.unit_axes else 1 for a in range(len(self.view))]
        return selected.view(grid).expand(self.view).reshape(self.shape)


#: The conv-unit layer had this name when convs were the only units; kept for imports.
ConvLayer = UnitLayer

Rule = Callable[[str, nn.Module, int], Union[UnitLayer, tuple, None]]


def _param_name(module_name: str, attr: str) -> str:
    return f"{module_name}.{attr}" if module_name else attr


def conv_units(name: str, module: nn.Conv2d, offset: int) -> UnitLayer:
    """A conv's units: one ``K×K`` slice ``W[out, in]`` per (output, input-of-its-group) channel pair."""
    out_ch, in_per_group, kh, kw = module.weight.shape
    return UnitLayer(name, _param_name(name, "weight"), out_ch, in_per_group, (kh, kw), offset)


def conv_transpose_units(name: str, module: nn.ConvTranspose2d, offset: int) -> UnitLayer:
    """A transposed conv's units: one ``K×K`` slice per (input, output-of-its-group) channel pair, in the weight's
    own ``(in, out / groups, kh, kw)`` order (the slice that carries one input channel to one output channel)."""
    in_ch, out_per_group, kh, kw = module.weight.shape
    return UnitLayer(name, _param_name(name, "weight"), in_ch, out_per_group, (kh, kw), offset,
                     kind="conv_transpose")


def in_projection_rows(name: str, module: nn.MultiheadAttention, offset: int) -> UnitLayer | None:
    """``nn.MultiheadAttention``'s packed input projection ``in_proj_weight`` ``(3E, E)``: one unit per row (the
    q, k and v rows of every head, in that order); ``None`` when q, k and v have separate projections
    (``kdim``/``vdim`` != ``embed_dim``: those are ``q_proj_weight``… and not indexed here). Its output
    projection is an ``nn.Linear`` with its own rule."""
    weight = module.in_proj_weight
    if weight is None:
        raise ValueError(f"module {name!r}: MultiheadAttention with separate q/k/v projections (kdim/vdim) has no "
                         f"default units; declare a rule for it in the model's unit_rules")
    rows, cols = weight.shape
    return UnitLayer(name, _param_name(name, "in_proj_weight"), rows, 1, (1, 1), offset, kind="linear",
                     shape=(rows, cols), view=(rows, cols), unit_axes=(0,))


def linear_rows(name: str, module: nn.Linear, offset: int) -> UnitLayer:
    """A Linear layer's units: one output row ``W[out, :]`` (``in_features`` weights) per output feature."""
    out_f, in_f = module.weight.shape
    return UnitLayer(name, _param_name(name, "weight"), out_f, 1, (1, 1), offset, kind="linear",
                     shape=(out_f, in_f), view=(out_f, in_f), unit_axes=(0,))


def head_table(name: str, module: nn.Module, offset: int) -> UnitLayer:
    """One unit per head of a ``relative_position_bias_table`` ``(positions, heads)``: a head's column."""
    table = getattr(module, "relative_position_bias_table", None)
    if not isinstance(table, torch.Tensor) or table.dim() != 2:
        raise ValueError(f"head_table: module {name!r} ({type(module).__name__}) has no 2-D "
                         f"relative_position_bias_table (positions, heads)")
    positions, heads = table.shape
    return UnitLayer(name, _param_name(name, "relative_position_bias_table"), heads, 1, (1, 1), offset, kind="head",
                     shape=(positions, heads), view=(positions, heads), unit_axes=(1,))


def attention_head_units(name: str, module: nn.Module, offset: int) -> tuple[UnitLayer, ...]:
    """Per-head units of a window-attention module with ``num_heads``, a bias table, ``qkv`` (``C -> 3C``,
    outputs ordered ``(q|k|v, head, head_dim)``) and ``proj`` (``C -> C``, inputs ordered ``(head, head_dim)``):
    the table's column of each head, the ``q``, ``k`` and ``v`` rows of each head (units ``(3, heads)``: out =
    q/k/v, in = head) and the ``proj`` input columns that read each head. These parameters are then claimed:
    the Linear rule does not index ``qkv`` and ``proj`` again."""
    heads = int(module.num_heads)
    table = head_table(name, module, offset)
    c = module.proj.weight.shape[0]
    d = c // heads
    qkv = UnitLayer(f"{_param_name(name, 'qkv')}", _param_name(name, "qkv.weight"), 3, heads, (1, 1),
                    offset + table.count, kind="qkv_head", shape=(3 * c, c), view=(3, heads, d, c), unit_axes=(0, 1))
    proj = UnitLayer(f"{_param_name(name, 'proj')}", _param_name(name, "proj.weight"), heads, 1, (1, 1),
                     offset + table.count + qkv.count, kind="head", shape=(c, c), view=(c, heads, d), unit_axes=(1,))
    return table, qkv, proj


#: Parameter-holding module types whose parameters are no attribution units (like biases): affine parameters of
#: norms, PReLU slopes, embeddings (a table of inputs, not a map of them).
NO_UNITS: tuple[type, ...] = (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
                              nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LocalResponseNorm,
                              nn.PReLU, nn.Embedding, nn.EmbeddingBag)

#: How a module's weight splits into attribution units, keyed by module type (the first ``isinstance`` match
#: wins), applied strictly (see the module docstring). FAIG, masking and retraining only see flat unit
#: indices, so a new unit type (a ``Linear`` row, an attention head) is a new rule here, not a change to them.
UNIT_RULES: dict[type, Optional[Rule]] = {nn.Conv2d: conv_units, nn.ConvTranspose2d: conv_transpose_units,
                                          nn.Linear: linear_rows, nn.MultiheadAttention: in_projection_rows,
                                          **{t: None for t in NO_UNITS}}

#: The paper's map, convs only, not strict (other modules hold no units): to attribute a network's convs alone.
CONV_RULES: dict[type, Optional[Rule]] = {nn.Conv2d: conv_units}

#: The strict map of the attention networks (extended by :mod:`faiglib.models.swinir` with its window
#: attention): convs, Linear rows, and no units in LayerNorm's affine parameters (as in biases).
ATTENTION_RULES: dict[type, Optional[Rule]] = {nn.Conv2d: conv_units, nn.Linear: linear_rows, nn.LayerNorm: None}


def expand_mask(mask: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """A mask of :meth:`FilterIndex.masks` (leading dims of ``param``, or its full shape) expanded to
    ``param``'s shape (a view; no copy)."""
    return mask.reshape(*mask.shape, *([1] * (param.dim() - mask.dim()))).expand(param.shape)


class FilterIndex:
    """Bijection between units ``(layer name, out, in)`` and flat indices, plus per-unit reductions.

    ``rules``: the unit rules by module type; ``None`` uses the model's ``unit_rules`` class attribute if it
    has one, else :data:`UNIT_RULES`. Strict by default: every module holding parameters needs an entry (a
    module holding a ``relative_position_bias_table`` and no entry gets :func:`head_table`); only
    ``rules=CONV_RULES`` (the convs-only map) leaves other modules out silently. ``strict`` overrides that
    choice. The name stays ``FilterIndex``: for CNNs the units are the paper's filters."""

    def __init__(self, model: nn.Module, rules: Mapping[type, Optional[Rule]] | None = None,
                 strict: bool | None = None):
        declared = getattr(model, "unit_rules", None)
        if rules is None:
            rules = declared if declared is not None else UNIT_RULES
        strict = rules is not CONV_RULES if strict is None else strict
        layers, offset, claimed = [], 0, set()
        for name, module in model.named_modules():
            kind = next((k for k in rules if isinstance(module, k)), None)
            rule = rules[kind] if kind is not None else None
            if kind is None:
                own = [n for n, _ in module.named_parameters(recurse=False)]
                if own == ["relative_position_bias_table"] and rules is not CONV_RULES:
                    rule = head_table  # a window attention of any class: one unit per head of its table
                elif strict and own:
                    raise ValueError(
                        f"module {name!r} of type {type(module).__name__} holds parameters {own} but the unit "
                        f"rules have no entry for {type(module).__name__} (types with rules: "
                        f"{[k.__name__ for k in rules]}); declare one: FilterIndex(model, rules={{**UNIT_RULES, "
                        f"{type(module).__name__}: <rule or None>}}) or a unit_rules class attribute on the "
                        f"model, with None to leave its parameters out of the units")
                else:
                    continue
            if rule is None:
                continue
            made = rule(name, module, offset)
            for layer in (made if isinstance(made, tuple) else (made,) if made is not None else ()):
                if layer.param in claimed:  # a parent's rule (e.g. per-head attention) already indexed it
                    continue
                layer = layer if layer.offset == offset else _moved(layer, offset)
                claimed.add(layer.param)
                layers.append(layer)
                offset += layer.count
        if not layers:
            raise ValueError(f"{type(model).__name__} has no module with attribution units (types with a rule: "
                             f"{[k.__name__ for k in rules if rules[k] is not None]}): nothing to attribute")
        self.layers: tuple[UnitLayer, ...] = tuple(layers)
        self._by_name = {layer.name: layer for layer in layers}
        self._offsets = torch.tensor([layer.offset for layer in layers])
        self.total = offset

    def __len__(self) -> int:
        return self.total

    def __repr__(self) -> str:
        kinds = sorted({layer.kind for layer in self.layers})
        if kinds == ["conv"]:
            return f"FilterIndex({len(self.layers)} conv layers, {self.total} filters)"
        return f"FilterIndex({len(self.layers)} layers ({', '.join(kinds)}), {self.total} units)"

    @property
    def param_names(self) -> list[str]:
        return [layer.param for layer in self.layers]

    def layer(self, name: str) -> ConvLayer:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no unit layer named {name!r}; layers: {list(self._by_name)}") from None

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
        for layer in self.layers:
            t = per_param[layer.param]
            chunks.append(layer.reduce(t.abs() if absolute else t))
        return torch.cat(chunks, dim=-1)

    def selection(self, filters) -> torch.Tensor:
        """A filter selection as a bool vector ``(len(self),)`` (``True``: selected).

        ``filters`` is either integer flat indices (any shape; duplicates are fine; ``IndexError`` outside
        ``[0, len(self))``) or a bool mask of exactly ``(len(self),)`` that selects its ``True`` positions. Any
        other bool shape, float indices (which would be truncated), and ``len(self)`` integers that are all 0 or 1
        (a 0/1 mask in an integer dtype, which would read as indices 0 and 1) are ``ValueError``.
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
        if self.total > 2 and tuple(t.shape) == (self.total,) and bool(((flat == 0) | (flat == 1)).all()):
            # indices would select at most filters 0 and 1: almost surely a 0/1 mask written as integers
            raise ValueError(f"got {self.total} integers that are all 0 or 1, one per filter: that reads as a 0/1 "
                             f"mask, but integers are flat indices (this would select filters 0 and 1 only); pass "
                             f"mask.bool() for a mask, or the indices themselves (mask.nonzero().flatten())")
        if flat.min() < 0 or flat.max() >= self.total:
            raise IndexError(f"filter indices must lie in [0, {self.total})")
        selected[flat] = True
        return selected

    def masks(self, flat) -> dict[str, torch.Tensor]:
        """Boolean masks per weight parameter selecting the units in ``flat`` (integer flat indices or a bool
        mask of length ``len(self)``, see :meth:`selection`): ``(out, in)`` for a conv, ``(out,)`` for Linear
        rows (leading dimensions of the weight), the parameter's full shape for units that are not leading
        slices (heads); :func:`expand_mask` broadcasts any of them to the weight."""
        selected = self.selection(flat)
        return {layer.param: layer.mask(selected[layer.offset: layer.offset + layer.count]) for layer in self.layers}

    def relative_depth(self) -> torch.Tensor:
        """Per-filter depth of its layer in [0, 1] (first conv 0, last conv 1), 1-D ``(len(self),)``."""
        n = len(self.layers)
        depth = torch.cat([torch.full((conv.count,), i / max(n - 1, 1)) for i, conv in enumerate(self.layers)])
        return depth


def _moved(layer: UnitLayer, offset: int) -> UnitLayer:
    """``layer`` starting at flat index ``offset`` (after claimed parameters were skipped)."""
    from dataclasses import replace
    return replace(layer, offset=offset)

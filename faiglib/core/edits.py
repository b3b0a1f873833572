"""Edits of a model's filters that undo themselves: context managers that restore the weights bit for bit.

* :func:`masked` (paper Sec. 5.2.1): the chosen target filters hold the baseline's values.
* :func:`interpolated` (the slides' controllable restoration): they hold ``λ·W_target + (1 − λ)·W_baseline``.

Both are uses of one mechanism, :func:`replaced_filters`; on exit (also after an exception) the original
values are written back bit for bit. Filters are flat indices of a :class:`~faiglib.core.units.FilterIndex`.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping

import torch
from torch import nn

from faiglib.core.checkpoint import as_state_dict
from faiglib.core.units import FilterIndex

__all__ = ["replaced_filters", "masked", "interpolated", "evaluation_mode", "in_evaluation_mode"]


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block every submodule of ``model`` is in eval mode (batch norm uses, and does not update, its
    running statistics; dropout is off); on exit each submodule's own ``training`` flag is put back, also after
    an exception. Every method that explains a model (FAIG, IG, LAM, L2X, masking) runs inside it: an
    attribution depends on the weights, not on the mode the caller left the network in."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


@contextmanager
def replaced_filters(model: nn.Module, baseline_params: nn.Module | Mapping[str, torch.Tensor], filters,
                     values: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                     index: FilterIndex | None = None) -> Iterator[nn.Module]:
    """Within the block, filters ``filters`` (flat indices of ``index``, or a bool mask of length
    ``len(index)``) of ``model`` hold ``values(baseline_entries, original_entries)`` (1-D tensors of the
    selected weight entries of one parameter); on exit the original values are written back bit for bit
    (also after an exception).

    The shared mechanism of :func:`masked` and :func:`faiglib.core.edits.interpolated`. Biases are not filters
    and are left alone, as in the paper.
    """
    index = index or FilterIndex(model)
    baseline = as_state_dict(baseline_params)
    params = dict(model.named_parameters())
    saved: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    with torch.no_grad():
        for name, mask in index.masks(filters).items():
            if not mask.any():
                continue
            weight = params[name]
            if baseline[name].shape != weight.shape:
                raise ValueError(f"baseline {name!r} is {tuple(baseline[name].shape)}, model has {tuple(weight.shape)}")
            original = weight[mask].clone()
            saved.append((weight, mask, original))
            weight[mask] = values(baseline[name].to(weight)[mask], original)
    try:
        yield model
    finally:
        with torch.no_grad():
            for weight, mask, original in saved:
                weight[mask] = original


@contextmanager
def masked(model: nn.Module, baseline_params: nn.Module | Mapping[str, torch.Tensor], filters,
           index: FilterIndex | None = None) -> Iterator[nn.Module]:
    """Within the block, filters ``filters`` (flat indices of ``index``, or a bool mask of length ``len(index)``;
    see :meth:`~faiglib.core.units.FilterIndex.selection`) of ``model`` carry the baseline's weights.

    ``model`` holds the target weights. Biases are not filters and are left alone, as in the paper.
    """
    with replaced_filters(model, baseline_params, filters, lambda baseline, original: baseline, index):
        yield model


@contextmanager
def interpolated(model: nn.Module, baseline_params: nn.Module | Mapping[str, torch.Tensor], filters,
                 lam: float, index: FilterIndex | None = None) -> Iterator[nn.Module]:
    """Within the block, filters ``filters`` (flat indices of ``index``, or a bool mask of length
    ``len(index)``) of ``model`` hold ``lam · W_model + (1 − lam) · W_baseline``; ``model`` holds the target
    weights. ``lam`` = 1 leaves them exactly as they are, ``lam`` = 0 gives exactly the baseline's
    (``torch.lerp`` is exact at both ends). Biases are left alone, as in masking. On exit the original values
    are written back bit for bit."""
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not torch.isfinite(torch.tensor(float(lam))):
        raise ValueError(f"lam must be a finite number, got {lam!r}")
    with replaced_filters(model, baseline_params, filters,
                          lambda baseline, original: torch.lerp(baseline, original, float(lam)), index):
        yield model


def in_evaluation_mode(method: Callable) -> Callable:
    """Decorator of a method whose first argument is the model it explains: the call runs inside
    :func:`evaluation_mode` of that model."""
    @functools.wraps(method)
    def wrapper(model, *args, **kwargs):
        with evaluation_mode(model):
            return method(model, *args, **kwargs)
    return wrapper

"""Masking (paper Sec. 5.2.1): replace chosen target filters by the baseline's, and measure what changes.

:func:`masked` is a context manager: inside it the model's selected ``W[out, in]`` slices hold the
baseline's values; on exit the original values are written back bit for bit (also after an exception).
:func:`output_difference` is the paper's metric: the MSE (x 1e3) between the image-gradient maps of the
masked and the target outputs, on gray images (``channel="gray"``, as the paper describes) or on the
blue channel (``channel="blue"``, what the official code computed by accident).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import as_state_dict
from .filters import FilterIndex

__all__ = ["masked", "replaced_filters", "gradient_map", "output_difference", "to_gray", "masking_effect", "masking_effects",
           "reference_outputs"]


@contextmanager
def replaced_filters(model: nn.Module, baseline_params: nn.Module | Mapping[str, torch.Tensor], filters,
                     values: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                     index: FilterIndex | None = None) -> Iterator[nn.Module]:
    """Within the block, filters ``filters`` (flat indices of ``index``) of ``model`` hold
    ``values(baseline_entries, original_entries)`` (1-D tensors of the selected weight entries of one
    parameter); on exit the original values are written back bit for bit (also after an exception).

    The shared mechanism of :func:`masked` and :func:`faiglib.control.interpolated`. Biases are not filters
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
    """Within the block, filters ``filters`` (flat indices of ``index``) of ``model`` carry the baseline's weights.

    ``model`` holds the target weights. Biases are not filters and are left alone, as in the paper.
    """
    with replaced_filters(model, baseline_params, filters, lambda baseline, original: baseline, index):
        yield model


_GRAY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma, OpenCV's BGR2GRAY weights


def to_gray(img: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB -> ``(B, 1, H, W)`` luma."""
    w = torch.tensor(_GRAY, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    return (img * w).sum(1, keepdim=True)


def gradient_map(img: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude ``sqrt(dx² + dy² + 1e-6)`` by central differences ``I[i+1] − I[i−1]`` with zero padding.

    ``(B, C, H, W)`` -> ``(B, C, H, W)``, channel by channel.
    """
    b, c, h, w = img.shape
    x = img.reshape(b * c, 1, h, w)
    k = torch.zeros(2, 1, 3, 3, dtype=img.dtype, device=img.device)
    k[0, 0, 1, 0], k[0, 0, 1, 2] = -1.0, 1.0  # horizontal
    k[1, 0, 0, 1], k[1, 0, 2, 1] = -1.0, 1.0  # vertical
    d = F.conv2d(x, k, padding=1)
    return torch.sqrt(d.pow(2).sum(1, keepdim=True) + 1e-6).reshape(b, c, h, w)


def output_difference(output: torch.Tensor, reference: torch.Tensor, channel: str = "gray",
                      quantize: bool = False) -> torch.Tensor:
    """MSE x 1e3 between gradient maps of two SR outputs ``(B, 3, H, W)``; one value per image ``(B,)``.

    Outputs are clipped to [0, 1] first; ``quantize=True`` also rounds to 8 bits, as saving PNGs did in the
    official pipeline. ``channel``: ``"gray"`` (default) or ``"blue"`` (the official code's behaviour).
    """
    if output.shape != reference.shape or output.dim() != 4:
        raise ValueError(f"expected two (B, 3, H, W) tensors of one shape, got {tuple(output.shape)} and "
                         f"{tuple(reference.shape)}")
    pair = torch.stack([output, reference]).clamp(0.0, 1.0)
    if quantize:
        pair = torch.round(pair * 255.0) / 255.0
    if channel == "gray":
        pair = torch.stack([to_gray(p) for p in pair])
    elif channel == "blue":
        pair = pair[:, :, 2:3]
    else:
        raise ValueError(f"unknown channel {channel!r}; use 'gray' or 'blue'")
    g_out, g_ref = gradient_map(pair[0]), gradient_map(pair[1])
    return (g_out - g_ref).pow(2).flatten(1).mean(1) * 1e3


@torch.no_grad()
def reference_outputs(model: torch.nn.Module, analysis, kinds=("blur", "noise")) -> dict[str, list[torch.Tensor]]:
    """The unmasked model's outputs ``{kind: [(1, 3, H, W), …]}`` on the analysis inputs of each kind."""
    device = next(model.parameters()).device
    return {k: [model(x.unsqueeze(0).to(device)) for x in analysis.lr[k]] for k in kinds}


@torch.no_grad()
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

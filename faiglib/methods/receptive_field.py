"""Receptive fields, measured, and the crop that lets a pixel method run on a window's surroundings only.

A pixel attribution of one output window (LAM, L2X, IG) needs the network only on the LR pixels that window can
depend on. For a convolutional network those are the window's footprint plus the receptive radius; running the
path steps on that crop instead of the whole image gives the same map (zero outside the crop) many times faster.
For networks whose output depends on the whole image -- global pooling (RCAN's channel attention), attention over
windows aligned to the image (SwinIR) -- no crop is exact and the whole image is used.

* :func:`receptive_radius` measures the radius: the support of the gradient of the centre output pixel with respect
  to a seeded random probe image. A support that reaches the probe's border means "unbounded at this size"; the
  probe then grows up to ``max_size`` and ``None`` is returned when it never fits.
* :func:`fit_crop` turns a radius into a crop and *checks* it: the window's output (with the pixels the objective
  reads around it) computed on the crop must equal the whole image's within ``tolerance``, for the input and for
  the reference at the other end of the path. ``context="auto"``
  doubles the context until it does, falling back to the whole image; an explicit integer context that fails is
  refused.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
from torch import nn

from faiglib.core.edits import in_evaluation_mode

__all__ = ["receptive_radius", "CropBox", "crop_box", "fit_crop", "AUTO_MARGIN", "PROBE_SIZE"]

PROBE_SIZE = 48  # LR pixels of the first probe image
AUTO_MARGIN = 2  # LR pixels added to the measured radius (dead activations can hide a border pixel at the probe)


def _probe_support(model: nn.Module, channels: int, size: int) -> tuple[torch.Tensor, float]:
    """Input pixels ``(n, 2)`` on which the centre output pixel depends for a seeded random ``size x size`` probe,
    and the centre's position in input pixels."""
    p = next(iter(model.parameters()), None)
    x = torch.rand(1, channels, size, size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = (x.to(device=p.device, dtype=p.dtype) if p is not None else x.float()).requires_grad_(True)
    with torch.enable_grad():
        out = model(x)
        height, width = out.shape[-2:]
        (grad,) = torch.autograd.grad(out[0, :, height // 2, width // 2].sum(), x)
    return (grad[0].abs().sum(0) > 0).nonzero().cpu(), (height // 2) * size / height


@in_evaluation_mode
def receptive_radius(model: nn.Module, channels: int = 3, size: int = PROBE_SIZE,
                     max_size: int | None = None) -> int | None:
    """LR pixels around an input pixel that can change one output pixel of ``model`` (in eval mode, which is put
    back afterwards; batch-norm statistics are not updated), or
    ``None`` when the dependence reaches the border of every probe up to ``max_size`` (default ``size``) LR pixels:
    a global operation or a field wider than the probe. The probe doubles from ``size`` while it is reached.
    Dead activations at the probe can only make the measured support smaller: callers add a margin, and
    :func:`fit_crop` checks the crop it leads to."""
    max_size = size if max_size is None else max(int(max_size), size)
    while True:
        support, centre = _probe_support(model, channels, size)
        if support.numel() == 0:
            return 0
        if bool((support == 0).any() or (support == size - 1).any()):
            if size >= max_size:
                return None
            size = min(2 * size, max_size)
            continue
        return int(math.ceil(max((support.double() - centre).abs().max().item(), 0)))


def crop_box(y: int, x: int, size: int, scale: int, before: int, after: int, context: int | None,
             h: int, w: int) -> tuple[int, int, int, int]:
    """LR rows/columns ``(r0, r1, c0, c1)`` around the output window ``size x size`` at ``(y, x)`` (HR pixels),
    ``context`` LR pixels beyond the output pixels the objective reads (``before``/``after`` the window); the whole
    ``h x w`` image for ``context=None``."""
    if context is None:
        return 0, h, 0, w
    if isinstance(context, bool) or not isinstance(context, numbers.Integral) or context < 0:
        raise ValueError(f"context must be None (the whole image), 'auto' or an integer >= 0 of LR pixels, "
                         f"got {context!r}")
    r0 = max(0, (y - before) // scale - context)
    c0 = max(0, (x - before) // scale - context)
    r1 = min(h, -(-(y + size + after) // scale) + context)
    c1 = min(w, -(-(x + size + after) // scale) + context)
    return r0, r1, c0, c1


@dataclass(frozen=True)
class CropBox:
    """Where a window's pixel method runs: LR rows ``r0:r1`` and columns ``c0:c1`` of the image, the window's
    top-left corner in the crop's output (``window``), and the context that was verified (``None``: the whole
    image)."""

    r0: int
    r1: int
    c0: int
    c1: int
    window: tuple[int, int]
    context: int | None

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.r0, self.r1, self.c0, self.c1


@in_evaluation_mode
def fit_crop(model: nn.Module, images: torch.Tensor, window: tuple[int, int], window_size: int, scale: int,
             full_outputs: torch.Tensor, before: int = 0, after: int = 1, context="auto",
             tolerance: float = 1e-4) -> CropBox:
    """The crop of ``images`` ``(B, C, h, w)`` on which ``model`` gives the output window (``window_size`` HR pixels
    at ``window = (y, x)``, widened by ``before``/``after`` pixels the objective reads) as on the whole images --
    checked on every one of them (a path's two ends: the input and its reference; an operation that is inactive at
    one end, e.g. a dead global-pooling branch, can be active at the other).

    ``full_outputs``: ``model`` on the whole images, ``(B, C', s·h, s·w)``. ``context``: ``None`` -- the whole
    image; an integer -- that many LR pixels beyond the footprint, refused (ValueError) when a crop's window
    differs from the whole image's by more than ``tolerance`` (relative to the largest value there); ``"auto"`` --
    the measured :func:`receptive_radius` + :data:`AUTO_MARGIN`, doubled until the crop agrees, the whole image
    when it never does. One forward pass of the cropped batch per try, without gradients."""
    if images.dim() == 3:
        images, full_outputs = images.unsqueeze(0), full_outputs.unsqueeze(0)
    h, w = images.shape[-2:]
    y, x = int(window[0]), int(window[1])
    auto = isinstance(context, str)
    if auto:
        if context != "auto":
            raise ValueError(f"context must be None (the whole image), 'auto' or an integer >= 0 of LR pixels, "
                             f"got {context!r}")
        radius = receptive_radius(model, images.shape[1], max_size=max(h, w))
        context = None if radius is None else radius + AUTO_MARGIN
    expected = full_outputs[:, :, y - before: y + window_size + after, x - before: x + window_size + after]
    scale_of_values = max(float(expected.abs().max()), 1e-12)
    while True:
        r0, r1, c0, c1 = crop_box(y, x, window_size, scale, before, after, context, h, w)
        if context is None or (r0, r1, c0, c1) == (0, h, 0, w):
            return CropBox(0, h, 0, w, (y, x), None)
        wy, wx = y - scale * r0, x - scale * c0
        with torch.no_grad():
            out = model(images[:, :, r0:r1, c0:c1])
        got = out[:, :, wy - before: wy + window_size + after, wx - before: wx + window_size + after]
        error = float((got - expected).abs().max()) / scale_of_values if got.shape == expected.shape else math.inf
        if error <= tolerance:
            return CropBox(r0, r1, c0, c1, (wy, wx), int(context))
        if not auto:
            raise ValueError(f"context {context} is too small for this network's receptive field: the window's "
                             f"output on the crop differs from the whole image's by {error:.3g} (relative, "
                             f"tolerance {tolerance:g}); pass a larger context, 'auto' or None")
        context = 2 * context if 2 * context < max(h, w) else None

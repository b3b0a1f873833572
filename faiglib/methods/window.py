"""The window a pixel method explains: one output window of an SR network on one LR image, cropped to what it can
see (:func:`window_case`). Every pixel method of :mod:`faiglib.methods.pixel_attribution` takes one.

The crop is the window's LR footprint plus the network's receptive field, checked against the whole image at both
ends of the attribution path (:func:`~faiglib.methods.receptive_field.fit_crop`); the reference ``x̄`` is the
*whole* image blurred (σ, LAM's baseline) and then cropped, so every method shares it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from faiglib.core.edits import in_evaluation_mode
from faiglib.core.paths import blur_baseline
from faiglib.methods.lam import infer_scale
from faiglib.methods.receptive_field import fit_crop

__all__ = ["WindowCase", "window_case"]


@dataclass
class WindowCase:
    """One window on one LR image, cropped: ``x`` and ``reference`` ``(C, h', w')`` (the crop), ``window`` in the
    crop's output coordinates, ``full_window`` in the whole image's, ``box = (r0, r1, c0, c1)`` LR rows/columns,
    ``context`` (LR pixels beyond the window's footprint), ``lr`` the whole image."""

    lr: torch.Tensor
    x: torch.Tensor
    reference: torch.Tensor
    window: tuple[int, int]
    full_window: tuple[int, int]
    box: tuple[int, int, int, int]
    window_size: int
    context: int | None


@in_evaluation_mode
def window_case(model: nn.Module, lr: torch.Tensor, window: tuple[int, int], window_size: int = 16,
                context: int | str | None = "auto", sigma: float = 1.2, kernel_size: int = 9,
                tolerance: float = 1e-4) -> WindowCase:
    """Crop ``lr`` ``(C, h, w)`` to the footprint of the output window plus ``context`` LR pixels, verified by
    :func:`~faiglib.methods.receptive_field.fit_crop` (``"auto"``: the measured receptive radius + 2, widened until
    the window's output on the crop equals the whole image's within ``tolerance``; ``None``: the whole image).
    ``model`` runs in eval mode and is left as it was."""
    p = next(iter(model.parameters()), None)
    lr = lr.to(device=p.device, dtype=p.dtype) if p is not None else lr
    reference = blur_baseline(lr, sigma, kernel_size)
    pair = torch.stack([lr, reference])  # the crop must hold at both ends of the attribution's path
    with torch.no_grad():
        out = model(pair)
    s = infer_scale(out, pair, None)
    crop = fit_crop(model, pair, tuple(window), window_size, s, out, 0, 1, context, tolerance)
    r0, r1, c0, c1 = crop.box
    return WindowCase(lr=lr, x=lr[:, r0:r1, c0:c1], reference=reference[:, r0:r1, c0:c1], window=crop.window,
                      full_window=(int(window[0]), int(window[1])), box=crop.box,
                      window_size=int(window_size), context=crop.context)

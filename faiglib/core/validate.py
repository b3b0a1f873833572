"""Checks of images at the API boundary, shared by FAIG, the input-space IG baseline and the masking metric.

Every faiglib image is a floating tensor with values in [0, 1]. The usual mistakes -- a uint8 image, a float
image on the 0-255 scale (which multiplies a squared-error loss by 255² ≈ 65 000), NaN/inf pixels -- give
numbers that look plausible, so they are refused here with a message that names the problem and the remedy.
"""
from __future__ import annotations

import torch

__all__ = ["RANGE_TOLERANCE", "check_images", "check_input_channels"]

#: Values may leave [0, 1] by this much (absolute): float rounding of a [0, 1] image (e.g. a resize or a
#: colour conversion computed in float32) must not be refused; a 0-255 image is far outside.
RANGE_TOLERANCE = 1e-3


def check_images(images: torch.Tensor, what: str = "images", *, dims: tuple[int, ...] = (3, 4),
                 value_range: tuple[float, float] | None = (0.0, 1.0),
                 tolerance: float = RANGE_TOLERANCE) -> torch.Tensor:
    """Raise ``ValueError`` unless ``images`` is a floating tensor of ``dims`` dimensions (default: ``(C, H, W)``
    or ``(B, C, H, W)``) without NaN/inf and, unless ``value_range`` is ``None``, with every value within
    ``value_range`` widened by ``tolerance`` on both sides. ``what`` names the argument in the message.

    Returns ``images`` unchanged (no copy, no cast), so that valid inputs give bit-identical results.
    """
    if not torch.is_tensor(images):
        raise ValueError(f"{what} must be a torch.Tensor, got {type(images).__name__}")
    if images.dim() not in dims:
        want = " or ".join(f"{d}-D" for d in dims)
        raise ValueError(f"{what} must be a {want} tensor ((C, H, W) / (B, C, H, W)), got shape {tuple(images.shape)}")
    low, high = value_range if value_range is not None else (0.0, 1.0)
    if not images.is_floating_point():
        raise ValueError(f"{what} must be float in [{low:g}, {high:g}], got dtype {images.dtype}; divide uint8 "
                         f"images by 255 (uint16 by 65535), e.g. x.float() / 255")
    if images.numel() == 0:
        return images
    finite = torch.isfinite(images)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(f"{what} contain NaN or inf ({bad} of {images.numel()} values); fix or drop those images")
    if value_range is not None:
        lo, hi = float(images.min()), float(images.max())
        if lo < low - tolerance or hi > high + tolerance:
            hint = "; divide 0-255 images by 255" if hi > 2 else "; clip them (e.g. x.clamp(0, 1))"
            raise ValueError(f"{what} must be float in [{low:g}, {high:g}] (tolerance {tolerance:g}), got values in "
                             f"[{lo:.4g}, {hi:.4g}]{hint}")
    return images


def check_input_channels(model, images: torch.Tensor, what: str = "images") -> None:
    """Raise ``ValueError`` when ``images`` ``(…, C, H, W)`` do not have the channels the model's first convolution
    takes (the first submodule with ``in_channels``), naming both and the usual remedy; a model without such a
    layer is not checked."""
    first = next(((name, m) for name, m in model.named_modules() if isinstance(getattr(m, "in_channels", None), int)),
                 None)
    if first is None or images.dim() < 3:
        return
    name, layer = first
    channels = images.shape[-3]
    if channels != layer.in_channels:
        remedy = ("repeat a gray image to RGB (x.expand(3, -1, -1)) or convert it when loading" if channels == 1 else
                  "drop the alpha channel (x[:3])" if channels == 4 and layer.in_channels == 3 else
                  f"give it {layer.in_channels} channels")
        raise ValueError(f"{what} have {channels} channel(s), but the model's first layer {name!r} takes "
                         f"{layer.in_channels}: {remedy}")

"""The paper's masking metric (Sec. 5.2.1): MSE (x 1e3) between the image-gradient maps of two SR outputs,
on gray images (``channel="gray"``, as the paper describes) or on the blue channel (``channel="blue"``,
what the official code computed by accident).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from faiglib.core.validate import check_images

__all__ = ["to_gray", "gradient_map", "output_difference"]


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
    Both must be float without NaN/inf (``ValueError`` otherwise); their range is not checked, since SR
    outputs overshoot [0, 1] and are clipped here by design.
    """
    check_images(output, "output", dims=(4,), value_range=None)
    check_images(reference, "reference", dims=(4,), value_range=None)
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

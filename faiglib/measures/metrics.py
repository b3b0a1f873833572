"""PSNR and SSIM as SR papers report them: on [0, 255], after cropping ``crop_border`` pixels, on RGB or on Y.

Inputs are ``(3, H, W)`` or ``(B, 3, H, W)`` floats in [0, 1] (values are clipped and rounded to 8 bits
first, as when images are saved, unless ``quantize=False``). Batched inputs give one value per image.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["rgb_to_y", "psnr", "ssim", "interpolation_psnr"]


def rgb_to_y(img: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma on the [16, 235] scale from RGB in [0, 1]: ``(…, 3, H, W)`` -> ``(…, 1, H, W)``."""
    w = torch.tensor([65.481, 128.553, 24.966], dtype=img.dtype, device=img.device).view(3, 1, 1)
    return (img * w).sum(-3, keepdim=True) + 16.0


def _prepare(a: torch.Tensor, b: torch.Tensor, crop_border: int, y_channel: bool, quantize: bool):
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.dim() == 3:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    if a.dim() != 4:
        raise ValueError(f"expected (3, H, W) or (B, 3, H, W), got {tuple(a.shape)}")
    a, b = a.double().clamp(0, 1), b.double().clamp(0, 1)
    if quantize:
        a, b = torch.round(a * 255) / 255, torch.round(b * 255) / 255
    if y_channel:
        a, b = rgb_to_y(a), rgb_to_y(b)
    else:
        a, b = a * 255.0, b * 255.0
    if crop_border:
        if min(a.shape[-2:]) <= 2 * crop_border:
            raise ValueError(f"crop_border {crop_border} leaves nothing of a {tuple(a.shape[-2:])} image")
        a = a[..., crop_border:-crop_border, crop_border:-crop_border]
        b = b[..., crop_border:-crop_border, crop_border:-crop_border]
    return a, b


def psnr(a: torch.Tensor, b: torch.Tensor, crop_border: int = 0, y_channel: bool = False,
         quantize: bool = True) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB (peak 255); ``inf`` for identical images. Shape ``()`` or ``(B,)``."""
    batched = a.dim() == 4
    a, b = _prepare(a, b, crop_border, y_channel, quantize)
    mse = (a - b).pow(2).flatten(1).mean(1)
    out = 10 * torch.log10(255.0 ** 2 / mse)
    return out if batched else out[0]


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    ax = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(ax ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(a: torch.Tensor, b: torch.Tensor, crop_border: int = 0, y_channel: bool = False,
         quantize: bool = True) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, L 255.

    Statistics are computed over 'valid' windows only and averaged over channels. Shape ``()`` or ``(B,)``.
    """
    batched = a.dim() == 4
    a, b = _prepare(a, b, crop_border, y_channel, quantize)
    if min(a.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 after cropping, got {tuple(a.shape[-2:])}")
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    n, c = a.shape[:2]
    win = _gaussian_window().to(a).expand(c, 1, 11, 11)
    filt = lambda x: F.conv2d(x, win, groups=c)  # noqa: E731 - 'valid' windows
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a ** 2
    var_b = filt(b * b) - mu_b ** 2
    cov = filt(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    out = ssim_map.flatten(1).mean(1)
    return out if batched else out[0]


def interpolation_psnr(analysis, mode: str = "bilinear") -> dict[str, float]:
    """Mean RGB PSNR (dB, border ``scale`` cropped) of plain ``mode`` upsampling of each LR kind of an
    :class:`~faiglib.data.degradations.AnalysisSet` -- what each degradation costs before any network."""
    scale = analysis.degradation.scale
    table = {}
    for kind, images in analysis.lr.items():
        values = [float(psnr(F.interpolate(lr[None], scale_factor=scale, mode=mode, align_corners=False)[0], hr,
                             crop_border=scale)) for lr, hr in zip(images, analysis.hr)]
        table[kind] = sum(values) / len(values)
    return table

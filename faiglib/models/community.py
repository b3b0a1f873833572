"""Two community SR architectures with BasicSR's key names, so that their published checkpoints load and give the
original networks' outputs: EDSR (Lim et al. 2017; BasicSR's ``EDSR``) and RRDBNet (ESRGAN, Wang et al. 2018;
BasicSR's ``RRDBNet``, with its x2 / x1 variants that pixel-unshuffle the input first).

Written from the architectures' definitions (read in BasicSR, not copied): every module is its own instance (no
activation module is shared or in-place), which gives the same numbers and lets the pixel methods hook them.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from faiglib.models.rcan import DIV2K_MEAN

__all__ = ["EDSR", "RRDBNet", "EDSR_RGB_MEAN"]

#: EDSR's RGB mean (DIV2K's, as RCAN's and SwinIR's), subtracted before and added after the network, on a 0-255
#: scale (``img_range``).
EDSR_RGB_MEAN = DIV2K_MEAN


class _ResidualBlock(nn.Module):
    """conv - ReLU - conv, added to the input after scaling by ``res_scale`` (EDSR's block, no batch norm)."""

    def __init__(self, num_feat: int, res_scale: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x))) * self.res_scale


def _upsampler(scale: int, num_feat: int) -> nn.Sequential:
    """EDSR's tail before ``conv_last``: ``log2(scale)`` x (conv to 4C, pixel shuffle x2), or one conv to 9C and a
    pixel shuffle x3 (keys ``upsample.0``, ``upsample.2``, ...)."""
    layers: list[nn.Module] = []
    if scale & (scale - 1) == 0:
        for _ in range(int(math.log2(scale))):
            layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
    elif scale == 3:
        layers += [nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3)]
    else:
        raise ValueError(f"EDSR upsamples by 2^n or 3, got {scale}")
    return nn.Sequential(*layers)


class EDSR(nn.Module):
    """EDSR: ``x -> (x - mean) * img_range -> conv_first -> body (+ conv_after_body, long skip) -> upsample ->
    conv_last -> / img_range + mean``. Input and output ``(B, 3, h, w)`` / ``(B, 3, s·h, s·w)`` in [0, 1]."""

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 16,
                 upscale: int = 4, res_scale: float = 1.0, img_range: float = 255.0,
                 rgb_mean: tuple[float, float, float] = EDSR_RGB_MEAN) -> None:
        super().__init__()
        self.upscale, self.img_range = upscale, img_range
        self.register_buffer("mean", torch.tensor(rgb_mean).view(1, 3, 1, 1), persistent=False)  # not in the keys
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[_ResidualBlock(num_feat, res_scale) for _ in range(num_block)])
        self.conv_after_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.upsample = _upsampler(upscale, num_feat)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.mean.to(x.dtype)
        x = (x - mean) * self.img_range
        x = self.conv_first(x)
        x = x + self.conv_after_body(self.body(x))
        return self.conv_last(self.upsample(x)) / self.img_range + mean


class _DenseBlock(nn.Module):
    """ESRGAN's residual dense block: five convs, each reading the input and every earlier output (LeakyReLU
    0.2 after the first four), the last scaled by 0.2 and added to the input."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        for i in range(1, 6):
            setattr(self, f"conv{i}", nn.Conv2d(num_feat + (i - 1) * num_grow_ch, num_feat if i == 5 else num_grow_ch,
                                                3, 1, 1))
        for i in range(1, 5):
            setattr(self, f"lrelu{i}", nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for i in range(1, 5):
            features.append(getattr(self, f"lrelu{i}")(getattr(self, f"conv{i}")(torch.cat(features, 1))))
        return self.conv5(torch.cat(features, 1)) * 0.2 + x


class _RRDB(nn.Module):
    """Three dense blocks in a row, their output scaled by 0.2 and added to the input (keys ``rdb1..3``)."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1 = _DenseBlock(num_feat, num_grow_ch)
        self.rdb2 = _DenseBlock(num_feat, num_grow_ch)
        self.rdb3 = _DenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN's generator: (x2 / x1: pixel-unshuffle by 2 / 4 first) ``conv_first`` -> RRDBs -> ``conv_body`` +
    long skip -> two (nearest x2, conv, LeakyReLU 0.2) -> ``conv_hr`` + LeakyReLU -> ``conv_last``."""

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 23, num_grow_ch: int = 32) -> None:
        super().__init__()
        if scale not in (1, 2, 4):
            raise ValueError(f"RRDBNet upsamples by 4 (x2 and x1 unshuffle the input first), got scale {scale}")
        self.scale = self.upscale = scale
        unshuffle = {4: 1, 2: 2, 1: 4}[scale]
        self.unshuffle = unshuffle
        self.conv_first = nn.Conv2d(num_in_ch * unshuffle ** 2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[_RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu_up1, self.lrelu_up2, self.lrelu_hr = nn.LeakyReLU(0.2), nn.LeakyReLU(0.2), nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu_up1(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu_up2(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu_hr(self.conv_hr(feat)))

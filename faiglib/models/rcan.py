"""An RCAN-style SR network: residual groups of residual channel-attention blocks (Zhang et al., ECCV 2018).

Layout and state-dict key names follow BasicSR's ``RCAN`` so that a checkpoint of the same size loads by name:

* ``conv_first`` (3x3) -> ``body.<g>`` residual groups -> ``conv_after_body`` (3x3) + long skip from
  ``conv_first`` -> ``upsample`` (``upsample.0`` conv + pixel shuffle; x4: ``upsample.0``, ``upsample.2``) ->
  ``conv_last`` (3x3).
* a residual group ``body.<g>``: ``residual_group.<b>`` RCABs, then ``conv`` (3x3), plus the group's skip.
* an RCAB ``body.<g>.residual_group.<b>.rcab``: ``0`` conv 3x3, ``1`` ReLU, ``2`` conv 3x3, ``3`` channel
  attention, plus the block's skip (scaled by ``res_scale``).
* channel attention ``rcab.3.attention``: ``0`` global average pool, ``1`` 1x1 conv C -> C/r, ``2`` ReLU,
  ``3`` 1x1 conv C/r -> C, ``4`` sigmoid; the block's features are multiplied by it channel-wise.

Inputs ``(B, 3, h, w)`` in [0, 1]; output ``(B, 3, scale*h, scale*w)`` (not clamped). As in BasicSR the input is
shifted by the DIV2K mean and scaled by ``img_range`` (255) inside the network; the mean is a non-persistent
buffer (not in the state dict, as in BasicSR where it is a plain attribute). Every activation is its own module
instance (no functional calls), so module-hook attribution methods see each one.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from faiglib.core.units import ATTENTION_RULES

__all__ = ["RCAN", "ChannelAttention", "RCAB", "ResidualGroup"]

#: DIV2K's RGB mean, the value BasicSR's RCAN and SwinIR subtract.
DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


def pixel_shuffle_upsampler(scale: int, num_feat: int) -> nn.Sequential:
    """``Conv2d(C, 4C) + PixelShuffle(2)`` per factor 2 (x2, x4) or ``Conv2d(C, 9C) + PixelShuffle(3)`` (x3):
    keys ``0`` (and ``2`` at x4), as BasicSR's ``Upsample``."""
    if scale in (2, 4):
        layers: list[nn.Module] = []
        for _ in range(scale // 2):
            layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
        return nn.Sequential(*layers)
    if scale == 3:
        return nn.Sequential(nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3))
    raise ValueError(f"upscale must be 2, 3 or 4, got {scale!r}")


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: ``x * sigmoid(W2 relu(W1 avgpool(x)))`` with 1x1 convs ``C -> C/r -> C``."""

    def __init__(self, num_feat: int, squeeze: int):
        super().__init__()
        self.attention = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(num_feat, num_feat // squeeze, 1),
                                       nn.ReLU(inplace=False), nn.Conv2d(num_feat // squeeze, num_feat, 1),
                                       nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.attention(x)


class RCAB(nn.Module):
    """Residual channel-attention block: ``x + res_scale * CA(conv(relu(conv(x))))``."""

    def __init__(self, num_feat: int, squeeze: int, res_scale: float = 1.0):
        super().__init__()
        self.res_scale = res_scale
        self.rcab = nn.Sequential(nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.ReLU(inplace=False),
                                  nn.Conv2d(num_feat, num_feat, 3, 1, 1), ChannelAttention(num_feat, squeeze))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.rcab(x) * self.res_scale


class ResidualGroup(nn.Module):
    """``num_block`` RCABs and a 3x3 conv, with a skip over the group."""

    def __init__(self, num_feat: int, num_block: int, squeeze: int, res_scale: float = 1.0):
        super().__init__()
        self.residual_group = nn.Sequential(*[RCAB(num_feat, squeeze, res_scale) for _ in range(num_block)])
        self.conv = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(self.residual_group(x))


class RCAN(nn.Module):
    """RCAN: ``num_group`` residual groups of ``num_block`` RCABs of width ``num_feat``; channel attention
    squeezes ``num_feat`` to ``num_feat // squeeze_factor`` (at least 1 channel).

    The published RCAN is ``num_feat=64, num_group=10, num_block=20, squeeze_factor=16``.

    Attribution units (``unit_rules``, strict): every conv's ``(out, in)`` slices -- 3x3 in the body and the
    tail, 1x1 in the channel attention (one weight each).
    """

    unit_rules = ATTENTION_RULES

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_group: int = 10,
                 num_block: int = 16, squeeze_factor: int = 16, upscale: int = 4, res_scale: float = 1.0,
                 img_range: float = 255.0, rgb_mean: tuple[float, float, float] = DIV2K_MEAN):
        super().__init__()
        for name, value, low in (("num_feat", num_feat, 1), ("num_group", num_group, 1), ("num_block", num_block, 0),
                                 ("squeeze_factor", squeeze_factor, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"RCAN {name} must be an integer >= {low}, got {value!r}")
        if squeeze_factor > num_feat:
            raise ValueError(f"RCAN squeeze_factor {squeeze_factor} exceeds num_feat {num_feat}: the channel "
                             f"attention would have no channel; use squeeze_factor <= num_feat")
        if len(rgb_mean) != num_in_ch:
            raise ValueError(f"rgb_mean has {len(rgb_mean)} values for {num_in_ch} input channels")
        self.upscale = upscale
        self.img_range = float(img_range)
        self.register_buffer("mean", torch.tensor(rgb_mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualGroup(num_feat, num_block, squeeze_factor, res_scale)
                                    for _ in range(num_group)])
        self.conv_after_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.upsample = pixel_shuffle_upsampler(upscale, num_feat)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        mean = self.mean.to(x.dtype)
        x = (x - mean) * self.img_range
        x = self.conv_first(x)
        x = x + self.conv_after_body(self.body(x))
        return self.conv_last(self.upsample(x)) / self.img_range + mean

    def representation_layers(self) -> list[str]:
        """Module names whose outputs represent the input, first to last (for CKA): ``conv_first``, every residual
        group, ``conv_after_body``, ``conv_last``."""
        return ["conv_first", *(f"body.{i}" for i in range(len(self.body))), "conv_after_body", "conv_last"]

"""The two one-branch SR networks analysed in the paper (Sec. 5.1), with BasicSR's state-dict key names.

* :class:`MSRResNet` -- SRResNet without batch normalisation: ``conv_first`` -> ``body.N.conv1/conv2``
  residual blocks -> ``upconv1`` (+ ``upconv2`` for x4) with pixel shuffle -> ``conv_hr`` -> ``conv_last``,
  plus a bilinear global skip from the LR input (``global_residual=False`` drops it: same keys, the network
  must then produce the whole image, not only the residual).
* :class:`SRCNNStyle` -- nine 3x3 convolutions in an ``nn.Sequential`` named ``features`` (widths
  ``w, 2w, 2w, 2w, 2w, 2w``; one pixel-shuffle upsampling conv; two convs at HR), LeakyReLU 0.1.

Both take ``(B, 3, h, w)`` images in [0, 1] and return ``(B, 3, scale*h, scale*w)`` (not clamped).
Keeping the key names means an official FAIG / BasicSR ``.pth`` of the same size loads with
:func:`faiglib.models.loading.load_model`.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MSRResNet", "SRCNNStyle", "build_network", "ARCHITECTURES"]


def _leaky(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, negative_slope=0.1)


def _check_scale(scale: int, allowed: tuple[int, ...]) -> None:
    if scale not in allowed:
        raise ValueError(f"scale must be one of {allowed}, got {scale!r}")


class ResidualBlockNoBN(nn.Module):
    """conv-ReLU-conv with an identity skip; no batch norm (BasicSR keys ``conv1``, ``conv2``)."""

    def __init__(self, num_feat: int):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU()  # a module used once (no parameters: same keys): rescale rules hook it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


class MSRResNet(nn.Module):
    """Modified SRResNet (no BN). ``num_feat`` is the width, ``num_block`` the number of residual blocks.

    ``global_residual`` (default ``True``, BasicSR's MSRResNet) adds the bilinear upsampling of the input to the
    output; ``False`` leaves it out (no parameter depends on it, so the state-dict keys are the same). The
    "deep degradation semantics" study (:mod:`faiglib.studies.semantics`) compares the two.
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 16,
                 upscale: int = 2, global_residual: bool = True):
        super().__init__()
        if not isinstance(global_residual, bool):
            raise ValueError(f"global_residual must be True or False, got {global_residual!r}")
        self.global_residual = global_residual
        _check_scale(upscale, (2, 3, 4))
        if num_feat < 1 or num_block < 0:
            raise ValueError(f"num_feat must be >= 1 and num_block >= 0, got {num_feat}, {num_block}")
        self.upscale = upscale
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.lrelu_first = nn.LeakyReLU(0.1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        _add_sr_tail(self, num_feat, num_out_ch, upscale)
        _init_residual_net(self, (nn.Conv2d,))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _sr_tail(self, self.body(self.lrelu_first(self.conv_first(x))), x)

    def representation_layers(self) -> list[str]:
        """Module names whose outputs represent the input, first to last (for CKA): the first activation, every
        residual block, the activations of the upsampling tail, the last conv (before the global skip)."""
        tail = ["lrelu_up1", "lrelu_up2", "lrelu_hr", "conv_last"]
        return ["lrelu_first", *(f"body.{i}" for i in range(len(self.body))), *(n for n in tail if hasattr(self, n))]


def _add_sr_tail(net: nn.Module, num_feat: int, num_out_ch: int, upscale: int) -> None:
    """Register MSRResNet's upsampling tail on ``net`` with BasicSR's key names: ``upconv1`` (``upconv2`` at
    x4), ``pixel_shuffle``, ``conv_hr``, ``conv_last``. x2 and x3 use one pixel-shuffle stage, x4 two x2 stages."""
    shuffle = 2 if upscale in (2, 4) else 3
    net.upconv1 = nn.Conv2d(num_feat, num_feat * shuffle * shuffle, 3, 1, 1)
    if upscale == 4:
        net.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
    net.pixel_shuffle = nn.PixelShuffle(shuffle)
    net.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
    net.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
    # one activation module per place (no parameters, so the keys stay BasicSR's): DeepLift-style rescale
    # rules (captum) hook activation modules and need each to run once per forward
    net.lrelu_up1 = nn.LeakyReLU(0.1)
    if upscale == 4:
        net.lrelu_up2 = nn.LeakyReLU(0.1)
    net.lrelu_hr = nn.LeakyReLU(0.1)


def _sr_tail(net: nn.Module, feat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The tail of :func:`_add_sr_tail`: body features ``(B, C, h, w)`` -> output ``(B, 3, h*s, w*s)``, plus the
    bilinear upsampling of the LR input ``x`` unless ``net.global_residual`` is False."""
    out = net.lrelu_up1(net.pixel_shuffle(net.upconv1(feat)))
    if net.upscale == 4:
        out = net.lrelu_up2(net.pixel_shuffle(net.upconv2(out)))
    out = net.conv_last(net.lrelu_hr(net.conv_hr(out)))
    if not getattr(net, "global_residual", True):
        return out
    return out + F.interpolate(x, scale_factor=net.upscale, mode="bilinear", align_corners=False)


def _init_residual_net(net: nn.Module, kinds: tuple[type, ...]) -> None:
    """Kaiming init of every ``kinds`` layer, scaled down (0.1) in the residual branches (``body.``), zero
    biases and a zero ``conv_last``: the untrained net starts at the bilinear skip, which is what makes short
    CPU trainings converge."""
    for name, module in net.named_modules():
        if isinstance(module, kinds):
            nn.init.kaiming_normal_(module.weight, a=0.0, mode="fan_in")
            if name.startswith("body."):
                module.weight.data.mul_(0.1)
            nn.init.zeros_(module.bias)
    nn.init.zeros_(net.conv_last.weight)


class SRCNNStyle(nn.Module):
    """SRCNN-style 9-conv network with the upsampling near the end (paper Sec. 5.1, official ``features.N`` keys).

    ``num_feat`` is the width of the first conv; the next five convs have ``2 * num_feat`` channels
    (``num_feat=64`` is the paper's 64-128-128-128-128-128 configuration).
    """

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, upscale: int = 2):
        super().__init__()
        _check_scale(upscale, (2, 3, 4))
        if num_feat < 1:
            raise ValueError(f"num_feat must be >= 1, got {num_feat}")
        self.upscale = upscale
        widths = [num_feat] + [2 * num_feat] * 5
        layers: list[nn.Module] = []
        in_ch = num_in_ch
        for width in widths:
            layers += [nn.Conv2d(in_ch, width, 3, 1, 1), nn.LeakyReLU(0.1)]
            in_ch = width
        stages = [2] * int(math.log2(upscale)) if upscale in (2, 4) else [3]
        for factor in stages:
            layers += [nn.Conv2d(in_ch, in_ch * factor * factor, 3, 1, 1), nn.PixelShuffle(factor), nn.LeakyReLU(0.1)]
        layers += [nn.Conv2d(in_ch, in_ch, 3, 1, 1), nn.LeakyReLU(0.1), nn.Conv2d(in_ch, num_out_ch, 3, 1, 1)]
        self.features = nn.Sequential(*layers)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, a=0.1, mode="fan_out")
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


ARCHITECTURES: dict[str, type[nn.Module]] = {"msrresnet": MSRResNet, "srcnn_style": SRCNNStyle}

# attention networks (their own modules; BasicSR key names): the "Attention networks" chapter
from faiglib.models.rcan import RCAN  # noqa: E402 - after the CNNs, which they do not need
from faiglib.models.swinir import SwinIR  # noqa: E402

ARCHITECTURES.update(rcan=RCAN, swinir=SwinIR)

# community architectures with BasicSR's key names (their published checkpoints load: models.loading)
from faiglib.models.community import EDSR, RRDBNet  # noqa: E402

ARCHITECTURES.update(edsr=EDSR, rrdbnet=RRDBNet)


def build_network(arch: str, **kwargs: Any) -> nn.Module:
    """Build ``arch`` (``"msrresnet"``, ``"srcnn_style"``, ``"rcan"``, ``"swinir"``, ``"edsr"`` or ``"rrdbnet"``) with
    its keyword arguments.

    Raises ``ValueError`` naming the known architectures, or the unexpected keyword.
    """
    try:
        cls = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}") from None
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"bad arguments for {arch}: {err}") from None

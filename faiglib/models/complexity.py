"""Compute budgets of SR networks: FLOPs of one forward pass and parameter counts, and the MSRResNet
whose budget matches another network (paper Sec. 3: "We adjust the number of residual blocks to match a
similar computation budget (FLOPs and parameters)").

FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode`: 2 per multiply-add of convolutions
(grouped ones included), linear layers and matrix products; element-wise work (activations, pixel shuffle,
interpolation, attention products) is not counted. Many SR papers quote multiply-adds; divide by 2 for those.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["Complexity", "complexity", "MatchedBlocks", "match_msrresnet_blocks"]


@dataclass(frozen=True)
class Complexity:
    """``flops`` of one forward pass on a ``(1, 3, *lr_size)`` input, and the number of parameters."""

    flops: int
    params: int
    lr_size: tuple[int, int]

    def ratio(self, other: "Complexity") -> tuple[float, float]:
        """``(flops / other.flops, params / other.params)``."""
        return self.flops / other.flops, self.params / other.params


def complexity(model: nn.Module, lr_size: tuple[int, int] = (64, 64)) -> Complexity:
    """FLOPs of ``model`` on one zero LR image of ``lr_size = (h, w)`` and its parameter count (all
    parameters, including any used only in training, such as a contrastive projection head)."""
    h, w = (int(v) for v in lr_size)
    if h < 1 or w < 1:
        raise ValueError(f"lr_size must be two positive sizes, got {lr_size}")
    p = next(model.parameters(), None)
    x = torch.zeros(1, 3, h, w, dtype=p.dtype if p is not None else torch.float32,
                    device=p.device if p is not None else "cpu")
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return Complexity(flops=int(counter.get_total_flops()), params=sum(q.numel() for q in model.parameters()),
                      lr_size=(h, w))


@dataclass(frozen=True)
class MatchedBlocks:
    """The chosen block count, both budgets, and the worst relative gap ``max(|flops ratio - 1|, |params ratio - 1|)``."""

    num_block: int
    reference: Complexity
    matched: Complexity
    gap: float

    @property
    def ratios(self) -> tuple[float, float]:
        """``(FLOPs, params)`` of the matched network relative to the reference."""
        return self.matched.ratio(self.reference)


def match_msrresnet_blocks(reference: nn.Module | Complexity, num_feat: int, upscale: int,
                           lr_size: tuple[int, int] = (64, 64), max_blocks: int = 128,
                           tolerance: float | None = 0.10,
                           build: Callable[[int], nn.Module] | None = None) -> MatchedBlocks:
    """The number of residual blocks of an ``MSRResNet(num_feat, num_block, upscale)`` whose FLOPs and
    parameters are both closest to ``reference`` (smallest worst relative gap; ties: fewer blocks).

    Both budgets grow linearly with the block count, so the best count is found from two measured networks
    (0 and 1 blocks) and then checked by measuring it. Raises ``ValueError`` if the best gap exceeds
    ``tolerance`` (``None``: never), naming the gaps: the reference is then too unlike an MSRResNet of this width.
    """
    from faiglib.models.networks import MSRResNet

    build = build or (lambda n: MSRResNet(num_feat=num_feat, num_block=n, upscale=upscale))
    ref = reference if isinstance(reference, Complexity) else complexity(reference, lr_size)
    lr_size = ref.lr_size
    c0, c1 = complexity(build(0), lr_size), complexity(build(1), lr_size)
    df, dp = c1.flops - c0.flops, c1.params - c0.params

    def gap(n: int) -> float:
        return max(abs((c0.flops + n * df) / ref.flops - 1), abs((c0.params + n * dp) / ref.params - 1))

    best = min(range(max_blocks + 1), key=lambda n: (gap(n), n))
    matched = complexity(build(best), lr_size)
    fr, pr = matched.ratio(ref)
    worst = max(abs(fr - 1), abs(pr - 1))
    if tolerance is not None and worst > tolerance:
        raise ValueError(f"no MSRResNet-{num_feat} with <= {max_blocks} blocks matches within {tolerance:.0%}: the best, "
                         f"{best} blocks, has FLOPs x{fr:.3f} and params x{pr:.3f} of the reference")
    return MatchedBlocks(best, ref, matched, worst)

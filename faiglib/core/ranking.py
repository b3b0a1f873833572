"""Top-k selection of attribution units: the one rule every selection method and the overlap score use.

The top ``p`` of ``n`` units are the first ``max(1, floor(p · n))`` in descending order of score, ties kept in
index order (a stable sort) -- the official FAIG code's convention.
"""
from __future__ import annotations

import torch

__all__ = ["check_proportion", "top_count", "ranked", "top_indices"]


def check_proportion(proportion: float) -> float:
    """``proportion`` if it is a number in (0, 1]; else a ``ValueError`` naming it (0 is never "the default")."""
    if isinstance(proportion, bool) or not isinstance(proportion, (int, float)) or not 0 < proportion <= 1:
        raise ValueError(f"proportion must be in (0, 1] (e.g. 0.01 for the top 1 %), got {proportion!r}")
    return float(proportion)


def top_count(proportion: float, total: int) -> int:
    """Number of units in the top ``proportion`` (in (0, 1]) of ``total`` (floor, at least 1)."""
    return max(1, int(check_proportion(proportion) * total + 1e-9))


def ranked(scores: torch.Tensor) -> torch.Tensor:
    """Indices of ``scores`` ``(..., n)`` by descending score along the last dimension, ties in index order."""
    return torch.sort(scores, dim=-1, descending=True, stable=True).indices


def top_indices(scores: torch.Tensor, proportion: float) -> torch.Tensor:
    """The top ``proportion`` of units: ``(..., n)`` scores -> ``(..., k)`` indices, best first,
    ``k = top_count(proportion, n)``."""
    return ranked(scores)[..., : top_count(proportion, scores.shape[-1])]

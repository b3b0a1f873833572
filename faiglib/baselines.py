"""Filter selections to compare FAIG against. So far: seeded random selection (paper Sec. 5.2.1, "Random")."""
from __future__ import annotations

import torch

__all__ = ["random_ranking"]


def random_ranking(n_filters: int, seed: int) -> torch.Tensor:
    """A random order of ``range(n_filters)`` from its own generator; its top-k is a uniform k-subset."""
    if n_filters < 1:
        raise ValueError(f"n_filters must be >= 1, got {n_filters}")
    return torch.randperm(n_filters, generator=torch.Generator().manual_seed(seed))

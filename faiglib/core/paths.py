"""Straight paths and the quadrature rules that discretise path integrals (paper Eq. 5-6).

:func:`path_points` is the one definition of a straight path, ``x(α) = start + α·(end − start)``, used for
parameters by FAIG and for inputs by input-space IG. FAIG's path (Sec. 4.1) runs from the target to the
baseline model (:func:`interpolate`):

    θ(α) = α·θ̄ + (1 − α)·θ,   α ∈ [0, 1],   θ(0) = θ (target),   θ(1) = θ̄ (baseline).

A rule returns the sample points ``alphas`` and weights (summing to 1) so that
``∫_0^1 g(α) dα ≈ Σ_k weights[k] · g(alphas[k])``:

* ``"left"``: α_k = k/N, k = 0 … N−1, weights 1/N -- the points of the official FAIG code (N evaluations).
* ``"right"``: α_k = k/N, k = 1 … N -- the sum as printed in Eq. 6 (N evaluations).
* ``"midpoint"``: α_k = (k + ½)/N (N evaluations, second order).
* ``"trapezoid"``: α_k = k/N, k = 0 … N, end weights halved (N + 1 evaluations, second order).
* ``"gauss-legendre"``: N Gauss-Legendre nodes on [0, 1] (N evaluations, exact for polynomials of degree 2N−1).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

__all__ = ["METHODS", "quadrature", "path_points", "interpolate", "n_evaluations"]

METHODS: tuple[str, ...] = ("left", "right", "midpoint", "trapezoid", "gauss-legendre")


def _check_steps(n_steps: int) -> int:
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    return int(n_steps)


def quadrature(n_steps: int, method: str = "left") -> tuple[torch.Tensor, torch.Tensor]:
    """``(alphas, weights)``, float64 1-D tensors, for ``n_steps`` intervals/nodes of ``method``."""
    n = _check_steps(n_steps)
    if method == "left":
        alphas, weights = np.arange(n) / n, np.full(n, 1 / n)
    elif method == "right":
        alphas, weights = np.arange(1, n + 1) / n, np.full(n, 1 / n)
    elif method == "midpoint":
        alphas, weights = (np.arange(n) + 0.5) / n, np.full(n, 1 / n)
    elif method == "trapezoid":
        alphas = np.arange(n + 1) / n
        weights = np.full(n + 1, 1 / n)
        weights[[0, -1]] = 0.5 / n
    elif method == "gauss-legendre":
        nodes, w = np.polynomial.legendre.leggauss(n)
        alphas, weights = (nodes + 1) / 2, w / 2
    else:
        raise ValueError(f"unknown quadrature method {method!r}; known: {METHODS}")
    return torch.from_numpy(np.asarray(alphas, dtype=np.float64)), torch.from_numpy(np.asarray(weights, dtype=np.float64))


def n_evaluations(n_steps: int, method: str) -> int:
    """How many gradient evaluations ``method`` makes for ``n_steps``."""
    return len(quadrature(n_steps, method)[0])


def path_points(start: torch.Tensor, end: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """The straight path ``start + α·(end − start)`` at every α of ``alphas`` ``(K,)``: ``(K, *start.shape)``
    in ``start``'s dtype. ``torch.lerp`` makes both ends exact (α = 0 gives ``start``, α = 1 gives ``end``)."""
    a = torch.as_tensor(alphas).to(device=start.device, dtype=start.dtype).reshape((-1,) + (1,) * start.dim())
    return torch.lerp(start.unsqueeze(0), end.unsqueeze(0), a)


def interpolate(baseline: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], alpha: float,
                keys=None) -> dict[str, torch.Tensor]:
    """θ(α) = α·θ̄ + (1 − α)·θ for every key (``keys`` defaults to all of ``target``): :func:`path_points` at one α."""
    keys = target.keys() if keys is None else keys
    a = torch.tensor([float(alpha)], dtype=torch.float64)
    return {k: path_points(target[k], baseline[k], a)[0] for k in keys}

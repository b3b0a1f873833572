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

LAM (:mod:`faiglib.methods.lam`) integrates along a path in *input* space instead: :func:`blur_path`, the
progressive-blur path γ(α) = ω(σ − ασ) ⊗ x from the blurred baseline (α = 0) to the input itself (α = 1).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["QUADRATURE_RULES", "quadrature", "path_points", "interpolate", "n_evaluations", "blur_kernels", "blur_path",
           "blur_baseline"]

QUADRATURE_RULES: tuple[str, ...] = ("left", "right", "midpoint", "trapezoid", "gauss-legendre")


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
        raise ValueError(f"unknown quadrature method {method!r}; known: {QUADRATURE_RULES}")
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


# ---- the progressive-blur path of LAM (input space) -------------------------------------------------------

def blur_kernels(sigmas, kernel_size: int = 9) -> torch.Tensor:
    """Isotropic Gaussian kernels ``(len(sigmas), k, k)``, float64, each summing to 1, in the convention of the
    reference LAM demo: ``exp(−(u² + v²) / (2(σ + 1e-5)²))`` on the integer grid ``−k//2 … k//2`` (the epsilon
    is added to σ, not to 2σ²). It keeps σ = 0 finite: that kernel is the exact identity (the centre weight 1,
    all others ``exp(−r²/2e-10)`` = 0)."""
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, (int, np.integer)) or kernel_size < 1 \
            or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer (the kernel needs a centre pixel), "
                         f"got {kernel_size!r}")
    sig = torch.as_tensor(sigmas, dtype=torch.float64).reshape(-1)
    if (sig < 0).any() or not torch.isfinite(sig).all():
        raise ValueError(f"blur sigmas must be finite and >= 0, got {sig.tolist()}")
    ax = torch.arange(kernel_size, dtype=torch.float64) - kernel_size // 2
    r2 = ax[:, None] ** 2 + ax[None, :] ** 2
    k = torch.exp(-r2[None] / (2 * (sig[:, None, None] + 1e-5) ** 2))
    return k / k.sum(dim=(1, 2), keepdim=True)


def _filter(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Every channel of ``x`` ``(C, h, w)`` filtered by every kernel ``(K, k, k)`` -> ``(K, C, h, w)``, with
    mirrored borders without repeating the edge pixel (OpenCV's default BORDER_REFLECT_101, which the demo's
    ``cv2.filter2D`` uses; torch calls it ``"reflect"``)."""
    pad = kernels.shape[-1] // 2
    xp = F.pad(x.unsqueeze(1), (pad, pad, pad, pad), mode="reflect")  # (C, 1, h+2p, w+2p)
    out = F.conv2d(xp, kernels.unsqueeze(1).to(xp.dtype))  # (C, K, h, w); kernels are symmetric: conv = corr
    return out.transpose(0, 1)


def blur_path(lr: torch.Tensor, sigma: float = 1.2, fold: int = 50,
              kernel_size: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
    """The progressive-blur path of LAM, sampled as in the reference demo.

    ``σ_k = linspace(σ, 0, fold + 1)``, ``K_k`` its kernel (:func:`blur_kernels`). Step ``k = 0 … fold−1``:

    * image ``γ_k = K_{k+1} ⊗ x`` -- the last step, ``K_fold`` (σ = 0), is the input itself;
    * derivative ``(K_{k+1} − K_k) ⊗ x · fold`` -- dγ/dα by a backward difference over Δα = 1/fold.

    The baseline (α = 0) is ``K_0 ⊗ x`` (blur with σ), which is *not* among the images; so the mean over steps of
    ``∂D/∂γ_k ⊙ derivative_k`` is the right Riemann sum of the path integral, and its total tends to
    ``D(F(x)) − D(F(K_0 ⊗ x))`` as ``fold`` grows.

    ``lr``: ``(C, h, w)`` float image. Returns ``(images, derivatives)``, each ``(fold, C, h, w)`` in ``lr``'s
    dtype and device (computed in float64). ValueError for σ <= 0, fold < 1, an even kernel size or a kernel
    larger than the image.
    """
    if not torch.is_tensor(lr) or lr.dim() != 3 or not lr.is_floating_point():
        raise ValueError(f"blur_path needs one float image (C, h, w), got "
                         f"{getattr(lr, 'dtype', type(lr).__name__)} {tuple(getattr(lr, 'shape', ()))}")
    if isinstance(fold, bool) or not isinstance(fold, (int, np.integer)) or fold < 1:
        raise ValueError(f"fold (number of path steps) must be an integer >= 1, got {fold!r}")
    if not (isinstance(sigma, (int, float, np.floating)) and np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma (blur of the baseline) must be a finite number > 0, got {sigma!r}")
    kernels = blur_kernels(np.linspace(float(sigma), 0.0, int(fold) + 1), kernel_size)
    h, w = lr.shape[-2:]
    if kernel_size > min(h, w):
        raise ValueError(f"kernel_size {kernel_size} is larger than the image ({h}x{w}); use a kernel of at "
                         f"most {min(h, w) - (1 - min(h, w) % 2)} pixels or a larger image")
    x = lr.detach().to(torch.float64)
    filtered = _filter(x, kernels)  # (fold + 1, C, h, w): K_0 ⊗ x … K_fold ⊗ x
    images = filtered[1:]
    derivatives = (filtered[1:] - filtered[:-1]) * fold  # conv is linear: (K_{k+1} − K_k) ⊗ x = difference
    return images.to(lr.dtype), derivatives.to(lr.dtype)


def blur_baseline(lr: torch.Tensor, sigma: float = 1.2, kernel_size: int = 9) -> torch.Tensor:
    """The start of :func:`blur_path` (α = 0): ``lr`` ``(C, h, w)`` blurred with σ, same dtype."""
    if not (isinstance(sigma, (int, float, np.floating)) and np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma (blur of the baseline) must be a finite number > 0, got {sigma!r}")
    h, w = lr.shape[-2:]
    if kernel_size > min(h, w):
        raise ValueError(f"kernel_size {kernel_size} is larger than the image ({h}x{w})")
    return _filter(lr.detach().to(torch.float64), blur_kernels([float(sigma)], kernel_size))[0].to(lr.dtype)

"""Two one-line pixel attributions of a window objective, for comparison with L2X and LAM (captum's code).

Both explain the same objective as :func:`faiglib.methods.l2x.rescale_attribution` (a
:class:`~faiglib.methods.l2x.WindowObjective`: LAM's gradient magnitude ``D`` of the window by default):

* :func:`gradient_times_input` -- ``∂g/∂x ⊙ x`` (captum ``InputXGradient``): one forward, one backward. It is not
  relative to any reference, so it does not sum to ``g(x) − g(x̄)``.
* :func:`integrated_gradients` -- ``(x − x̄) ⊙ ∫₀¹ ∂g(x̄ + α(x − x̄))/∂x dα`` on the straight line from the blurred
  reference ``x̄`` (captum ``IntegratedGradients``, ``n_steps`` points of ``method``): ``n_steps`` forward and
  backward passes; sums to ``g(x) − g(x̄)`` up to the quadrature error (returned as ``delta``).

captum computes the gradients and the quadrature; ours is only the wrapper and the checks.

**One call shape for every pixel method** (as captum's ``attribute``): :func:`attribute` ``(method, model, case,
**settings)`` looks the method up in :data:`PIXEL_METHODS` and returns a :class:`PixelAttribution` -- the map over
the case's crop, its positive and negative parts, the completeness gap ``delta`` (``None`` for a method that is not
relative to the reference) and ``meta``. ``case`` is a :class:`~faiglib.methods.window.WindowCase`: the window, the
crop and the blurred reference every method shares. A new method is one function of that shape and one entry.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn

from faiglib.core.edits import in_evaluation_mode
from faiglib.methods.l2x import WindowObjective, rescale_attribution
from faiglib.methods.lam import lam
from faiglib.methods.window import WindowCase

__all__ = ["gradient_times_input", "integrated_gradients", "random_map", "PixelAttribution", "PIXEL_METHODS",
           "attribute"]


def _prepare(model: nn.Module, x: torch.Tensor, reference: torch.Tensor | None = None):
    if not torch.is_tensor(x) or x.dim() != 3 or not x.is_floating_point():
        raise ValueError(f"x must be one float image (C, h, w), got {getattr(x, 'shape', type(x).__name__)}")
    p = next(iter(model.parameters()), None)
    if p is not None:
        x = x.to(device=p.device, dtype=p.dtype)
    if reference is not None:
        if not torch.is_tensor(reference) or tuple(reference.shape) != tuple(x.shape):
            raise ValueError(f"the reference must have the shape of the input {tuple(x.shape)}, got "
                             f"{tuple(reference.shape) if torch.is_tensor(reference) else type(reference).__name__}")
        reference = reference.to(device=x.device, dtype=x.dtype)
    return x, reference


@in_evaluation_mode
def gradient_times_input(model: nn.Module, x: torch.Tensor, window: tuple[int, int], window_size: int = 16,
                         objective: str = "gradient") -> torch.Tensor:
    """``∂g/∂x ⊙ x`` ``(C, h, w)`` float64 on the CPU for the window objective ``g`` of ``model`` at ``x`` ``(C, h, w)``."""
    from captum.attr import InputXGradient

    x, _ = _prepare(model, x)
    wrapped = WindowObjective(model, tuple(window), window_size, objective)
    with torch.enable_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
        a = InputXGradient(wrapped).attribute(x.unsqueeze(0).clone().requires_grad_(True))
    return a[0].detach().to(torch.float64).cpu()


#: path images per forward / backward batch of :func:`integrated_gradients`: the chapters' 50 steps stay one batch;
#: 800 steps of RCAN-32x3-g2 on a whole 128x128 LR image in one batch were killed for memory on a 24 GiB machine
IG_BATCH = 50


@in_evaluation_mode
def integrated_gradients(model: nn.Module, x: torch.Tensor, reference: torch.Tensor, window: tuple[int, int],
                         window_size: int = 16, objective: str = "gradient", n_steps: int = 50,
                         method: str = "gausslegendre",
                         internal_batch_size: int | None = IG_BATCH) -> tuple[torch.Tensor, float]:
    """Straight-line IG from ``reference`` to ``x`` (both ``(C, h, w)``): ``(map (C, h, w) float64, delta)`` where
    ``delta = Σ map − (g(x) − g(x̄))`` (captum's convergence delta; costs 2 extra forward images).
    ``method``: a captum rule; default ``"gausslegendre"`` (float64 nodes and weights summing to 1). Avoid captum
    0.9's ``"riemann_trapezoid"``: its weights sum to ``(n − 1)/n``, not 1 (a test here shows it), which biases
    every map by that factor; ``"riemann_*"`` nodes are also computed in float32. ``internal_batch_size``: path
    images per batch (default :data:`IG_BATCH`; None: every step in one batch); batches only split the sum."""
    from captum.attr import IntegratedGradients

    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    x, reference = _prepare(model, x, reference)
    wrapped = WindowObjective(model, tuple(window), window_size, objective)
    with torch.enable_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
        a, delta = IntegratedGradients(wrapped).attribute(
            x.unsqueeze(0).clone(), baselines=reference.unsqueeze(0).clone(), n_steps=n_steps, method=method,
            internal_batch_size=min(n_steps, internal_batch_size) if internal_batch_size else None,
            return_convergence_delta=True)
    return a[0].detach().to(torch.float64).cpu(), float(delta.reshape(-1)[0])


def random_map(shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """A seeded random "attribution" (standard normal, float64) of ``shape``: its orders are uniform random."""
    return torch.randn(tuple(shape), generator=generator, dtype=torch.float64)


# ---- one call shape: attribute(method, model, case, **settings) -> PixelAttribution -----------------------------

@dataclass
class PixelAttribution:
    """A pixel map of one window: ``map`` ``(C, h', w')`` float64 on the CPU over the case's crop;
    ``objective_change`` ``g(x) − g(x̄)`` and ``delta = Σ map − objective_change`` for methods relative to the
    reference (``None`` otherwise); ``meta``: the method's settings."""

    method: str
    map: torch.Tensor
    objective_change: float | None = None
    delta: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def positive(self) -> torch.Tensor:
        return self.map.clamp_min(0)

    @property
    def negative(self) -> torch.Tensor:
        return self.map.clamp_max(0)

    @property
    def relative_gap(self) -> float | None:
        """``|delta| / |g(x) − g(x̄)|`` (inf where the objective does not change; None without a reference)."""
        if self.delta is None or self.objective_change is None:
            return None
        return abs(self.delta) / abs(self.objective_change) if self.objective_change else math.inf


def _l2x(model: nn.Module, case: WindowCase, **_: Any) -> PixelAttribution:
    r = rescale_attribution(model, case.x, case.window, window_size=case.window_size, reference=case.reference)
    return PixelAttribution("l2x", r.map.to(torch.float64).cpu(), r.delta, r.summation_gap, dict(r.meta))


def _lam(model: nn.Module, case: WindowCase, *, fold: int = 50, sigma: float = 1.2, kernel_size: int = 9,
         **_: Any) -> PixelAttribution:
    # LAM blurs the whole image (as its reference demo does) and runs on the case's verified crop
    res = lam(model, case.lr, case.full_window, window_size=case.window_size, sigma=sigma, fold=fold,
              kernel_size=kernel_size, context=case.context)
    r0, r1, c0, c1 = case.box
    return PixelAttribution("lam", res.map[:, r0:r1, c0:c1].to(torch.float64), res.objective - res.baseline_objective,
                            res.completeness_gap, dict(res.meta))


def _gradient_x_input(model: nn.Module, case: WindowCase, **_: Any) -> PixelAttribution:
    return PixelAttribution("gradient_x_input", gradient_times_input(model, case.x, case.window, case.window_size))


def _ig_blur(model: nn.Module, case: WindowCase, *, ig_steps: int = 50, **_: Any) -> PixelAttribution:
    a, delta = integrated_gradients(model, case.x, case.reference, case.window, case.window_size, n_steps=ig_steps)
    return PixelAttribution("ig_blur", a, float(a.sum()) - delta, delta, {"n_steps": ig_steps})


def _random(model: nn.Module, case: WindowCase, *, generator: torch.Generator | None = None,
            **_: Any) -> PixelAttribution:
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    return PixelAttribution("random", random_map(case.x.shape, g))


#: The pixel methods, by name, each ``(model, case, **settings) -> PixelAttribution``; settings a method does not
#: use are ignored (``fold``, ``sigma``, ``kernel_size`` for LAM, ``ig_steps`` for IG, ``generator`` for random).
PIXEL_METHODS: dict[str, Callable[..., PixelAttribution]] = {
    "l2x": _l2x, "lam": _lam, "gradient_x_input": _gradient_x_input, "ig_blur": _ig_blur, "random": _random}


def attribute(method: str, model: nn.Module, case: WindowCase, **settings: Any) -> PixelAttribution:
    """The map of ``method`` (a key of :data:`PIXEL_METHODS`) for the window ``case``; ValueError for an unknown
    method."""
    try:
        run = PIXEL_METHODS[method]
    except KeyError:
        raise ValueError(f"unknown pixel method {method!r}; known: {tuple(PIXEL_METHODS)}") from None
    return run(model, case, **settings)

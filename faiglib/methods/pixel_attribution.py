"""Two one-line pixel attributions of a window objective, for comparison with L2X and LAM (captum's code).

Both explain the same objective as :func:`faiglib.methods.l2x.rescale_attribution` (a
:class:`~faiglib.methods.l2x.WindowObjective`: LAM's gradient magnitude ``D`` of the window by default):

* :func:`gradient_times_input` -- ``∂g/∂x ⊙ x`` (captum ``InputXGradient``): one forward, one backward. It is not
  relative to any reference, so it does not sum to ``g(x) − g(x̄)``.
* :func:`integrated_gradients` -- ``(x − x̄) ⊙ ∫₀¹ ∂g(x̄ + α(x − x̄))/∂x dα`` on the straight line from the blurred
  reference ``x̄`` (captum ``IntegratedGradients``, ``n_steps`` points of ``method``): ``n_steps`` forward and
  backward passes; sums to ``g(x) − g(x̄)`` up to the quadrature error (returned as ``delta``).

captum computes the gradients and the quadrature; ours is only the wrapper and the checks.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

from faiglib.core.edits import in_evaluation_mode
from faiglib.methods.l2x import WindowObjective

__all__ = ["gradient_times_input", "integrated_gradients"]


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


@in_evaluation_mode
def integrated_gradients(model: nn.Module, x: torch.Tensor, reference: torch.Tensor, window: tuple[int, int],
                         window_size: int = 16, objective: str = "gradient", n_steps: int = 50,
                         method: str = "gausslegendre",
                         internal_batch_size: int | None = None) -> tuple[torch.Tensor, float]:
    """Straight-line IG from ``reference`` to ``x`` (both ``(C, h, w)``): ``(map (C, h, w) float64, delta)`` where
    ``delta = Σ map − (g(x) − g(x̄))`` (captum's convergence delta; costs 2 extra forward images).
    ``method``: a captum rule; default ``"gausslegendre"`` (float64 nodes and weights summing to 1). Avoid captum
    0.9's ``"riemann_trapezoid"``: its weights sum to ``(n − 1)/n``, not 1 (a test here shows it), which biases
    every map by that factor; ``"riemann_*"`` nodes are also computed in float32."""
    from captum.attr import IntegratedGradients

    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    x, reference = _prepare(model, x, reference)
    wrapped = WindowObjective(model, tuple(window), window_size, objective)
    with torch.enable_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
        a, delta = IntegratedGradients(wrapped).attribute(
            x.unsqueeze(0).clone(), baselines=reference.unsqueeze(0).clone(), n_steps=n_steps, method=method,
            internal_batch_size=internal_batch_size, return_convergence_delta=True)
    return a[0].detach().to(torch.float64).cpu(), float(delta.reshape(-1)[0])

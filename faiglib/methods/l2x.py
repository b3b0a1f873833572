"""L2X -- one-pass rescale-rule attribution of an SR output window to the LR input (seed 004).

L2X (Yu & Yang) is DeepLIFT's *rescale rule* (Shrikumar et al.) applied to SR networks, with the Gaussian-blurred
LR image as the reference ``x̄`` (seed 004 Sec. 3.2). Every elementwise nonlinearity ``t = f(s)`` passes back the
multiplier ``Δt/Δs = (f(s) − f(s̄))/(s − s̄)`` instead of its derivative (the derivative where ``|Δs| < eps``),
linear layers pass back their weights, and the input attribution is ``R = m ⊙ (x − x̄)`` (Eq. 2). By construction
it satisfies *summation-to-delta* (Eq. 1):

    Σ_i R_i = D(F(x)) − D(F(x̄)),

with one forward pass of ``[x, x̄]`` and one backward pass -- against the ``fold`` passes of LAM's path integral.

What is captum's and what is ours:

* **captum** (``captum.attr.DeepLift``, rescale rule, ``multiply_by_inputs=True``): the hooks on the
  activation modules, the multipliers, the batched forward/backward of input and reference, ``m ⊙ (x − x̄)``.
* **ours**: the objective wrapper :class:`WindowObjective` (a network plus a scalar per image, as an
  ``nn.Module`` captum can hook), the blurred reference (:func:`faiglib.core.paths.blur_baseline`), the check that
  every activation module runs once per forward (:func:`check_rescale_compatible`; captum's own check only
  catches some reuses, late and in its backward hook), the registration of the objective's two elementwise
  nonlinearities (square, square root) as rescale-rule modules for the duration of a call
  (:func:`rescale_rules`), the positive/negative split and the summation-to-delta gap (:class:`L2XResult`).

**The objective** (choice; the seed attributes one output neuron ``F_t``): ``objective="gradient"`` is LAM's
``D`` (:func:`faiglib.methods.lam.window_objective`, official convention: the forward-difference gradient
magnitude summed over the window and the channels), so that L2X, LAM and the other pixel attributions of the
book explain the same number. ``D`` is ``Σ sqrt((a−b)² + (a−c)²)``: linear differences, an elementwise square,
a sum and an elementwise square root. Both nonlinearities are elementwise, so the rescale rule applies to them
exactly as to a ReLU, and summation-to-delta holds for ``D`` too -- provided they run as hookable modules
(:class:`Square`, :class:`SafeSqrt`), which :class:`WindowObjective` does. ``objective="mean"`` is the mean of the
window's output values (seed Eq. 5 summed over the window's neurons, divided by their number): linear, so the
rescale rule has nothing to do beyond the network.

**Positive and negative parts** (choice): ``positive = max(R, 0)``, ``negative = min(R, 0)`` -- the pixels whose
difference from the reference raises the objective, and those that lower it; ``positive + negative = R``. The
seed's Eq. 3-4 literally write ``Δt⁺ = (Δt/Δx)·Δx⁺``: DeepLIFT's split by the sign of the *input* difference.
That split is kept as well (``brighter = R where x > x̄``, ``darker = R where x < x̄``; they also sum to ``R``).
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import nn

from faiglib.core.edits import in_evaluation_mode
from faiglib.core.paths import blur_baseline
from faiglib.core.validate import check_input_channels
from faiglib.methods.lam import check_window, infer_scale, safe_sqrt, check_lr_image, check_window_arguments

__all__ = ["OBJECTIVES", "UNSUPPORTED_NONLINEAR", "Square", "SafeSqrt", "WindowObjective", "L2XResult",
           "rescale_rules", "check_rescale_compatible", "unsupported_nonlinearities", "rescale_attribution"]

OBJECTIVES = ("gradient", "mean")


class Square(nn.Module):
    """``t ↦ t²`` elementwise, as a module so a rescale rule can hook it."""

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return t * t


class SafeSqrt(nn.Module):
    """``t ↦ √t`` elementwise for ``t >= 0``, with derivative 0 (not ∞) at ``t = 0`` (as LAM's objective)."""

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return safe_sqrt(t)


class WindowObjective(nn.Module):
    """``model`` followed by one objective of an output window: ``(B, C, h, w)`` -> ``(B,)``.

    ``window = (y, x)``: top-left corner in output (HR) pixels, ``size``: side; ``objective``: ``"gradient"``
    (LAM's ``D``, official convention, >= 0) or ``"mean"`` (mean output value over window and channels).
    The window is checked against the output on every call (ValueError when it does not fit).
    """

    def __init__(self, model: nn.Module, window: tuple[int, int], size: int = 16, objective: str = "gradient"):
        super().__init__()
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; known: {OBJECTIVES}")
        self.model = model
        self.window = window
        self.size = size
        self.objective = objective
        # one module per use: the rescale rule needs each hooked module to run once per forward
        self.square_v, self.square_h, self.sqrt = Square(), Square(), SafeSqrt()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.objective_of(self.model(x))

    def objective_of(self, sr: torch.Tensor) -> torch.Tensor:
        """The objective of every image of an SR output ``(B, C, H, W)``: ``(B,)``."""
        if not torch.is_tensor(sr) or sr.dim() != 4:
            raise ValueError(f"the model must return a batch of images (B, C, H, W), got "
                             f"{tuple(sr.shape) if torch.is_tensor(sr) else type(sr).__name__}")
        y, x0 = check_window(self.window, self.size, sr.shape[-2], sr.shape[-1], "official")
        s = self.size
        if self.objective == "mean":
            return sr[:, :, y: y + s, x0: x0 + s].mean(dim=(1, 2, 3))
        patch = sr[:, :, y: y + s + 1, x0: x0 + s + 1]  # as lam.window_objective(convention="official")
        dv = self.square_v(patch[:, :, :-1, :-1] - patch[:, :, 1:, :-1])
        dh = self.square_h(patch[:, :, :-1, :-1] - patch[:, :, :-1, 1:])
        return self.sqrt(dv + dh).sum(dim=(1, 2, 3))


#: Nonlinear module types captum's rescale rule has no rule for (it would differentiate through them): a
#: network holding one is refused by :func:`rescale_attribution` before anything runs.
UNSUPPORTED_NONLINEAR = (nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.ReLU6, nn.PReLU,
                         nn.SELU, nn.CELU, nn.GLU, nn.Softsign, nn.Softmin, nn.LogSoftmax, nn.LogSigmoid,
                         nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.Threshold, nn.LayerNorm, nn.GroupNorm,
                         nn.InstanceNorm2d, nn.MultiheadAttention)


def unsupported_nonlinearities(model: nn.Module) -> list[str]:
    """``["name (Type)", …]`` for the modules of ``model`` whose type is in :data:`UNSUPPORTED_NONLINEAR` and not
    in captum's rule table."""
    table = _rule_table()
    return [f"{name or '<model>'} ({type(m).__name__})" for name, m in model.named_modules()
            if isinstance(m, UNSUPPORTED_NONLINEAR) and type(m) not in table]


def _rule_table() -> dict:
    from captum.attr._core import deep_lift  # captum's table of module types -> rescale functions

    return deep_lift.SUPPORTED_NON_LINEAR


@contextlib.contextmanager
def rescale_rules() -> Iterator[dict]:
    """Register :class:`Square` and :class:`SafeSqrt` with captum's elementwise rescale rule
    (``deep_lift.nonlinear``) for the duration of the block; the table is restored on exit."""
    from captum.attr._core import deep_lift

    table = _rule_table()
    added = [t for t in (Square, SafeSqrt) if t not in table]
    for t in added:
        table[t] = deep_lift.nonlinear
    try:
        yield table
    finally:
        for t in added:
            table.pop(t, None)


def check_rescale_compatible(module: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """Run ``module`` once on ``x`` (no gradients) and count the calls of every module that the rescale rule
    hooks (the types in captum's table; with :func:`rescale_rules` active, also :class:`Square` and
    :class:`SafeSqrt`). Returns ``{name: calls}``.

    ValueError when one of them is called more than once (a shared activation module: captum would mix two
    layers' inputs, or fail in its backward hook) or is in-place (its input is overwritten before the rule can
    read it), naming them and the remedy."""
    return _counted_forward(module, x)[1]


def _counted_forward(module: nn.Module, x: torch.Tensor) -> tuple[Any, dict[str, int]]:
    table = _rule_table()
    hooked = {name: m for name, m in module.named_modules() if type(m) in table}
    inplace = [name for name, m in hooked.items() if getattr(m, "inplace", False)]
    if inplace:
        raise ValueError(f"in-place activation module(s) {inplace}: the rescale rule needs their inputs after the "
                         f"forward pass; build them with inplace=False")
    calls = {name: 0 for name in hooked}
    handles = []
    for name, m in hooked.items():
        def count(_m, _inp, _out, name=name):
            calls[name] += 1
        handles.append(m.register_forward_hook(count))
    try:
        with torch.no_grad():
            out = module(x)
    finally:
        for h in handles:
            h.remove()
    reused = {n: c for n, c in calls.items() if c > 1}
    if reused:
        raise ValueError(f"activation module(s) used more than once per forward: {reused} (calls); the rescale "
                         f"rule needs one module instance per place -- give every use its own module "
                         f"(activations have no parameters, so the state dict does not change)")
    return out, calls


@dataclass
class L2XResult:
    """One L2X map.

    ``map``: ``(C, h, w)`` float64 on the CPU, the signed attribution ``R = m ⊙ (x − x̄)``. ``positive`` / ``negative``:
    ``max(R, 0)`` / ``min(R, 0)``. ``brighter`` / ``darker``: ``R`` where ``x > x̄`` / ``x < x̄`` (seed Eq. 3-4).
    ``reference``: ``x̄`` ``(C, h, w)``. ``objective`` / ``reference_objective``: the objective of ``F(x)`` and
    ``F(x̄)`` (from one separate forward pass, not from captum)."""

    map: torch.Tensor
    positive: torch.Tensor
    negative: torch.Tensor
    brighter: torch.Tensor
    darker: torch.Tensor
    reference: torch.Tensor
    window: tuple[int, int]
    window_size: int
    scale: int
    objective: float
    reference_objective: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return float(self.map.sum())

    @property
    def delta(self) -> float:
        """``objective(F(x)) − objective(F(x̄))``."""
        return self.objective - self.reference_objective

    @property
    def summation_gap(self) -> float:
        """``Σ R − (objective(F(x)) − objective(F(x̄)))``: 0 up to rounding when every nonlinearity is hooked."""
        return self.total - self.delta

    @property
    def relative_summation_gap(self) -> float:
        return abs(self.summation_gap) / abs(self.delta) if self.delta != 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {"window": list(self.window), "window_size": self.window_size, "scale": self.scale,
                "objective": self.objective, "reference_objective": self.reference_objective,
                "sum_positive": float(self.positive.sum()), "sum_negative": float(self.negative.sum()),
                "summation_gap": self.summation_gap, **self.meta}


@in_evaluation_mode
def rescale_attribution(model: nn.Module, lr: torch.Tensor, window: tuple[int, int], *, window_size: int = 16,
                        objective: str = "gradient", reference: torch.Tensor | None = None, sigma: float = 1.2,
                        kernel_size: int = 9, eps: float = 1e-10,
                        max_summation_gap: float | None = 0.01) -> L2XResult:
    """L2X map of ``model`` for the output window at ``window = (y, x)`` (top-left, HR pixels).

    ``model``: image-to-image ``nn.Module`` ``(B, C, h, w)`` -> ``(B, C', s·h, s·w)`` whose nonlinearities are
    activation *modules*, each used once, not in-place (ValueError otherwise; nonlinearities written as functions
    are differentiated instead, which shows as a :attr:`L2XResult.summation_gap`). Its weights and modes are not
    changed. ``lr``: ``(C, h, w)`` float (the networks here take [0, 1]); moved to the model's device and dtype.
    ``reference``: ``(C, h, w)``, default the LR image blurred with a Gaussian of σ = ``sigma`` (``kernel_size``
    taps, reflect-101 borders: LAM's baseline). ``eps``: below this ``|Δs|`` a multiplier is the derivative.

    Costs one forward pass of a batch of 2 (``x``, ``x̄``) and one backward pass inside captum, plus one forward
    of the same batch here for the objective values. ValueError for a window outside the output, a reference
    of another shape, a bad objective, an input with NaN/inf, a nonlinear module type the rule does not cover
    (:func:`unsupported_nonlinearities`), and a map whose sum misses the objective's change by more than
    ``max_summation_gap`` (relative; the sign of a functional ``F.relu`` the hooks cannot see): a map that does
    not explain the change is refused, never returned. The model runs in eval mode and is left as it was.
    """
    from captum.attr import DeepLift

    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; known: {OBJECTIVES}")
    check_lr_image(lr)
    check_input_channels(model, lr, "lr")
    check_window_arguments(window, window_size)
    if max_summation_gap is not None and not max_summation_gap > 0:
        raise ValueError(f"max_summation_gap must be > 0 (relative), or None to skip the check; "
                         f"got {max_summation_gap!r}")
    unsupported = unsupported_nonlinearities(model)
    if unsupported:
        raise ValueError(f"L2X (captum's rescale rule) has no rule for {unsupported}: their maps would not sum to "
                         f"the objective's change; use LAM or integrated gradients for this network")
    param = next(iter(model.parameters()), None)
    if param is not None:
        lr = lr.to(device=param.device, dtype=param.dtype)
    if reference is None:
        reference = blur_baseline(lr, sigma, kernel_size)
        ref_meta: dict[str, Any] = {"reference": "blur", "sigma": float(sigma), "kernel_size": int(kernel_size)}
    else:
        if not torch.is_tensor(reference) or tuple(reference.shape) != tuple(lr.shape):
            raise ValueError(f"the reference must have the shape of the input {tuple(lr.shape)}, got "
                             f"{tuple(reference.shape) if torch.is_tensor(reference) else type(reference).__name__}; "
                             f"pass None for the blurred input")
        reference = reference.to(device=lr.device, dtype=lr.dtype)
        ref_meta = {"reference": "given"}
    wrapped = WindowObjective(model, tuple(window), window_size, objective)
    pair = torch.stack([lr, reference])
    with rescale_rules():
        full, _ = _counted_forward(model, pair)  # also the reuse / in-place check
        scale = infer_scale(full, pair, None)
        values = wrapped.objective_of(full)  # checks the window
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
            with torch.enable_grad():
                attribution = DeepLift(wrapped, multiply_by_inputs=True, eps=eps).attribute(
                    lr.unsqueeze(0).clone().requires_grad_(True), baselines=reference.unsqueeze(0).clone())
    r = attribution[0].detach().to(torch.float64).cpu()
    if not bool(torch.isfinite(r).all()):
        raise ValueError("the L2X map has NaN or inf values: the model's output is not finite on this input or "
                         "its reference; check the weights")
    diff = (lr - reference).detach().cpu()
    zero = torch.zeros_like(r)
    result = L2XResult(map=r, positive=r.clamp_min(0), negative=r.clamp_max(0),
                     brighter=torch.where(diff > 0, r, zero), darker=torch.where(diff < 0, r, zero),
                     reference=reference.detach().cpu(), window=(int(window[0]), int(window[1])),
                     window_size=int(window_size), scale=scale, objective=float(values[0]),
                     reference_objective=float(values[1]),
                     meta={"objective": objective, "eps": float(eps), **ref_meta})
    if max_summation_gap is not None and result.delta != 0 and result.relative_summation_gap > max_summation_gap:
        raise ValueError(
            f"the L2X map sums to {result.total:.6g} but the objective changed by {result.delta:.6g} "
            f"({result.relative_summation_gap:.1%} apart, more than max_summation_gap={max_summation_gap:g}): some "
            f"nonlinearity of the network is not an activation module the rescale rule hooks -- a function "
            f"(F.relu, F.leaky_relu, torch.sigmoid, ...) in forward(), or a module it has no rule for. Make each "
            f"activation an nn.ReLU / nn.LeakyReLU / ... module used once, or use LAM / integrated gradients")
    return result

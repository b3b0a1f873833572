"""FAIG: filter attribution by integrated gradients along a path in parameter space (paper Eq. 3-7).

For an input ``x`` with ground truth ``x_gt`` the network's function is measured by the loss (Eq. 3)

    L(θ, x) = ‖F(θ, x) − x_gt‖²₂            (sum over all output pixels and channels, and over the batch)

and attributed to parameters along the straight path θ(α) = α·θ̄ + (1 − α)·θ of :mod:`faiglib.core.paths`
(Eq. 6):

    FAIG_i(θ, x) = (θ − θ̄)_i · ∫₀¹ ∂L(θ(α), x)/∂θ_i dα ,   Σ_i FAIG_i = L(θ, x) − L(θ̄, x)   (completeness).

A filter's score is ``Σ_{9 elements} |FAIG_i|`` (as in the official code). :func:`discriminative_filters`
averages these over a data set per degradation and subtracts the score of the same image with the other
degradation (Eq. 7, "gradient elimination").
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from faiglib.core.edits import in_evaluation_mode
from faiglib.core.checkpoint import as_state_dict, atomic_save, check_finite, load_file
from faiglib.core.units import FilterIndex
from faiglib.core.paths import interpolate, path_points, quadrature
from faiglib.core.progress import progress_bar
from faiglib.core.ranking import ranked, top_count, top_indices  # noqa: F401 - top_count is part of this API
from faiglib.core.validate import check_images, check_input_channels

__all__ = ["FAIG_VERSION", "FAIGResult", "faig", "path_gradients", "DiscriminativeFilters", "discriminative_filters",
           "top_count", "check_pair"]

#: Bump when a change to this module changes the scores it computes: every stored FAIG score is recomputed.
FAIG_VERSION = 1


def check_pair(model: nn.Module, baseline: Mapping[str, torch.Tensor],
               target: Mapping[str, torch.Tensor]) -> list[str]:
    """Check that baseline and target fit ``model`` and each other; return the parameter names to attribute.

    Raises ``ValueError`` naming the first missing/extra key or shape mismatch, and
    :class:`~faiglib.core.checkpoint.CheckpointError` for NaN/inf weights.
    """
    names = [n for n, p in model.named_parameters()]
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    for label, state in (("baseline", baseline), ("target", target)):
        missing = [n for n in names if n not in state]
        if missing:
            raise ValueError(f"{label} and the model have different architectures: {label} lacks {missing[:3]}"
                             f"{' …' if len(missing) > 3 else ''}")
        for n in names:
            if tuple(state[n].shape) != shapes[n]:
                raise ValueError(f"{label} and the model have different architectures: {n!r} is "
                                 f"{tuple(state[n].shape)} in {label}, {shapes[n]} in the model")
        check_finite({n: state[n] for n in names}, f"{label} weights")
    extra = sorted(set(baseline) ^ set(target))
    if extra:
        raise ValueError(f"baseline and target have different architectures: keys only in one of them: {extra[:3]}")
    return names


def _sse(output: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    return (output - gt).pow(2).sum()


PRECISIONS = ("fp32", "bf16")


def _autocast(device: torch.device, precision: str):
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use one of {PRECISIONS}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t


def _check_output_shape(out: torch.Tensor, targets: torch.Tensor, inputs: torch.Tensor) -> None:
    """The loss compares the output with the ground truth element by element: a target that merely broadcasts
    against the output ((1, 1, H, W), (1, 3, 1, 1)) would silently compute another loss, so the shapes must match."""
    if tuple(out.shape) != tuple(targets.shape):
        scale = out.shape[-1] / inputs.shape[-1] if inputs.shape[-1] else float("nan")
        raise ValueError(f"targets {tuple(targets.shape)} must have the model's output shape {tuple(out.shape)}: the "
                         f"model is x{scale:g} and the inputs are {tuple(inputs.shape)}; pass HR ground truths of "
                         f"exactly that shape (x{scale:g} the input, same channels and batch; no broadcasting)")


@torch.enable_grad()  # it computes gradients by definition, also when called under torch.no_grad()
@in_evaluation_mode
def path_gradients(model: nn.Module, baseline: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor],
                   inputs: torch.Tensor, targets: torch.Tensor, *, n_steps: int, method: str = "left",
                   per_example: bool = False, internal_batch_size: int | None = None,
                   names: Sequence[str] | None = None, precision: str = "fp32",
                   loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = _sse) -> dict[str, torch.Tensor]:
    """∫₀¹ ∂L(θ(α))/∂θ dα by quadrature: ``name -> tensor`` shaped like the parameter (``(B, …)`` if ``per_example``).

    ``inputs`` ``(B, C, h, w)`` and ``targets`` ``(B, C, H, W)`` (exactly the model's output shape): float images
    in [0, 1] (tolerance :data:`~faiglib.core.validate.RANGE_TOLERANCE`) without NaN/inf, else ``ValueError``.

    * ``internal_batch_size`` > 1: that many α points are evaluated in one vectorised call
      (``torch.func.vmap`` over stacked parameters) -- worth it on a GPU. ``None`` or 1: one α at a time
      with plain autograd, which is fastest on a CPU (measured; see ``benchmarks/``).
    * ``per_example``: each example gets its own gradient (one backward pass per example and α).
    * ``precision="bf16"``: the network runs under bfloat16 autocast (the loss and the sums stay in the
      parameters' dtype). About 2x faster on CPUs with AVX512-BF16, at the price of ~1e-3 relative error
      in the scores; ``"fp32"`` (default) is exact up to float rounding.

    Images and conv weights are used in channels-last memory layout, which oneDNN runs faster; the result
    does not depend on the layout beyond float rounding.
    """
    check_images(inputs, "inputs", dims=(4,))
    check_images(targets, "targets", dims=(4,))
    check_input_channels(model, inputs, "inputs")
    names = list(names) if names is not None else [n for n, _ in model.named_parameters()]
    alphas, weights = quadrature(n_steps, method)
    chunk = 1 if internal_batch_size is None else int(internal_batch_size)
    if chunk < 1:
        raise ValueError(f"internal_batch_size must be >= 1, got {internal_batch_size}")
    base = {n: _channels_last(baseline[n].detach()) for n in names}
    tgt = {n: _channels_last(target[n].detach()) for n in names}
    dtype = tgt[names[0]].dtype
    inputs = _channels_last(inputs)
    amp = lambda: _autocast(inputs.device, precision)  # noqa: E731 - a fresh context per use

    def loss_of(params, x, y):
        with amp():
            out = functional_call(model, params, (x,))
        _check_output_shape(out, y, x)
        return loss_fn(out.to(y.dtype), y)

    if chunk == 1:
        examples = [(inputs[i: i + 1], targets[i: i + 1]) for i in range(inputs.shape[0])] if per_example \
            else [(inputs, targets)]
        totals = [{n: torch.zeros_like(tgt[n]) for n in names} for _ in examples]
        for a, w in zip(alphas.tolist(), weights.to(dtype)):
            params = {n: t.requires_grad_() for n, t in interpolate(base, tgt, a, names).items()}
            leaves = list(params.values())
            for total, (x, y) in zip(totals, examples):
                grads = torch.autograd.grad(loss_of(params, x, y), leaves)
                for n, g in zip(names, grads):
                    total[n].add_(g, alpha=float(w))
        if per_example:
            return {n: torch.stack([t[n] for t in totals]).contiguous() for n in names}
        return {n: totals[0][n].contiguous() for n in names}

    if per_example:
        grad_at = vmap(grad(lambda p, x, y: loss_of(p, x.unsqueeze(0), y.unsqueeze(0))), in_dims=(None, 0, 0))
    else:
        grad_at = grad(loss_of)
    total = {n: None for n in names}
    for start in range(0, len(alphas), chunk):
        a = alphas[start: start + chunk].to(dtype)
        w = weights[start: start + chunk].to(dtype)
        params = {n: path_points(tgt[n], base[n], a) for n in names}
        grads = vmap(grad_at, in_dims=(0, None, None))(params, inputs, targets)
        for n in names:
            step = torch.tensordot(w, grads[n], dims=([0], [0]))
            total[n] = step if total[n] is None else total[n] + step
    return {n: t.detach().contiguous() for n, t in total.items()}


@dataclass
class FAIGResult:
    """What :func:`faig` returns.

    ``param_attributions``: signed FAIG_i per parameter (same shapes as the parameters; ``(B, …)`` with
    ``per_example``). ``filter_scores``: ``Σ_{kh,kw} |FAIG_i|`` per filter in :class:`FilterIndex` order,
    ``(n_filters,)`` or ``(B, n_filters)``. ``delta``: completeness error
    ``Σ_i FAIG_i − (L(target) − L(baseline))``, which goes to 0 as ``n_steps`` grows.
    """

    param_attributions: dict[str, torch.Tensor]
    filter_scores: torch.Tensor
    delta: torch.Tensor
    loss_baseline: torch.Tensor
    loss_target: torch.Tensor
    index: FilterIndex
    n_steps: int
    method: str


def _losses(model, state, names, inputs, targets, per_example):
    params = {n: state[n] for n in names}
    with torch.no_grad():
        out = functional_call(model, params, (inputs,))
        _check_output_shape(out, targets, inputs)
        err = (out - targets).pow(2)
        return err.flatten(1).sum(1) if per_example else err.sum()


@in_evaluation_mode
def faig(model: nn.Module, baseline_params: nn.Module | Mapping[str, torch.Tensor],
         target_params: nn.Module | Mapping[str, torch.Tensor], inputs: torch.Tensor, targets: torch.Tensor, *,
         n_steps: int = 100, method: str = "left", internal_batch_size: int | None = None,
         per_example: bool = False, precision: str = "fp32") -> FAIGResult:
    """FAIG (Eq. 6) of every parameter of ``model`` for the change baseline → target, on ``inputs``.

    ``model`` supplies the architecture only (its own weights are neither used nor changed).
    ``inputs``: LR images ``(B, 3, h, w)`` or ``(3, h, w)``; ``targets``: their HR ground truths, exactly the
    model's output shape. Both must be float in [0, 1] (tolerance :data:`~faiglib.core.validate.RANGE_TOLERANCE`)
    without NaN/inf: a uint8 or 0-255 image would scale the loss by ~255², and is refused with ``ValueError``.
    The loss is summed over the batch unless ``per_example``. ``method``: a rule of :mod:`faiglib.core.paths`
    (``"left"`` = the official code's points). ``internal_batch_size`` and ``precision``: see
    :func:`path_gradients`.
    """
    baseline = as_state_dict(baseline_params)
    target = as_state_dict(target_params)
    names = check_pair(model, baseline, target)
    check_images(inputs, "inputs")
    check_images(targets, "targets")
    if inputs.dim() == 3:
        inputs, targets = inputs.unsqueeze(0), targets.unsqueeze(0)
    if inputs.dim() != 4 or targets.dim() != 4 or inputs.shape[0] != targets.shape[0]:
        raise ValueError(f"inputs and targets must be (B, C, h, w) and (B, C, H, W) with the same B, got "
                         f"{tuple(inputs.shape)} and {tuple(targets.shape)}")
    dtype = target[names[0]].dtype
    inputs, targets = inputs.to(dtype), targets.to(dtype)
    mean_grads = path_gradients(model, baseline, target, inputs, targets, n_steps=n_steps, method=method,
                                per_example=per_example, internal_batch_size=internal_batch_size, names=names,
                                precision=precision)
    attributions = {n: (target[n] - baseline[n]) * mean_grads[n] for n in names}
    index = FilterIndex(model)
    scores = index.reduce(attributions, absolute=True)
    loss_b = _losses(model, baseline, names, inputs, targets, per_example)
    loss_t = _losses(model, target, names, inputs, targets, per_example)
    signed_total = sum(a.flatten(start_dim=1 if per_example else 0).sum(-1) for a in attributions.values())
    delta = signed_total - (loss_t - loss_b)
    return FAIGResult(attributions, scores, delta, loss_b, loss_t, index, n_steps, method)


@dataclass
class DiscriminativeFilters:
    """Per-image FAIG filter scores for each degradation and the data-set rankings of Eq. 7.

    ``per_image[d]``: ``(n_images, n_filters)`` scores ``Σ|FAIG|`` of image ``i`` degraded by ``d``.
    ``losses[d]``: ``(n_images, 2)`` = (L(baseline), L(target)); ``deltas[d]``: ``(n_images,)`` completeness errors.
    """

    degradations: tuple[str, ...]
    per_image: dict[str, torch.Tensor]
    losses: dict[str, torch.Tensor]
    deltas: dict[str, torch.Tensor]
    image_names: list[str]
    meta: dict = field(default_factory=dict)

    @property
    def n_filters(self) -> int:
        return self.per_image[self.degradations[0]].shape[1]

    def _check(self, degradation: str) -> None:
        if degradation not in self.degradations:
            raise KeyError(f"no scores for degradation {degradation!r}; have {self.degradations}")

    def scores(self, degradation: str, eliminate: bool = True) -> torch.Tensor:
        """Eq. 7: ``mean_x |FAIG(x^D)| − mean_x |FAIG(x^~D)|`` per filter, ``(n_filters,)`` float64.

        With several other degradations, ``~D`` is their mean. ``eliminate=False`` drops the second term
        (the ablation of Sec. 5.4).
        """
        self._check(degradation)
        own = self.per_image[degradation].double().mean(0)
        if not eliminate:
            return own
        others = [self.per_image[d].double().mean(0) for d in self.degradations if d != degradation]
        return own - torch.stack(others).mean(0) if others else own

    def ranking(self, degradation: str, eliminate: bool = True) -> torch.Tensor:
        """Filter indices sorted by descending score (ties keep index order)."""
        return ranked(self.scores(degradation, eliminate))

    def top(self, degradation: str, proportion: float, eliminate: bool = True) -> torch.Tensor:
        """The top ``proportion`` (in (0, 1]) of filters for ``degradation``: flat indices, best first."""
        return top_indices(self.scores(degradation, eliminate), proportion)

    def save(self, path: str | Path) -> Path:
        """Atomic, ``weights_only``-loadable file with the raw per-image scores and metadata."""
        return atomic_save({"degradations": list(self.degradations), "per_image": self.per_image,
                            "losses": self.losses, "deltas": self.deltas, "image_names": list(self.image_names),
                            "meta": self.meta}, path)

    @classmethod
    def load(cls, path: str | Path) -> "DiscriminativeFilters":
        obj = load_file(path)
        try:
            return cls(tuple(obj["degradations"]), obj["per_image"], obj["losses"], obj["deltas"],
                       list(obj["image_names"]), dict(obj.get("meta", {})))
        except (KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a discriminative-filter file ({err})") from None


@in_evaluation_mode
def discriminative_filters(model: nn.Module, baseline_params, target_params, analysis, *,
                           degradations: Sequence[str] = ("blur", "noise"), n_steps: int = 100,
                           method: str = "left", internal_batch_size: int | None = None,
                           precision: str = "fp32", progress: bool = False) -> DiscriminativeFilters:
    """Score every filter on every image of ``analysis`` (:class:`~faiglib.data.degradations.AnalysisSet`) per degradation.

    Each image's gradients are computed once per degradation and serve every ranking: the blur ranking
    and the noise ranking of Eq. 7 are two differences of the same per-image scores (the official scripts
    recompute them for each ranking). Returns :class:`DiscriminativeFilters`; use ``.scores(d)`` /
    ``.top(d, p)`` for Eq. 7.
    """
    degradations = tuple(degradations)
    missing = [d for d in degradations if d not in analysis.lr]
    if missing or not degradations:
        raise ValueError(f"analysis set has no images for {missing or 'any degradation'}; has {list(analysis.lr)}")
    baseline = as_state_dict(baseline_params)
    target = as_state_dict(target_params)
    check_pair(model, baseline, target)
    for i, name in enumerate(analysis.names):  # all images before hours of computation, each by its name
        check_images(analysis.hr[i], f"analysis image {name!r} (HR)")
        for d in degradations:
            check_images(analysis.lr[d][i], f"analysis image {name!r} ({d} LR)")
    per_image = {d: [] for d in degradations}
    losses = {d: [] for d in degradations}
    deltas = {d: [] for d in degradations}
    iterator = progress_bar(range(len(analysis)), enabled=progress, desc=f"FAIG (N={n_steps}, {method})",
                            unit="image")
    started = time.perf_counter()
    for i in iterator:
        inputs = torch.stack([analysis.lr[d][i] for d in degradations])
        gts = analysis.hr[i].unsqueeze(0).expand(len(degradations), *analysis.hr[i].shape)
        result = faig(model, baseline, target, inputs, gts, n_steps=n_steps, method=method,
                      internal_batch_size=internal_batch_size, per_example=True, precision=precision)
        for j, d in enumerate(degradations):
            per_image[d].append(result.filter_scores[j].float())
            losses[d].append(torch.stack([result.loss_baseline[j], result.loss_target[j]]).double())
            deltas[d].append(result.delta[j].double())
    meta = {"n_steps": n_steps, "method": method, "precision": precision, "seconds": round(time.perf_counter() - started, 3),
            "n_images": len(analysis), "degradation": {k: v for k, v in vars(analysis.degradation).items()},
            "analysis_seed": analysis.seed}
    return DiscriminativeFilters(
        degradations, {d: torch.stack(v) for d, v in per_image.items()},
        {d: torch.stack(v) for d, v in losses.items()}, {d: torch.stack(v) for d, v in deltas.items()},
        list(analysis.names), meta)

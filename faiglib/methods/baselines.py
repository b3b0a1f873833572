"""Other ways to choose filters, to compare FAIG against (paper Sec. 5.2.1, Table 2).

All return a :class:`FilterRanking`, with the ranking/saving API of FAIG's
:class:`~faiglib.methods.faig.DiscriminativeFilters` (``ranking(d)``, ``top(d, p)``, ``save``/``load``):

* :func:`input_ig_ranking` -- "IG" in the paper's and the official code's sense (IntInf-style): integrated
  gradients along a path in *input* space, from the clean LR image to the degraded one, on the *target*
  network; the objective is the sum of the output; gradients are taken w.r.t. the filters and averaged
  over the path; a filter scores ``Σ_{K×K} |mean gradient|`` (not multiplied by any difference), summed
  over the data set. Paper Sec. 4.1 "Difference from IntInf" and Sec. 5.2.1.
* :func:`abs_change_ranking` -- ``|θ − θ̄|`` per filter, ``Σ_{K×K} |θ − θ̄| / Σ_{K×K} |θ̄|`` (normalised by
  the baseline filter's L1 norm, as in the official code). Paper Sec. 4.1 "Discussions". It cannot tell
  degradations apart: both rankings are the same.
* :func:`random_ranking` -- a seeded random order (the paper's "Random").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import torch
from torch import nn
from torch.func import functional_call

from faiglib.core.edits import in_evaluation_mode
from faiglib.core.checkpoint import as_state_dict, atomic_save, check_finite, load_file
from faiglib.core.units import FilterIndex
from faiglib.core.paths import path_points, quadrature
from faiglib.core.ranking import ranked, top_indices
from faiglib.core.validate import check_images, check_input_channels

__all__ = ["IG_VERSION", "FilterRanking", "random_ranking", "random_filter_ranking", "abs_change_ranking", "input_ig_ranking"]

#: Bump when a change to the input-space IG ranking changes its scores: stored IG rankings are recomputed.
IG_VERSION = 1


def random_ranking(n_filters: int, seed: int) -> torch.Tensor:
    """A random order of ``range(n_filters)`` from its own generator; its top-k is a uniform k-subset."""
    if n_filters < 1:
        raise ValueError(f"n_filters must be >= 1, got {n_filters}")
    return torch.randperm(n_filters, generator=torch.Generator().manual_seed(seed))


@dataclass
class FilterRanking:
    """Scores per degradation (``(n_filters,)``, higher = more important) from one selection method."""

    method: str
    scores_by_degradation: dict[str, torch.Tensor]
    meta: dict = field(default_factory=dict)

    @property
    def degradations(self) -> tuple[str, ...]:
        return tuple(self.scores_by_degradation)

    @property
    def n_filters(self) -> int:
        return next(iter(self.scores_by_degradation.values())).numel()

    def scores(self, degradation: str) -> torch.Tensor:
        try:
            return self.scores_by_degradation[degradation]
        except KeyError:
            raise KeyError(f"{self.method} has no scores for {degradation!r}; has {self.degradations}") from None

    def ranking(self, degradation: str) -> torch.Tensor:
        """Filter indices by descending score (ties keep index order)."""
        return ranked(self.scores(degradation))

    def top(self, degradation: str, proportion: float) -> torch.Tensor:
        return top_indices(self.scores(degradation), proportion)

    def save(self, path: str | Path) -> Path:
        return atomic_save({"method": self.method, "scores": self.scores_by_degradation, "meta": self.meta}, path)

    @classmethod
    def load(cls, path: str | Path) -> "FilterRanking":
        obj = load_file(path)
        try:
            return cls(str(obj["method"]), dict(obj["scores"]), dict(obj.get("meta", {})))
        except (KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a filter-ranking file ({err})") from None


def random_filter_ranking(index: FilterIndex, seed: int, degradations: Sequence[str] = ("blur", "noise")) -> FilterRanking:
    """The same random order for every degradation (scores are descending ranks)."""
    order = random_ranking(len(index), seed)
    scores = torch.empty(len(index), dtype=torch.float64)
    scores[order] = torch.arange(len(index), 0, -1, dtype=torch.float64)
    return FilterRanking("random", {d: scores.clone() for d in degradations}, {"seed": seed})


def abs_change_ranking(model: nn.Module, baseline_params, target_params,
                       degradations: Sequence[str] = ("blur", "noise"), eps: float = 1e-12) -> FilterRanking:
    """``Σ|θ − θ̄| / Σ|θ̄|`` per filter (sums over the K×K kernel); identical for every degradation."""
    from faiglib.methods.faig import check_pair

    baseline, target = as_state_dict(baseline_params), as_state_dict(target_params)
    check_pair(model, baseline, target)
    index = FilterIndex(model)
    change = index.reduce({k: target[k] - baseline[k] for k in index.param_names})
    norm = index.reduce({k: baseline[k] for k in index.param_names})
    scores = (change / norm.clamp_min(eps)).double().cpu()
    return FilterRanking("abs_change", {d: scores.clone() for d in degradations}, {"normalised_by": "baseline L1"})


@torch.enable_grad()
@in_evaluation_mode
def input_ig_ranking(model: nn.Module, target_params, clean: Sequence[torch.Tensor],
                     degraded: Mapping[str, Sequence[torch.Tensor]], *, n_steps: int = 100, method: str = "left",
                     internal_batch_size: int = 8) -> FilterRanking:
    """Input-space IG on the target network (see the module docstring), summed over images.

    ``clean[i]``: LR image ``(3, h, w)``; ``degraded[d][i]``: its version with degradation ``d``; float in [0, 1]
    without NaN/inf (:func:`~faiglib.core.validate.check_images`), else ``ValueError``.
    The α points of one image are stacked into batches of ``internal_batch_size``: with the objective a sum
    and the parameters shared, one backward pass of a batch gives the sum of the per-α gradients.
    """
    target = as_state_dict(target_params)
    names = [n for n, _ in model.named_parameters()]
    check_finite({n: target[n] for n in names}, "target weights")
    index = FilterIndex(model)
    alphas, weights = quadrature(n_steps, method)
    if internal_batch_size < 1:
        raise ValueError(f"internal_batch_size must be >= 1, got {internal_batch_size}")
    for i, x in enumerate(clean):
        check_images(x, f"clean image {i}")
        check_input_channels(model, x, f"clean image {i}")
    for d, images in degraded.items():
        if len(images) != len(clean):
            raise ValueError(f"{len(images)} {d} images for {len(clean)} clean ones")
        for i, x in enumerate(images):
            check_images(x, f"{d} image {i}")
    scores = {}
    for d, images in degraded.items():
        total = torch.zeros(len(index), dtype=torch.float64)
        for x0, x1 in zip(clean, images):
            if x0.shape != x1.shape:
                raise ValueError(f"clean and {d} images differ in shape: {tuple(x0.shape)} vs {tuple(x1.shape)}")
            params = {n: target[n].detach().clone().requires_grad_() for n in names}
            weight_leaves = [params[p] for p in index.param_names]
            mean_grad = [torch.zeros_like(w) for w in weight_leaves]
            for start in range(0, len(alphas), internal_batch_size):
                w = weights[start: start + internal_batch_size].to(x0.dtype)
                path = path_points(x0, x1, alphas[start: start + internal_batch_size])
                out = functional_call(model, params, (path,))
                # Σ_k w_k · sum(F(x(α_k))): one backward gives the weighted sum of the per-α gradients
                objective = (out.flatten(1).sum(1) * w).sum()
                for acc, g in zip(mean_grad, torch.autograd.grad(objective, weight_leaves)):
                    acc += g
            total += index.reduce(dict(zip(index.param_names, mean_grad))).double().cpu()
        scores[d] = total
    return FilterRanking("ig", scores, {"n_steps": n_steps, "method": method, "n_images": len(clean),
                                        "objective": "sum of the output", "path": "clean LR -> degraded LR"})

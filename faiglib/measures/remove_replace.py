"""Remove-and-replace: how much of an objective do the pixels an attribution ranks first carry? (seed 004 Sec. 4.2)

For a pixel attribution map ``A`` ``(C, h, w)`` of an objective ``g`` (a scalar per image) at the input ``x``,
rank the LR pixels by their score ``a_p = Σ_c A[c, p]`` in one of three orders:

* ``"absolute"``: by ``|a_p|``, largest first;  ``"positive"``: by ``a_p``, most positive first;
* ``"negative"``: by ``a_p``, most negative first;

and replace the first ``k %`` of them (all channels of a pixel) by a replacement image. Two replacements
(:data:`REPLACEMENTS`):

* ``"mean"`` -- the L2X paper's (seed 004 Sec. 4.2): every removed pixel takes the per-channel mean of the LR
  image (:func:`channel_mean_reference`). Removing a pixel removes its content entirely, so a map that finds
  the pixels the window depends on removes the window's detail fast, and a map permuted within the receptive
  field does not (:func:`permuted_map`): this measure tells maps apart.
* ``"blur"`` -- the attribution's own reference, the Gaussian-blurred input ``x̄``. Removed pixels keep their
  low frequencies, so every order removes detail slowly and alike; real maps and their permutations end up
  close (the L2X chapter reports by how much).

The curve is the change of ``g`` as a fraction of

* ``normalise="difference"``: ``f(k) = (g(x) − g(x_k)) / (g(x) − g(x̄))``, ``f(0) = 0``, ``f(100) = 1`` exactly --
  the fraction of the difference removed. Ill-conditioned where ``g(x̄) ≈ g(x)`` (a network that restores the
  reference's lost detail too): one such window can dominate a mean over windows.
* ``normalise="objective"``: ``f(k) = (g(x) − g(x_k)) / |g(x)|``, ``f(100) = (g(x) − g(x̄)) / |g(x)|`` -- the
  fraction of the objective removed (for ``g = D >= 0``: of the window's detail). Well conditioned wherever the
  window has detail; the L2X chapter uses it.

Its area ``AUC = ∫₀¹ f d(k/100)`` (trapezoid over the given ``k``) is one number per map and order. For
``"absolute"`` and ``"positive"`` a larger AUC means the first-ranked pixels carry more of the difference; for
``"negative"`` a smaller (more negative) one means the map found the pixels that *lower* ``g``. A seeded random
order (:func:`random_map`) is the floor. Ties are broken by pixel index (stable sort). The ``k`` steps are one
batch of forward passes; no gradients.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from faiglib.methods.lam import channel_sum
from faiglib.methods.pixel_attribution import random_map  # the floor of every ranking: re-exported here

__all__ = ["ORDERS", "NORMALISATIONS", "REPLACEMENTS", "DEFAULT_PERCENTS", "RemoveReplaceCurve", "pixel_order",
           "replaced_inputs", "remove_and_replace", "random_map", "channel_mean_reference", "permuted_map"]

ORDERS = ("absolute", "positive", "negative")
NORMALISATIONS = ("difference", "objective")
REPLACEMENTS = ("mean", "blur")
DEFAULT_PERCENTS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 75.0, 100.0)


@dataclass
class RemoveReplaceCurve:
    """``percents`` (K,), ``objectives`` ``g(x_k)`` (K,) float64, ``fraction`` ``f(k)`` (K,), ``auc``; ``objective`` =
    ``g(x)``, ``reference_objective`` = ``g(x̄)``, ``order``, ``normalise``."""

    percents: list[float]
    objectives: list[float]
    fraction: list[float]
    auc: float
    objective: float
    reference_objective: float
    order: str
    normalise: str = "difference"

    def as_dict(self) -> dict:
        return {"percents": self.percents, "objectives": self.objectives, "fraction": self.fraction,
                "auc": self.auc, "objective": self.objective, "reference_objective": self.reference_objective,
                "order": self.order, "normalise": self.normalise}


def _pixel_scores(attribution: torch.Tensor) -> torch.Tensor:
    a = channel_sum(attribution)
    if not torch.isfinite(a).all():
        raise ValueError("the attribution map has NaN or inf values")
    return a.flatten()


def pixel_order(attribution: torch.Tensor, order: str = "absolute") -> torch.Tensor:
    """Flat pixel indices ``(h·w,)`` of ``attribution`` ``(C, h, w)`` or ``(h, w)`` in replacement order."""
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; known: {ORDERS}")
    a = _pixel_scores(attribution)
    key = {"absolute": -a.abs(), "positive": -a, "negative": a}[order]
    return torch.argsort(key, stable=True)


def _check_percents(percents: Sequence[float]) -> list[float]:
    ks = [float(k) for k in percents]
    if not ks or any(not math.isfinite(k) or k < 0 or k > 100 for k in ks):
        raise ValueError(f"percentages k must be in [0, 100], got {list(percents)}")
    if any(b <= a for a, b in zip(ks, ks[1:])):
        raise ValueError(f"percentages must be strictly increasing, got {ks}")
    return ks


def replaced_inputs(x: torch.Tensor, reference: torch.Tensor, order: torch.Tensor,
                    percents: Sequence[float]) -> torch.Tensor:
    """``(K, C, h, w)``: ``x`` with its first ``round(k/100 · h·w)`` pixels of ``order`` replaced by ``reference``,
    for every ``k`` of ``percents``."""
    if not torch.is_tensor(x) or x.dim() != 3:
        raise ValueError(f"x must be one image (C, h, w), got {getattr(x, 'shape', type(x).__name__)}")
    if not torch.is_tensor(reference) or reference.shape != x.shape:
        raise ValueError(f"the reference must have the shape of the input {tuple(x.shape)}, got "
                         f"{tuple(reference.shape) if torch.is_tensor(reference) else type(reference).__name__}")
    ks = _check_percents(percents)
    n = x.shape[-2] * x.shape[-1]
    if order.numel() != n:
        raise ValueError(f"the order has {order.numel()} pixels, the image {n}")
    rank = torch.empty(n, dtype=torch.long)
    rank[order.cpu()] = torch.arange(n)  # position of every pixel in the order
    counts = torch.tensor([int(round(k / 100 * n)) for k in ks])
    masks = (rank[None, :] < counts[:, None]).reshape(len(ks), 1, *x.shape[-2:]).to(x.device)
    return torch.where(masks, reference.unsqueeze(0), x.unsqueeze(0))


def remove_and_replace(objective: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                       reference: torch.Tensor, attribution: torch.Tensor, order: str = "absolute",
                       percents: Sequence[float] = DEFAULT_PERCENTS, batch_size: int | None = None,
                       normalise: str = "difference", min_difference: float = 1e-8) -> RemoveReplaceCurve:
    """The remove-and-replace curve of one map (see the module docstring).

    ``objective``: images ``(B, C, h, w)`` -> ``(B,)`` (e.g. a :class:`~faiglib.methods.l2x.WindowObjective`).
    ``x``, ``reference``: ``(C, h, w)``; ``attribution``: ``(C, h, w)`` or ``(h, w)`` over the same pixels.
    ``percents``: increasing values in [0, 100] (0 and 100 are added when missing: ``f`` needs ``g(x)`` and
    ``g(x̄)``). ``batch_size``: images per forward (``None``: all). ``normalise``: ``"difference"`` or
    ``"objective"`` (module docstring). ValueError for shapes that do not match, ``k`` outside [0, 100], or a
    denominator (``|g(x) − g(x̄)|`` resp. ``|g(x)|``) ``<= min_difference`` (``f`` undefined).
    """
    if normalise not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {normalise!r}; known: {NORMALISATIONS}")
    ks = _check_percents(percents)
    ks = sorted(set(ks) | {0.0, 100.0})
    if not torch.is_tensor(x) or x.dim() != 3:
        raise ValueError(f"x must be one image (C, h, w), got {getattr(x, 'shape', type(x).__name__)}")
    if tuple(torch.as_tensor(attribution).shape[-2:]) != tuple(x.shape[-2:]):
        raise ValueError(f"the attribution map {tuple(torch.as_tensor(attribution).shape)} does not cover the "
                         f"image's {x.shape[-2]}x{x.shape[-1]} pixels")
    batch = replaced_inputs(x, reference, pixel_order(attribution, order), ks)
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be None or an integer >= 1, got {batch_size!r}")
    step = len(ks) if batch_size is None else int(batch_size)
    with torch.no_grad():
        values = torch.cat([objective(batch[i: i + step]).reshape(-1) for i in range(0, len(ks), step)])
    values = values.to(torch.float64).cpu()
    g0, g1 = float(values[0]), float(values[-1])
    if normalise == "difference" and not abs(g0 - g1) > min_difference:
        raise ValueError(f"the objective barely differs between the input and the reference ({g0:.6g} vs {g1:.6g}): "
                         f"there is nothing to remove; choose a window with edges or texture, another reference, "
                         f"or normalise='objective'")
    if normalise == "objective" and not abs(g0) > min_difference:
        raise ValueError(f"the objective of the input is {g0:.6g}: nothing to remove; choose a window with edges "
                         f"or texture, or normalise='difference'")
    fraction = (g0 - values) / ((g0 - g1) if normalise == "difference" else abs(g0))
    k = torch.tensor(ks, dtype=torch.float64) / 100
    auc = float(torch.trapezoid(fraction, k))
    return RemoveReplaceCurve(percents=ks, objectives=values.tolist(), fraction=fraction.tolist(), auc=auc,
                              objective=g0, reference_objective=g1, order=order, normalise=normalise)


def channel_mean_reference(image: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
    """The L2X paper's replacement: an image of ``like``'s shape (default ``image``'s) whose every pixel is the
    per-channel mean of ``image`` ``(C, h, w)`` -- the whole LR image, so that the replacement of a crop does not
    depend on where the crop lies. Same dtype and device as ``image``."""
    if not torch.is_tensor(image) or image.dim() != 3:
        raise ValueError(f"image must be one image (C, h, w), got {getattr(image, 'shape', type(image).__name__)}")
    like = image if like is None else like
    if like.dim() != 3 or like.shape[0] != image.shape[0]:
        raise ValueError(f"the crop {tuple(like.shape)} must have the image's {image.shape[0]} channels")
    return image.mean(dim=(1, 2), keepdim=True).expand(like.shape).clone()


def permuted_map(attribution: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``attribution`` ``(C, h, w)`` with its pixels (all channels of a pixel together) moved to a seeded random
    permutation of the positions: the same values, none of the spatial information -- what a measure must tell
    a real map from."""
    a = torch.as_tensor(attribution)
    if a.dim() != 3:
        raise ValueError(f"an attribution map is (C, h, w), got {tuple(a.shape)}")
    c, h, w = a.shape
    perm = torch.randperm(h * w, generator=generator).to(a.device)
    return a.reshape(c, h * w)[:, perm].reshape(c, h, w)

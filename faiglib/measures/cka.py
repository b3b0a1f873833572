"""Linear CKA between the layers of two networks, accumulated over minibatches (seed 004 Sec. 4.3, Eq. 7).

Centred kernel alignment (Kornblith et al. 2019) of two representations ``X`` ``(n, p)`` and ``Y`` ``(n, q)`` of the
same ``n`` samples, with linear kernels ``K = X Xᵀ``, ``L = Y Yᵀ``:

    CKA = HSIC(K, L) / sqrt(HSIC(K, K) · HSIC(L, L))        (in [0, 1] for the biased HSIC).

``unbiased=False``: ``HSIC = tr(K H L H) / (n − 1)²`` with ``H = I − 11ᵀ/n``; on one batch this is the feature-space
formula ``‖Yᶜᵀ Xᶜ‖²_F / (‖Xᶜᵀ Xᶜ‖_F ‖Yᶜᵀ Yᶜ‖_F)`` of the centred features.

``unbiased=True`` (default): Song et al.'s unbiased estimator (needs ``n >= 4``; ``K̃``, ``L̃`` with zero diagonals)

    HSIC₁ = [tr(K̃L̃) + 1ᵀK̃1 · 1ᵀL̃1 / ((n−1)(n−2)) − 2/(n−2) · 1ᵀK̃L̃1] / (n(n−3)).

*Minibatch-stable* (Nguyen et al. 2021): the three HSICs are averaged over minibatches and CKA is formed from
the averages. The unbiased estimator has no ``1/n`` bias, so the result does not drift with the batch size, and
memory is ``O(batch²)`` whatever the number of samples. It can be slightly negative or above 1 for small samples.

The seed computes CKA of L2X *attribution* matrices between models; :func:`layer_cka` takes any
representation a forward hook can read (activations here), for any two ``nn.Module`` s and layer names.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
from torch import nn

__all__ = ["gram", "hsic", "linear_cka", "CKAAccumulator", "layer_cka"]


def gram(features: torch.Tensor) -> torch.Tensor:
    """Linear kernel ``X Xᵀ`` ``(n, n)`` float64 of ``features`` ``(n, ...)`` (flattened per sample)."""
    x = torch.as_tensor(features).reshape(features.shape[0], -1).to(torch.float64)
    return x @ x.t()


def hsic(K: torch.Tensor, L: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """HSIC of two ``(n, n)`` Gram matrices (see the module docstring); float64 scalar tensor."""
    if K.dim() != 2 or K.shape[0] != K.shape[1] or K.shape != L.shape:
        raise ValueError(f"hsic needs two square Gram matrices of the same size, got {tuple(K.shape)} and "
                         f"{tuple(L.shape)}")
    n = K.shape[0]
    K, L = K.to(torch.float64), L.to(torch.float64)
    if not unbiased:
        if n < 2:
            raise ValueError(f"the biased HSIC needs n >= 2 samples, got {n}")
        h = torch.eye(n, dtype=torch.float64, device=K.device) - 1.0 / n
        return torch.trace(K @ h @ L @ h) / (n - 1) ** 2
    if n < 4:
        raise ValueError(f"the unbiased HSIC needs n >= 4 samples per minibatch, got {n}; use larger batches")
    Kt = K - torch.diag(torch.diag(K))
    Lt = L - torch.diag(torch.diag(L))
    ones = torch.ones(n, 1, dtype=torch.float64, device=K.device)
    term1 = torch.sum(Kt * Lt)  # tr(K̃ L̃) for symmetric matrices
    term2 = (ones.t() @ Kt @ ones) * (ones.t() @ Lt @ ones) / ((n - 1) * (n - 2))
    term3 = 2.0 / (n - 2) * (ones.t() @ Kt @ Lt @ ones)
    return ((term1 + term2 - term3) / (n * (n - 3))).reshape(())


def linear_cka(X: torch.Tensor, Y: torch.Tensor, unbiased: bool = True) -> float:
    """Linear CKA of ``X`` ``(n, ...)`` and ``Y`` ``(n, ...)`` (one batch)."""
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y must hold the same samples: {X.shape[0]} vs {Y.shape[0]} rows")
    acc = CKAAccumulator(1, 1, unbiased)
    acc.update([X], [Y])
    return float(acc.matrix()[0, 0])


class CKAAccumulator:
    """Averages of ``HSIC(K_i, L_j)``, ``HSIC(K_i, K_i)``, ``HSIC(L_j, L_j)`` over minibatches, for ``n_a`` layers
    of one network and ``n_b`` of the other; :meth:`matrix` gives the ``(n_a, n_b)`` CKA."""

    def __init__(self, n_a: int, n_b: int, unbiased: bool = True):
        if n_a < 1 or n_b < 1:
            raise ValueError(f"need at least one layer on each side, got {n_a} and {n_b}")
        self.unbiased = unbiased
        self.cross = torch.zeros(n_a, n_b, dtype=torch.float64)
        self.self_a = torch.zeros(n_a, dtype=torch.float64)
        self.self_b = torch.zeros(n_b, dtype=torch.float64)
        self.batches = 0

    def update(self, features_a: Sequence[torch.Tensor], features_b: Sequence[torch.Tensor]) -> None:
        """One minibatch: per layer, features ``(n, ...)`` of the same ``n`` samples on both sides."""
        if len(features_a) != self.self_a.numel() or len(features_b) != self.self_b.numel():
            raise ValueError(f"expected {self.self_a.numel()} + {self.self_b.numel()} layers, got "
                             f"{len(features_a)} + {len(features_b)}")
        n = {f.shape[0] for f in list(features_a) + list(features_b)}
        if len(n) != 1:
            raise ValueError(f"every layer must hold the same samples; batch sizes {sorted(n)}")
        Ks = [gram(f) for f in features_a]
        Ls = [gram(f) for f in features_b]
        for i, K in enumerate(Ks):
            self.self_a[i] += hsic(K, K, self.unbiased).cpu()
            for j, L in enumerate(Ls):
                self.cross[i, j] += hsic(K, L, self.unbiased).cpu()
        for j, L in enumerate(Ls):
            self.self_b[j] += hsic(L, L, self.unbiased).cpu()
        self.batches += 1

    def matrix(self) -> torch.Tensor:
        """``(n_a, n_b)`` float64 CKA from the averaged HSICs. ValueError before any update or when a layer's
        self-HSIC is not positive (a constant representation)."""
        if self.batches == 0:
            raise ValueError("no minibatch accumulated yet")
        if (self.self_a <= 0).any() or (self.self_b <= 0).any():
            raise ValueError("a layer has a non-positive self-HSIC (constant features?); CKA is undefined for it")
        return self.cross / torch.sqrt(self.self_a[:, None] * self.self_b[None, :])


def _capture(model: nn.Module, names: Sequence[str], store: dict[str, torch.Tensor]):
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise ValueError(f"no module(s) {missing} in {type(model).__name__}; it has e.g. "
                         f"{[n for n in modules if n][:12]}")
    handles = []
    for name in names:
        def hook(_m, _inp, out, name=name):
            if not torch.is_tensor(out):
                raise ValueError(f"module {name!r} does not return a tensor; pick another layer")
            store[name] = out.detach().reshape(out.shape[0], -1)
        handles.append(modules[name].register_forward_hook(hook))
    return handles


@torch.no_grad()
def layer_cka(model_a: nn.Module, layers_a: Sequence[str], model_b: nn.Module, layers_b: Sequence[str],
              batches: Iterable[torch.Tensor], unbiased: bool = True) -> dict:
    """Linear CKA between the outputs of ``layers_a`` of ``model_a`` and ``layers_b`` of ``model_b`` (module names
    of ``named_modules``), over the input ``batches`` (each ``(B, C, h, w)``, ``B >= 4`` for the unbiased HSIC;
    both models see the same batch). Modules that run several times keep their last output.

    Returns ``{"matrix": (len(layers_a), len(layers_b)) float64, "layers_a", "layers_b", "batches", "samples",
    "unbiased"}``. ValueError for unknown layer names or no batches."""
    if not layers_a or not layers_b:
        raise ValueError("give at least one layer name per model")
    acc = CKAAccumulator(len(layers_a), len(layers_b), unbiased)
    feats_a: dict[str, torch.Tensor] = {}
    feats_b: dict[str, torch.Tensor] = {}
    handles = _capture(model_a, layers_a, feats_a) + _capture(model_b, layers_b, feats_b)
    samples = 0
    try:
        for x in batches:
            pa = next(iter(model_a.parameters()), None)
            pb = next(iter(model_b.parameters()), None)
            model_a(x.to(pa.device, pa.dtype) if pa is not None else x)
            model_b(x.to(pb.device, pb.dtype) if pb is not None else x)
            acc.update([feats_a[n] for n in layers_a], [feats_b[n] for n in layers_b])
            samples += x.shape[0]
    finally:
        for h in handles:
            h.remove()
    if acc.batches == 0:
        raise ValueError("no input batches given")
    m = acc.matrix()
    if not torch.isfinite(m).all() or math.isnan(float(m.sum())):
        raise ValueError("CKA is not finite; check the inputs")
    return {"matrix": m, "layers_a": list(layers_a), "layers_b": list(layers_b), "batches": acc.batches,
            "samples": samples, "unbiased": unbiased}

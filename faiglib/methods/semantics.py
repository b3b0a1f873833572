"""Deep degradation semantics (the slides, "Discovering 'Semantics' in Super-Resolution Networks", Liu et al.):
do the features of an SR network cluster by the *degradation* of its input rather than by image content?

The recipe of the slides: collect the activations of a layer for many LR patches, each in several degraded
versions; reduce them with PCA, draw them with t-SNE, and measure how well they separate with the
Calinski-Harabasz index (CHI: between-cluster over within-cluster dispersion, each divided by its degrees of
freedom; larger = better separated, 0 when all cluster means coincide), once with the degradation as the label
and once with the source image (content) as the label.

* :func:`sample_patches` -- seeded LR patches of the same content in every degradation condition.
* :func:`recorded_activations` -- forward hooks on named modules as a context manager (always removed).
* :func:`collect_features` -- ``{layer: (N, D)}`` flattened activations of a patch batch.
* :func:`pca_reduce`, :func:`tsne_embed`, :func:`calinski_harabasz` -- scikit-learn, seeded, checked inputs.
* :func:`layer_separation` -- CHI per layer, degradation label vs image label.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faiglib.data.degradations import Degradation

__all__ = ["PatchSet", "standard_conditions", "degree_conditions", "sample_patches", "recorded_activations",
           "collect_features", "pca_reduce", "tsne_embed", "calinski_harabasz", "layer_separation"]


@dataclass
class PatchSet:
    """LR patches with their labels: ``lr`` is ``(N, 3, p, p)`` in [0, 1]; ``condition[i]`` names the
    degradation of patch ``i`` (a key of the conditions it was made with), ``image[i]`` the index of its source
    image, ``position[i]`` its top-left corner ``(row, col)`` on the LR grid. Patches of the same image and
    position show the same content in every condition."""

    lr: torch.Tensor
    condition: list[str]
    image: list[int]
    position: list[tuple[int, int]]
    conditions: tuple[str, ...]
    seed: int

    def __len__(self) -> int:
        return self.lr.shape[0]

    def select(self, conditions: Sequence[str]) -> "PatchSet":
        """The patches of some conditions only (in the stored order)."""
        unknown = [c for c in conditions if c not in self.conditions]
        if unknown:
            raise ValueError(f"unknown conditions {unknown}; this patch set has {list(self.conditions)}")
        keep = [i for i, c in enumerate(self.condition) if c in conditions]
        return PatchSet(self.lr[keep], [self.condition[i] for i in keep], [self.image[i] for i in keep],
                        [self.position[i] for i in keep], tuple(c for c in self.conditions if c in conditions),
                        self.seed)


#: A condition: ``(blur sigma or None, noise sigma or None)`` applied by Eq. 1 (blur on HR, resize, noise).
Condition = tuple[float | None, float | None]


def standard_conditions(degradation: Degradation) -> dict[str, Condition]:
    """The four analysis conditions clean / blur / noise / blur+noise at ``degradation``'s strengths."""
    b, n = degradation.blur_sigma, degradation.noise_sigma
    return {"clean": (None, None), "blur": (b, None), "noise": (None, n), "blur+noise": (b, n)}


def degree_conditions(blur: Sequence[float] = (), noise: Sequence[float] = ()) -> dict[str, Condition]:
    """One condition per blur sigma (``"blur 1"``) and per noise sigma (``"noise 0.05"``), each alone."""
    conditions: dict[str, Condition] = {f"blur {s:g}": (float(s), None) for s in blur}
    conditions.update({f"noise {s:g}": (None, float(s)) for s in noise})
    return conditions


def sample_patches(images: Sequence[tuple[str, torch.Tensor]], degradation: Degradation,
                   conditions: Mapping[str, Condition], per_image: int, patch: int, seed: int = 0) -> PatchSet:
    """``per_image`` LR patches of side ``patch`` from every HR image ``(3, H, W)`` in every condition.

    Each whole image is degraded first (so blur has real context at the patch borders), then the same LR
    positions are cut from every condition. Positions come from ``torch.Generator().manual_seed(seed)``;
    the noise of image ``i`` from a generator seeded with ``(seed, i)`` (the same draw in every noisy condition
    of one strength). Patches are ordered image, condition, position.
    """
    if per_image < 1 or patch < 1:
        raise ValueError(f"per_image and patch must be >= 1, got {per_image}, {patch}")
    if not images:
        raise ValueError("sample_patches got no images")
    if not conditions:
        raise ValueError("sample_patches got no conditions; e.g. standard_conditions(degradation)")
    scale = degradation.scale
    positions_gen = torch.Generator().manual_seed(seed)
    lr, cond, img_ids, pos = [], [], [], []
    for i, (name, hr) in enumerate(images):
        h, w = hr.shape[-2] // scale, hr.shape[-1] // scale
        if h < patch or w < patch:
            raise ValueError(f"image {name!r} is {h}x{w} at LR, smaller than the {patch}x{patch} patches; "
                             f"use smaller patches or larger images")
        rows = torch.randint(0, h - patch + 1, (per_image,), generator=positions_gen).tolist()
        cols = torch.randint(0, w - patch + 1, (per_image,), generator=positions_gen).tolist()
        for label, (blur_sigma, noise_sigma) in conditions.items():
            deg = replace(degradation, blur_sigma=blur_sigma if blur_sigma is not None else degradation.blur_sigma,
                          noise_sigma=noise_sigma if noise_sigma is not None else degradation.noise_sigma)
            gen = torch.Generator().manual_seed(seed * 1_000_003 + i)
            full = deg(hr, blur=blur_sigma is not None, noise=noise_sigma is not None, generator=gen)
            for r, c in zip(rows, cols):
                lr.append(full[..., r: r + patch, c: c + patch])
                cond.append(label)
                img_ids.append(i)
                pos.append((r, c))
    return PatchSet(torch.stack(lr), cond, img_ids, pos, tuple(conditions), seed)


@contextlib.contextmanager
def recorded_activations(model: nn.Module, layers: Sequence[str]) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Record the outputs of the named submodules of ``model`` during the ``with`` block.

    Yields ``{layer: [output of each forward call, detached]}``. The hooks are removed when the block ends,
    also when it raises, so the model is left exactly as it was. Raises ``ValueError`` for a name that is not a
    submodule (listing the names that are).
    """
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules or name == ""]
    if missing:
        known = [n for n in modules if n]
        raise ValueError(f"{type(model).__name__} has no layer {missing}; layers are e.g. {known[:12]}"
                         f"{' ...' if len(known) > 12 else ''}")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers must be distinct, got {list(layers)}")
    records: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    handles = []
    try:
        for name in layers:
            def hook(_module, _inputs, output, name=name):
                records[name].append(output.detach())
            handles.append(modules[name].register_forward_hook(hook))
        yield records
    finally:
        for handle in handles:
            handle.remove()


def collect_features(model: nn.Module, patches: torch.Tensor, layers: Sequence[str], batch_size: int = 64,
                     grid: int | None = None) -> dict[str, torch.Tensor]:
    """Activations of ``layers`` for ``patches`` ``(N, 3, p, p)``, each flattened to ``(N, C*h*w)`` float32 on
    the CPU (``grid``: average-pooled to ``grid x grid`` first, e.g. to compare layers of different
    resolutions at the same size; ``None`` keeps every position). Runs without gradients; the model's mode and
    weights are not touched."""
    if patches.dim() != 4:
        raise ValueError(f"patches must be (N, 3, p, p), got {tuple(patches.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = next(model.parameters()).device
    chunks: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    with torch.no_grad(), recorded_activations(model, layers) as records:
        for start in range(0, patches.shape[0], batch_size):
            model(patches[start: start + batch_size].to(device))
            for name in layers:
                (act,) = records[name]
                records[name].clear()
                if grid is not None:
                    act = F.adaptive_avg_pool2d(act, grid)
                chunks[name].append(act.flatten(start_dim=1).float().cpu())
    return {name: torch.cat(parts) for name, parts in chunks.items()}


def _as_2d(features) -> np.ndarray:
    x = features.numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"features must be (n_samples, n_features), got shape {x.shape}")
    return x.astype(np.float64, copy=False)


def pca_reduce(features, n_components: int, seed: int = 0) -> np.ndarray:
    """PCA of ``(N, D)`` features to ``(N, min(n_components, N, D))`` (scikit-learn, ``random_state=seed``)."""
    from sklearn.decomposition import PCA

    x = _as_2d(features)
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")
    k = min(n_components, x.shape[0], x.shape[1])
    return PCA(n_components=k, random_state=seed).fit_transform(x)


def tsne_embed(features, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """2-D t-SNE of ``(N, D)`` features (scikit-learn, PCA init, ``random_state=seed``): ``(N, 2)``.

    t-SNE's neighbourhoods hold about ``3 * perplexity`` points, so ``N`` must exceed that: fewer samples raise
    a ``ValueError`` that names both numbers (use more patches or a smaller perplexity).
    """
    from sklearn.manifold import TSNE

    x = _as_2d(features)
    if perplexity <= 0:
        raise ValueError(f"perplexity must be > 0, got {perplexity}")
    if x.shape[0] <= 3 * perplexity:
        raise ValueError(f"t-SNE with perplexity {perplexity:g} needs more than {3 * perplexity:g} samples, got "
                         f"{x.shape[0]}; sample more patches or lower the perplexity")
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)


def calinski_harabasz(features, labels: Sequence) -> float:
    """Calinski-Harabasz index of ``(N, D)`` features under ``labels`` (length ``N``, any hashable values):
    ``[tr(B) / (k - 1)] / [tr(W) / (N - k)]`` with ``B``/``W`` the between/within-cluster scatter and ``k``
    the number of labels; in ``[0, inf)``. Needs ``2 <= k <= N - 1`` (a clear ``ValueError`` otherwise)."""
    from sklearn.metrics import calinski_harabasz_score

    x = _as_2d(features)
    labels = list(labels)
    if len(labels) != x.shape[0]:
        raise ValueError(f"{len(labels)} labels for {x.shape[0]} samples; give one label per sample")
    k = len(set(labels))
    if k < 2:
        raise ValueError(f"the Calinski-Harabasz index needs at least 2 different labels, got only {labels[:1]}; "
                         f"include patches of another degradation / image")
    if k > x.shape[0] - 1:
        raise ValueError(f"the Calinski-Harabasz index needs fewer labels ({k}) than samples ({x.shape[0]}); "
                         f"sample more patches per label")
    return float(calinski_harabasz_score(x, labels))


def layer_separation(features: Mapping[str, torch.Tensor], labels: Mapping[str, Sequence],
                     n_components: int = 32, seed: int = 0) -> dict[str, dict[str, float]]:
    """CHI of every layer's PCA-reduced features under each labelling.

    ``features``: ``{layer: (N, D)}`` (:func:`collect_features`); ``labels``: ``{"degradation": [...],
    "image": [...]}`` (any names, each of length ``N``). Returns ``{layer: {labelling: CHI}}``.
    """
    out: dict[str, dict[str, float]] = {}
    for layer, feats in features.items():
        reduced = pca_reduce(feats, n_components, seed)
        out[layer] = {name: calinski_harabasz(reduced, lab) for name, lab in labels.items()}
    return out

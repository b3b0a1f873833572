"""Where do degradation semantics appear in an SR network, and do they need the global residual (GR)?

The slides' "Discovering 'Semantics'" part (Liu et al.) reports that the deep features of an SR network cluster by
degradation type regardless of image content, that for MSE-trained networks this only emerges *with* a global
residual, and that degrees of one degradation separate more the more they differ. Here, for the trained pairs
of a profile (:class:`~faiglib.studies.workspace.Workspace`), with and without GR
(``profile.semantics_networks``, e.g. ``msrresnet-32x4-nogr``):

* :func:`chi_by_depth` -- CHI (degradation label and image label) at every depth, baseline and target,
  mean ± std over seeds;
* :func:`tsne_maps` -- t-SNE pictures of chosen depths;
* :func:`chi_by_degree` -- CHI among the degrees of one degradation (blur sigmas, noise sigmas) and per pair;
* :func:`faig_comparison` -- in which depths FAIG's top discriminative filters lie, against where CHI rises.

Everything is computed from the cached checkpoints in seconds (a few hundred patches through a small net),
so nothing is cached here.
"""
from __future__ import annotations

from itertools import combinations
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from faiglib.measures.statistics import mean_std
from faiglib.methods.semantics import (PatchSet, collect_features, degree_conditions, layer_separation,
                                       pca_reduce, sample_patches, standard_conditions, tsne_embed,
                                       calinski_harabasz)

__all__ = ["semantics_findings", "depth_layers", "analysis_patches", "separation_by_depth", "chi_by_depth", "tsne_maps",
           "chi_by_degree", "faig_comparison", "stage_of", "variant_label"]

LABELLINGS = ("degradation", "image")


def depth_layers(model: nn.Module) -> list[str]:
    """The depths compared: for MSRResNet the first conv, the output of every residual block and the last
    hidden conv (``conv_hr``, at HR); for other networks every conv layer."""
    names = dict(model.named_modules())
    if "conv_first" in names and "body" in names and "conv_hr" in names:
        return ["conv_first"] + [f"body.{i}" for i in range(len(names["body"]))] + ["conv_hr"]
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def stage_of(conv_name: str, layers: Sequence[str]) -> str:
    """The depth (one of ``layers`` from :func:`depth_layers`) whose features a conv layer's filters produce:
    ``body.i.conv1``/``conv2`` -> ``body.i``; the tail convs (``upconv*``, ``conv_hr``, ``conv_last``) -> the last
    depth; a conv that is itself a depth -> itself."""
    if conv_name in layers:
        return conv_name
    for layer in layers:
        if conv_name.startswith(layer + "."):
            return layer
    return layers[-1]


def variant_label(ws) -> str:
    """``"with GR"`` / ``"without GR"`` for a workspace's network."""
    return "with GR" if getattr(ws.spec, "global_residual", True) else "without GR"


def analysis_patches(ws, conditions: Mapping | None = None) -> PatchSet:
    """LR patches of the workspace's analysis images (the first ``profile.semantics_images``), ``semantics_patches``
    per image of side ``semantics_patch``, in every condition (default clean / blur / noise / blur+noise at the
    profile's strengths), seeded by ``ws.seed``."""
    p = ws.profile
    images = ws.analysis_images()
    if p.semantics_images:
        images = images[: p.semantics_images]
    conditions = conditions or standard_conditions(ws.degradation)
    return sample_patches(images, ws.degradation, conditions, p.semantics_patches, p.semantics_patch, ws.seed)


def _features(ws, which: str, patches: PatchSet, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    model = ws.model(which)
    return collect_features(model, patches.lr, layers or depth_layers(model))


def separation_by_depth(ws, which: str = "target", patches: PatchSet | None = None) -> dict[str, dict[str, float]]:
    """``{layer: {"degradation": CHI, "image": CHI}}`` of one trained model (``"baseline"``/``"target"``) on
    :func:`analysis_patches` (PCA to ``profile.semantics_pca`` components, seeded by ``ws.seed``)."""
    patches = patches or analysis_patches(ws)
    feats = _features(ws, which, patches)
    return layer_separation(feats, {"degradation": patches.condition, "image": patches.image},
                            ws.profile.semantics_pca, ws.seed)


def chi_by_depth(workspaces: Mapping[str, Sequence[Any]], models: Sequence[str] = ("baseline", "target")) -> dict:
    """CHI against depth for every variant (``{"with GR": [ws per seed], "without GR": [...]}``) and model.

    Returns ``{variant: {model: {layer: {"degradation": leaf, "image": leaf}}}}`` with
    :func:`~faiglib.measures.statistics.mean_std` leaves (``mean``, ``std``, ``values`` over the seeds).
    """
    out: dict[str, dict] = {}
    for variant, wss in workspaces.items():
        if not wss:
            raise ValueError(f"no workspaces for {variant!r}")
        out[variant] = {}
        for which in models:
            per_seed = [separation_by_depth(ws, which) for ws in wss]
            out[variant][which] = mean_std(per_seed)
    return out


def tsne_maps(ws, which: str, layers: Sequence[str], patches: PatchSet | None = None) -> dict[str, dict]:
    """2-D t-SNE of the PCA-reduced features of ``layers``: ``{layer: {"xy": (N, 2) array, "condition": [...],
    "image": [...]}}`` (perplexity ``profile.semantics_perplexity``, seeded by ``ws.seed``)."""
    patches = patches or analysis_patches(ws)
    feats = _features(ws, which, patches, layers)
    p = ws.profile
    return {layer: {"xy": tsne_embed(pca_reduce(f, p.semantics_pca, ws.seed), p.semantics_perplexity, ws.seed),
                    "condition": list(patches.condition), "image": list(patches.image)}
            for layer, f in feats.items()}


def chi_by_degree(ws, which: str = "target", layers: Sequence[str] | None = None) -> dict[str, dict]:
    """CHI among the degrees of each degradation (``profile.levels_blur`` sigmas, ``profile.levels_noise``
    sigmas; each applied alone) at every depth, on the same patch positions: ``{"blur": {"all": {layer: CHI},
    "1 vs 2": {...}, "1 vs 3": {...}, ...}, "noise": {...}}`` -- "all" labels every degree, a pair only its two.
    The slides expect a pair that differs more (1 vs 3) to separate more than a close one (1 vs 2)."""
    p = ws.profile
    groups = {"blur": degree_conditions(blur=p.levels_blur), "noise": degree_conditions(noise=p.levels_noise)}
    patches = analysis_patches(ws, {k: v for g in groups.values() for k, v in g.items()})
    model = ws.model(which)
    feats = collect_features(model, patches.lr, layers or depth_layers(model))
    out: dict[str, dict] = {}
    for kind, conds in groups.items():
        names = list(conds)
        subsets = {"all": names} | {f"{a.split()[1]} vs {b.split()[1]}": [a, b] for a, b in combinations(names, 2)}
        out[kind] = {}
        for label, subset in subsets.items():
            keep = [i for i, c in enumerate(patches.condition) if c in subset]
            labels = [patches.condition[i] for i in keep]
            out[kind][label] = {layer: calinski_harabasz(pca_reduce(f[keep], p.semantics_pca, ws.seed), labels)
                                for layer, f in feats.items()}
    return out


def faig_comparison(ws, chi_degradation: Mapping[str, float], proportion: float = 0.01) -> dict[str, Any]:
    """Do FAIG's top discriminative filters sit where the degradation CHI rises?

    ``chi_degradation``: ``{layer: CHI}`` (all > 0) of the target at the depths of :func:`depth_layers`, in order.
    Each of the top-``proportion`` filters of blur and noise (``ws.scores().top``) is assigned to the depth its
    layer feeds (:func:`stage_of`). The rise is measured as a *factor* over the previous depth
    (``rise_layer``: largest ``CHI[i] / CHI[i-1]``, i >= 1), because CHI grows geometrically with depth (it is a
    ratio of dispersions; the book plots it on a log axis) -- the largest *absolute* increase
    (``rise_layer_absolute``) is reported too and nearly always falls on the deepest layers. Returns the counts
    per depth and per degradation, the depth holding most top filters (``mode_layer``), the share of top
    filters at the rise depth and at or after it, and ``coincide`` (mode depth == rise depth).
    """
    layers = list(chi_degradation)
    if len(layers) < 2:
        raise ValueError(f"need CHI at >= 2 depths to find a rise, got {layers}")
    values = [float(chi_degradation[k]) for k in layers]
    if min(values) <= 0:
        raise ValueError(f"CHI values must be > 0 to compare their growth, got {values}")
    factors = [1.0] + [b / a for a, b in zip(values, values[1:])]
    increases = [0.0] + [b - a for a, b in zip(values, values[1:])]
    rise_at = max(range(1, len(layers)), key=factors.__getitem__)
    scores, index = ws.scores(), ws.filter_index
    out: dict[str, Any] = {"proportion": proportion, "layers": layers, "chi": values, "chi_rise_factor": factors,
                           "rise_layer": layers[rise_at],
                           "rise_layer_absolute": layers[max(range(1, len(layers)), key=increases.__getitem__)]}
    for degradation, function in (("blur", "deblur"), ("noise", "denoise")):
        top = scores.top(degradation, proportion)
        conv_ids = index.layer_ids(top).tolist()
        counts = {layer: 0 for layer in layers}
        for cid in conv_ids:
            counts[stage_of(index.layers[cid].name, layers)] += 1
        n = max(len(conv_ids), 1)
        mode = max(layers, key=counts.__getitem__)
        out[function] = {"counts": counts, "n_filters": len(conv_ids), "mode_layer": mode,
                         "share_at_rise": counts[layers[rise_at]] / n,
                         "share_at_or_after_rise": sum(counts[k] for k in layers[rise_at:]) / n,
                         "coincide": mode == layers[rise_at]}
    return out


def semantics_findings(depth: Mapping[str, Mapping[str, Any]], degree: Mapping[str, Mapping[str, Mapping[str, float]]],
                       layers: Sequence[str], levels: Mapping[str, Sequence[float]],
                       without_gr: bool = True) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """The chapter's findings from :func:`chi_by_depth` (``depth``) and :func:`chi_by_degree` (``degree``), at the
    deepest of ``layers``. Returns ``(deepest, findings)``:

    * ``deepest["<variant>/<which>"]``: mean CHI by degradation and by image at the last layer, their ratio, and
      the mean CHI by degradation at the first layer;
    * ``findings``: the slides' claims as numbers -- ``gr_target_over_nogr_target_at_last`` (CHI by degradation
      of the target with the global residual over the one without; ``None`` without a no-GR variant),
      ``gr_target_degradation_beats_image_at_last``, ``gr_target_rises_with_depth``, and
      ``degree_far_over_near`` per kind (the CHI of the most different pair of ``levels[kind]`` over the better
      separated of the neighbouring pairs; > 1 as the slides expect)."""
    first, last = layers[0], layers[-1]

    def mean_of(variant, which, layer, labelling="degradation"):
        return depth[variant][which][layer][labelling]["mean"]

    deepest = {f"{variant}/{which}": {"degradation": mean_of(variant, which, last),
                                      "image": mean_of(variant, which, last, "image"),
                                      "ratio": mean_of(variant, which, last) / mean_of(variant, which, last, "image"),
                                      "first_layer": mean_of(variant, which, first)}
               for variant in depth for which in depth[variant]}
    gr = deepest["with GR/target"]
    findings = {
        "gr_target_over_nogr_target_at_last": (gr["degradation"] / deepest["without GR/target"]["degradation"]
                                               if without_gr else None),
        "gr_target_degradation_beats_image_at_last": gr["ratio"] > 1,
        "gr_target_rises_with_depth": gr["degradation"] > gr["first_layer"],
        "degree_far_over_near": {kind: degree[kind][f"{lv[0]:g} vs {lv[-1]:g}"][last]
                                 / max(degree[kind][f"{a:g} vs {b:g}"][last] for a, b in zip(lv, lv[1:]))
                                 for kind, lv in levels.items()},
    }
    return deepest, findings

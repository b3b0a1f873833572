"""Figures for the book. Each function takes computed results and returns a matplotlib ``Figure``."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

__all__ = ["image_row", "degradation_grid", "training_curves", "filter_distribution", "masking_curves",
           "masking_grid", "to_numpy_image", "completeness_curve"]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def to_numpy_image(img: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` in [0, 1] -> ``(H, W, 3)`` numpy for ``imshow``."""
    return img.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def image_row(images: Mapping[str, torch.Tensor], title: str | None = None, size: float = 2.6):
    """One row of labelled images (LR images are shown at their own size, nearest-neighbour)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size + 0.4), squeeze=False)
    for ax, (label, img) in zip(axes[0], images.items()):
        ax.imshow(to_numpy_image(img), interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def degradation_grid(analysis, images: Sequence[int] = (0,), crop: int | None = 64):
    """HR image and its four LR versions (clean / blur / noise / blur+noise) for the chosen images.

    ``crop`` shows a central ``crop x crop`` LR window (and the matching HR window) so pixels are visible.
    """
    plt = _plt()
    kinds = list(analysis.lr)
    scale = analysis.degradation.scale
    fig, axes = plt.subplots(len(images), 1 + len(kinds), figsize=(2.6 * (1 + len(kinds)), 2.8 * len(images)),
                             squeeze=False)
    for row, i in zip(axes, images):
        panels = {"HR": analysis.hr[i], **{f"LR {k}": analysis.lr[k][i] for k in kinds}}
        for ax, (label, img) in zip(row, panels.items()):
            if crop:
                s = scale if label == "HR" else 1
                h, w = img.shape[-2:]
                c = min(crop * s, h, w)
                top, left = (h - c) // 2, (w - c) // 2
                img = img[:, top: top + c, left: left + c]
            ax.imshow(to_numpy_image(img), interpolation="nearest")
            ax.set_title(f"{label}\n{analysis.names[i]}" if label == "HR" else label, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    return fig


def training_curves(histories: Mapping[str, dict]):
    """L1 training loss and validation PSNR of each stage (``{"baseline": history, "target": history}``)."""
    plt = _plt()
    fig, (ax_loss, ax_psnr) = plt.subplots(1, 2, figsize=(10, 3.4))
    offset = 0
    for stage, hist in histories.items():
        loss = np.asarray(hist.get("loss", []), dtype=float)
        val = np.asarray(hist.get("val_psnr", []), dtype=float)
        if loss.size:
            ax_loss.plot(loss[:, 0] + offset, loss[:, 1], label=stage, lw=0.8)
        if val.size:
            kinds = "+".join(hist.get("val_kinds", []))
            ax_psnr.plot(val[:, 0] + offset, val[:, 1], "o-", label=f"{stage} ({kinds} inputs)")
        if loss.size:
            offset += int(loss[-1, 0])
    ax_loss.set(xlabel="iteration (target continues after baseline)", ylabel="L1 loss", yscale="log")
    ax_psnr.set(xlabel="iteration", ylabel="validation PSNR (dB)")
    for ax in (ax_loss, ax_psnr):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def filter_distribution(index, selections: Mapping[str, torch.Tensor], title: str = ""):
    """Fraction of each conv layer's filters that belong to each selection (e.g. top-1 % deblur / denoise)."""
    plt = _plt()
    names = [layer.name for layer in index.layers]
    counts = np.array([layer.count for layer in index.layers], dtype=float)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(names) + 2), 3.4))
    width = 0.8 / max(len(selections), 1)
    x = np.arange(len(names))
    for j, (label, flat) in enumerate(selections.items()):
        layer_ids = index.layer_ids(torch.as_tensor(flat)).numpy()
        per_layer = np.bincount(layer_ids, minlength=len(names)) / counts
        ax.bar(x + (j - (len(selections) - 1) / 2) * width, 100 * per_layer, width, label=label)
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax.set(ylabel="% of the layer's filters", title=title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


# matplotlib does not draw combining accents (θ̄), so |θ − θ̄| is mathtext here
_METHOD_LABELS = {"faig": "FAIG", "ig": "IG", "abs_change": r"$|\theta-\bar{\theta}|$", "random": "random"}


def _mean_err(cell: Mapping, method: str) -> tuple[float, float]:
    """(value, error bar) of ``method`` in a masking-table cell: a ``{"mean", "std"}`` leaf (statistics over
    seeds) or a float (one model; random then carries ``random_std`` over its draws)."""
    v = cell[method]
    if isinstance(v, Mapping):
        return float(v["mean"]), float(v["std"])
    err = cell.get("random_std", 0.0) if method == "random" else 0.0
    return float(v), float(err.get("mean", 0.0) if isinstance(err, Mapping) else err)


def masking_curves(table: Mapping[str, dict], methods: Sequence[str] = ("faig", "random"),
                   labels: Mapping[str, str] | None = None, title: str | None = None):
    """Output difference vs masked proportion: one panel per (filter set, input), one line per selection
    method (log axes). ``table`` as from :meth:`~faiglib.experiment.Experiment.method_masking` for one
    channel -- or its :func:`~faiglib.statistics.mean_std` over seeds, drawn as mean ± std over seeds."""
    plt = _plt()
    labels = {**_METHOD_LABELS, **(labels or {})}
    keys = list(table)
    props = [float(k.removeprefix("mask_").removesuffix("pct")) for k in keys]
    filter_sets = list(table[keys[0]])
    inputs = list(table[keys[0]][filter_sets[0]])
    over_seeds = isinstance(table[keys[0]][filter_sets[0]][inputs[0]][methods[0]], Mapping)
    fig, axes = plt.subplots(1, len(filter_sets) * len(inputs), figsize=(3.3 * len(filter_sets) * len(inputs), 3.2),
                             squeeze=False)
    markers = "osd^v<>"
    for ax, (fs, inp) in zip(axes[0], [(f, i) for f in filter_sets for i in inputs]):
        for j, m in enumerate(methods):
            mean, err = zip(*(_mean_err(table[k][fs][inp], m) for k in keys))
            ax.errorbar(props, mean, yerr=err, fmt=markers[j % len(markers)] + ("-" if m == "faig" else "--"),
                        capsize=3, ms=4, label=labels.get(m, m))
        ax.set(xscale="log", yscale="log", xlabel="masked filters (%)", title=f"{fs.replace('_', ' ')}\n{inp.replace('_', ' ')}")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("gradient-map MSE (x1e-3)")
    spread = "mean ± std over seeds" if over_seeds else "random: mean ± std of draws"
    axes[0][0].legend(fontsize=8, title=spread, title_fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def masking_grid(examples: Mapping[str, Mapping[str, torch.Tensor]], crop: int | None = 96):
    """Fig. 2-style grid: one row per degraded input; input, target output, outputs with filters masked."""
    plt = _plt()
    rows = list(examples)
    cols = list(examples[rows[0]])
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.6 * len(cols), 2.8 * len(rows)), squeeze=False)
    for r, kind in enumerate(rows):
        hr_size = examples[kind]["ground truth"].shape[-1]
        for c, label in enumerate(cols):
            img = examples[kind][label]
            if img.shape[-1] != hr_size:  # LR input: show it at HR size
                img = torch.nn.functional.interpolate(img.unsqueeze(0), scale_factor=hr_size / img.shape[-1],
                                                      mode="nearest")[0]
            if crop:
                h, w = img.shape[-2:]
                c2 = min(2 * crop, h, w)
                top, left = (h - c2) // 2, (w - c2) // 2
                img = img[:, top: top + c2, left: left + c2]
            ax = axes[r][c]
            ax.imshow(to_numpy_image(img), interpolation="nearest")
            ax.set_title(f"{kind} input: {label}" if c == 0 else label, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    return fig


def completeness_curve(table: Mapping[str, Sequence[Mapping[str, float]]]):
    """``|Σ FAIG − ΔL| / |ΔL|`` against N for each quadrature rule (log-log): the completeness check of Eq. 4."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for method, rows in table.items():
        ax.plot([r["n_steps"] for r in rows], [max(r["relative_gap"], 1e-12) for r in rows], "o-", label=method)
    ax.set(xscale="log", yscale="log", xlabel="N (steps)", ylabel="relative completeness gap")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

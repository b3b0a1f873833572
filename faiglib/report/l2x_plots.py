"""Figures of the L2X chapter (kept apart from :mod:`faiglib.report.plots` so that chapters merge cleanly).
Each function takes computed results and returns a matplotlib ``Figure``."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from faiglib.report.plots import _plt, to_numpy_image

__all__ = ["l2x_panels", "remove_replace_curves", "cka_heatmaps", "METHOD_LABELS"]

METHOD_LABELS = {"l2x": "L2X (rescale, 1 pass)", "lam": "LAM (blur path)", "gradient_x_input": "gradient × input",
                 "ig_blur": "IG, blurred baseline", "random": "random"}


def l2x_panels(examples: Mapping[str, tuple]):
    """One row per entry of ``examples`` (``{label: (L2XResult, WindowCase)}``, e.g.
    :func:`faiglib.studies.l2x.l2x_examples`): the LR crop with the window's footprint, the signed map Σ_c R,
    its positive part and its negative part (one colour scale per row, centred on 0)."""
    from matplotlib.patches import Rectangle

    plt = _plt()
    fig, axes = plt.subplots(len(examples), 4, figsize=(11.5, 3.0 * len(examples)), squeeze=False)
    for row, (label, (res, case)) in zip(axes, examples.items()):
        s = res.scale
        y, x = case.window
        signed = res.map.sum(0).numpy()
        m = float(np.abs(signed).max()) or 1.0
        panels = [(to_numpy_image(case.x), f"{label} input (crop), window"),
                  (signed, f"L2X Σ_c R (sums to {res.total:+.3f})"),
                  (res.positive.sum(0).numpy(), f"positive part ({float(res.positive.sum()):+.3f})"),
                  (res.negative.sum(0).numpy(), f"negative part ({float(res.negative.sum()):+.3f})")]
        for ax, (img, title) in zip(row, panels):
            if img.ndim == 2:
                ax.imshow(img, cmap="seismic", vmin=-m, vmax=m, interpolation="nearest")
            else:
                ax.imshow(img, interpolation="nearest")
            ax.add_patch(Rectangle((x / s - 0.5, y / s - 0.5), case.window_size / s, case.window_size / s,
                                   fill=False, ec="lime", lw=1.2))
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    return fig


def remove_replace_curves(study: Mapping, which: str = "target", orders: Sequence[str] = ("absolute", "positive",
                                                                                           "negative")):
    """Mean ± std (band) over kinds × windows of the fraction removed ``f(k)`` per method, one panel per order,
    for network ``which`` of :func:`faiglib.studies.l2x.remove_replace_study`."""
    plt = _plt()
    ks = np.asarray(study["percents"])
    fig, axes = plt.subplots(1, len(orders), figsize=(4.0 * len(orders), 3.3), squeeze=False)
    per_kind = study["curves"][which]
    for ax, order in zip(axes[0], orders):
        for method in study["settings"]["methods"]:
            rows = np.asarray([c for kind in per_kind for c in per_kind[kind][method][order]])
            mean, std = rows.mean(0), rows.std(0, ddof=1) if len(rows) > 1 else np.zeros(len(ks))
            style = "--" if method == "random" else "-"
            ax.plot(ks, mean, style, label=METHOD_LABELS.get(method, method))
            ax.fill_between(ks, mean - std, mean + std, alpha=0.12)
        ax.axhline(0.0, color="grey", lw=0.6)
        ax.set_xlabel(f"LR pixels replaced (%), by {order} attribution")
        ax.set_title(f"{which}: {order} order", fontsize=10)
    by_objective = study["settings"].get("normalise", "difference") == "objective"
    axes[0][0].set_ylabel("fraction of D(F(x)) removed" if by_objective else "fraction of D(F(x)) − D(F(x̄)) removed")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def cka_heatmaps(results: Mapping[str, Mapping], labels: Mapping[str, tuple[str, str]] | None = None):
    """One heat map per entry of :func:`faiglib.studies.l2x.cka_study` (rows: layers of the first network,
    columns: of the second), values printed in the cells. ``labels``: ``{name: (first, second)}`` axis titles."""
    plt = _plt()
    cols = min(2, len(results))  # two per row: four networks' maps stay readable on a page
    rows = -(-len(results) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.6 * rows), squeeze=False)
    for ax in axes.flat[len(results):]:
        ax.set_visible(False)
    for ax, (name, r) in zip(axes.flat, results.items()):
        m = np.asarray(r["matrix"])
        im = ax.imshow(m, vmin=0, vmax=1, cmap="magma")
        ax.set_xticks(range(len(r["layers_b"])), r["layers_b"], rotation=60, fontsize=7, ha="right")
        ax.set_yticks(range(len(r["layers_a"])), r["layers_a"], fontsize=7)
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if m[i, j] < 0.6 else "black")
        first, second = (labels or {}).get(name, ("", ""))
        ax.set_ylabel(first)
        ax.set_xlabel(second)
        ax.set_title(name, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig

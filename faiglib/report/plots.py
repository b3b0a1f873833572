"""Figures for the book. Each function takes computed results and returns a matplotlib ``Figure``."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

from faiglib.report.tables import mask_label

__all__ = ["image_row", "degradation_grid", "training_curves", "filter_distribution", "masking_curves",
           "masking_grid", "to_numpy_image", "completeness_curve", "filter_connections", "retraining_bars",
           "overlap_scores", "control_curves", "blind_training_curves", "overlap_levels",
           "lam_panels", "diffusion_bars", "scale_trends"]


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


def filter_distribution(index, selections: Mapping[str, torch.Tensor | Sequence[torch.Tensor]], title: str = ""):
    """Fraction of each conv layer's filters that belong to each selection (e.g. top-1 % deblur / denoise).

    A selection may be a list of index tensors (one per seed): bars then show the mean fraction with the
    standard deviation over the list as error bars.
    """
    plt = _plt()
    names = [layer.name for layer in index.layers]
    counts = np.array([layer.count for layer in index.layers], dtype=float)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(names) + 2), 3.4))
    width = 0.8 / max(len(selections), 1)
    x = np.arange(len(names))
    for j, (label, chosen) in enumerate(selections.items()):
        runs = [chosen] if isinstance(chosen, torch.Tensor) else list(chosen)
        fractions = np.stack([np.bincount(index.layer_ids(torch.as_tensor(r)).numpy(), minlength=len(names)) / counts
                              for r in runs])
        err = 100 * fractions.std(0, ddof=1) if len(runs) > 1 else None
        ax.bar(x + (j - (len(selections) - 1) / 2) * width, 100 * fractions.mean(0), width, yerr=err, capsize=2,
               label=label + (f" (mean ± std of {len(runs)})" if len(runs) > 1 else ""))
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax.set(ylabel="% of the layer's filters", title=title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def filter_connections(index, selections: Mapping[str, torch.Tensor], title: str = ""):
    """The paper's Fig. 4 picture: the network as columns of channels (one per conv layer's input and output),
    every filter ``W[out, in]`` a line from input channel ``in`` to output channel ``out``; all filters in
    light gray, the selected ones in colour. Channel positions are scaled to [0, 1] per column, so layers of
    different widths line up (a pixel-shuffle's ``4C`` outputs feed ``C`` channels: drawn by position)."""
    from matplotlib.collections import LineCollection

    plt = _plt()
    fig, axes = plt.subplots(1, len(selections), figsize=(5.2 * len(selections), 3.6), squeeze=False)

    def segments(flat: torch.Tensor) -> np.ndarray:
        lines = []
        ids = index.layer_ids(flat).numpy()
        for f, layer_id in zip(flat.tolist(), ids):
            conv = index.layers[layer_id]
            _, out, inp = index.locate(f)
            y0 = (inp + 0.5) / conv.in_per_group
            y1 = (out + 0.5) / conv.out_channels
            lines.append(((layer_id, y0), (layer_id + 1, y1)))
        return np.array(lines, dtype=float).reshape(-1, 2, 2)

    everything = segments(torch.arange(len(index)))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, (ax, (label, flat)) in enumerate(zip(axes[0], selections.items())):
        ax.add_collection(LineCollection(everything, colors="0.85", linewidths=0.2, rasterized=True))
        ax.add_collection(LineCollection(segments(torch.as_tensor(flat)), colors=colours[j % len(colours)],
                                         linewidths=0.9))
        ax.set(xlim=(-0.2, len(index.layers) + 0.2), ylim=(0, 1), title=f"{label} ({len(flat)} filters)")
        ax.set_xticks(np.arange(len(index.layers)) + 0.5, [layer.name for layer in index.layers], rotation=60,
                      ha="right", fontsize=7)
        ax.set_yticks([])
    axes[0][0].set_ylabel("channel (scaled per layer)")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# matplotlib does not draw combining accents (θ̄), so |θ − θ̄| is mathtext here
_METHOD_LABELS = {"faig": "FAIG", "ig": "IG", "abs_change": r"$|\theta-\bar{\theta}|$", "random": "random"}


def _mean_err(cell: Mapping, method: str) -> tuple[float, float, float]:
    """(value, lower and upper error bar) of ``method`` in a masking-table cell: a ``{"mean", "std"}`` leaf
    (statistics over seeds: mean ± std) or a float (one model; random then is the median of its draws with
    their interquartile range where the cell has them, else the mean ± ``random_std``)."""
    v = cell[method]
    if isinstance(v, Mapping):
        return float(v["mean"]), float(v["std"]), float(v["std"])
    if method == "random" and "random_median" in cell:
        med = float(cell["random_median"])
        return med, med - float(cell["random_q1"]), float(cell["random_q3"]) - med
    err = cell.get("random_std", 0.0) if method == "random" else 0.0
    err = float(err.get("mean", 0.0) if isinstance(err, Mapping) else err)
    return float(v), err, err


def masking_curves(table: Mapping[str, dict], methods: Sequence[str] = ("faig", "random"),
                   labels: Mapping[str, str] | None = None, title: str | None = None):
    """Output difference vs masked proportion: one panel per (filter set, input), one line per selection
    method (log axes). ``table`` as from :meth:`~faiglib.studies.masking.method_masking` for one
    channel -- or its :func:`~faiglib.measures.statistics.mean_std` over seeds, drawn as mean ± std over seeds."""
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
            mean, low, high = zip(*(_mean_err(table[k][fs][inp], m) for k in keys))
            ax.errorbar(props, mean, yerr=[low, high], fmt=markers[j % len(markers)] + ("-" if m == "faig" else "--"),
                        capsize=3, ms=4, label=labels.get(m, m))
        ax.set(xscale="log", yscale="log", xlabel="masked filters (%)", title=f"{fs.replace('_', ' ')}\n{inp.replace('_', ' ')}")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("gradient-map MSE (x1e-3)")
    first = table[keys[0]][filter_sets[0]][inputs[0]]
    spread = ("mean ± std over seeds" if over_seeds else
              "random: median, IQR of draws" if "random_median" in first else "random: mean ± std of draws")
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
            title = label.replace("|θ−θ̄|", _METHOD_LABELS["abs_change"])  # combining accents: see _METHOD_LABELS
            ax.set_title(f"{kind} input: {title}" if c == 0 else title, fontsize=9)
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


def retraining_bars(summary: Mapping[str, dict], methods: Mapping[str, str]):
    """Table 3 as bars: PSNR on blurry and noisy inputs for each retrained selection (mean ± std over seeds,
    ``{"mean", "std"}`` leaves of :func:`~faiglib.measures.statistics.mean_std`), with the baseline, the target and the
    all-parameter upper bound as horizontal lines."""
    plt = _plt()
    inputs = ("blur_input", "noise_input")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    labels = {**_METHOD_LABELS, **{k: v for k, v in methods.items() if k not in _METHOD_LABELS}}
    for ax, inp in zip(axes, inputs):
        x, ticks = 0, []
        for filters in ("deblur_filters", "denoise_filters"):
            for m in methods:
                leaf = summary[filters][m][inp]
                ax.bar(x, leaf["mean"], yerr=leaf["std"], capsize=3,
                       color="C0" if filters == "deblur_filters" else "C1")
                ticks.append((x, f"{labels[m]}\n{filters.split('_')[0]}"))
                x += 1
            x += 0.5
        for ref, style in (("baseline", ":"), ("target", "--"), ("upper_bound", "-")):
            ax.axhline(summary[ref][inp]["mean"], ls=style, color="0.3", lw=1, label=ref.replace("_", " "))
        values = [summary[f][m][inp]["mean"] for f in ("deblur_filters", "denoise_filters") for m in methods]
        refs = [summary[r][inp]["mean"] for r in ("baseline", "target", "upper_bound")]
        lo, hi = min(values + refs), max(values + refs)
        ax.set_ylim(lo - 0.15 * (hi - lo) - 0.05, hi + 0.1 * (hi - lo) + 0.05)
        ax.set_xticks([t for t, _ in ticks], [label for _, label in ticks], fontsize=7)
        ax.set(ylabel="PSNR (dB)", title={"blur_input": "blurry input", "noise_input": "noisy input"}[inp])
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def overlap_scores(overlaps: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]],
                   thresholds: Mapping[str, float]):
    """Eq. 8's overlap scores per input kind: one panel per degradation D (blur, noise), one column of dots per
    input kind, validation images hollow and test images filled, and the threshold T^D as a dashed line.
    ``overlaps``: ``{"validation"|"test": {D: {kind: [OS per image]}}}`` as in
    :func:`faiglib.studies.classification.classify`."""
    plt = _plt()
    degradations = list(thresholds)
    kinds = list(next(iter(overlaps.values()))[degradations[0]])
    fig, axes = plt.subplots(1, len(degradations), figsize=(4.6 * len(degradations), 3.4), squeeze=False)
    for ax, d in zip(axes[0], degradations):
        for s, (split, per) in enumerate(overlaps.items()):
            for j, kind in enumerate(kinds):
                v = np.asarray(per[d][kind], dtype=float)
                # validation left of the kind's tick, test right of it, images spread a little
                x = j + (s - 0.5) * 0.3 + (np.linspace(-0.08, 0.08, len(v)) if len(v) > 1 else 0.0)
                ax.plot(x, v, "o", ms=4, color="C0" if d in kind else "C1",
                        mfc="none" if split == "validation" else None,
                        label=split if j == 0 else None)
        ax.axhline(thresholds[d], ls="--", color="0.3", lw=1, label=f"$T^{{{d}}}$ = {thresholds[d]:.3g}")
        ax.set_xticks(range(len(kinds)), [f"{k}\ninput" for k in kinds], fontsize=8)
        ax.set(ylabel=f"OS(x, {d})", title=f"overlap with the {d} filters (blue: {d} present)", ylim=(-0.05, 1.05))
        ax.grid(axis="y", alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        seen = dict(zip(labels, handles))
        ax.legend(seen.values(), seen.keys(), fontsize=7)
    fig.tight_layout()
    return fig


def control_curves(table: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]]):
    """Controllable restoration against λ (λ = 1 is the target, λ = 0 the masked network): PSNR (dB) on the
    blurry and on the noisy inputs (one panel each, one line per interpolated filter set), and the gradient-map
    MSE (x1e3) against the target's output. ``table``: :func:`faiglib.studies.control.control_table`."""
    plt = _plt()
    inputs = list(next(iter(table.values())))
    fig, axes = plt.subplots(1, len(inputs) + 1, figsize=(4.2 * (len(inputs) + 1), 3.4))
    styles = {"blur_input": "o-", "noise_input": "s--"}
    for j, (filters, per_input) in enumerate(table.items()):
        name = f"{filters.split('_')[0]} filters"
        for ax, inp in zip(axes, inputs):
            curve = per_input[inp]
            ax.plot(curve["lambda"], curve["psnr"], "o-", color=f"C{j}", ms=4, label=name)
            axes[-1].plot(curve["lambda"], curve["gradient_mse"], styles.get(inp, "o-"), color=f"C{j}", ms=4,
                          label=f"{name}, {inp.replace('_input', '')} input")
    for ax, inp in zip(axes, inputs):
        ax.set(ylabel="PSNR (dB)", title=f"{inp.replace('_input', '')} input")
        ax.ticklabel_format(axis="y", useOffset=False)  # absolute dB, not offsets of 1e-3
    axes[-1].set(ylabel="gradient-map MSE vs target (x1e-3)", title="output change")
    for ax in axes:
        ax.set_xlabel("λ (0: baseline filters, 1: target)")
        ax.axvline(1.0, color="0.5", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def blind_training_curves(histories: Mapping[str, Mapping[str, Sequence[dict]]], labels: Mapping[str, str]):
    """Table 1 training: the L1 loss of each model (``labels``: kind -> legend) per setting, one thin line per
    seed; ``histories``: ``{kind: {setting: [history per seed]}}`` of :func:`faiglib.studies.table1.table1`."""
    plt = _plt()
    settings = list(next(iter(histories.values())))
    fig, axes = plt.subplots(1, len(settings), figsize=(5 * len(settings), 3.4), squeeze=False)
    for ax, setting in zip(axes[0], settings):
        for colour, (kind, label) in zip(("C0", "C1", "C2"), labels.items()):
            for i, hist in enumerate(histories[kind][setting]):
                loss = np.asarray(hist.get("loss", []), dtype=float)
                if loss.size:
                    ax.plot(loss[:, 0], loss[:, 1], color=colour, lw=0.8, alpha=0.8, label=label if i == 0 else None)
        ax.set(title=setting, xlabel="iteration", ylabel="L1 loss (running mean of 10)", yscale="log")
        if ax.get_legend_handles_labels()[0]:  # runs shorter than 10 iterations log no loss
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def overlap_levels(per_seed: Sequence[Mapping]):
    """Overlap score against degradation strength: one panel per degradation D, the mean OS(x, D) of the test
    images at each level of D (level 0: the clean inputs) as mean ± std over seeds, the same inputs' OS with
    the other degradation's filters (dotted), and each seed's threshold T^D (thin dashed). ``per_seed``: one
    :func:`faiglib.studies.levels.level_overlaps` result per seed."""
    plt = _plt()
    degradations = list(per_seed[0]["tracking"])
    fig, axes = plt.subplots(1, len(degradations), figsize=(4.6 * len(degradations), 3.4), squeeze=False)
    for ax, d in zip(axes[0], degradations):
        levels = per_seed[0]["tracking"][d]["levels"]
        chain = ["clean"] + [k for k in per_seed[0]["kinds"] if k.split(" ")[0] == d]
        for j, other in enumerate(degradations):
            means = np.array([[r["mean_overlap"][other][k] for k in chain] for r in per_seed])
            err = means.std(0, ddof=1) if len(per_seed) > 1 else None
            ax.errorbar(levels, means.mean(0), yerr=err, fmt="o-" if other == d else "s:", capsize=3,
                        color=f"C{j}", label=f"OS(x, {other})")
        for r in per_seed:
            ax.axhline(r["thresholds"][d], ls="--", lw=0.8, color=f"C{degradations.index(d)}", alpha=0.5)
        ax.set(xlabel=f"{d} sigma of the input (0: clean)", ylabel="overlap score", ylim=(-0.05, 1.05),
               title=f"inputs with {d} only (dashed: $T^{{{d}}}$ per seed)")
        ax.set_xticks(levels, [f"{v:g}" for v in levels])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def lam_panels(examples: Mapping[str, tuple], zoom: int | None = None):
    """LAM pictures as the reference demo draws them, one row per entry of ``examples`` (``{label: (LAMResult,
    lr)}``, e.g. :func:`faiglib.studies.lam.lam_examples`): the SR output with the window (red), the signed map
    Σ_c LAM (seismic, centred on 0), ``|Σ_c LAM| / max`` as a heat map blended (α = 0.5) over the LR input
    enlarged bicubically to the output size (the model's scale), and the kernel-density view
    (:func:`~faiglib.methods.lam.attribution_density`). ``zoom``: show only a square of that many HR pixels
    around the window (None: whole images)."""
    import torch.nn.functional as F
    from matplotlib.patches import Rectangle

    from faiglib.methods.lam import abs_normalized, attribution_density

    plt = _plt()
    cmap = plt.get_cmap("seismic")
    fig, axes = plt.subplots(len(examples), 4, figsize=(11.5, 3.0 * len(examples)), squeeze=False)
    for row, (label, (res, lr)) in zip(axes, examples.items()):
        s, (y, x), size = res.scale, res.window, res.window_size
        H, W = res.output.shape[-2:]
        if zoom:
            half = zoom // 2
            top = min(max(0, y + size // 2 - half), max(0, H - zoom))
            left = min(max(0, x + size // 2 - half), max(0, W - zoom))
            box = (top, min(H, top + zoom), left, min(W, left + zoom))
        else:
            box = (0, H, 0, W)
        extent = (box[2] - 0.5, box[3] - 0.5, box[1] - 0.5, box[0] - 0.5)  # HR pixel coordinates
        hr_slice = (slice(box[0], box[1]), slice(box[2], box[3]))
        signed = res.map.double().sum(0)
        big = lambda a: a.repeat_interleave(s, 0).repeat_interleave(s, 1).numpy()[hr_slice]  # noqa: E731
        m = float(signed.abs().max()) or 1.0
        enlarged = F.interpolate(lr[None].float().cpu(), scale_factor=s, mode="bicubic", align_corners=False)[0]
        heat = cmap(0.5 + 0.5 * big(abs_normalized(res.map)))[..., :3]
        blend = 0.5 * heat + 0.5 * to_numpy_image(enlarged)[hr_slice]
        density = cmap(0.5 + 0.5 * big(attribution_density(res.map)))[..., :3]
        panels = [(to_numpy_image(res.output)[hr_slice], f"{label}: SR output, window"),
                  (big(signed), f"LAM, Σ over channels (DI {res.diffusion_index:.2f})"),
                  (blend, "|LAM| over bicubic LR"), (density, "density of |LAM|")]
        for ax, (img, title) in zip(row, panels):
            if img.ndim == 2:
                ax.imshow(img, cmap="seismic", vmin=-m, vmax=m, extent=extent, interpolation="nearest")
            else:
                ax.imshow(img, extent=extent, interpolation="nearest")
            ax.add_patch(Rectangle((x - 0.5, y - 0.5), size, size, fill=False, ec="red", lw=1.2))
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    return fig


# ---- deep degradation semantics (faiglib.studies.semantics) ------------------------------------------------------
__all__ += ["tsne_grid", "chi_depth_curves", "chi_degree_curves", "faig_depth_bars"]

_MARKERS = "os^vD<>pP*Xh"


def tsne_grid(maps: Mapping[str, Mapping[str, Mapping]], size: float = 2.6):
    """t-SNE pictures: one row per model (``maps``: ``{row label: {layer: {"xy", "condition", "image"}}}`` of
    :func:`faiglib.studies.semantics.tsne_maps`), one column per layer; colour = degradation condition,
    marker = source image. Clusters by colour mean degradation semantics, clusters by marker content."""
    plt = _plt()
    rows = list(maps)
    layers = list(next(iter(maps.values())))
    fig, axes = plt.subplots(len(rows), len(layers), figsize=(size * len(layers), size * len(rows) + 0.6),
                             squeeze=False)
    for i, row in enumerate(rows):
        for j, layer in enumerate(layers):
            ax, m = axes[i][j], maps[row][layer]
            xy = np.asarray(m["xy"])
            conditions = list(dict.fromkeys(m["condition"]))
            colour = {c: f"C{c_i}" for c_i, c in enumerate(conditions)}
            # points in a fixed shuffled order, so that no condition is always drawn on top of the others
            order = np.random.default_rng(0).permutation(len(xy))
            for img in sorted(set(m["image"])):
                keep = [k for k in order if m["image"][k] == img]
                ax.scatter(xy[keep, 0], xy[keep, 1], s=7, c=[colour[m["condition"][k]] for k in keep],
                           marker=_MARKERS[img % len(_MARKERS)], alpha=0.7, linewidths=0)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(layer, fontsize=9)
            if j == 0:
                ax.set_ylabel(row, fontsize=9)
    from matplotlib.lines import Line2D

    conditions = list(dict.fromkeys(next(iter(maps[rows[0]].values()))["condition"]))
    handles = [Line2D([], [], ls="", marker="o", color=f"C{c_i}", label=c) for c_i, c in enumerate(conditions)]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def chi_depth_curves(table: Mapping[str, Mapping[str, Mapping[str, Mapping]]]):
    """Calinski-Harabasz index against depth, degradation label (left) and image label (right), log scale, one
    line per variant x model, mean ± std over seeds. ``table``: :func:`faiglib.studies.semantics.chi_by_depth`."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    styles = {"baseline": "s--", "target": "o-"}
    for v_i, (variant, per_model) in enumerate(table.items()):
        for which, per_layer in per_model.items():
            layers = list(per_layer)
            for ax, labelling in zip(axes, ("degradation", "image")):
                mean = [per_layer[k][labelling]["mean"] for k in layers]
                std = [per_layer[k][labelling]["std"] for k in layers]
                ax.errorbar(range(len(layers)), mean, yerr=std, fmt=styles.get(which, "o-"), color=f"C{v_i}",
                            ms=4, capsize=3, label=f"{which}, {variant}")
    for ax, labelling in zip(axes, ("degradation", "image")):
        _chi_axis(ax, layers, f"label = {labelling}")
    fig.tight_layout()
    return fig


def _chi_axis(ax, layers: Sequence[str], title: str) -> None:
    """The layer axis and log-scale CHI axis shared by the semantics figures."""
    ax.set_xticks(range(len(layers)), layers, rotation=30, fontsize=8)
    ax.set(yscale="log", ylabel="Calinski-Harabasz index", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def diffusion_bars(summary: Mapping[str, Mapping[str, Mapping[str, float]]]):
    """Diffusion index (mean ± std over images and windows) per input kind, one bar per model; ``summary``:
    ``{model: {kind: {"mean", "std", "values"}}}`` of :func:`faiglib.studies.lam.diffusion_study`; the single
    (image, window) values are drawn as dots."""
    plt = _plt()
    models = list(summary)
    kinds = list(next(iter(summary.values())))
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(kinds), 3.3))
    width = 0.8 / len(models)
    for j, model in enumerate(models):
        pos = np.arange(len(kinds)) + (j - (len(models) - 1) / 2) * width
        leaves = [summary[model][k] for k in kinds]
        ax.bar(pos, [l["mean"] for l in leaves], width, yerr=[l["std"] for l in leaves], capsize=3,
               color=f"C{j}", alpha=0.75, label=model)
        for p, leaf in zip(pos, leaves):
            ax.plot(np.full(len(leaf["values"]), p), leaf["values"], ".", color="0.2", ms=3)
    ax.set_xticks(range(len(kinds)), [f"{k} input" for k in kinds])
    ax.set(ylabel="diffusion index", title="LAM diffusion index (mean ± std over images x windows)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def chi_degree_curves(degree: Mapping[str, Mapping[str, Mapping[str, float]]]):
    """CHI among degrees of one degradation against depth: one panel per degradation, one line per subset of
    degrees ("all" and each pair). ``degree``: :func:`faiglib.studies.semantics.chi_by_degree`."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(degree), figsize=(5 * len(degree), 3.6), squeeze=False)
    for ax, (kind, subsets) in zip(axes[0], degree.items()):
        for s_i, (subset, per_layer) in enumerate(subsets.items()):
            layers = list(per_layer)
            ax.plot(range(len(layers)), [per_layer[k] for k in layers], "o-" if subset == "all" else "s--",
                    color=f"C{s_i}", ms=4, label=subset)
        _chi_axis(ax, layers, f"{kind} degrees (sigma)")
    fig.tight_layout()
    return fig


def faig_depth_bars(comparison: Mapping):
    """FAIG's top filters per depth (bars: deblurring and denoising filters) against the target's degradation
    CHI (line, right axis); the depth where CHI grows by the largest factor is shaded. ``comparison``:
    :func:`faiglib.studies.semantics.faig_comparison`."""
    plt = _plt()
    layers = comparison["layers"]
    x = np.arange(len(layers))
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for f_i, function in enumerate(("deblur", "denoise")):
        counts = [comparison[function]["counts"][k] for k in layers]
        ax.bar(x + (f_i - 0.5) * 0.38, counts, width=0.38, color=f"C{f_i}", label=f"top {function} filters")
    ax.axvspan(layers.index(comparison["rise_layer"]) - 0.5, layers.index(comparison["rise_layer"]) + 0.5,
               color="0.85", zorder=0, label="largest CHI rise (factor)")
    ax.set_xticks(x, layers, rotation=30, fontsize=8)
    ax.set(ylabel=f"filters in the top {comparison['proportion']:.0%}")
    twin = ax.twinx()
    twin.plot(x, comparison["chi"], "ko-", ms=4, label="CHI (degradation), target")
    twin.set(ylabel="Calinski-Harabasz index", yscale="log")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + twin.get_legend_handles_labels()[1]
    ax.legend(handles, labels, fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def scale_trends(study: Mapping, paper_ratios: Mapping[str, float] | None = None):
    """The scale study's findings against the parameter count (log axis), one panel each: FAIG / random at the
    study's proportion (error bars: the yardstick's 95 % bootstrap interval; dashed: the paper's ratios from
    ``paper_ratios`` ``{"deblur_over_random", "denoise_over_random"}``), discriminativeness in both directions
    (below 1: specific sets), the target's PSNR gain over the baseline, the mean relative depth of the top
    deblurring / denoising filters and, when the rows have it (``scale_study(..., retrain=True)``), Table 3's
    FAIG − random retraining gain (dashed: the paper's). ``study``: :func:`faiglib.studies.scale.scale_study`;
    over several seeds the lines join the means and each seed's value is a small dot."""
    plt = _plt()
    rows = study["rows"]

    def seed_dots(ax, value, color):
        for xi, row in zip(x, rows):
            per = [value(r) for r in row.get("per_seed", [])]
            ax.plot([xi] * len(per), per, ".", color=color, alpha=0.6, ms=5)
    x = np.array([r["params"] for r in rows], dtype=float)
    names = [r["network"].removeprefix("msrresnet-") for r in rows]
    retrain = all("retraining_gains" in r for r in rows)
    fig, axes = plt.subplots(1, 5 if retrain else 4, figsize=(18.5 if retrain else 15, 3.4))
    ax = axes[0]
    for i, (key, label) in enumerate((("deblur_over_random", "deblur set, blurry input"),
                                      ("denoise_over_random", "denoise set, noisy input"))):
        r = np.array([row[key]["ratio"] for row in rows])
        err = np.array([[row[key]["ratio"] - row[key]["low"], row[key]["high"] - row[key]["ratio"]] for row in rows]).T
        ax.errorbar(x, r, yerr=err, fmt="o-", color=f"C{i}", capsize=3, label=label)
        seed_dots(ax, lambda one, key=key: one[key]["ratio"], f"C{i}")
        if paper_ratios and key in paper_ratios:
            ax.axhline(paper_ratios[key], color=f"C{i}", ls="--", lw=1, label=f"paper ({paper_ratios[key]:.0f}×)")
    ax.set(yscale="log", ylabel="FAIG / median(random)", title=f"{study['proportion']:.0%} masking vs random")
    ax = axes[1]
    ax.plot(x, [r["noise_input_deblur_over_denoise"] for r in rows], "o-", label="noisy input: deblur ÷ denoise set")
    ax.plot(x, [r["blur_input_denoise_over_deblur"] for r in rows], "s-", label="blurry input: denoise ÷ deblur set")
    ax.set(yscale="log", ylabel="ratio of masking effects", title="discriminativeness (small: specific)")
    ax = axes[2]
    for i, kind in enumerate(("blur", "noise", "clean")):
        if all(f"gain_{kind}_db" in r for r in rows):
            ax.plot(x, [r[f"gain_{kind}_db"] for r in rows], "o-", color=f"C{i}", label=f"{kind} input")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(ylabel="target − baseline PSNR (dB)", title="what the fine-tuning taught")
    ax = axes[3]
    for i, function in enumerate(("deblur", "denoise")):
        ax.plot(x, [r["depth"][f"{function}_filters"] for r in rows], "o-", color=f"C{i}", label=f"top {function}")
        seed_dots(ax, lambda one, function=function: one["depth"][f"{function}_filters"], f"C{i}")
    ax.plot(x, [r["depth"]["all_filters"] for r in rows], "k:", label="all filters")
    ax.set(ylabel="mean relative depth (0 first, 1 last)", title="where the filters sit")
    if retrain:
        ax = axes[4]
        for i, (cell, label) in enumerate((("deblur_filters/blur_input", "deblur set, blurry input"),
                                           ("denoise_filters/noise_input", "denoise set, noisy input"))):
            ax.plot(x, [r["retraining_gains"][cell]["mean"] for r in rows], "o-", color=f"C{i}", label=label)
            seed_dots(ax, lambda one, cell=cell: one["retraining_gains"][cell]["mean"], f"C{i}")
            ax.axhline(rows[0]["retraining_gains"][cell]["paper"], color=f"C{i}", ls="--", lw=1,
                       label=f"paper ({rows[0]['retraining_gains'][cell]['paper']:+.2f} dB)")
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set(ylabel="FAIG − random (dB)", title="Table 3: retraining only the top filters")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks(x, [f"{n}\n{p / 1e3:.0f}k" for n, p in zip(names, x)], fontsize=7)
        ax.minorticks_off()
        ax.set_xlabel("network (parameters)", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def unit_location_bars(summaries: Mapping[str, Mapping]):
    """Where FAIG's top units sit, per network (one panel each): the share of the top deblurring and denoising
    units in each component (conv / attention / MLP) against the share of all units (what a random set gives on
    average). ``summaries``: ``{label: faiglib.studies.attention.network_summary(...)}``."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(summaries), figsize=(3.4 * len(summaries), 3.2), squeeze=False, sharey=True)
    for ax, (label, s) in zip(axes[0], summaries.items()):
        comps = list(s["locations"]["deblur"]["chance"])
        x = np.arange(len(comps))
        bars = {"all units": s["locations"]["deblur"]["chance"], **{f"top {f}": s["locations"][f]["share"]
                                                                   for f in ("deblur", "denoise")}}
        for j, (name, share) in enumerate(bars.items()):
            ax.bar(x + (j - 1) * 0.27, [100 * share[c] for c in comps], 0.27, label=name,
                   color="0.7" if j == 0 else f"C{j - 1}")
        ax.set_xticks(x, comps)
        ax.set(title=f"{label}\n(top {mask_label(s['location_mask'])})")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("% of the units")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig

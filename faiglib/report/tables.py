"""Markdown tables for the book, rendered from computed results (``IPython.display.Markdown(...)``)."""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

__all__ = ["markdown_table", "format_mean_std", "mask_label", "iqr_text", "interval_text", "masking_markdown", "masking_headline_markdown", "masking_cells_markdown", "yardstick_markdown", "discriminativeness_markdown",
           "orderings_markdown", "classification_markdown", "elimination_markdown", "control_markdown",
           "tracking_markdown", "lam_report_markdown", "scale_rows_markdown", "retraining_gains_markdown", "depth_markdown", "retraining_markdown", "confusion_markdown",
           "rows_markdown", "table1_markdown", "table1_gap_markdown", "diffusion_comparison_markdown",
           "seed_summary_markdown"]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A pipe table (rendered as an HTML table by the book) with ``header`` and one line per row; cells are
    ``str()``-ed and ``|`` inside a cell is escaped. Every row must have as many cells as the header."""
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"row {i} has {len(row)} cells, the header {len(header)}")
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def format_mean_std(leaf: Mapping[str, float] | float, digits: int = 3) -> str:
    """``"1.234 ± 0.056"`` for a ``{"mean", "std"}`` leaf of :func:`~faiglib.measures.statistics.mean_std`; a float as is."""
    if isinstance(leaf, Mapping):
        return f"{leaf['mean']:.{digits}g} ± {leaf['std']:.2g}"
    return f"{leaf:.{digits}g}"


def masking_markdown(table: Mapping[str, dict], proportions: Sequence[float],
                     methods: Mapping[str, str]) -> str:
    """Table 2's layout: one row per selection method (``methods``: key -> label), one column per
    (masked proportion, filter set, input). ``table``: one channel of
    :meth:`~faiglib.studies.masking.method_masking`, or its :func:`~faiglib.measures.statistics.mean_std` over
    seeds (cells then read mean ± std). The largest value of each column is in bold."""
    columns = []
    for p in proportions:
        mask = f"mask_{p * 100:g}pct"
        if mask not in table:
            raise KeyError(f"no {mask} in the table; it has {list(table)}")
        for filters, per_input in table[mask].items():
            for inp in per_input:
                columns.append((mask, filters, inp))
    inputs = {"blur_input": "blurry input", "noise_input": "noisy input"}
    head = ["method"] + [f"{mask_label(m)}: {f.split('_')[0]} filters, "
                         f"{inputs.get(i, i)}" for m, f, i in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def mean(leaf):
        return leaf["mean"] if isinstance(leaf, Mapping) else float(leaf)

    best = {c: max(methods, key=lambda m: mean(table[c[0]][c[1]][c[2]][m])) for c in columns}
    for m, label in methods.items():
        cells = []
        for c in columns:
            text = format_mean_std(table[c[0]][c[1]][c[2]][m])
            cells.append(f"**{text}**" if best[c] == m else text)
        lines.append("| " + " | ".join([label.replace("|", "\\|")] + cells) + " |")
    return "\n".join(lines) + "\n"


def mask_label(mask: str) -> str:
    """``"mask_1pct"`` -> ``"1 %"``: a masking table's key as the tables print it."""
    return mask.removeprefix("mask_").replace("pct", " %")


def iqr_text(r: Mapping[str, float]) -> str:
    """``"0.05 [0.025, 0.1]"``: a median and its interquartile range (``{"median", "q1", "q3"}``)."""
    return f"{r['median']:.3g} [{r['q1']:.3g}, {r['q3']:.3g}]"


def interval_text(r: Mapping[str, float]) -> str:
    """``"12 [9.5, 15.2]"``: a ratio and its interval (``{"ratio", "low", "high"}``), 3 significant digits."""
    return f"{r['ratio']:.3g} [{r['low']:.3g}, {r['high']:.3g}]"


def yardstick_markdown(yardstick: Mapping[str, Mapping[str, Mapping[str, Any]]], methods: Mapping[str, str],
                       cells: Mapping[str, str] | None = None) -> str:
    """Each selection rule against the random yardstick: one row per (network, metric, masked proportion, filter
    set on its input), the random draws' median [IQR] and every method's ``effect / median(random)`` [95 %
    interval]. ``yardstick``: ``{network: {metric: table}}`` of
    :func:`~faiglib.measures.yardstick.yardstick_table` tables; ``methods``: key -> label (``random`` left
    out); ``cells``: filter set -> its input (default: each set on the degradation it removes)."""
    cells = cells or {"deblur_filters": "blur_input", "denoise_filters": "noise_input"}
    compared = [m for m in methods if m != "random"]
    rows = []
    for net, by_metric in yardstick.items():
        for metric, table in by_metric.items():
            for mask, by_set in table.items():
                for filters, inp in cells.items():
                    y = by_set[filters][inp]
                    rows.append([net, metric, mask_label(mask),
                                 f"{filters.split('_')[0]} / {inp.split('_')[0]}",
                                 iqr_text(y["random"])]
                                + [interval_text(y[f"{m}_over_random"]) for m in compared])
    return markdown_table(["network", "metric", "masked", "filters / input", "random: median [IQR]"]
                          + [f"{methods[m]} / median(random) [95 % CI]" for m in compared], rows)


def masking_cells_markdown(table: Mapping[str, Mapping[str, Any]], yardstick: Mapping[str, Mapping[str, Any]]) -> str:
    """Every cell of one network's masking table (:func:`~faiglib.studies.masking.yardstick_masking`, one metric):
    masked proportion, filter set, input, FAIG's effect, the random draws' median [IQR] and FAIG / median(random)
    [95 % interval] (``yardstick``: :func:`~faiglib.measures.yardstick.yardstick_table` of that table)."""
    rows = []
    for mask, entry in table.items():
        for filters, per_input in entry.items():
            for inp, v in per_input.items():
                y = yardstick[mask][filters][inp]
                r = y["faig_over_random"]
                rows.append([mask_label(mask), filters.replace("_", " "),
                             inp.replace("_", " "), f"{v['faig']:.3g}",
                             iqr_text(y["random"]),
                             f"{r['ratio']:.1f} [{r['low']:.1f}, {r['high']:.1f}]"])
    return markdown_table(["masked", "filters", "input", "FAIG", "random: median [IQR]",
                           "FAIG / median(random) [95 % CI]"], rows)


def masking_headline_markdown(ratios: Mapping[str, float], yardstick_1pct: Mapping[str, Any]) -> str:
    """The masking chapter's four headline ratios at 1 %: FAIG / median(random) with its 95 % interval for each
    set on its input (``yardstick_1pct``: the ``mask_1pct`` table of
    :func:`~faiglib.measures.yardstick.yardstick_table`), and the two discriminativeness ratios of
    :func:`~faiglib.studies.masking.masking_ratios` (no interval)."""
    deblur = yardstick_1pct["deblur_filters"]["blur_input"]["faig_over_random"]
    denoise = yardstick_1pct["denoise_filters"]["noise_input"]["faig_over_random"]
    return markdown_table(["ratio at 1 %", "value", "95 % CI (yardstick)"], [
        ["FAIG / median(random), deblurring filters, blurry input", f"{deblur['ratio']:.3g}",
         f"[{deblur['low']:.3g}, {deblur['high']:.3g}]"],
        ["FAIG / median(random), denoising filters, noisy input", f"{denoise['ratio']:.3g}",
         f"[{denoise['low']:.3g}, {denoise['high']:.3g}]"],
        ["noisy input: deblurring-set ÷ denoising-set masking", f"{ratios['noise_input_deblur_over_denoise_masking']:.3g}",
         "–"],
        ["blurry input: denoising-set ÷ deblurring-set masking",
         f"{ratios['blur_input_denoise_over_deblur_masking']:.3g}", "–"]])


def discriminativeness_markdown(discriminativeness: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """One row per network: the two discriminativeness ratios at 1 % as mean ± std over seeds
    (:func:`~faiglib.studies.masking.discriminativeness`)."""
    return markdown_table(
        ["network", "noisy input: deblur ÷ denoise set", "blurry input: denoise ÷ deblur set"],
        [[net, format_mean_std(d["noise_input_deblur_over_denoise_masking"]),
          format_mean_std(d["blur_input_denoise_over_deblur_masking"])] for net, d in discriminativeness.items()])


def orderings_markdown(orderings: Mapping[str, Mapping[str, Mapping[str, Mapping[str, Any]]]],
                       methods: Mapping[str, str]) -> str:
    """The ranking of the methods' mean effects per (network, metric, filter set / input) and whether every seed
    ranks them so. ``orderings``: ``{network: {metric: method_orderings(...)}}``
    (:func:`~faiglib.measures.statistics.method_orderings`); ``methods``: key -> label."""
    return markdown_table(
        ["network", "metric", "filters / input", "ordering of the means", "same in every seed"],
        [[net, metric, cell, " > ".join(methods[m] for m in o["by_mean"]), o["same_in_every_seed"]]
         for net, by_metric in orderings.items() for metric, by_cell in by_metric.items()
         for cell, o in by_cell.items()])


def retraining_markdown(summary: Mapping[str, dict], methods: Mapping[str, str]) -> str:
    """Table 3's layout: rows blurry / noisy input; columns the baseline, the target, the all-parameter upper
    bound, then each method's retrained deblurring filters and each method's retrained denoising filters.
    ``summary``: :meth:`~faiglib.studies.retraining.retraining_table`, or its mean ± std over seeds."""
    columns = [("baseline", None), ("target", None), ("upper_bound", None)]
    columns += [(f, m) for f in ("deblur_filters", "denoise_filters") for m in methods]
    head = ["input"] + [name.replace("_", " ") if m is None else f"{f.split('_')[0]}: {methods[m]}"
                        for (name, m), f in zip(columns, [c[0] for c in columns])]
    lines = ["| " + " | ".join(h.replace("|", "\\|") for h in head) + " |", "|" + "---|" * len(head)]
    for inp, label in (("blur_input", "blurry"), ("noise_input", "noisy")):
        cells = [format_mean_std(summary[name][inp] if m is None else summary[name][m][inp], digits=4)
                 for name, m in columns]
        lines.append("| " + " | ".join([label] + cells) + " |")
    return "\n".join(lines) + "\n"


def confusion_markdown(confusion: Mapping[str, Mapping[str, int]]) -> str:
    """The 4x4 degradation-classification table: one row per true input kind, one column per predicted kind,
    counts of images (correct predictions in bold), and each row's accuracy. ``confusion``:
    ``{true kind: {predicted kind: n}}`` as from :func:`faiglib.measures.overlap.confusion`."""
    predicted = list(next(iter(confusion.values())))
    lines = ["| true \\ predicted | " + " | ".join(predicted) + " | row accuracy |",
             "|" + "---|" * (len(predicted) + 2)]
    for true, row in confusion.items():
        total = sum(row.values())
        cells = [f"**{row[p]}**" if p == true else str(row[p]) for p in predicted]
        accuracy = f"{row.get(true, 0) / total:.0%}" if total else "–"
        lines.append(f"| {true} | " + " | ".join(cells) + f" | {accuracy} |")
    return "\n".join(lines) + "\n"


def rows_markdown(summary: Mapping[str, Mapping[str, Any]], columns: Mapping[str, str], first: str = "input",
                  digits: int = 3) -> str:
    """A plain table: one row per key of ``summary`` (``{row: {column key: leaf}}``, leaves numbers or
    :func:`~faiglib.measures.statistics.mean_std` leaves), the ``columns`` ``{key: header}`` in order."""
    lines = [f"| {first} | " + " | ".join(columns.values()) + " |", "|" + "---|" * (len(columns) + 1)]
    for row, cells in summary.items():
        lines.append(f"| {row} | " + " | ".join(format_mean_std(cells[k], digits) for k in columns) + " |")
    return "\n".join(lines) + "\n"


def table1_markdown(result: Mapping[str, dict], labels: Mapping[str, str], settings: Sequence[str]) -> str:
    """Table 1's layout: one row per model (``labels``: kind -> row label) with its FLOPs (G, per image of
    ``result["complexity"]["ratio"]["lr_size"]``), parameters (k) and PSNR (dB) mean ± std over seeds per
    setting. ``result``: :func:`faiglib.studies.table1.table1`."""
    size = "x".join(str(v) for v in result["complexity"]["ratio"]["lr_size"])
    head = ["method", f"FLOPs (G, {size} LR)", "params (k)"] + [f"PSNR {s} (dB)" for s in settings]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for kind, label in labels.items():
        c = result["complexity"][kind]
        cells = [f"{label} ({c['label']})", f"{c['flops'] / 1e9:.3f}", f"{c['params'] / 1e3:.1f}"]
        for s in settings:
            leaf = result["psnr"][kind][s]
            cells.append(f"{leaf['mean']:.3f} ± {leaf['std']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table1_gap_markdown(gaps: Mapping[str, Mapping]) -> str:
    """One row per setting: the one-branch minus two-branch PSNR of this run (mean ± std over seeds of the
    paired differences, from :func:`faiglib.studies.table1.gaps`), the paper's gaps, and whether this run resolves a
    difference: ``|mean| > 2 x standard error`` (std / sqrt(seeds)); with one seed there is no spread to judge by."""
    head = ["setting", "one − two, this run (dB)", "paper: SRResNet − DASR", "paper: SRResNet − DAN", "this run says"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for setting, g in gaps.items():
        n = len(g["values"])
        if n < 2:
            verdict = "one seed: no spread to judge by"
        else:
            se = g["std"] / math.sqrt(n)
            verdict = ("one-branch better" if g["mean"] > 2 * se else "two-branch better" if g["mean"] < -2 * se
                       else f"no difference resolved (2 × s.e. = {2 * se:.3f} dB)")
        lines.append(f"| {setting} | {g['mean']:+.3f} ± {g['std']:.3f} ({n} seeds) | {g['paper_dasr']:+.3f} | "
                     f"{g['paper_dan']:+.3f} | {verdict} |")
    return "\n".join(lines) + "\n"


def diffusion_comparison_markdown(comparison: Mapping[str, Mapping[str, Any]], first: str = "baseline",
                                  second: str = "target") -> str:
    """One row per input kind: the paired difference of diffusion indices ``second − first`` (mean ± std over
    (image, window) pairs), 2 x its standard error, the number of pairs and the verdict. ``comparison``:
    :func:`faiglib.studies.lam.compare_diffusion`."""
    rows = []
    for kind, c in comparison.items():
        se = c["standard_error"]
        rows.append([kind, f"{c['difference']['mean']:+.3g} ± {c['difference']['std']:.2g}",
                     "–" if se is None else f"{2 * se:.2g}", c["n"], c["verdict"]])
    return markdown_table(["input", f"DI {second} − {first}", "2 × s.e.", "pairs", "verdict"], rows)


def architecture_diffusion_markdown(studies: Mapping[str, Mapping[str, Any]], comparison: Mapping[str, Any],
                                    radii: Mapping[str, int | None], reference: str, model: str = "target") -> str:
    """One row per network and input kind: DI of ``model`` (mean ± std over windows), the network's measured
    receptive radius (LR pixels; "whole image" for ``None``), and its paired difference from ``reference`` with
    2 x standard error and verdict. ``studies``: ``{label: diffusion_study(...)}``; ``comparison``:
    :func:`faiglib.studies.lam.compare_architectures`."""
    rows = []
    for label, study in studies.items():
        radius = radii.get(label)
        field = "whole image" if radius is None else f"{radius} px"
        for kind, leaf in study["summary"][model].items():
            c = comparison.get(label, {}).get(model, {}).get(kind)
            if c is None:
                diff, se, verdict = "(reference)", "–", "–"
            else:
                diff = f"{c['difference']['mean']:+.3g} ± {c['difference']['std']:.2g}"
                se = "–" if c["standard_error"] is None else f"{2 * c['standard_error']:.2g}"
                verdict = c["verdict"].replace(label, "it")
            rows.append([label, kind, f"{leaf['mean']:.3g} ± {leaf['std']:.2g}", field, diff, se, verdict])
    return markdown_table(["network", "input", f"DI ({model})", "receptive radius", f"DI − {reference}",
                           "2 × s.e.", "verdict"], rows)


def seed_summary_markdown(rows: Sequence[Mapping[str, Any]], labels: Mapping[str, str]) -> str:
    """One line per measure of ``labels`` (``{summary key: label}``) and network: mean ± std and the per-seed
    values, from rows holding a ``"summary"`` (``{key: {"mean", "std", "per_seed"}}``, the scale study over
    seeds); measures a row lacks are left out."""
    lines = []
    for key, label in labels.items():
        for r in rows:
            leaf = r.get("summary", {}).get(key)
            if leaf:
                lines.append([label, r["network"], f"{leaf['mean']:.3g} ± {leaf['std']:.2g}",
                              ", ".join(f"{v:.3g}" for v in leaf["per_seed"])])
    return markdown_table(["measure", "network", "mean ± std", "per seed"], lines)


def scale_rows_markdown(rows: Sequence[Mapping[str, Any]], classify: bool = False, retrain: bool = False) -> str:
    """The scale study's table (:func:`~faiglib.studies.scale.scale_study` rows, one per network size; over seeds
    their means): parameters, FAIG / random with its interval for each set, discriminativeness both ways, the
    target's PSNR gains, the depth of the sets, and with ``classify`` / ``retrain`` the accuracies and Table 3's
    gains."""
    header = ["network", "parameters", "FAIG/random deblur [95 % CI]", "FAIG/random denoise [95 % CI]",
              "noisy: deblur ÷ denoise", "blurry: denoise ÷ deblur", "gain blur / noise / clean (dB)",
              "depth deblur / denoise"] + (["accuracy blur / noise"] if classify else []) \
        + (["Table 3 FAIG − random blur / noise (dB)"] if retrain else [])
    return markdown_table(header, [
        [r["network"], f"{r['params']:,}", interval_text(r["deblur_over_random"]),
         interval_text(r["denoise_over_random"]), f"{r['noise_input_deblur_over_denoise']:.3g}",
         f"{r['blur_input_denoise_over_deblur']:.3g}",
         f"{r['gain_blur_db']:+.2f} / {r['gain_noise_db']:+.2f} / {r['gain_clean_db']:+.2f}",
         f"{r['depth']['deblur_filters']:.2f} / {r['depth']['denoise_filters']:.2f}"]
        + ([f"{r['classification']['blur']:.2f} / {r['classification']['noise']:.2f}"] if classify else [])
        + ([f"{r['retrain_gain_blur_db']:+.3f} / {r['retrain_gain_noise_db']:+.3f}"] if retrain else [])
        for r in rows])


def retraining_gains_markdown(gains: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """Table 3's FAIG − random gains per network and cell (:func:`~faiglib.studies.retraining.retraining_gains`):
    mean ± std, per seed, and the paper's value and the verdict where the paper reports the cell."""
    return markdown_table(
        ["network", "filters retrained", "input", "FAIG − random (dB)", "per seed", "paper", "verdict"],
        [[net, cell.split("/")[0].replace("_", " "), cell.split("/")[1].replace("_", " "),
          f"{g['mean']:+.3f} ± {g['std']:.3f}", ", ".join(f"{d:+.3f}" for d in g["values"]),
          f"{g['paper']:+.2f}" if "paper" in g else "", g.get("verdict", "")]
         for net, by_cell in gains.items() for cell, g in by_cell.items()])


def depth_markdown(depth: Mapping[str, Mapping[str, Any]]) -> str:
    """Fig. 4 over seeds per network (:func:`~faiglib.studies.retraining.depth_claim`): the relative depth of the
    deblurring and denoising sets (mean ± std), of all filters, and whether the deblurring set is deeper or
    shallower in every seed."""
    return markdown_table(
        ["network", "deblurring set", "denoising set", "all filters", "deblur deeper in every seed",
         "deblur shallower in every seed"],
        [[net, format_mean_std(d["deblur_filters"]), format_mean_std(d["denoise_filters"]),
          f"{d['all_filters']['mean']:.3f}", d["deblur_deeper_in_every_seed"], d["deblur_shallower_in_every_seed"]]
         for net, d in depth.items()])


def classification_markdown(per_seed: Mapping[Any, Mapping[str, Any]]) -> str:
    """Sec. 5.3 per seed (:func:`~faiglib.studies.classification.classify` results): the thresholds chosen on the
    validation images and the accuracies on validation and test (blur, noise, and the 4-way test)."""
    splits = (("validation_accuracy", "blur"), ("validation_accuracy", "noise"), ("accuracy", "blur"),
              ("accuracy", "noise"), ("accuracy", "four_way"))
    return markdown_table(
        ["seed", "T blur", "T noise", "validation: blur", "validation: noise", "test: blur", "test: noise", "test: 4-way"],
        [[s, f"{r['thresholds']['blur']:.3f}", f"{r['thresholds']['noise']:.3f}"]
         + [f"{r[split][k]:.1%}" for split, k in splits] for s, r in per_seed.items()])


def elimination_markdown(ablation: Mapping[Any, Mapping[str, Any]]) -> str:
    """Sec. 5.4 per seed (``{seed: numbers}`` of :func:`~faiglib.studies.classification.elimination_ablation`): the
    overlap of the two deblurring sets and each set's masking effect on blurry and noisy input."""
    return markdown_table(
        ["seed", "set overlap", "deblurring filters", "masking effect: blurry input", "masking effect: noisy input"],
        [[s, f"{n['overlap']:.2f}", label.replace("_", " "), f"{n[label]['blur_input']:.4g}",
          f"{n[label]['noise_input']:.4g}"]
         for s, n in ablation.items() for label in ("with_elimination", "without_elimination")])


def control_markdown(table: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]],
                     lambdas: Sequence[float]) -> str:
    """PSNR (dB) along λ for each curve of :func:`~faiglib.studies.control.control_table`."""
    return markdown_table(["filters", "input"] + [f"λ = {v:g}" for v in lambdas],
                          [[filters.replace("_", " "), inp.replace("_", " ")] + [f"{v:.2f}" for v in curve["psnr"]]
                           for filters, per_input in table.items() for inp, curve in per_input.items()])


def tracking_markdown(levels: Mapping[Any, Mapping[str, Any]]) -> str:
    """Per seed and degradation (:func:`~faiglib.studies.levels.level_overlaps` results): whether the mean OS rises at
    every level, Spearman's rho, and the mean OS per level."""
    return markdown_table(
        ["seed", "D", "rises at every step", "Spearman ρ", "mean OS per level"],
        [[s, d, t["increasing"], f"{t['spearman']:.3f}",
          ", ".join(f"{lv:g}: {m:.3f}" for lv, m in zip(t["levels"], t["mean"]))]
         for s, r in levels.items() for d, t in r["tracking"].items()])


def lam_report_markdown(report: Mapping[str, Any]) -> str:
    """The ``lam.json`` of the ``faiglib lam`` command as one row: window, DI, the objective on the input and on
    the blurred baseline, the relative completeness gap and the LR context the crop used."""
    context = "whole image" if report["context"] is None else f"{report['context']} LR px"
    return markdown_table(["window (y, x)", "DI", "D(F(x))", "D(F(x₀))", "relative completeness gap", "context"],
                          [[tuple(report["window"]), f"{report['diffusion_index']:.3g}", f"{report['objective']:.4g}",
                            f"{report['baseline_objective']:.4g}", f"{report['relative_completeness_gap']:.2%}",
                            context]])

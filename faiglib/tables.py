"""Markdown tables for the book, rendered from computed results (``IPython.display.Markdown(...)``)."""
from __future__ import annotations

from typing import Mapping, Sequence

__all__ = ["format_mean_std", "masking_markdown"]


def format_mean_std(leaf: Mapping[str, float] | float, digits: int = 3) -> str:
    """``"1.234 ± 0.056"`` for a ``{"mean", "std"}`` leaf of :func:`~faiglib.statistics.mean_std`; a float as is."""
    if isinstance(leaf, Mapping):
        return f"{leaf['mean']:.{digits}g} ± {leaf['std']:.2g}"
    return f"{leaf:.{digits}g}"


def masking_markdown(table: Mapping[str, dict], proportions: Sequence[float],
                     methods: Mapping[str, str]) -> str:
    """Table 2's layout: one row per selection method (``methods``: key -> label), one column per
    (masked proportion, filter set, input). ``table``: one channel of
    :meth:`~faiglib.experiment.Experiment.method_masking`, or its :func:`~faiglib.statistics.mean_std` over
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
    head = ["method"] + [f"{m.removeprefix('mask_').replace('pct', ' %')}: {f.split('_')[0]} filters, "
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

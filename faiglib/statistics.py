"""Statistics over independently trained models (seeds).

Results are nested dicts with float leaves (e.g. :meth:`faiglib.experiment.Experiment.method_masking`);
:func:`mean_std` turns a list of them, one per seed, into one tree of ``{"mean", "std", "values"}`` leaves.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

__all__ = ["mean_std", "ordering", "method_orderings"]


def mean_std(trees: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Element-wise mean and sample standard deviation (``ddof=1``; 0 for one tree) of same-shaped trees.

    Every tree must have the same keys at every level; leaves must be numbers. Leaves become
    ``{"mean": m, "std": s, "values": [v_1, …]}`` in the order of ``trees``.
    """
    if not trees:
        raise ValueError("mean_std needs at least one tree")
    first = trees[0]
    if isinstance(first, Mapping):
        for i, t in enumerate(trees[1:], 1):
            if not isinstance(t, Mapping) or set(t) != set(first):
                raise ValueError(f"tree {i} does not have the keys of tree 0: "
                                 f"{sorted(t) if isinstance(t, Mapping) else type(t).__name__} vs {sorted(first)}")
        return {k: mean_std([t[k] for t in trees]) for k in first}
    try:
        values = [float(v) for v in trees]
    except (TypeError, ValueError):
        raise ValueError(f"leaves must be numbers, got {[type(v).__name__ for v in trees]}") from None
    mean = math.fsum(values) / len(values)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return {"mean": mean, "std": std, "values": values}


def ordering(values: Mapping[str, float]) -> list[str]:
    """Keys sorted by descending value (ties keep the mapping's order)."""
    return sorted(values, key=lambda k: -values[k])


def method_orderings(table: Mapping[str, Any], proportion: float, methods: Sequence[str],
                     pairs: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """How selection methods rank when each masks the filters of the function an input needs (deblurring
    filters on blurry input, ...), from a :func:`mean_std` masking table of one channel.

    ``{"deblur_filters/blur_input": {"by_mean": [methods, best first], "per_seed": [[...], ...],
    "same_in_every_seed": bool}}``.
    """
    pairs = pairs or {"deblur_filters": "blur_input", "denoise_filters": "noise_input"}
    cells = table[f"mask_{proportion * 100:g}pct"]
    out: dict[str, dict[str, Any]] = {}
    for filters, inp in pairs.items():
        cell = cells[filters][inp]
        by_mean = ordering({m: cell[m]["mean"] for m in methods})
        n = len(cell[methods[0]]["values"])
        per_seed = [ordering({m: cell[m]["values"][i] for m in methods}) for i in range(n)]
        out[f"{filters}/{inp}"] = {"by_mean": by_mean, "per_seed": per_seed,
                                   "same_in_every_seed": all(o == by_mean for o in per_seed)}
    return out

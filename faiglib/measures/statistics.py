"""Statistics over independently trained models (seeds).

Results are nested dicts with float leaves (e.g. :meth:`faiglib.studies.masking.method_masking`);
:func:`mean_std` turns a list of them, one per seed, into one tree of ``{"mean", "std", "values"}`` leaves.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

__all__ = ["mean_std", "seed_spread", "paired_difference", "ordering", "method_orderings", "spearman"]


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


def seed_spread(rows: Sequence[Any], measures: Mapping[str, Callable[[Any], Any]]) -> dict[str, dict[str, Any]]:
    """``{name: {"mean", "std", "per_seed"}}`` of ``measures`` (``{name: getter}``) over ``rows``, one per seed in
    order; std: sample std, 0 for one seed. A measure whose getter returns None or raises KeyError for some row
    (e.g. a row without a 5 % masking) is left out rather than averaged over fewer seeds."""
    out = {}
    for name, getter in measures.items():
        try:
            values = [getter(row) for row in rows]
        except KeyError:
            continue
        if any(v is None for v in values):
            continue
        leaf = mean_std(values)
        out[name] = {"mean": leaf["mean"], "std": leaf["std"], "per_seed": leaf["values"]}
    return out


def paired_difference(first: Sequence[float], second: Sequence[float], sign: float = 1.0) -> dict[str, Any]:
    """``sign · (first[i] − second[i])`` over pairs measured on the same case (window, image, seed):
    ``{"difference": {"mean", "std", "values"}, "standard_error": std / √n (None for one pair: no spread; None,
    not inf, because results are JSON), "n"}``. ValueError unless both have the same, non-zero length."""
    if len(first) != len(second) or not first:
        raise ValueError(f"paired values need as many of each (and at least one), got {len(first)} and "
                         f"{len(second)}")
    leaf = mean_std([sign * (float(a) - float(b)) for a, b in zip(first, second)])
    n = len(first)
    return {"difference": leaf, "standard_error": leaf["std"] / math.sqrt(n) if n > 1 else None, "n": n}


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


def spearman(x, y) -> float:
    """Spearman's rank correlation of two equally long 1-D sequences (ties get their average rank): the
    Pearson correlation of the ranks, in [-1, 1]; ``nan`` if either sequence is constant."""
    import torch

    x, y = torch.as_tensor(x, dtype=torch.float64).flatten(), torch.as_tensor(y, dtype=torch.float64).flatten()
    if x.numel() != y.numel() or x.numel() < 2:
        raise ValueError(f"need two sequences of the same length >= 2, got {x.numel()} and {y.numel()}")

    def ranks(v):
        values, inverse, counts = torch.unique(v, return_inverse=True, return_counts=True)
        ends = torch.cumsum(counts, 0).double()  # 1-based rank of the last copy of each distinct value
        return ((ends - (counts.double() - 1) / 2))[inverse]

    rx, ry = ranks(x), ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = math.sqrt(float((rx * rx).sum()) * float((ry * ry).sum()))
    return float((rx * ry).sum()) / denominator if denominator > 0 else float("nan")

"""The random yardstick: how a selection's masking effect compares with masking as many random units.

A random draw's effect is noisy and skewed, so the yardstick is robust: the median of the draws, with the
interquartile range (:func:`median_iqr`); a method's effect over it, ``effect / median(draws)``, with a bootstrap
interval for the draw-to-draw noise (:func:`ratio_to_random`); and both for every cell of a masking table
(:func:`yardstick_table`). The interval covers the yardstick's randomness only, not training's: the spread over
seeds is the honest one (the per-seed ``values``).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

__all__ = ["median_iqr", "ratio_to_random", "yardstick_table"]


def _quantiles(x: torch.Tensor, qs: Sequence[float]) -> torch.Tensor:
    """Quantiles along the last dim with linear interpolation between order statistics (numpy's default)."""
    return torch.quantile(x, torch.tensor(qs, dtype=x.dtype), dim=-1)


def median_iqr(values: Sequence[float]) -> dict[str, float]:
    """Median and interquartile range of a sample (quantiles by linear interpolation between the sorted values,
    as numpy's default): ``{"median", "q1", "q3", "iqr", "n"}``. E.g. ``[1, 2, 3, 4]``: median 2.5,
    q1 1.75, q3 3.25."""
    x = torch.as_tensor([float(v) for v in values], dtype=torch.float64)
    if x.numel() == 0 or not bool(torch.isfinite(x).all()):
        raise ValueError(f"need at least one value, all finite; got {list(values)!r}")
    q1, med, q3 = (float(v) for v in _quantiles(x, (0.25, 0.5, 0.75)))
    return {"median": med, "q1": q1, "q3": q3, "iqr": q3 - q1, "n": int(x.numel())}


def ratio_to_random(effect: float | Sequence[float], draws: Sequence[float] | Sequence[Sequence[float]], *,
                    resamples: int = 2000, level: float = 0.95, seed: int = 0,
                    floor: float = 1e-12) -> dict[str, Any]:
    """A selection method's effect over the random yardstick, ``effect / median(draws)``, with a bootstrap
    interval for the yardstick's draw-to-draw noise.

    One model: ``effect`` a number, ``draws`` the effects of masking as many random filters, one per draw
    (``(D,)``). Several models (seeds): ``effect`` one number per seed and ``draws`` one equally long list per
    seed (``(S, D)``); the ratio is the mean over seeds of ``effect_s / median(draws_s)``.

    The interval: ``resamples`` times, every seed's draws are resampled with replacement (a seeded
    ``torch.Generator``, ``seed``) and the ratio recomputed; ``low``/``high`` are the ``(1 ± level) / 2``
    percentiles of those ratios. It covers the randomness of the yardstick only -- not that of training (the
    spread over seeds is in ``values``). A constant sample of draws gives a zero-width interval. Medians below
    ``floor`` count as ``floor`` (a random set whose masking changes nothing).

    Returns ``{"ratio", "low", "high", "level", "resamples", "values"}`` (``values``: the per-seed ratios).
    """
    single = not isinstance(effect, Sequence)
    e = torch.as_tensor([float(effect)] if single else [float(v) for v in effect], dtype=torch.float64)
    try:
        d = torch.as_tensor([[float(v) for v in draws]] if single else [[float(v) for v in row] for row in draws],
                            dtype=torch.float64)
    except (TypeError, ValueError):
        raise ValueError("draws must be a list of numbers (one model) or one equally long list per seed") from None
    if d.dim() != 2 or d.shape[0] != e.numel() or d.shape[1] == 0:
        raise ValueError(f"need one list of draws per effect, each non-empty: {e.numel()} effects, draws of shape "
                         f"{tuple(d.shape)}")
    if not (bool(torch.isfinite(d).all()) and bool(torch.isfinite(e).all())):
        raise ValueError("effects and draws must be finite")
    if resamples < 1 or not 0 < level < 1:
        raise ValueError(f"need resamples >= 1 and 0 < level < 1, got {resamples} and {level}")
    per_seed = e / _quantiles(d, (0.5,))[0].clamp_min(floor)
    g = torch.Generator().manual_seed(seed)
    n_seeds, n_draws = d.shape
    pick = torch.randint(n_draws, (resamples, n_seeds, n_draws), generator=g)
    resampled = torch.gather(d.expand(resamples, n_seeds, n_draws), 2, pick)
    boot = (e / _quantiles(resampled, (0.5,))[0].clamp_min(floor)).mean(-1)  # (resamples,)
    low, high = (float(v) for v in _quantiles(boot, ((1 - level) / 2, (1 + level) / 2)))
    return {"ratio": float(per_seed.mean()), "low": low, "high": high, "level": level, "resamples": resamples,
            "values": [float(v) for v in per_seed]}


def yardstick_table(table: Mapping[str, Any], draws: Mapping[str, Any], methods: Sequence[str] = ("faig",), *,
                    resamples: int = 2000, level: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """The random yardstick of a masking table: for every ``{mask: {filters: {input: cell}}}`` of ``table``
    (one channel of :func:`~faiglib.studies.masking.method_masking`, or its
    :func:`~faiglib.measures.statistics.mean_std` over seeds), ``{"random": median_iqr of the draws,
    "<method>_over_random": ratio_to_random}``. ``draws``: the same tree with the random draws' effects as
    leaves (one channel of :func:`~faiglib.studies.masking.yardstick_masking`'s ``draws``), or over seeds a
    list of such trees, one per seed in the order of the ``values``. Over seeds, ``random`` pools the draws of
    every seed."""
    seeds = list(draws) if isinstance(draws, Sequence) else None
    out: dict[str, Any] = {}
    for mask, entry in table.items():
        out[mask] = {}
        for filters, per_input in entry.items():
            out[mask][filters] = {}
            for inp, cell in per_input.items():
                d = [t[mask][filters][inp] for t in seeds] if seeds is not None else draws[mask][filters][inp]
                nested = seeds is not None
                row: dict[str, Any] = {"random": median_iqr([v for r in d for v in r] if nested else d)}
                for m in methods:
                    leaf = cell[m]
                    effect = leaf["values"] if isinstance(leaf, Mapping) else leaf
                    if isinstance(leaf, Mapping) and not nested:
                        raise ValueError(f"{mask}/{filters}/{inp}: {m} has per-seed values but the draws are one "
                                         "list; pass one list of draws per seed")
                    row[f"{m}_over_random"] = ratio_to_random(effect, d, resamples=resamples, level=level, seed=seed)
                out[mask][filters][inp] = row
    return out

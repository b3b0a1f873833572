"""Verdict rules: a claim judged on per-seed values (one per independently trained pair), knowing their spread.

* :func:`seed_verdict` -- a signed effect or a yes/no claim ("above a threshold"), over seeds;
* :func:`ratio_seed_verdict` -- a ratio claim (1 = no effect), judged on the log scale;
* :func:`ordering_verdict` -- an ordering of methods, over seeds.

Fewer than :data:`MIN_SEEDS` values get ``"no verdict"``: their value is reported, their sign is not read.
"""
from __future__ import annotations

import math
from typing import Sequence

__all__ = ["VERDICTS", "MIN_SEEDS", "LEVEL", "seed_verdict", "ratio_seed_verdict", "ordering_verdict"]


#: The verdicts of :func:`seed_verdict`, strongest first; "no verdict" for fewer than :data:`MIN_SEEDS` seeds.
VERDICTS = ("reproduced", "weaker", "not resolved", "opposite", "no verdict")

#: A verdict needs at least this many independently trained pairs (seeds): one or two values cannot tell the
#: training's own noise from an effect (the same recipe and seed on two CPUs gave FAIG / random 74.7x vs 41.8x).
MIN_SEEDS = 3

#: the level of the t interval of the mean over seeds that :func:`seed_verdict` reads.
LEVEL = 0.95


def seed_verdict(values: Sequence[float], paper: float | None = None, threshold: float = 0.0) -> str:
    """A claim judged on its per-seed values (one per independently trained pair), knowing their spread.

    ``values``: our measurement per seed; ``threshold``: the value of "no effect" (0 for a difference, 0.5 for
    an accuracy; pass logs and 0 for a ratio); ``paper``: the paper's value on the same scale, or ``None`` for a
    claim that only says "above ``threshold``". Oriented by the paper's side of ``threshold`` (above when
    ``paper`` is ``None``), with ``m`` the mean and ``[lo, hi]`` its ``LEVEL`` Student-t interval:

    * fewer than :data:`MIN_SEEDS` values: ``"no verdict"`` (the value is reported, its sign is not read);
    * ``"opposite"``: every seed on the other side;
    * ``"reproduced"``: every seed, or the whole interval, on the paper's side, and ``m`` at least half the
      paper's effect (any size for a claim without a paper value);
    * ``"weaker"``: on the paper's side so, but ``m`` below half the paper's effect;
    * ``"not resolved"`` otherwise: the seeds disagree and the interval covers "no effect".
    """
    import scipy.stats

    v = [float(x) for x in values]
    if not all(math.isfinite(x) for x in v):
        raise ValueError(f"per-seed values must be finite, got {values!r}")
    if paper is not None and (not math.isfinite(paper) or paper == threshold):
        raise ValueError(f"the paper's value must be finite and differ from the threshold {threshold}, got {paper!r}")
    if len(v) < MIN_SEEDS:
        return "no verdict"
    sign = 1.0 if paper is None or paper > threshold else -1.0
    effect = [sign * (x - threshold) for x in v]
    n = len(effect)
    mean = sum(effect) / n
    sd = math.sqrt(sum((e - mean) ** 2 for e in effect) / (n - 1))
    low = mean - float(scipy.stats.t.ppf((1 + LEVEL) / 2, n - 1)) * sd / math.sqrt(n)
    if all(e < 0 for e in effect):
        return "opposite"
    if not (all(e > 0 for e in effect) or low > 0):
        return "not resolved"
    if paper is not None and mean < abs(paper - threshold) / 2:
        return "weaker"
    return "reproduced"


def ratio_seed_verdict(ratios: Sequence[float], paper: float) -> str:
    """:func:`seed_verdict` of a ratio claim (1 = no effect) on the log scale: per-seed ``log(ratio)`` against
    ``log(paper)``."""
    if any(r <= 0 for r in ratios) or paper <= 0 or paper == 1:
        raise ValueError(f"ratios must be > 0 and the paper's != 1, got {list(ratios)!r} and {paper!r}")
    return seed_verdict([math.log(r) for r in ratios], math.log(paper))


def ordering_verdict(by_mean: Sequence[str], per_seed: Sequence[Sequence[str]], paper: Sequence[str]) -> str:
    """An ordering claim over seeds: ``"no verdict"`` for fewer than :data:`MIN_SEEDS` seeds; ``"reproduced"``
    if every seed's order is the paper's, ``"opposite"`` if every seed's is the paper's reversed, ``"weaker"``
    if the means' order is the paper's but some seed's is not, ``"not resolved"`` otherwise."""
    orders = [list(o) for o in per_seed]
    if len(orders) < MIN_SEEDS:
        return "no verdict"
    if all(o == list(paper) for o in orders):
        return "reproduced"
    if all(o == list(paper)[::-1] for o in orders):
        return "opposite"
    return "weaker" if list(by_mean) == list(paper) else "not resolved"

"""The paper's quantitative claims, the numbers of ours that answer them, and the rule that compares the two.

Every number a chapter concludes from is computed here (tested), not in a notebook cell:

* :func:`paired_gain` -- ``a − b`` per seed (same seed = same trained pair), mean ± std;
* :func:`retraining_gains` -- Table 3's FAIG − random gains from a per-seed summary;
* :func:`depth_claim` -- Fig. 4's "deblurring filters sit more in the back part": depths and "in every seed";
* :func:`masking_ratios` -- the masking chapter's FAIG / random and discriminativeness ratios at 1 %;
* :func:`median_iqr`, :func:`ratio_to_random`, :func:`yardstick_table` -- the random yardstick: many random
  draws summarised by median and interquartile range, and "method / median(random)" with a seeded bootstrap
  interval (one random 1 % set that hits a sensitive layer dominates a mean of a few draws; a median does not);
* :func:`elimination_ratios` -- Sec. 5.4's ablation: masking without elimination hurts noisy input more;
* :func:`control_summary` -- the slides' controllable restoration: PSNR at λ = 0 and 1, the best λ.

The paper's values are :data:`PAPER` (with where they are printed), and :func:`verdict` is the stated rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch

from faiglib.measures.statistics import mean_std

__all__ = ["PaperValue", "PAPER", "VERDICTS", "verdict", "paired_gain", "retraining_gains", "depth_claim",
           "masking_ratios", "elimination_ratios", "control_summary", "median_iqr", "ratio_to_random",
           "yardstick_table", "ratio_verdict", "ordering_verdict", "consistent_verdict", "scorecard_rows",
           "scale_claim_rows", "CLAIMED_CELLS", "paper_ratio", "paper_gain"]


@dataclass(frozen=True)
class PaperValue:
    """A number printed in the paper: ``value`` in ``unit``, and where (table / section, network, data)."""

    value: float
    unit: str
    where: str


#: The paper's values our chapters compare with (Xie et al., NeurIPS 2021; SRResNet, Set14 unless said).
PAPER: dict[str, PaperValue] = {
    "table3/deblur_filters/blur_input/faig": PaperValue(28.047, "dB", "Table 3, deblurring filters, blurry input"),
    "table3/deblur_filters/blur_input/random": PaperValue(27.028, "dB", "Table 3, deblurring filters, blurry input"),
    "table3/denoise_filters/noise_input/faig": PaperValue(25.793, "dB", "Table 3, denoising filters, noisy input"),
    "table3/denoise_filters/noise_input/random": PaperValue(25.526, "dB", "Table 3, denoising filters, noisy input"),
    "table2/deblur_filters/blur_input/faig": PaperValue(6.68, "×1e-3", "Table 2, 1 %, blurry input"),
    "table2/deblur_filters/blur_input/random": PaperValue(0.07, "×1e-3", "Table 2, 1 %, blurry input"),
    "table2/denoise_filters/noise_input/faig": PaperValue(6.62, "×1e-3", "Table 2, 1 %, noisy input"),
    "table2/denoise_filters/noise_input/random": PaperValue(0.04, "×1e-3", "Table 2, 1 %, noisy input"),
    "classification/accuracy/blur": PaperValue(0.96, "fraction", "Sec. 5.3, DIV2K validation"),
    "classification/accuracy/noise": PaperValue(0.98, "fraction", "Sec. 5.3, DIV2K validation"),
    "classification/threshold/blur": PaperValue(0.5, "OS", "Sec. 5.3"),
    "classification/threshold/noise": PaperValue(0.6, "OS", "Sec. 5.3"),
    # Table 1, RGB PSNR on the DASR / DAN settings (official two-branch vs SRResNet one-branch)
    "table1/dasr/blur/two_branch": PaperValue(27.518, "dB", "Table 1, DASR, blur"),
    "table1/dasr/blur/one_branch": PaperValue(27.573, "dB", "Table 1, DASR, blur"),
    "table1/dasr/blur+noise/two_branch": PaperValue(25.116, "dB", "Table 1, DASR, blur+noise"),
    "table1/dasr/blur+noise/one_branch": PaperValue(25.143, "dB", "Table 1, DASR, blur+noise"),
    "table1/dan/blur/two_branch": PaperValue(26.168, "dB", "Table 1, DAN, blur"),
    "table1/dan/blur/one_branch": PaperValue(26.182, "dB", "Table 1, DAN, blur"),
    "table1/dan/blur+noise/two_branch": PaperValue(27.341, "dB", "Table 1, DAN, blur+noise"),
    "table1/dan/blur+noise/one_branch": PaperValue(27.288, "dB", "Table 1, DAN, blur+noise"),
    # Table 2's other rules at 1 % (their order FAIG > IG > |θ−θ̄| > random is the claim)
    "table2/deblur_filters/blur_input/ig": PaperValue(4.31, "×1e-3", "Table 2, 1 %, blurry input"),
    "table2/deblur_filters/blur_input/abs_change": PaperValue(0.18, "×1e-3", "Table 2, 1 %, blurry input"),
    "table2/denoise_filters/noise_input/ig": PaperValue(4.22, "×1e-3", "Table 2, 1 %, noisy input"),
    "table2/denoise_filters/noise_input/abs_change": PaperValue(0.49, "×1e-3", "Table 2, 1 %, noisy input"),
}

#: The verdicts of :func:`verdict`, strongest first.
VERDICTS = ("reproduced", "weaker", "not reproduced", "opposite")


def verdict(mean: float, std: float, paper: float) -> str:
    """Our effect (``mean`` ± ``std`` over seeds) against the paper's ``paper`` (a signed effect, not 0).

    The rule: with the interval ``mean ± std`` oriented by the sign of ``paper``, it is

    * ``"opposite"`` if the whole interval has the other sign (``mean + std < 0`` for a positive claim);
    * ``"not reproduced"`` if the interval contains 0;
    * ``"weaker"`` if it excludes 0 but ``mean`` is below half of ``paper``;
    * ``"reproduced"`` otherwise (same sign, at least half the paper's size).
    """
    if not paper or not math.isfinite(paper):
        raise ValueError(f"the paper's effect must be a finite non-zero number, got {paper!r}")
    if std < 0 or not math.isfinite(mean) or not math.isfinite(std):
        raise ValueError(f"need a finite mean and a std >= 0, got {mean!r} ± {std!r}")
    sign = 1.0 if paper > 0 else -1.0
    m, p = sign * mean, sign * paper
    if m + std < 0:
        return "opposite"
    if m - std <= 0:
        return "not reproduced"
    return "weaker" if m < p / 2 else "reproduced"


def paired_gain(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """``a[i] − b[i]`` for each seed ``i`` (pairs from one trained pair), as ``{"mean", "std", "values"}``
    (sample std, ``n − 1``; 0 for one seed)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired values need as many of each (and at least one), got {len(a)} and {len(b)}")
    return mean_std([float(x) - float(y) for x, y in zip(a, b)])


#: Table 3's cells: (filters retrained, input); the first two are the paper's claims, the others controls.
RETRAINING_CELLS = (("deblur_filters", "blur_input"), ("denoise_filters", "noise_input"),
                    ("denoise_filters", "blur_input"), ("deblur_filters", "noise_input"))


#: the (filters, input) cells the paper's claims are about -- each set on its own degradation -- with a label.
CLAIMED_CELLS = (("deblur_filters", "blur_input", "blurry"), ("denoise_filters", "noise_input", "noisy"))


def paper_ratio(filters: str, inp: str) -> float:
    """The paper's FAIG / random at 1 % (Table 2's printed effects divided) for ``filters`` on ``inp``."""
    return PAPER[f"table2/{filters}/{inp}/faig"].value / PAPER[f"table2/{filters}/{inp}/random"].value


def paper_gain(filters: str, inp: str) -> float:
    """The paper's Table 3 FAIG − random (dB) for ``filters`` retrained, on ``inp``."""
    return PAPER[f"table3/{filters}/{inp}/faig"].value - PAPER[f"table3/{filters}/{inp}/random"].value


def retraining_gains(summary: Mapping[str, Any], cells=RETRAINING_CELLS) -> dict[str, dict[str, Any]]:
    """FAIG − random (dB) per Table 3 cell, paired by seed: ``{"<filters>/<input>": {"mean", "std", "values",
    "paper", "verdict"}}``. ``summary``: :func:`~faiglib.measures.statistics.mean_std` over seeds of
    :func:`~faiglib.studies.retraining.retraining_table` (leaves with per-seed ``values``). ``paper`` and
    ``verdict`` only for the cells the paper reports."""
    out = {}
    for filters, inp in cells:
        gain = paired_gain(summary[filters]["faig"][inp]["values"], summary[filters]["random"][inp]["values"])
        key = f"{filters}/{inp}"
        if f"table3/{key}/faig" in PAPER:
            paper = paper_gain(filters, inp)
            gain.update(paper=paper, verdict=verdict(gain["mean"], gain["std"], paper))
        out[key] = gain
    return out


def depth_claim(runs: Sequence[Mapping[str, float]]) -> dict[str, Any]:
    """Fig. 4's claim over seeds: ``runs`` are :func:`~faiglib.studies.retraining.depth_summary` results (mean
    relative depth of the top deblurring / denoising filters and of all filters). Returns their mean ± std,
    ``deblur_deeper_in_every_seed`` (the paper's "more in the back part") and ``deblur_shallower_in_every_seed``
    (its opposite), and the paired difference deblur − denoise."""
    if not runs:
        raise ValueError("no seeds")
    out: dict[str, Any] = {k: mean_std([r[k] for r in runs]) for k in ("deblur_filters", "denoise_filters",
                                                                          "all_filters")}
    out["deblur_minus_denoise"] = paired_gain([r["deblur_filters"] for r in runs], [r["denoise_filters"] for r in runs])
    out["deblur_deeper_in_every_seed"] = all(r["deblur_filters"] > r["denoise_filters"] for r in runs)
    out["deblur_shallower_in_every_seed"] = all(r["deblur_filters"] < r["denoise_filters"] for r in runs)
    return out


def masking_ratios(one: Mapping[str, Any]) -> dict[str, float]:
    """The masking chapter's ratios at one proportion (``one``: ``masking_table(...)["mask_1pct"]``): FAIG /
    random on the input each set is for, and discriminativeness -- masking the *other* function's filters
    against masking the right ones, on each input (small: the sets are specific). The random yardstick is the
    median of the draws (``random_median``) where the cell has it, else their mean (``random``)."""
    def cell(filters, inp, method):
        return float(one[filters][inp][method])

    def random(filters, inp):
        c = one[filters][inp]
        return float(c["random_median"] if "random_median" in c else c["random"])

    return {
        "deblur_filters_blur_input_faig_over_random": cell("deblur_filters", "blur_input", "faig")
        / random("deblur_filters", "blur_input"),
        "denoise_filters_noise_input_faig_over_random": cell("denoise_filters", "noise_input", "faig")
        / random("denoise_filters", "noise_input"),
        "noise_input_deblur_over_denoise_masking": cell("deblur_filters", "noise_input", "faig")
        / cell("denoise_filters", "noise_input", "faig"),
        "blur_input_denoise_over_deblur_masking": cell("denoise_filters", "blur_input", "faig")
        / cell("deblur_filters", "blur_input", "faig"),
    }


def elimination_ratios(ablation: Sequence[Mapping[str, Any]], floor: float = 1e-12) -> dict[str, Any]:
    """Sec. 5.4 over seeds: per seed, the noisy-input masking effect of the deblurring set chosen *without*
    gradient elimination divided by that of the set chosen *with* it (``ablation``: the numbers of
    :func:`~faiglib.studies.classification.elimination_ablation`). The paper's effect: every ratio > 1."""
    ratios = [n["without_elimination"]["noise_input"] / max(n["with_elimination"]["noise_input"], floor)
              for n in ablation]
    return {"ratios": ratios, "shows_paper_effect": bool(ratios) and all(r > 1 for r in ratios)}


def control_summary(table: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]]) -> dict[str, dict[str, float]]:
    """For each curve of :func:`~faiglib.studies.control.control_table`: PSNR at λ = 0 (masked) and λ = 1 (the
    target) and the λ with the best PSNR (the first, on ties): ``{"<filters>/<input>": {"psnr_lambda0",
    "psnr_lambda1", "best_lambda"}}``. Curves must include λ = 0 and λ = 1."""
    out = {}
    for filters, per_input in table.items():
        for inp, curve in per_input.items():
            lambdas, psnr = list(curve["lambda"]), list(curve["psnr"])
            if 0.0 not in lambdas or 1.0 not in lambdas:
                raise ValueError(f"the curve {filters}/{inp} needs λ = 0 and λ = 1, has {lambdas}")
            best = max(range(len(psnr)), key=psnr.__getitem__)
            out[f"{filters}/{inp}"] = {"psnr_lambda0": psnr[lambdas.index(0.0)],
                                       "psnr_lambda1": psnr[lambdas.index(1.0)], "best_lambda": lambdas[best]}
    return out


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


def ratio_verdict(ratio: float, low: float | None, high: float | None, paper: float) -> str:
    """:func:`verdict` for a ratio (1 = no effect), on the log scale: ``log(ratio)`` ± the wider side of the
    interval ``[low, high]`` in logs (0 without an interval) against ``log(paper)``."""
    if ratio <= 0 or paper <= 0 or paper == 1:
        raise ValueError(f"ratios must be > 0 and the paper's != 1, got {ratio!r} and {paper!r}")
    m = math.log(ratio)
    half = 0.0 if low is None or high is None else max(m - math.log(max(low, 1e-300)), math.log(high) - m, 0.0)
    return verdict(m, half, math.log(paper))


def ordering_verdict(by_mean: Sequence[str], per_seed: Sequence[Sequence[str]], paper: Sequence[str]) -> str:
    """An ordering claim: ``"reproduced"`` if the order of the means and every seed's order are the paper's,
    ``"weaker"`` if the means' order is but some seed's is not, ``"opposite"`` if the means' order is the paper's
    reversed, ``"not reproduced"`` otherwise."""
    if list(by_mean) == list(paper):
        return "reproduced" if all(list(o) == list(paper) for o in per_seed) else "weaker"
    return "opposite" if list(by_mean) == list(paper)[::-1] else "not reproduced"


def consistent_verdict(values: Sequence[float], threshold: float = 0.0) -> str:
    """A yes/no claim "the value exceeds ``threshold``" checked in every seed (``values``): ``"reproduced"`` if
    every value does, ``"opposite"`` if every value is below it, ``"weaker"`` if only the mean does,
    ``"not reproduced"`` otherwise."""
    if not values:
        raise ValueError("no values")
    if all(v > threshold for v in values):
        return "reproduced"
    if all(v < threshold for v in values):
        return "opposite"
    return "weaker" if sum(values) / len(values) > threshold else "not reproduced"


#: how :func:`scorecard_rows` marks a value from one seed: its "± 0" would be no measured spread.
ONE_SEED = "1 seed, no spread"


def _pm(leaf: Mapping[str, Any], digits: int = 3) -> str:
    if len(leaf["values"]) == 1:
        return f"{leaf['mean']:.{digits}g} ({ONE_SEED})"
    return f"{leaf['mean']:.{digits}g} ± {leaf['std']:.2g} ({len(leaf['values'])} seeds)"


def scorecard_rows(results: Mapping[str, Mapping[str, Any]], network: str | None = None) -> list[dict[str, str]]:
    """Every quantitative claim of the paper against an edition's results: ``results`` maps a results file's
    stem (``table1``, ``table2``, ``table3``, ``masking``, ``classification``, ``control``) to its JSON. One row
    per claim ``{"claim", "where", "paper", "ours", "verdict", "rule"}``; a claim whose results are missing
    gets the verdict ``"not run"``. ``network``: the SRResNet-style network of Tables 2-3 (default: the first
    ``msrresnet`` one found). Rules: :func:`verdict` (signed effects, ours mean ± std over seeds),
    :func:`ratio_verdict` (ratios, ours with their bootstrap interval where there is one),
    :func:`ordering_verdict` and :func:`consistent_verdict` (per-seed yes/no claims)."""
    rows: list[dict[str, str]] = []

    def add(claim, where, paper, ours, result, rule):
        rows.append({"claim": claim, "where": where, "paper": paper, "ours": ours, "verdict": result, "rule": rule})

    def missing(claim, where, paper, rule, what):
        add(claim, where, paper, f"no {what}", "not run", rule)

    t1 = results.get("table1")
    for setting in ("blur", "blur+noise"):
        paper = PAPER[f"table1/dasr/{setting}/one_branch"].value - PAPER[f"table1/dasr/{setting}/two_branch"].value
        claim, where = f"one-branch ≈ two-branch at equal compute, {setting} (one − two, dB)", "Table 1 (DASR)"
        rule = "verdict(mean ± std, paper gap)"
        if t1 and setting in t1.get("gap_db", {}):
            g = t1["gap_db"][setting]
            add(claim, where, f"{paper:+.3f}", _pm(g), verdict(g["mean"], g["std"], paper), rule)
        else:
            missing(claim, where, f"{paper:+.3f}", rule, "table1.json")

    t2 = results.get("table2")
    net = network
    if net is None:
        pools = [t2.get("masking", {}) if t2 else {}, (results.get("table3") or {}).get("faig_minus_random", {})]
        net = next((n for pool in pools for n in pool if n.startswith("msrresnet")), None)
    order = ["faig", "ig", "abs_change", "random"]
    for filters, inp, label in CLAIMED_CELLS:
        claim, where = f"FAIG > IG > |θ−θ̄| > random, 1 %, {label} input", "Table 2"
        rule = "ordering_verdict (means, every seed)"
        cells = ((t2 or {}).get("orderings_1pct", {}).get(net, {}).get("gray", {}))
        o = cells.get(f"{filters}/{inp}")
        if o:
            add(claim, where, " > ".join(order), " > ".join(o["by_mean"]) +
                ("" if o["same_in_every_seed"] else " (not in every seed)"),
                ordering_verdict(o["by_mean"], o["per_seed"], order), rule)
        else:
            missing(claim, where, " > ".join(order), rule, "table2.json")
        paper = paper_ratio(filters, inp)
        claim = f"FAIG / random, 1 %, {label} input"
        rule = "ratio_verdict (log scale)"
        y = (t2 or {}).get("yardstick", {}).get(net, {}).get("gray", {}).get("mask_1pct", {})
        cell = (t2 or {}).get("masking", {}).get(net, {}).get("gray", {}).get("mask_1pct", {})
        if y:
            r = y[filters][inp]["faig_over_random"]
            add(claim, where, f"{paper:.3g}", f"{r['ratio']:.3g} [{r['low']:.3g}, {r['high']:.3g}] (median yardstick)",
                ratio_verdict(r["ratio"], r["low"], r["high"], paper), rule)
        elif cell:
            c = cell[filters][inp]
            ratio = c["faig"]["mean"] / c["random"]["mean"]
            add(claim, where, f"{paper:.3g}", f"{ratio:.3g} (mean of few draws, no interval)",
                ratio_verdict(ratio, None, None, paper), rule)
        else:
            missing(claim, where, f"{paper:.3g}", rule, "table2.json")

    t3 = results.get("table3")
    for filters, inp, label in CLAIMED_CELLS:
        paper = paper_gain(filters, inp)
        claim, where = f"retraining 1 %: FAIG − random, {label} input (dB)", "Table 3"
        rule = "verdict(mean ± std, paper gain)"
        g = (t3 or {}).get("faig_minus_random", {}).get(net, {}).get(f"{filters}/{inp}")
        if g:
            add(claim, where, f"{paper:+.3f}", _pm(g), verdict(g["mean"], g["std"], paper), rule)
        else:
            missing(claim, where, f"{paper:+.3f}", rule, "table3.json")

    claim, where = "deblurring filters sit deeper than denoising ones (relative depth, deblur − denoise)", "Fig. 4"
    rule = "consistent_verdict(per-seed differences > 0)"
    d = (t3 or {}).get("relative_depth_1pct", {}).get(net)
    if d:
        diffs = [a - b for a, b in zip(d["deblur_filters"]["values"], d["denoise_filters"]["values"])]
        add(claim, where, "> 0 (\"more in the back part\")", _pm(mean_std(diffs)), consistent_verdict(diffs), rule)
    else:
        missing(claim, where, "> 0", rule, "table3.json")

    cls = results.get("classification")
    for kind in ("blur", "noise"):
        paper = PAPER[f"classification/accuracy/{kind}"].value
        claim, where = f"degradation prediction accuracy, {kind} (above chance 0.5)", "Sec. 5.3"
        rule = "verdict(accuracy − 0.5 ± std, paper − 0.5)"
        a = (cls or {}).get("accuracy", {}).get(kind)
        if a:
            add(claim, where, f"{paper:.2f}", _pm(a), verdict(a["mean"] - 0.5, a["std"], paper - 0.5), rule)
        else:
            missing(claim, where, f"{paper:.2f}", rule, "classification.json")

    claim, where = "without gradient elimination, the deblurring set hurts noisy input more (ratio)", "Sec. 5.4, Fig. 5"
    rule = "consistent_verdict(per-seed ratios > 1)"
    ratios = (cls or {}).get("ablation_noise_input_without_over_with")
    if ratios:
        add(claim, where, "> 1", _pm(mean_std(ratios)), consistent_verdict(ratios, 1.0), rule)
    else:
        missing(claim, where, "> 1", rule, "classification.json")

    ctrl = (results.get("control") or {}).get("summary", {})
    for filters, inp, label in CLAIMED_CELLS:
        claim = f"restoration strength follows λ: PSNR(λ=1) − PSNR(λ=0), {filters.split('_')[0]} set, {label} input (dB)"
        where, rule = "slides (controllable restoration)", "consistent_verdict(gain > 0)"
        c = ctrl.get(f"{filters}/{inp}")
        if c:
            gain = c["psnr_lambda1"] - c["psnr_lambda0"]
            add(claim, where, "> 0", f"{gain:+.3f} (best λ {c['best_lambda']:g})", consistent_verdict([gain]), rule)
        else:
            missing(claim, where, "> 0", rule, "control.json")
    return rows


def scale_claim_rows(scale: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The paper's claims that the scale study measures, for each of its network sizes (one seed each), judged
    by the scorecard's rules: FAIG / random at 1 % (:func:`ratio_verdict`, the yardstick's interval), Table 3's
    FAIG − random retraining gain (:func:`verdict` of the value alone: one seed has no spread), Fig. 4's depth
    (:func:`consistent_verdict` of deblur − denoise) and the Sec. 5.3 accuracies, where the rows have them.
    ``scale``: :func:`~faiglib.studies.scale.scale_study`'s result (``results/<profile>/scale.json``).
    Returns ``[{"claim", "paper", "cells": {network: (our value as text, verdict)}}]``, claims no row
    measured left out."""
    rows = scale.get("rows", [])
    out: list[dict[str, Any]] = []

    def claim(name: str, paper: str, judge) -> None:
        cells = {}
        for r in rows:
            got = judge(r)
            if got is not None:
                cells[r["network"]] = got
        if cells:
            out.append({"claim": name, "paper": paper, "cells": cells})

    for (filters, inp, label), key in zip(CLAIMED_CELLS, ("deblur_over_random", "denoise_over_random")):
        paper = paper_ratio(filters, inp)

        def ratio(r, key=key, paper=paper):
            x = r.get(key)
            return None if not x else (f"{x['ratio']:.3g} [{x['low']:.3g}, {x['high']:.3g}]",
                                       ratio_verdict(x["ratio"], x["low"], x["high"], paper))
        claim(f"FAIG / random, 1 %, {label} input (Table 2)", f"{paper:.3g}", ratio)
    for filters, inp, label in CLAIMED_CELLS:
        paper = paper_gain(filters, inp)

        def gain(r, cell=f"{filters}/{inp}", paper=paper):
            g = r.get("retraining_gains", {}).get(cell)
            return None if not g else (f"{g['mean']:+.3f}", verdict(g["mean"], g["std"], paper))
        claim(f"retraining 1 %: FAIG − random, {label} input (dB, Table 3)", f"{paper:+.3f}", gain)

    def depth(r):
        d = r.get("depth")
        if not d:
            return None
        difference = d["deblur_filters"] - d["denoise_filters"]
        return f"{difference:+.3f}", consistent_verdict([difference])
    claim("deblurring filters sit deeper than denoising ones (deblur − denoise, Fig. 4)", "> 0", depth)
    for kind in ("blur", "noise"):
        paper = PAPER[f"classification/accuracy/{kind}"].value

        def accuracy(r, kind=kind, paper=paper):
            a = r.get("classification", {}).get(kind)
            return None if a is None else (f"{a:.3f}", verdict(a - 0.5, 0.0, paper - 0.5))
        claim(f"degradation prediction accuracy, {kind} (Sec. 5.3)", f"{paper:.2f}", accuracy)
    return out

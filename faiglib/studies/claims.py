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


from faiglib.measures.statistics import mean_std, paired_difference
from faiglib.measures.yardstick import median_iqr, ratio_to_random, yardstick_table  # re-exported here

__all__ = ["PaperValue", "PAPER", "VERDICTS", "paired_gain", "retraining_gains", "depth_claim",
           "masking_ratios", "elimination_ratios", "control_summary", "median_iqr", "ratio_to_random",
           "yardstick_table", "seed_verdict", "ratio_seed_verdict", "ordering_verdict", "MIN_SEEDS", "scorecard_rows",
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


def paired_gain(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """``a[i] − b[i]`` for each seed ``i`` (pairs from one trained pair), as ``{"mean", "std", "values"}``
    (sample std, ``n − 1``; 0 for one seed)."""
    return paired_difference(a, b)["difference"]


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
            gain.update(paper=paper, verdict=seed_verdict(gain["values"], paper))
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


#: how :func:`scorecard_rows` marks a value from one seed: its "± 0" would be no measured spread.
ONE_SEED = "1 seed, no spread"


def _seeds(values: Sequence[float]) -> str:
    return ONE_SEED if len(values) == 1 else f"{len(values)} seeds"


def _pm(leaf: Mapping[str, Any], digits: int = 3) -> str:
    if len(leaf["values"]) == 1:
        return f"{leaf['mean']:.{digits}g} ({ONE_SEED})"
    return f"{leaf['mean']:.{digits}g} ± {leaf['std']:.2g} ({_seeds(leaf['values'])})"


def ratio_seed_verdict(ratios: Sequence[float], paper: float) -> str:
    """:func:`seed_verdict` of a ratio claim (1 = no effect) on the log scale: per-seed ``log(ratio)`` against
    ``log(paper)``."""
    if any(r <= 0 for r in ratios) or paper <= 0 or paper == 1:
        raise ValueError(f"ratios must be > 0 and the paper's != 1, got {list(ratios)!r} and {paper!r}")
    return seed_verdict([math.log(r) for r in ratios], math.log(paper))


def scorecard_rows(results: Mapping[str, Mapping[str, Any]], network: str | None = None) -> list[dict[str, str]]:
    """Every quantitative claim of the paper against an edition's results: ``results`` maps a results file's
    stem (``table1``, ``table2``, ``table3``, ``masking``, ``classification``, ``control``) to its JSON. One row
    per claim ``{"claim", "where", "paper", "ours", "verdict", "rule"}``; a claim whose results are missing
    gets the verdict ``"not run"``. ``network``: the SRResNet-style network of Tables 2-3 (default: the first
    ``msrresnet`` one found). Rules: :func:`verdict` (signed effects, ours mean ± std over seeds),
    all over seeds: :func:`seed_verdict` (signed effects and yes/no claims), :func:`ratio_seed_verdict` (ratios,
    on a log scale) and :func:`ordering_verdict`; fewer than :data:`MIN_SEEDS` seeds give ``"no verdict"``."""
    rows: list[dict[str, str]] = []

    def add(claim, where, paper, ours, result, rule):
        rows.append({"claim": claim, "where": where, "paper": paper, "ours": ours, "verdict": result, "rule": rule})

    def missing(claim, where, paper, rule, what):
        add(claim, where, paper, f"no {what}", "not run", rule)

    t1 = results.get("table1")
    for setting in ("blur", "blur+noise"):
        paper = PAPER[f"table1/dasr/{setting}/one_branch"].value - PAPER[f"table1/dasr/{setting}/two_branch"].value
        claim, where = f"one-branch ≈ two-branch at equal compute, {setting} (one − two, dB)", "Table 1 (DASR)"
        rule = "seed_verdict(per-seed gaps, paper gap)"
        if t1 and setting in t1.get("gap_db", {}):
            g = t1["gap_db"][setting]
            add(claim, where, f"{paper:+.3f}", _pm(g), seed_verdict(g["values"], paper), rule)
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
        rule = "ordering_verdict (every seed)"
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
        rule = "seed_verdict(log per-seed ratios, log paper)"
        y = (t2 or {}).get("yardstick", {}).get(net, {}).get("gray", {}).get("mask_1pct", {})
        cell = (t2 or {}).get("masking", {}).get(net, {}).get("gray", {}).get("mask_1pct", {})
        if y:
            r = y[filters][inp]["faig_over_random"]
            values = r.get("values", [r["ratio"]])
            add(claim, where, f"{paper:.3g}", f"{r['ratio']:.3g} [{r['low']:.3g}, {r['high']:.3g}] (median yardstick; "
                f"{_seeds(values)})", ratio_seed_verdict(values, paper), rule)
        elif cell:
            c = cell[filters][inp]
            values = [f / r for f, r in zip(c["faig"]["values"], c["random"]["values"])]
            add(claim, where, f"{paper:.3g}", f"{sum(values) / len(values):.3g} (mean of few draws, no interval; "
                f"{_seeds(values)})", ratio_seed_verdict(values, paper), rule)
        else:
            missing(claim, where, f"{paper:.3g}", rule, "table2.json")

    t3 = results.get("table3")
    for filters, inp, label in CLAIMED_CELLS:
        paper = paper_gain(filters, inp)
        claim, where = f"retraining 1 %: FAIG − random, {label} input (dB)", "Table 3"
        rule = "seed_verdict(per-seed gains, paper gain)"
        g = (t3 or {}).get("faig_minus_random", {}).get(net, {}).get(f"{filters}/{inp}")
        if g:
            add(claim, where, f"{paper:+.3f}", _pm(g), seed_verdict(g["values"], paper), rule)
        else:
            missing(claim, where, f"{paper:+.3f}", rule, "table3.json")

    claim, where = "deblurring filters sit deeper than denoising ones (relative depth, deblur − denoise)", "Fig. 4"
    rule = "seed_verdict(per-seed differences, > 0)"
    d = (t3 or {}).get("relative_depth_1pct", {}).get(net)
    if d:
        diffs = [a - b for a, b in zip(d["deblur_filters"]["values"], d["denoise_filters"]["values"])]
        add(claim, where, "> 0 (\"more in the back part\")", _pm(mean_std(diffs)), seed_verdict(diffs), rule)
    else:
        missing(claim, where, "> 0", rule, "table3.json")

    cls = results.get("classification")
    for kind in ("blur", "noise"):
        paper = PAPER[f"classification/accuracy/{kind}"].value
        claim, where = f"degradation prediction accuracy, {kind} (above chance 0.5)", "Sec. 5.3"
        rule = "seed_verdict(per-seed accuracies, paper; chance 0.5)"
        a = (cls or {}).get("accuracy", {}).get(kind)
        if a:
            add(claim, where, f"{paper:.2f}", _pm(a), seed_verdict(a["values"], paper, threshold=0.5), rule)
        else:
            missing(claim, where, f"{paper:.2f}", rule, "classification.json")

    claim, where = "without gradient elimination, the deblurring set hurts noisy input more (ratio)", "Sec. 5.4, Fig. 5"
    rule = "seed_verdict(per-seed ratios, > 1)"
    ratios = (cls or {}).get("ablation_noise_input_without_over_with")
    if ratios:
        add(claim, where, "> 1", _pm(mean_std(ratios)), seed_verdict(ratios, threshold=1.0), rule)
    else:
        missing(claim, where, "> 1", rule, "classification.json")

    ctrl = (results.get("control") or {}).get("summary", {})
    for filters, inp, label in CLAIMED_CELLS:
        claim = f"restoration strength follows λ: PSNR(λ=1) − PSNR(λ=0), {filters.split('_')[0]} set, {label} input (dB)"
        where, rule = "slides (controllable restoration)", "seed_verdict(gain, > 0)"
        c = ctrl.get(f"{filters}/{inp}")
        if c:
            gain = c["psnr_lambda1"] - c["psnr_lambda0"]
            add(claim, where, "> 0", f"{gain:+.3f} (best λ {c['best_lambda']:g}; {ONE_SEED})", seed_verdict([gain]),
                rule)
        else:
            missing(claim, where, "> 0", rule, "control.json")
    return rows


def scale_claim_rows(scale: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The paper's claims that the scale study measures, for each of its network sizes, judged over seeds by
    :func:`seed_verdict`: FAIG / random at 1 % (log scale), Table 3's FAIG − random retraining gain, Fig. 4's
    depth (deblur − denoise > 0) and the Sec. 5.3 accuracies, where the rows have them. ``scale``:
    ``results/<profile>/scale.json`` -- rows of one seed each (:func:`~faiglib.studies.scale.scale_study`) or,
    over seeds, rows holding their seeds' rows in ``"per_seed"`` (:func:`~faiglib.studies.scale.scale_study` over several seeds).
    Returns ``[{"claim", "paper", "cells": {network: (our value as text, verdict)}}]``, claims no row measured
    left out; a value from fewer than :data:`MIN_SEEDS` seeds gets ``"no verdict"``."""
    rows = scale.get("rows", [])
    out: list[dict[str, Any]] = []

    def claim(name: str, paper: str, value, judge, digits: str) -> None:
        cells = {}
        for r in rows:
            values = [value(one) for one in r.get("per_seed", [r])]
            if values and all(v is not None for v in values):
                mean = sum(values) / len(values)
                spread = "" if len(values) == 1 else f" ± {mean_std(values)['std']:.2g} ({len(values)} seeds)"
                text = f"{mean:{digits}}{spread}"
                cells[r["network"]] = (text, judge(values))
        if cells:
            out.append({"claim": name, "paper": paper, "cells": cells})

    for (filters, inp, label), key in zip(CLAIMED_CELLS, ("deblur_over_random", "denoise_over_random")):
        paper = paper_ratio(filters, inp)
        claim(f"FAIG / random, 1 %, {label} input (Table 2)", f"{paper:.3g}",
              lambda r, key=key: (r.get(key) or {}).get("ratio"),
              lambda v, paper=paper: ratio_seed_verdict(v, paper), ".3g")
    for filters, inp, label in CLAIMED_CELLS:
        paper = paper_gain(filters, inp)
        claim(f"retraining 1 %: FAIG − random, {label} input (dB, Table 3)", f"{paper:+.3f}",
              lambda r, cell=f"{filters}/{inp}": (r.get("retraining_gains", {}).get(cell) or {}).get("mean"),
              lambda v, paper=paper: seed_verdict(v, paper), "+.3f")
    claim("deblurring filters sit deeper than denoising ones (deblur − denoise, Fig. 4)", "> 0",
          lambda r: None if not r.get("depth") else r["depth"]["deblur_filters"] - r["depth"]["denoise_filters"],
          seed_verdict, "+.3f")
    for kind in ("blur", "noise"):
        paper = PAPER[f"classification/accuracy/{kind}"].value
        claim(f"degradation prediction accuracy, {kind} (Sec. 5.3)", f"{paper:.2f}",
              lambda r, kind=kind: r.get("classification", {}).get(kind),
              lambda v, paper=paper: seed_verdict(v, paper, threshold=0.5), ".3f")
    return out

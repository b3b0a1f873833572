"""The paper's quantitative claims, the numbers of ours that answer them, and the rule that compares the two.

Every number a chapter concludes from is computed here (tested), not in a notebook cell:

* :func:`paired_gain` -- ``a − b`` per seed (same seed = same trained pair), mean ± std;
* :func:`retraining_gains` -- Table 3's FAIG − random gains from a per-seed summary;
* :func:`depth_claim` -- Fig. 4's "deblurring filters sit more in the back part": depths and "in every seed";
* :func:`masking_ratios` -- the masking chapter's FAIG / random and discriminativeness ratios at 1 %;
* :func:`elimination_ratios` -- Sec. 5.4's ablation: masking without elimination hurts noisy input more;
* :func:`control_summary` -- the slides' controllable restoration: PSNR at λ = 0 and 1, the best λ.

The paper's values are :data:`PAPER` (with where they are printed), and :func:`verdict` is the stated rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from faiglib.measures.statistics import mean_std

__all__ = ["PaperValue", "PAPER", "VERDICTS", "verdict", "paired_gain", "retraining_gains", "depth_claim",
           "masking_ratios", "elimination_ratios", "control_summary"]


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
            paper = PAPER[f"table3/{key}/faig"].value - PAPER[f"table3/{key}/random"].value
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
    against masking the right ones, on each input (small: the sets are specific)."""
    def cell(filters, inp, method):
        return float(one[filters][inp][method])

    return {
        "deblur_filters_blur_input_faig_over_random": cell("deblur_filters", "blur_input", "faig")
        / cell("deblur_filters", "blur_input", "random"),
        "denoise_filters_noise_input_faig_over_random": cell("denoise_filters", "noise_input", "faig")
        / cell("denoise_filters", "noise_input", "random"),
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

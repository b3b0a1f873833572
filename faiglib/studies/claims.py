"""The paper's quantitative claims as data: its printed values, and :class:`Claim`, one claim's declaration.

* :data:`PAPER` -- the numbers the paper prints, with where; :func:`paper_ratio` and :func:`paper_gain` combine
  them into the effects Tables 2 and 3 claim;
* :class:`Claim` -- what a claim says, where, the paper's value, the rule that judges it, the results file it is
  measured in and how our value is read from it. Each study declares the claims it measures (``CLAIMS`` in
  :mod:`~faiglib.studies.table1`, :mod:`~faiglib.studies.masking`, :mod:`~faiglib.studies.retraining`,
  :mod:`~faiglib.studies.classification`, :mod:`~faiglib.studies.control`); the scorecard
  (:func:`faiglib.report.scorecard.scorecard_rows`) loops over them;
* :func:`seeds_text`, :func:`mean_text` -- how a claim writes our value: mean ± std and the number of seeds, or
  :data:`ONE_SEED`.

The rules themselves are :mod:`faiglib.measures.verdicts`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

__all__ = ["PaperValue", "PAPER", "CLAIMED_CELLS", "RETRAINING_CELLS", "paper_ratio", "paper_gain", "ONE_SEED",
           "seeds_text", "mean_text", "Claim"]


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


#: how a claim marks a value from one seed: its "± 0" would be no measured spread.
ONE_SEED = "1 seed, no spread"


def seeds_text(values: Sequence[float]) -> str:
    """``"3 seeds"``, or :data:`ONE_SEED` for one value."""
    return ONE_SEED if len(values) == 1 else f"{len(values)} seeds"


def mean_text(leaf: Mapping[str, Any], digits: int = 3) -> str:
    """Our value of a claim as text: ``leaf`` is :func:`~faiglib.measures.statistics.mean_std` over seeds
    (``{"mean", "std", "values"}``); ``"0.25 ± 0.05 (3 seeds)"``, or ``"-0.024 (1 seed, no spread)"``."""
    if len(leaf["values"]) == 1:
        return f"{leaf['mean']:.{digits}g} ({ONE_SEED})"
    return f"{leaf['mean']:.{digits}g} ± {leaf['std']:.2g} ({seeds_text(leaf['values'])})"


#: what :attr:`Claim.measure` returns: our value as text and the verdict of the claim's rule.
Measured = tuple[str, str]


@dataclass(frozen=True)
class Claim:
    """One quantitative claim of the paper, declared by the study that measures it.

    ``claim``: what the paper says, in a line; ``where``: where it says it (table, section, figure);
    ``paper``: the paper's value as the scorecard prints it; ``rule``: the rule of
    :mod:`faiglib.measures.verdicts` that judges it, as the scorecard names it; ``source``: the stem of the
    results file it is measured in (``results/<profile>/<source>.json``); ``measure(found, network)``: our value
    and its verdict from that file's JSON, for the SRResNet-style ``network`` of Tables 2-3 (``None``: the
    claim is not about one network), or ``None`` where the file does not hold this claim."""

    claim: str
    where: str
    paper: str
    rule: str
    source: str
    measure: Callable[[Mapping[str, Any], str | None], Measured | None]

    def row(self, results: Mapping[str, Mapping[str, Any]], network: str | None = None) -> dict[str, str]:
        """The scorecard's row ``{"claim", "where", "paper", "ours", "verdict", "rule"}`` against ``results``
        (``{file stem: JSON}``); the verdict ``"not run"`` where ``source`` does not hold the claim."""
        found = results.get(self.source)
        measured = self.measure(found, network) if found else None
        ours, verdict = measured if measured is not None else (f"no {self.source}.json", "not run")
        return {"claim": self.claim, "where": self.where, "paper": self.paper, "ours": ours, "verdict": verdict,
                "rule": self.rule}

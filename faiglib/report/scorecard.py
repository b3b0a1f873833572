"""The book's scorecard page: every quantitative claim of the paper, its value, ours and a verdict, from the
results JSON of the edition being rendered. The claims are data (:class:`~faiglib.studies.claims.Claim`), declared
by the studies that measure them; :data:`SCORECARD` lists them in the page's order and :func:`scorecard_rows`
loops over them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from faiglib.measures.verdicts import VERDICTS
from faiglib.report.tables import markdown_table
from faiglib.studies import classification, control, masking, retraining, table1
from faiglib.studies.claims import ONE_SEED, Claim
from faiglib.studies.scale import size_claim_rows

__all__ = ["SCORECARD", "scorecard_network", "scorecard_rows", "load_results", "scorecard_markdown",
           "size_claims_markdown", "TREND_CLAIMS", "size_trend_markdown"]

#: every claim on the scorecard, in its order: Table 1, Table 2, Table 3 and Fig. 4, Sec. 5.3-5.4, the slides
SCORECARD: tuple[Claim, ...] = (*table1.CLAIMS, *masking.CLAIMS, *retraining.CLAIMS, *classification.CLAIMS,
                                *control.CLAIMS)


def scorecard_network(results: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The SRResNet-style network whose Tables 2-3 the scorecard judges: the first ``msrresnet`` one in
    ``table2.json``'s masking, else in ``table3.json``'s gains; ``None`` if neither has one."""
    pools = [(results.get("table2") or {}).get("masking", {}), (results.get("table3") or {}).get("faig_minus_random", {})]
    return next((n for pool in pools for n in pool if n.startswith("msrresnet")), None)


def scorecard_rows(results: Mapping[str, Mapping[str, Any]], network: str | None = None,
                   claims: Sequence[Claim] = SCORECARD) -> list[dict[str, str]]:
    """Every claim of ``claims`` against an edition's results (``{results file stem: JSON}``), one row each
    (:meth:`~faiglib.studies.claims.Claim.row`: ``{"claim", "where", "paper", "ours", "verdict", "rule"}``,
    ``"not run"`` where its results are missing). ``network``: the SRResNet-style network of Tables 2-3
    (default: :func:`scorecard_network`)."""
    network = scorecard_network(results) if network is None else network
    return [claim.row(results, network) for claim in claims]


def load_results(results: str | Path, profile: str) -> dict[str, dict[str, Any]]:
    """``{file stem: JSON}`` of ``<results>/<profile>/*.json``."""
    return {f.stem: json.loads(f.read_text()) for f in sorted(Path(results, profile).glob("*.json"))}


def scorecard_markdown(results: str | Path, profile: str) -> str:
    """The Markdown page ``book/scorecard.md``: a title, how to read it, and the table of claims."""
    found = load_results(results, profile)
    rows = scorecard_rows(found)
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS + ("not run",)}
    lines = ["# Scorecard: the paper's claims against this edition", "",
             f"Every quantitative claim of the paper, the paper's value, ours (profile `{profile}`, from "
             f"`{Path(results, profile)}`) with its spread, and a verdict by a stated rule "
             "(`faiglib.measures.verdicts.seed_verdict`), judged on the values of independently trained pairs "
             "(seeds), each oriented by the paper's side of \"no effect\" (0 for a difference, 1 for a ratio, judged "
             "on a log scale, 0.5 for an accuracy): *reproduced* when every seed, or the whole 95 % t interval of "
             "the mean, lies on the paper's side and the mean is at least half the paper's effect; *weaker* when so "
             "but smaller; *opposite* when every seed lies on the other side; *not resolved* otherwise; orderings "
             "are *reproduced* when every seed has the paper's order. A value from fewer than three seeds gets "
             "*no verdict*: one trained pair cannot tell its training's noise from an effect (the same recipe and "
             "seed on two CPUs gave FAIG / random 74.7x and 41.8x).", "",
             "Verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n) + ".", ""]
    single = sum(ONE_SEED in r["ours"] for r in rows)
    if single:
        lines += [f"{single} of the values come from one seed ({ONE_SEED}): they are reported, and not judged.", ""]
    lines.append(markdown_table(["claim", "where", "paper", "ours", "verdict", "rule"],
                                [[r["claim"], r["where"], r["paper"], r["ours"], f"**{r['verdict']}**", r["rule"]]
                                 for r in rows]))
    by_size = size_claims_markdown(found.get("scale", {}))
    if by_size:
        lines += ["", "## The same claims against network size", "",
                  "From the scale study (`scale.json`: the same recipe and data for MSRResNets of several sizes; "
                  "mean ± std over the seeds it holds, judged by the same rule, so a size with fewer than three "
                  "seeds gets no verdict); the paper's network is MSRResNet-64x16 trained for 1M + 100k "
                  "iterations.", "", by_size]
    return "\n".join(lines)


def size_claims_markdown(scale: dict[str, Any]) -> str:
    """The claims the scale study measures, one column per network size: our value (mean ± std over its seeds)
    and the verdict of :func:`~faiglib.studies.scale.size_claim_rows`; ``""`` when it measured none.
    ``scale``: ``results/<profile>/scale.json`` (or :func:`~faiglib.studies.scale.scale_study`'s result)."""
    by_size = size_claim_rows(scale)
    if not by_size:
        return ""
    networks = [r["network"] for r in scale["rows"]]
    return markdown_table(["claim", "paper", *networks],
                          [[r["claim"], r["paper"], *(f"{r['cells'][n][0]} **{r['cells'][n][1]}**"
                                                      if n in r["cells"] else "–" for n in networks)]
                           for r in by_size])


#: the scale study's claims whose trend with size the scale chapter states in words: at one seed per size the
#: development edition saw both appear at the largest MSRResNet and not at the smaller ones
TREND_CLAIMS = ("retraining 1 %: FAIG − random, blurry input (dB, Table 3)",
                "deblurring filters sit deeper than denoising ones (deblur − denoise, Fig. 4)")


def _per_seed_text(values: Sequence[float], digits: str) -> str:
    return "" if len(values) < 2 else " (per seed " + ", ".join(f"{v:{digits}}" for v in values) + ")"


def size_trend_markdown(scale: dict[str, Any], claims: Sequence[str] = TREND_CLAIMS) -> str:
    """Does a claim's trend with network size hold over seeds? One bullet per claim of ``claims`` that the
    scale study measured (:func:`~faiglib.studies.scale.size_claim_rows`; ``""`` when none): every size's
    mean ± std, per-seed values and verdict, then the answer, read off the verdicts only -- *holds* when the
    largest size is "reproduced" (and which smaller sizes are not), *does not hold* when it is anything else,
    *no verdict* when the largest size has too few seeds. A sign of a mean is never read as an answer."""
    by_claim = {r["claim"]: r for r in size_claim_rows(scale)}
    lines = []
    for name in claims:
        r = by_claim.get(name)
        if r is None:
            continue
        nets = list(r["cells"])
        sizes = "; ".join(f"{n} {r['cells'][n][0]}{_per_seed_text(r['values'][n], r['digits'])} **{r['cells'][n][1]}**"
                          for n in nets)
        largest, verdict = nets[-1], r["cells"][nets[-1]][1]
        smaller = [f"{n} {r['cells'][n][1]}" for n in nets[:-1] if r["cells"][n][1] != "reproduced"]
        if verdict == "no verdict":
            answer = f"no verdict: {largest} has fewer seeds than a verdict needs"
        elif verdict == "reproduced":
            answer = (f"the trend **holds** over seeds: reproduced at {largest}"
                      + (f", not at the smaller sizes ({', '.join(smaller)})" if smaller
                         else ", and at every smaller size too (so no effect of size)"))
        else:
            answer = f"the trend **does not hold** over seeds: at {largest}, the largest size, it is {verdict}"
        lines.append(f"- *{name}* (paper {r['paper']}): {sizes}. So {answer}.")
    return "\n".join(lines)

"""The book's scorecard page: every quantitative claim of the paper, its value, ours and a verdict
(:func:`faiglib.studies.claims.scorecard_rows`), from the results JSON of the edition being rendered."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faiglib.report.tables import markdown_table
from faiglib.studies.claims import ONE_SEED, VERDICTS, scale_claim_rows, scorecard_rows

__all__ = ["load_results", "scorecard_markdown"]


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
             "(`faiglib.studies.claims`): for a signed effect, our mean ± std over seeds is *reproduced* when it "
             "excludes 0 on the paper's side and is at least half the paper's size, *weaker* when it excludes 0 but "
             "is smaller, *not reproduced* when it contains 0 and *opposite* when it lies on the other side; ratios "
             "are judged the same way on a log scale (with the bootstrap interval of the random yardstick where "
             "there is one); orderings and yes/no claims are *reproduced* when they hold in every seed.", "",
             "Verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n) + ".", ""]
    single = sum(ONE_SEED in r["ours"] for r in rows)
    if single:
        lines += [f"{single} of the values come from one seed ({ONE_SEED}): the rule then judges the value alone, "
                  "as if it were exact, so a value near 0 (a few hundredths of a dB) can land on either side of it. "
                  "Treat those verdicts as provisional until more seeds are run.", ""]
    lines.append(markdown_table(["claim", "where", "paper", "ours", "verdict", "rule"],
                                [[r["claim"], r["where"], r["paper"], r["ours"], f"**{r['verdict']}**", r["rule"]]
                                 for r in rows]))
    by_size = scale_claim_rows(found.get("scale", {}))
    if by_size:
        networks = [r["network"] for r in found["scale"]["rows"]]
        lines += ["", "## The same claims against network size", "",
                  "From the scale study (`scale.json`: the same recipe, data and seed for MSRResNets of several "
                  "sizes, one seed each, so a verdict judges the value alone); the paper's network is "
                  "MSRResNet-64x16 trained for 1M + 100k iterations.", "",
                  markdown_table(["claim", "paper", *networks],
                                 [[r["claim"], r["paper"], *(f"{r['cells'][n][0]} **{r['cells'][n][1]}**"
                                                             if n in r["cells"] else "–" for n in networks)]
                                  for r in by_size])]
    return "\n".join(lines)

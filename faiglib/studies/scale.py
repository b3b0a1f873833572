"""The scale study (beyond the paper): how do the headline findings move with the size of the network?

The paper's numbers come from an MSRResNet with 64 features and 16 blocks trained for 1M + 100k iterations; our
profiles train smaller nets for a few thousand. This study trains the same recipe (same data, iterations, seed)
for MSRResNets of several widths and depths (``profile.networks[0]`` and ``profile.scale_networks``) and measures
on each pair, with the library functions the chapters use:

* the 1 % masking effects of FAIG over the random yardstick (median of ``profile.yardstick_draws`` draws) with
  their bootstrap intervals (:func:`~faiglib.measures.yardstick.ratio_to_random`);
* discriminativeness in both directions (:func:`~faiglib.studies.masking.masking_ratios`);
* what the fine-tuning taught the target (PSNR gain over the baseline on blurry, noisy and clean input);
* where the top 1 % deblurring and denoising filters sit (:func:`~faiglib.studies.retraining.depth_summary`);
* optionally (``classify=True``) the blur / noise classification accuracy of Sec. 5.3
  (:func:`~faiglib.studies.classification.classify`), which costs a per-image FAIG of every validation and test
  image;
* optionally (``retrain=True``) Table 3's gain, FAIG − random (dB): the baseline retrained with only the top
  ``profile.retrain_proportion`` FAIG or random filters (:func:`~faiglib.studies.retraining.retraining_table`
  without the upper bound: three retrainings per size, as random selects one set for both functions).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from faiglib.measures.statistics import mean_std, seed_spread
from faiglib.measures.yardstick import yardstick_table
from faiglib.measures.verdicts import ratio_seed_verdict, seed_verdict
from faiglib.studies.claims import CLAIMED_CELLS, PAPER, RETRAINING_CELLS, paper_gain, paper_ratio
from faiglib.studies.masking import masking_ratios, yardstick_masking
from faiglib.studies.retraining import depth_summary, retraining_gains, retraining_table

__all__ = ["SizeClaim", "SIZE_CLAIMS", "size_claim_rows", "scale_archs", "scale_row", "scale_study", "seed_summary", "paper_ratios", "SCALE_METRICS", "SEED_MEASURES",
           "SEED_LABELS"]

#: the metrics of a row that the chapter plots against the parameter count: (key, label).
SCALE_METRICS = (
    ("deblur_over_random", "FAIG/random, deblurring filters, blurry input (1 %)"),
    ("denoise_over_random", "FAIG/random, denoising filters, noisy input (1 %)"),
    ("noise_input_deblur_over_denoise", "discriminativeness: deblur mask / denoise mask, noisy input"),
    ("blur_input_denoise_over_deblur", "discriminativeness: denoise mask / deblur mask, blurry input"),
    ("gain_blur_db", "target − baseline PSNR on blurry input (dB)"),
    ("gain_noise_db", "target − baseline PSNR on noisy input (dB)"),
    ("retrain_gain_blur_db", "Table 3: FAIG − random retraining, deblurring filters, blurry input (dB)"),
    ("retrain_gain_noise_db", "Table 3: FAIG − random retraining, denoising filters, noisy input (dB)"),
)


def paper_ratios() -> dict[str, float]:
    """The paper's FAIG / random at 1 % (Table 2, MSRResNet-64x16 on Set14), from its printed effects in
    :data:`~faiglib.studies.claims.PAPER`: ``{"deblur_over_random", "denoise_over_random"}``."""
    return {"deblur_over_random": paper_ratio("deblur_filters", "blur_input"),
            "denoise_over_random": paper_ratio("denoise_filters", "noise_input")}


def scale_archs(profile) -> list[str]:
    """Labels of the study's networks: the profile's first network and its ``scale_networks``, by size
    (parameter count is what a reader compares; width and depth grow together in the profiles)."""
    from faiglib.models.complexity import complexity
    from faiglib.models.networks import build_network

    specs = [profile.networks[0], *profile.scale_networks]
    if any(s.arch != "msrresnet" for s in specs):
        raise ValueError(f"the scale study compares MSRResNets; got {[s.label for s in specs]}")
    sizes = {s.label: complexity(build_network(s.arch, **s.kwargs(profile.scale))).params for s in specs}
    return sorted(sizes, key=sizes.get)


def scale_row(ws, proportion: float = 0.01, classify: bool = False, retrain: bool = False) -> dict[str, Any]:
    """The headline findings of one trained pair (``ws``: a :class:`~faiglib.studies.workspace.Workspace`).

    Returns ``{"network", "params", "flops_per_lr_pixel", "deblur_over_random": {"ratio", "low", "high", …},
    "denoise_over_random": {…}, "noise_input_deblur_over_denoise", "blur_input_denoise_over_deblur",
    "gain_{blur,noise,clean}_db", "psnr": psnr_table, "depth": depth_summary, "random_median": {…}}``
    (+ ``"classification": {"blur", "noise", "four_way"}`` accuracies in [0, 1] with ``classify``; + with
    ``retrain``: ``"retraining"``, Table 3's PSNR table without the upper bound, ``"retraining_gains"``
    (:func:`~faiglib.studies.retraining.retraining_gains` of this one seed: FAIG − random per claimed cell, with the
    paper's gain), and their values ``"retrain_gain_blur_db"``, ``"retrain_gain_noise_db"``).
    """
    from faiglib.models.complexity import complexity

    mask = f"mask_{proportion * 100:g}pct"
    stored = yardstick_masking(ws, proportions=(proportion,), channels=("gray",), methods=("faig", "random"))
    table, draws = stored["table"]["gray"], stored["draws"]["gray"]
    yard = yardstick_table(table, draws)[mask]
    discrimination = masking_ratios(table[mask])
    psnr = ws.psnr_table()
    info = complexity(ws.architecture())
    row: dict[str, Any] = {
        "network": ws.spec.label, "params": info.params,
        "flops_per_lr_pixel": info.flops / (64 * 64),
        "deblur_over_random": yard["deblur_filters"]["blur_input"]["faig_over_random"],
        "denoise_over_random": yard["denoise_filters"]["noise_input"]["faig_over_random"],
        "random_median": {"deblur_filters_blur_input": yard["deblur_filters"]["blur_input"]["random"],
                          "denoise_filters_noise_input": yard["denoise_filters"]["noise_input"]["random"]},
        "faig_effect": {"deblur_filters_blur_input": table[mask]["deblur_filters"]["blur_input"]["faig"],
                        "denoise_filters_noise_input": table[mask]["denoise_filters"]["noise_input"]["faig"]},
        "noise_input_deblur_over_denoise": discrimination["noise_input_deblur_over_denoise_masking"],
        "blur_input_denoise_over_deblur": discrimination["blur_input_denoise_over_deblur_masking"],
        "psnr": psnr,
        "depth": depth_summary(ws, proportion),
    }
    for kind in ("blur", "noise", "clean"):
        if kind in psnr:
            row[f"gain_{kind}_db"] = psnr[kind]["target"] - psnr[kind]["baseline"]
    if classify:
        from faiglib.studies.classification import classify as classify_study

        row["classification"] = classify_study(ws)["accuracy"]
    if retrain:
        table = retraining_table(ws, methods=("faig", "random"), upper_bound=False)
        gains = retraining_gains(mean_std([table]), cells=RETRAINING_CELLS[:2])
        row.update(retraining=table, retraining_gains=gains,
                   retrain_gain_blur_db=gains["deblur_filters/blur_input"]["mean"],
                   retrain_gain_noise_db=gains["denoise_filters/noise_input"]["mean"])
    return row


#: numbers of a row that :func:`scale_study` summarises over seeds: ``name -> row -> value`` (None: not measured).
SEED_MEASURES = {
    "deblur_over_random": lambda r: r["deblur_over_random"]["ratio"],
    "denoise_over_random": lambda r: r["denoise_over_random"]["ratio"],
    "noise_input_deblur_over_denoise": lambda r: r["noise_input_deblur_over_denoise"],
    "blur_input_denoise_over_deblur": lambda r: r["blur_input_denoise_over_deblur"],
    "gain_blur_db": lambda r: r.get("gain_blur_db"),
    "gain_noise_db": lambda r: r.get("gain_noise_db"),
    "gain_clean_db": lambda r: r.get("gain_clean_db"),
    "depth_deblur": lambda r: r["depth"]["deblur_filters"],
    "depth_denoise": lambda r: r["depth"]["denoise_filters"],
    "depth_deblur_minus_denoise": lambda r: r["depth"]["deblur_filters"] - r["depth"]["denoise_filters"],
    "accuracy_blur": lambda r: r.get("classification", {}).get("blur"),
    "accuracy_noise": lambda r: r.get("classification", {}).get("noise"),
    "retrain_gain_blur_db": lambda r: r.get("retrain_gain_blur_db"),
    "retrain_gain_noise_db": lambda r: r.get("retrain_gain_noise_db"),
}


#: labels of the :data:`SEED_MEASURES` a reader compares across seeds (the scale chapter's table).
SEED_LABELS = {
    "deblur_over_random": "FAIG / random, deblur set, blurry input (1 %)",
    "denoise_over_random": "FAIG / random, denoise set, noisy input (1 %)",
    "gain_blur_db": "target − baseline, blurry input (dB)",
    "gain_noise_db": "target − baseline, noisy input (dB)",
    "retrain_gain_blur_db": "Table 3: FAIG − random, blurry input (dB)",
    "retrain_gain_noise_db": "Table 3: FAIG − random, noisy input (dB)",
    "depth_deblur_minus_denoise": "Fig. 4: depth deblur − denoise",
    "accuracy_blur": "accuracy, blur",
    "accuracy_noise": "accuracy, noise",
}


def seed_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{measure: {"mean", "std", "per_seed"}}`` of one network's per-seed rows (:func:`scale_row`, seeds in
    order) for every measure of :data:`SEED_MEASURES` that each row has; std: sample std, 0 for one seed."""
    return seed_spread(rows, SEED_MEASURES)


def _combined_row(ws_list, rows: Sequence[Mapping[str, Any]], proportion: float) -> dict[str, Any]:
    """One network over seeds: the first seed's row with the measures replaced by their means over seeds, the
    FAIG / random ratios recomputed over seeds (:func:`~faiglib.measures.yardstick.ratio_to_random`: mean of the
    per-seed ratios, the interval resampling every seed's draws), Table 3's gains paired by seed, and
    ``"seeds"``, ``"per_seed"`` (the seeds' rows) and ``"summary"`` (:func:`seed_summary`)."""
    mask = f"mask_{proportion * 100:g}pct"
    stored = [yardstick_masking(ws, proportions=(proportion,), channels=("gray",), methods=("faig", "random"))
              for ws in ws_list]  # read back from the store: scale_row computed them
    yard = yardstick_table(mean_std([m["table"]["gray"] for m in stored]), [m["draws"]["gray"] for m in stored])[mask]
    summary = seed_summary(rows)
    row: dict[str, Any] = {**rows[0], "seeds": [ws.seed for ws in ws_list], "per_seed": list(rows), "summary": summary,
                           "deblur_over_random": yard["deblur_filters"]["blur_input"]["faig_over_random"],
                           "denoise_over_random": yard["denoise_filters"]["noise_input"]["faig_over_random"]}
    for key in ("noise_input_deblur_over_denoise", "blur_input_denoise_over_deblur", "gain_blur_db", "gain_noise_db",
                "gain_clean_db"):
        if key in summary:
            row[key] = summary[key]["mean"]
    row["depth"] = {k: mean_std([r["depth"][k] for r in rows])["mean"] for k in rows[0]["depth"]}
    if "classification" in rows[0]:
        row["classification"] = {k: mean_std([r["classification"][k] for r in rows])["mean"]
                                 for k in rows[0]["classification"]}
    if "retraining" in rows[0]:
        gains = retraining_gains(mean_std([r["retraining"] for r in rows]), cells=RETRAINING_CELLS[:2])
        row.update(retraining_gains=gains, retrain_gain_blur_db=gains["deblur_filters/blur_input"]["mean"],
                   retrain_gain_noise_db=gains["denoise_filters/noise_input"]["mean"])
        del row["retraining"]  # one table per seed is in per_seed
    for key in ("psnr", "random_median", "faig_effect"):
        row.pop(key, None)  # per seed only
    return row


def scale_study(workspaces: Sequence, proportion: float = 0.01, classify: bool = False,
                retrain: bool = False) -> dict[str, Any]:
    """:func:`scale_row` for each workspace (one per network size and seed, one profile), smallest network
    first: ``{"rows": [row, …], "seeds", "proportion", "iterations": {"baseline", "target"}}``. With one seed
    (and ``"seed"``) a row is that seed's :func:`scale_row`; with several, one row per network holds the mean
    over seeds of each measure and ``"per_seed"`` / ``"summary"`` (see :func:`_combined_row`); every network
    needs every seed."""
    if not workspaces:
        raise ValueError("the scale study needs at least one workspace (network size)")
    profiles = {ws.profile.name for ws in workspaces}
    if len(profiles) != 1:
        raise ValueError(f"compare sizes under one profile; got profiles {sorted(profiles)}")
    seeds = sorted({ws.seed for ws in workspaces})
    by_net: dict[str, dict[int, Any]] = {}
    for ws in workspaces:
        by_net.setdefault(ws.spec.label, {})[ws.seed] = ws
    missing = {net: sorted(set(seeds) - set(per)) for net, per in by_net.items() if set(per) != set(seeds)}
    if missing:
        raise ValueError(f"every network needs every seed {seeds}; missing {missing}")
    rows = []
    for per in by_net.values():
        ws_list = [per[s] for s in seeds]
        seed_rows = [scale_row(ws, proportion, classify, retrain) for ws in ws_list]
        rows.append(seed_rows[0] if len(seeds) == 1 else _combined_row(ws_list, seed_rows, proportion))
    rows.sort(key=lambda r: r["params"])
    p = workspaces[0].profile
    out = {"rows": rows, "seeds": seeds, "proportion": proportion,
           "iterations": {"baseline": p.baseline_iters, "target": p.target_iters}}
    if len(seeds) == 1:
        out["seed"] = seeds[0]
    return out


@dataclass(frozen=True)
class SizeClaim:
    """A paper claim the scale study measures for each network size: ``value(row)`` reads one seed's value from
    a scale row (``None`` where the row has none), ``judge(values)`` is its rule of
    :mod:`faiglib.measures.verdicts` over the seeds, ``digits`` the format of our value."""

    claim: str
    paper: str
    value: Callable[[Mapping[str, Any]], float | None]
    judge: Callable[[Sequence[float]], str]
    digits: str


def _size_claims() -> tuple[SizeClaim, ...]:
    claims = []
    for (filters, inp, label), key in zip(CLAIMED_CELLS, ("deblur_over_random", "denoise_over_random")):
        paper = paper_ratio(filters, inp)
        claims.append(SizeClaim(f"FAIG / random, 1 %, {label} input (Table 2)", f"{paper:.3g}",
                                lambda r, key=key: (r.get(key) or {}).get("ratio"),
                                lambda v, paper=paper: ratio_seed_verdict(v, paper), ".3g"))
    for filters, inp, label in CLAIMED_CELLS:
        paper = paper_gain(filters, inp)
        claims.append(SizeClaim(f"retraining 1 %: FAIG − random, {label} input (dB, Table 3)", f"{paper:+.3f}",
                                lambda r, cell=f"{filters}/{inp}": (r.get("retraining_gains", {}).get(cell) or {}).get("mean"),
                                lambda v, paper=paper: seed_verdict(v, paper), "+.3f"))
    claims.append(SizeClaim("deblurring filters sit deeper than denoising ones (deblur − denoise, Fig. 4)", "> 0",
                            lambda r: None if not r.get("depth") else r["depth"]["deblur_filters"] - r["depth"]["denoise_filters"],
                            seed_verdict, "+.3f"))
    for kind in ("blur", "noise"):
        paper = PAPER[f"classification/accuracy/{kind}"].value
        claims.append(SizeClaim(f"degradation prediction accuracy, {kind} (Sec. 5.3)", f"{paper:.2f}",
                                lambda r, kind=kind: r.get("classification", {}).get(kind),
                                lambda v, paper=paper: seed_verdict(v, paper, threshold=0.5), ".3f"))
    return tuple(claims)


#: the paper's claims the scale study measures, per network size (:func:`size_claim_rows`)
SIZE_CLAIMS = _size_claims()


def size_claim_rows(scale: Mapping[str, Any]) -> list[dict[str, Any]]:
    """:data:`SIZE_CLAIMS` against each network size of ``scale`` (``results/<profile>/scale.json``: rows of
    one seed each, or rows holding their seeds' rows in ``"per_seed"``), each judged over its seeds. Returns
    ``[{"claim", "paper", "cells": {network: (our value as text, verdict)}, "values": {network: [per seed]},
    "digits" (the values' format)}]`` (networks smallest first, as the rows are), claims no row measured left
    out; a value from fewer than :data:`~faiglib.measures.verdicts.MIN_SEEDS` seeds gets ``"no verdict"``."""
    rows = scale.get("rows", [])
    out: list[dict[str, Any]] = []
    for claim in SIZE_CLAIMS:
        cells, per_seed = {}, {}
        for r in rows:
            values = [claim.value(one) for one in r.get("per_seed", [r])]
            if values and all(v is not None for v in values):
                mean = sum(values) / len(values)
                spread = "" if len(values) == 1 else f" ± {mean_std(values)['std']:.2g} ({len(values)} seeds)"
                cells[r["network"]] = (f"{mean:{claim.digits}}{spread}", claim.judge(values))
                per_seed[r["network"]] = values
        if cells:
            out.append({"claim": claim.claim, "paper": claim.paper, "cells": cells, "values": per_seed,
                        "digits": claim.digits})
    return out

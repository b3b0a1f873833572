"""The scale study (beyond the paper): how do the headline findings move with the size of the network?

The paper's numbers come from an MSRResNet with 64 features and 16 blocks trained for 1M + 100k iterations; our
profiles train smaller nets for a few thousand. This study trains the same recipe (same data, iterations, seed)
for MSRResNets of several widths and depths (``profile.networks[0]`` and ``profile.scale_networks``) and measures
on each pair, with the library functions the chapters use:

* the 1 % masking effects of FAIG over the random yardstick (median of ``profile.yardstick_draws`` draws) with
  their bootstrap intervals (:func:`~faiglib.studies.claims.ratio_to_random`);
* discriminativeness in both directions (:func:`~faiglib.studies.claims.masking_ratios`);
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

from typing import Any, Sequence

from faiglib.measures.statistics import mean_std
from faiglib.studies.claims import (RETRAINING_CELLS, masking_ratios, paper_ratio, retraining_gains,
                                    yardstick_table)
from faiglib.studies.masking import yardstick_masking
from faiglib.studies.retraining import depth_summary, retraining_table

__all__ = ["scale_archs", "scale_row", "scale_study", "paper_ratios", "SCALE_METRICS"]

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
    (:func:`~faiglib.studies.claims.retraining_gains` of this one seed: FAIG − random per claimed cell, with the
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


def scale_study(workspaces: Sequence, proportion: float = 0.01, classify: bool = False,
                retrain: bool = False) -> dict[str, Any]:
    """:func:`scale_row` for each workspace (one per network size, same profile and seed), smallest first:
    ``{"rows": [row, …], "proportion", "seed", "iterations": {"baseline", "target"}}``."""
    if not workspaces:
        raise ValueError("the scale study needs at least one workspace (network size)")
    profiles = {ws.profile.name for ws in workspaces}
    seeds = {ws.seed for ws in workspaces}
    if len(profiles) != 1 or len(seeds) != 1:
        raise ValueError(f"compare sizes under one profile and seed; got profiles {sorted(profiles)}, "
                         f"seeds {sorted(seeds)}")
    rows = sorted((scale_row(ws, proportion, classify, retrain) for ws in workspaces), key=lambda r: r["params"])
    p = workspaces[0].profile
    return {"rows": rows, "proportion": proportion, "seed": workspaces[0].seed,
            "iterations": {"baseline": p.baseline_iters, "target": p.target_iters}}

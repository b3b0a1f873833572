"""Retraining study (paper Sec. 5.2.2, Table 3) and where the filters live (Sec. 5.2.3, Fig. 4).

The baseline is retrained with only a chosen 1 % of its filters free to change (:func:`retrained`), on the
target's very batches; :func:`retraining_table` compares selection methods, :func:`single_task_retraining`
is the one-degradation diagnostic, :func:`depth_summary` the depth of the discriminative filters.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from faiglib.models.loading import load_model
from faiglib.core.ranking import check_proportion
from faiglib.measures.statistics import mean_std, paired_difference
from faiglib.measures.verdicts import seed_verdict
from faiglib.studies.claims import CLAIMED_CELLS, PAPER, RETRAINING_CELLS, Claim, mean_text, paper_gain
from faiglib.studies.workspace import FUNCTIONS, SELECTION_METHODS
from faiglib.training.stages import TrainResult, evaluate_psnr, train_stage

__all__ = ["CLAIMS", "retraining_gains", "depth_claim", "checkpoint_psnr", "retrained", "retraining_table", "single_task_retraining", "depth_summary"]


@torch.no_grad()
def checkpoint_psnr(ws, checkpoint: Path, kinds) -> dict[str, float]:
    """``{kind: RGB PSNR (dB, 3 decimals)}`` of the model saved at ``checkpoint`` on the analysis inputs."""
    model = load_model(checkpoint).to(ws.device).eval()
    aset = ws.analysis_set()
    return {k: round(evaluate_psnr(model, aset, (k,), ws.device, ws.profile.scale), 3) for k in kinds}


def retrained(ws, filters: torch.Tensor | None, tag: str, task: str = "blind") -> TrainResult:
    """The baseline retrained with only ``filters`` (flat indices) free to change, or every parameter
    (``filters=None``, the upper bound); stored (key: the baseline's, the filters, the task and the
    retraining settings) as ``<net>_retrain-<tag>.pth``. ``task``: ``"blind"`` -- the
    target's task (blur and noise each with ``p_blur`` / ``p_noise``) -- or one degradation alone on every
    sample, ``"blur"`` or ``"noise"`` (tag suffix ``-<task>-only``); the same batches of patches either way."""
    tasks = {"blind": {}, "blur": dict(p_blur=1.0, p_noise=0.0), "noise": dict(p_blur=0.0, p_noise=1.0)}
    if task not in tasks:
        raise ValueError(f"unknown retraining task {task!r}; use one of {list(tasks)}")
    profile = ws.recipe.with_(**tasks[task])
    tag = tag if task == "blind" else f"{tag}-{task}-only"
    trainable = None if filters is None else ws.filter_index.masks(filters)
    selected = None if filters is None else sorted({int(i) for i in torch.as_tensor(filters).flatten().tolist()})
    parts = {**ws._stage_parts("retrain", profile), "baseline": ws.pair_keys()[0], "filters": selected,
             "task": task}
    with ws._stage_entry("retrain", parts, tag) as folder:
        return train_stage("retrain", profile=profile, network=ws.spec, train_images=ws.train_images(),
                           val_images=ws._val_images(), out_dir=folder, seed=ws.seed,
                           init_state=ws.states()[0], device=ws.device, progress=ws.progress,
                           data_label=str(ws.train_data), trainable=trainable, tag=tag)


def retraining_table(ws, proportion: float | None = None, methods=tuple(SELECTION_METHODS),
                     upper_bound: bool = True) -> dict[str, dict]:
    """Table 3: RGB PSNR (dB) on the blurry and noisy analysis inputs of the baseline retrained with only the
    top ``proportion`` (default ``profile.retrain_proportion``) deblurring or denoising filters of each
    selection method, all with one budget (``profile.retrain_iters``):

    ``{"upper_bound": {"blur_input": dB, "noise_input": dB}, "deblur_filters": {"faig": {...}, "ig": …},
    "denoise_filters": {...}, "baseline": {...}, "target": {...}}``. Selections that are the same set of
    filters (``|θ−θ̄|`` and random rank alike for both degradations) are trained once.
    ``upper_bound=False`` leaves out the every-parameter retraining (and its key).
    """
    proportion = check_proportion(ws.profile.retrain_proportion if proportion is None else proportion)
    psnr_of: dict[Any, dict[str, float]] = {}

    def evaluate(filters, tag):
        key = None if filters is None else tuple(sorted(int(i) for i in filters))
        if key not in psnr_of:
            psnr = checkpoint_psnr(ws, retrained(ws, filters, tag).checkpoint, FUNCTIONS)
            psnr_of[key] = {f"{k}_input": v for k, v in psnr.items()}
        return psnr_of[key]

    table: dict[str, dict] = {"upper_bound": evaluate(None, "all")} if upper_bound else {}
    for d, function in FUNCTIONS.items():
        table[f"{function}_filters"] = {
            m: evaluate(ws.ranking(m).top(d, proportion), f"{m}-{function}-{proportion * 100:g}pct")
            for m in methods}
    reference = ws.psnr_table()
    for which in ("baseline", "target"):
        table[which] = {f"{k}_input": reference[k][which] for k in FUNCTIONS}
    return table


def single_task_retraining(ws, degradations=("blur", "noise"), proportion: float | None = None,
                           methods=("faig", "random")) -> dict[str, dict]:
    """A diagnostic next to Table 3: the top ``proportion`` filters of degradation ``d`` of each method
    retrained on ``d`` alone (every sample blurred, or every sample noisy), the PSNR (dB) on the analysis
    inputs with ``d``: ``{"deblur_filters": {"faig": dB, "random": dB, "baseline": dB}, ...}``. On the blind
    task the noisy samples' larger errors can dominate what 1 % of the filters learn; here they cannot."""
    proportion = check_proportion(ws.profile.retrain_proportion if proportion is None else proportion)
    reference = ws.psnr_table()
    table: dict[str, dict] = {}
    for d in degradations:
        function = FUNCTIONS[d]
        row = {}
        for m in methods:
            result = retrained(ws, ws.ranking(m).top(d, proportion), f"{m}-{function}-{proportion * 100:g}pct", d)
            row[m] = checkpoint_psnr(ws, result.checkpoint, (d,))[d]
        row["baseline"] = reference[d]["baseline"]
        table[f"{function}_filters"] = row
    return table


def depth_summary(ws, proportion: float = 0.01) -> dict[str, float]:
    """Mean relative depth (first conv 0, last conv 1) of the top ``proportion`` FAIG deblurring and denoising
    filters, and of all filters (what a uniform random selection gives on average): the paper's claim is
    that deblurring filters sit more in the back of the network (Sec. 5.2.3)."""
    depth = ws.filter_index.relative_depth()
    scores = ws.scores()
    out = {f"{FUNCTIONS[d]}_filters": float(depth[scores.top(d, proportion)].mean()) for d in FUNCTIONS}
    out["all_filters"] = float(depth.mean())
    return out


def retraining_gains(summary: Mapping[str, Any], cells=RETRAINING_CELLS) -> dict[str, dict[str, Any]]:
    """FAIG − random (dB) per Table 3 cell, paired by seed: ``{"<filters>/<input>": {"mean", "std", "values",
    "paper", "verdict"}}``. ``summary``: :func:`~faiglib.measures.statistics.mean_std` over seeds of
    :func:`~faiglib.studies.retraining.retraining_table` (leaves with per-seed ``values``). ``paper`` and
    ``verdict`` only for the cells the paper reports."""
    out = {}
    for filters, inp in cells:
        gain = paired_difference(summary[filters]["faig"][inp]["values"],
                                 summary[filters]["random"][inp]["values"])["difference"]
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
    out["deblur_minus_denoise"] = paired_difference([r["deblur_filters"] for r in runs],
                                                 [r["denoise_filters"] for r in runs])["difference"]
    out["deblur_deeper_in_every_seed"] = all(r["deblur_filters"] > r["denoise_filters"] for r in runs)
    out["deblur_shallower_in_every_seed"] = all(r["deblur_filters"] < r["denoise_filters"] for r in runs)
    return out


def _gain_claim(filters: str, inp: str, label: str) -> Claim:
    paper = paper_gain(filters, inp)

    def measure(found, network):
        g = found.get("faig_minus_random", {}).get(network, {}).get(f"{filters}/{inp}")
        return (mean_text(g), seed_verdict(g["values"], paper)) if g else None

    return Claim(f"retraining 1 %: FAIG − random, {label} input (dB)", "Table 3", f"{paper:+.3f}",
                 "seed_verdict(per-seed gains, paper gain)", "table3", measure)


def _depth_measure(found, network):
    d = found.get("relative_depth_1pct", {}).get(network)
    if not d:
        return None
    diffs = [a - b for a, b in zip(d["deblur_filters"]["values"], d["denoise_filters"]["values"])]
    return mean_text(mean_std(diffs)), seed_verdict(diffs)


#: the claims this study measures (Table 3 and Fig. 4), for the scorecard
CLAIMS = (*(_gain_claim(*cell) for cell in CLAIMED_CELLS),
          Claim("deblurring filters sit deeper than denoising ones (relative depth, deblur − denoise)", "Fig. 4",
                "> 0 (\"more in the back part\")", "seed_verdict(per-seed differences, > 0)", "table3",
                _depth_measure))

"""Controllable restoration (the slides, "Application — Controllable restoration"): interpolate only the
discovered filters between the baseline and the target,

    W_f(λ) = λ · W_f^target + (1 − λ) · W_f^baseline      for the chosen filters f,

and leave every other parameter at the target. λ = 1 is the target, λ = 0 is masking
(:func:`faiglib.core.edits.masked`), λ > 1 extrapolates past the target. Sliding λ on the deblurring filters
should turn the strength of deblurring up and down while denoising stays.

:func:`~faiglib.core.edits.interpolated` is a context manager like :func:`~faiglib.core.edits.masked` (the original values come back
bit for bit on exit); :func:`control_curve` measures PSNR and the gradient-map metric along λ;
:func:`control_table` / :func:`control_strip` are the glue that takes an
:class:`~faiglib.studies.workspace.Workspace`.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from faiglib.measures.verdicts import seed_verdict
from faiglib.studies.claims import CLAIMED_CELLS, ONE_SEED, Claim
from faiglib.studies.workspace import FUNCTIONS
from faiglib.core.units import FilterIndex
from faiglib.measures.gradient_maps import output_difference
from faiglib.core.edits import interpolated
from faiglib.measures.metrics import psnr

__all__ = ["CLAIMS", "control_summary", "LAMBDAS", "control_curve", "control_table", "control_strip"]

#: λ values of the book's curves: 0 (masked) to 1 (target) and on to 1.5 (extrapolated)
LAMBDAS = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.5)


@torch.no_grad()
def control_curve(model: nn.Module, baseline_params, filters, inputs: Sequence[torch.Tensor],
                  ground_truths: Sequence[torch.Tensor], lambdas: Sequence[float] = LAMBDAS,
                  index: FilterIndex | None = None, channel: str = "gray",
                  crop_border: int = 2) -> dict[str, list[float]]:
    """Along λ, the mean over images of the RGB PSNR (dB, 8-bit, ``crop_border`` pixels cropped) against the
    ground truth and of the gradient-map MSE (x1e3, :func:`~faiglib.measures.gradient_maps.output_difference`) against the
    target's own output (0 at λ = 1; the masking effect at λ = 0).

    ``inputs``: LR images ``(3, h, w)`` in [0, 1]; ``ground_truths``: their HR ``(3, H, W)``. Returns
    ``{"lambda": [...], "psnr": [...], "gradient_mse": [...]}``.
    """
    if len(inputs) != len(ground_truths) or not inputs:
        raise ValueError(f"need as many ground truths as inputs (and at least one), got {len(inputs)} and "
                         f"{len(ground_truths)}")
    index = index or FilterIndex(model)
    device = next(model.parameters()).device
    xs = [x.unsqueeze(0).to(device) for x in inputs]
    reference = [model(x) for x in xs]
    curve: dict[str, list[float]] = {"lambda": [float(v) for v in lambdas], "psnr": [], "gradient_mse": []}
    for lam in lambdas:
        with interpolated(model, baseline_params, filters, lam, index):
            outs = [model(x) for x in xs]
        psnrs = [float(psnr(o[0].cpu(), y, crop_border=crop_border)) for o, y in zip(outs, ground_truths)]
        changes = [float(output_difference(o, r, channel=channel)[0]) for o, r in zip(outs, reference)]
        curve["psnr"].append(sum(psnrs) / len(psnrs))
        curve["gradient_mse"].append(sum(changes) / len(changes))
    return curve


def control_table(ws, proportion: float = 0.01, lambdas: Sequence[float] = LAMBDAS) -> dict[str, Any]:
    """:func:`control_curve` for the top ``proportion`` FAIG deblurring and denoising filters (Eq. 7) of an
    :class:`~faiglib.studies.workspace.Workspace`, on its blurry and noisy analysis inputs:
    ``{"deblur_filters": {"blur_input": curve, "noise_input": curve}, "denoise_filters": {...}}``."""
    scores = ws.scores()
    model = ws.model("target")
    base = {k: v.to(ws.device) for k, v in ws.states()[0].items()}
    aset = ws.analysis_set()
    return {f"{function}_filters": {
        f"{kind}_input": control_curve(model, base, scores.top(d, proportion), aset.lr[kind], aset.hr, lambdas,
                                       ws.filter_index, crop_border=ws.profile.scale)
        for kind in FUNCTIONS} for d, function in FUNCTIONS.items()}


@torch.no_grad()
def control_strip(ws, degradation: str = "blur", kind: str | None = None, proportion: float = 0.01,
                  lambdas: Sequence[float] = (0.0, 0.4, 0.8, 1.0, 1.2, 1.5), image: int = 0) -> dict[str, torch.Tensor]:
    """Outputs ``(3, H, W)`` of the target on analysis image ``image`` with degradation ``kind`` (default:
    ``degradation``) while its top ``proportion`` filters for ``degradation`` are interpolated:
    ``{"input": LR, "λ = 0": …, …, "ground truth": HR}`` (for :func:`~faiglib.report.plots.image_row`)."""
    if degradation not in FUNCTIONS:
        raise ValueError(f"degradation must be one of {list(FUNCTIONS)}, got {degradation!r}")
    kind = kind or degradation
    aset = ws.analysis_set()
    if kind not in aset.lr:
        raise ValueError(f"no analysis inputs of kind {kind!r}; have {list(aset.lr)}")
    filters = ws.scores().top(degradation, proportion)
    model = ws.model("target")
    base = {k: v.to(ws.device) for k, v in ws.states()[0].items()}
    x = aset.lr[kind][image].unsqueeze(0).to(ws.device)
    row = {"input": aset.lr[kind][image]}
    for lam in lambdas:
        with interpolated(model, base, filters, lam, ws.filter_index):
            row[f"λ = {lam:g}"] = model(x)[0].clamp(0, 1).cpu()
    row["ground truth"] = aset.hr[image]
    return row


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


def _control_claim(filters: str, inp: str, label: str) -> Claim:
    def measure(found, network):
        c = found.get("summary", {}).get(f"{filters}/{inp}")
        if not c:
            return None
        gain = c["psnr_lambda1"] - c["psnr_lambda0"]
        return f"{gain:+.3f} (best λ {c['best_lambda']:g}; {ONE_SEED})", seed_verdict([gain])

    return Claim(f"restoration strength follows λ: PSNR(λ=1) − PSNR(λ=0), {filters.split('_')[0]} set, {label} input "
                 "(dB)", "slides (controllable restoration)", "> 0", "seed_verdict(gain, > 0)", "control", measure)


#: the claims this study measures (the slides' controllable restoration), for the scorecard
CLAIMS = tuple(_control_claim(*cell) for cell in CLAIMED_CELLS)

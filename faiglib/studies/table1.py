"""Paper Sec. 3 / Table 1: a one-branch SRResNet against a two-branch blind SR network at the same compute.

Both models are trained for blind x``scale`` SR under one of two settings, on exactly the same batches (same
patch and degradation generators), for the same number of iterations with the same optimiser (Adam, betas
0.9/0.99, cosine learning rate, L1 loss; the two-branch model adds its contrastive loss):

* ``"blur"``: isotropic Gaussian blur, sigma drawn uniformly per sample from ``profile.table1_blur_range``;
* ``"blur+noise"``: the same, then white Gaussian noise of a level drawn from ``profile.table1_noise_range``.

The two-branch model is :class:`~faiglib.models.twobranch.TwoBranchSR` (DASR-style); the one-branch model is an
:class:`~faiglib.models.networks.MSRResNet` of the same width whose block count matches the two-branch model's FLOPs
and parameters (:func:`~faiglib.models.complexity.match_msrresnet_blocks`). They are tested on a fixed degraded
test set (sigma and noise of image ``i`` drawn from a generator seeded by ``i``: the same for every training
seed, so the spread over seeds is the spread of training alone). Training is resumable and cached exactly as
:func:`faiglib.training.stages.train_stage`: atomic resume states, a key of the settings that change the weights.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from faiglib.core.checkpoint import CheckpointError, load_state, save_model
from faiglib.models.complexity import complexity, match_msrresnet_blocks
from faiglib.data.images import PatchSampler
from faiglib.data.degradations import blind_degrade
from faiglib.measures.metrics import psnr
from faiglib.models.networks import MSRResNet
from faiglib.measures.verdicts import seed_verdict
from faiglib.profiles import Profile
from faiglib.studies.claims import PAPER, Claim, mean_text
from faiglib.training.stages import ResumableRun, TrainResult, cosine_lr
from faiglib.models.twobranch import TwoBranchSR, contrastive_loss, split_views

__all__ = ["KINDS", "SETTINGS", "FLOPS_LR_SIZE", "TEMPERATURE", "network_configs", "build_model", "train_table1_model",
           "load_table1_model", "blind_test_set", "blind_psnr", "complexity_table", "table1", "experiment_table1", "PAPER_GAPS",
           "gaps", "CLAIMS"]

#: model kinds of Table 1 -> row labels
KINDS = {"two_branch": "two-branch (DASR-style)", "one_branch": "SRResNet one-branch"}
#: degradation settings of Table 1
SETTINGS = ("blur", "blur+noise")
#: LR input size at which FLOPs are counted (per image)
FLOPS_LR_SIZE = (64, 64)
#: temperature of the contrastive loss (MoCo's default, which DASR uses)
TEMPERATURE = 0.07
#: the paper's Table 1 as one-branch minus two-branch PSNR (dB): SRResNet vs DAN and vs DASR, x4, RGB
PAPER_GAPS = {net: {s: PAPER[f"table1/{net.lower()}/{s}/one_branch"].value - PAPER[f"table1/{net.lower()}/{s}/two_branch"].value
                    for s in SETTINGS} for net in ("DAN", "DASR")}


def _gap_claim(setting: str) -> Claim:
    paper = PAPER_GAPS["DASR"][setting]

    def measure(found, network):
        gap = found.get("gap_db", {})
        return (mean_text(gap[setting]), seed_verdict(gap[setting]["values"], paper)) if setting in gap else None

    return Claim(f"one-branch ≈ two-branch at equal compute, {setting} (one − two, dB)", "Table 1 (DASR)",
                 f"{paper:+.3f}", "seed_verdict(per-seed gaps, paper gap)", "table1", measure)


#: the claims this study measures (:class:`~faiglib.studies.claims.Claim`), for the scorecard
CLAIMS = tuple(_gap_claim(setting) for setting in SETTINGS)


@lru_cache(maxsize=16)
def _matched_blocks(num_feat: int, num_block: int, scale: int) -> int:
    # counting FLOPs builds and runs three networks: do it once per configuration
    two = TwoBranchSR(num_feat=num_feat, num_block=num_block, upscale=scale)
    return match_msrresnet_blocks(two, num_feat, scale, FLOPS_LR_SIZE).num_block


def network_configs(profile: Profile) -> dict[str, dict[str, Any]]:
    """``{kind: {"arch", "kwargs", "label"}}`` for both models; the SRResNet's block count is matched here
    (raises ``ValueError`` if no block count matches the FLOPs and parameters within 10 %)."""
    two = {"num_feat": profile.table1_feat, "num_block": profile.table1_blocks, "upscale": profile.scale}
    one = {"num_feat": profile.table1_feat, "upscale": profile.scale,
           "num_block": _matched_blocks(profile.table1_feat, profile.table1_blocks, profile.scale)}
    return {"two_branch": {"arch": "twobranch", "kwargs": two,
                           "label": f"twobranch-{two['num_feat']}x{two['num_block']}"},
            "one_branch": {"arch": "msrresnet", "kwargs": one,
                           "label": f"msrresnet-{one['num_feat']}x{one['num_block']}"}}


def build_model(arch: str, kwargs: Mapping[str, Any], seed: int | None = None) -> nn.Module:
    """``"twobranch"`` or ``"msrresnet"`` with ``kwargs``; weights from ``seed`` (global RNG untouched) if given."""
    classes = {"twobranch": TwoBranchSR, "msrresnet": MSRResNet}
    if arch not in classes:
        raise ValueError(f"unknown Table 1 architecture {arch!r}; known: {sorted(classes)}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return classes[arch](**kwargs)


def _noise_range(profile: Profile, setting: str) -> tuple[float, float] | None:
    if setting not in SETTINGS:
        raise ValueError(f"unknown Table 1 setting {setting!r}; use one of {SETTINGS}")
    return tuple(profile.table1_noise_range) if setting == "blur+noise" else None


def _degrade(hr: torch.Tensor, profile: Profile, setting: str, generator: torch.Generator) -> torch.Tensor:
    return blind_degrade(hr, generator, blur_range=tuple(profile.table1_blur_range),
                         noise_range=_noise_range(profile, setting), scale=profile.scale, resize=profile.resize)[0]


@torch.enable_grad()
def train_table1_model(kind: str, setting: str, *, profile: Profile, train_images, out_dir: str | Path, seed: int = 0,
                device: str = "cpu", progress: bool = True, stop_after: int | None = None,
                data_label: str = "") -> TrainResult:
    """Train one model of Table 1; returns ``<out_dir>/<setting>/<label>-seed<seed>.pth`` (cached if done).

    ``kind``: ``"two_branch"`` or ``"one_branch"``; ``setting``: ``"blur"`` or ``"blur+noise"``;
    ``train_images``: ``(name, (3, H, W))`` HR images. ``stop_after``: stop (resume state saved) after this
    many iterations of this call, as in :func:`faiglib.training.stages.train_stage`.
    """
    configs = network_configs(profile)
    if kind not in configs:
        raise ValueError(f"unknown Table 1 model {kind!r}; use one of {list(configs)}")
    _noise_range(profile, setting)  # validates the setting
    lr_patch = profile.table1_hr_patch // profile.scale
    if profile.table1_hr_patch % profile.scale or lr_patch < 2:
        raise ValueError(f"table1_hr_patch {profile.table1_hr_patch} must be a multiple of the scale "
                         f"{profile.scale} and give LR patches of at least 2 pixels")
    cfg = configs[kind]
    out_dir = Path(out_dir) / setting.replace("+", "_")
    final = out_dir / f"{cfg['label']}-seed{seed}.pth"
    resume = out_dir / f"{cfg['label']}-seed{seed}.resume.pth"
    total = profile.table1_iters
    relevant = ["scale", "resize", "table1_iters", "table1_batch_size", "table1_hr_patch", "table1_lr",
                "table1_blur_range", "table1_noise_range"] + (["table1_contrast_weight"] if kind == "two_branch" else [])
    config = {"kind": kind, "setting": setting, "arch": cfg["arch"], "kwargs": cfg["kwargs"], "seed": seed,
              "data": data_label, "settings": {k: getattr(profile, k) for k in relevant},
              "temperature": TEMPERATURE if kind == "two_branch" else None,
              "train_images": [n for n, _ in train_images]}
    run = ResumableRun(final, resume, config, total, profile.checkpoint_every, stop_after, f"{cfg['label']} {setting}")
    cached = run.finished()
    if cached is not None:
        return cached

    model = build_model(cfg["arch"], cfg["kwargs"], seed).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=profile.table1_lr, betas=(0.9, 0.99))
    # Both kinds draw from generators with the same seeds: they see the same patches and degradations.
    patch_gen = torch.Generator().manual_seed(10_000 + 2 * seed)
    degrade_gen = torch.Generator().manual_seed(10_000 + 2 * seed + 1)
    sampler = PatchSampler(train_images, profile.table1_hr_patch, profile.table1_batch_size, patch_gen)
    history: dict = {"loss": [], "contrastive": [], "seconds": 0.0}
    state = run.resumed()
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        patch_gen.set_state(state["patch_gen"])
        degrade_gen.set_state(state["degrade_gen"])
        history = json.loads(state["history"])
    # the losses summed since the last logged (every 10th) iteration are part of the resume state: a
    # checkpoint can fall inside a 10-iteration interval (resume states before these fields: 0, as they were)
    running = float(state.get("running_loss", 0.0)) if state is not None else 0.0
    running_c = float(state.get("running_contrastive", 0.0)) if state is not None else 0.0

    def resume_state() -> dict:
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "patch_gen": patch_gen.get_state(),
                "degrade_gen": degrade_gen.get_state(), "running_loss": running, "running_contrastive": running_c}

    run.begin(progress, f"{cfg['label']} {setting} seed {seed}")
    for it in range(run.start, total):
        hr = sampler.sample()
        lr = _degrade(hr, profile, setting, degrade_gen).to(device)
        hr = hr.to(device)
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(profile.table1_lr, it, total)
        if kind == "two_branch":
            sr = model.restore(lr, model.representation(lr))
            # Two halves of each LR patch share its degradation but not its content: a positive pair.
            left, right = split_views(lr)
            c_loss = contrastive_loss(model.encoder.project(model.representation(left)),
                                      model.encoder.project(model.representation(right)), TEMPERATURE)
            l1 = F.l1_loss(sr, hr)
            loss = l1 + profile.table1_contrast_weight * c_loss
            running_c += c_loss.item()
        else:
            l1 = loss = F.l1_loss(model(lr), hr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running += l1.item()
        if (it + 1) % 10 == 0:
            history["loss"].append([it + 1, running / 10])
            if kind == "two_branch":
                history["contrastive"].append([it + 1, running_c / 10])
            running, running_c = 0.0, 0.0
        if run.step_done(it, history, resume_state):
            return run.paused(history)
    run.end(history)
    save_model(final, model, arch=cfg["arch"], arch_kwargs=cfg["kwargs"], kind=kind, setting=setting,
               profile=profile.name, seed=seed, data=data_label, iterations=total, config_key=run.key,
               history=history)
    return run.result(history)


def load_table1_model(path: str | Path) -> nn.Module:
    """The Table 1 model stored at ``path`` by :func:`train_table1_model`, in eval mode."""
    state, meta = load_state(path)
    if "arch" not in meta:
        raise CheckpointError(f"{path}: no architecture recorded; not a Table 1 checkpoint of train_table1_model")
    model = build_model(meta["arch"], meta.get("arch_kwargs", {}))
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: does not fit {meta['arch']}({meta.get('arch_kwargs')}): {err}") from None
    return model.eval()


def blind_test_set(images: Sequence[tuple[str, torch.Tensor]], profile: Profile, setting: str,
                   seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``[(lr (3, h, w), hr (3, H, W)), ...]``: each HR image (sides multiples of the scale) degraded with its
    own sigma (and noise level) drawn from a generator seeded by ``(seed, i)``: deterministic, order-free."""
    if not images:
        raise ValueError("blind_test_set got no images")
    out = []
    for i, (_, hr) in enumerate(images):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + i)
        out.append((_degrade(hr.unsqueeze(0), profile, setting, gen)[0], hr))
    return out


@torch.no_grad()
def blind_psnr(model: nn.Module, test_set, device: str = "cpu", crop_border: int = 2) -> float:
    """Mean RGB PSNR (dB, ``crop_border`` pixels cropped, 8-bit rounded) of ``model`` over ``test_set``."""
    model.eval()
    values = [float(psnr(model(lr.unsqueeze(0).to(device)).cpu()[0], hr, crop_border=crop_border))
              for lr, hr in test_set]
    return sum(values) / len(values)


def complexity_table(profile: Profile) -> dict[str, dict[str, Any]]:
    """``{kind: {"label", "flops", "params"}}`` per :data:`FLOPS_LR_SIZE` LR image, plus ``"ratio"``: the
    one-branch model's FLOPs and parameters divided by the two-branch model's."""
    out: dict[str, dict[str, Any]] = {}
    for kind, cfg in network_configs(profile).items():
        c = complexity(build_model(cfg["arch"], cfg["kwargs"], 0), FLOPS_LR_SIZE)
        out[kind] = {"label": cfg["label"], "flops": c.flops, "params": c.params}
    out["ratio"] = {"flops": out["one_branch"]["flops"] / out["two_branch"]["flops"],
                    "params": out["one_branch"]["params"] / out["two_branch"]["params"],
                    "lr_size": list(FLOPS_LR_SIZE)}
    return out


def table1(profile: Profile, seeds: Sequence[int], train_images, test_images, out_dir: str | Path,
           device: str = "cpu", progress: bool = True, data_label: str = "") -> dict[str, Any]:
    """Train (or load) both models for both settings and every seed; test them on ``test_images``.

    Returns ``{"psnr": {kind: {setting: {"mean", "std", "values"}}}, "seconds": {kind: {setting: [per seed]}},
    "histories": {kind: {setting: [per seed]}}, "complexity": complexity_table(profile), "seeds": [...]}``.
    """
    from faiglib.measures.statistics import mean_std

    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("table1 needs at least one seed")
    per_seed: dict[str, dict[str, list[float]]] = {k: {s: [] for s in SETTINGS} for k in KINDS}
    seconds: dict[str, dict[str, list]] = {k: {s: [] for s in SETTINGS} for k in KINDS}
    histories: dict[str, dict[str, list]] = {k: {s: [] for s in SETTINGS} for k in KINDS}
    for setting in SETTINGS:
        test_set = blind_test_set(test_images, profile, setting)
        for seed in seeds:
            for kind in KINDS:
                run = train_table1_model(kind, setting, profile=profile, train_images=train_images, out_dir=out_dir,
                                  seed=seed, device=device, progress=progress, data_label=data_label)
                model = load_table1_model(run.checkpoint).to(device)
                per_seed[kind][setting].append(round(blind_psnr(model, test_set, device, profile.scale), 4))
                seconds[kind][setting].append(run.history.get("seconds"))
                histories[kind][setting].append(run.history)
    return {"seeds": seeds, "complexity": complexity_table(profile),
            "psnr": {k: {s: mean_std(v) for s, v in by.items()} for k, by in per_seed.items()},
            "seconds": seconds, "histories": histories}


def experiment_table1(ws, seeds: Sequence[int] | None = None) -> dict[str, Any]:
    """:func:`table1` with an :class:`~faiglib.studies.workspace.Workspace`'s profile, device and data: trained on
    ``ws.train_images()``, tested on ``ws.analysis_images()``, stored in the entry ``table1`` keyed by the
    training images' digest and every setting that changes Table 1's models. ``seeds``: default the profile's."""
    from faiglib.data.degradations import DEGRADATIONS_VERSION
    from faiglib.training.stages import TRAINING_VERSION

    seeds = ws.profile.seeds if seeds is None else seeds
    settings = {k: v for k, v in ws.profile.as_dict().items() if k.startswith("table1_") or k in ("scale", "resize")}
    parts = {"version": TRAINING_VERSION, "degradations": DEGRADATIONS_VERSION, "train": ws._train_digest(),
             "settings": settings}
    with ws.store.entry("table1", parts) as out_dir:
        return table1(ws.profile, seeds, ws.train_images(), ws.analysis_images(), out_dir, ws.device,
                      ws.progress, str(ws.train_data))


def gaps(result: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """One-branch minus two-branch PSNR (dB) per setting, paired by seed (both models of a seed saw the
    same batches): ``{setting: {"mean", "std", "values", "paper_dasr", "paper_dan"}}``."""
    from faiglib.measures.statistics import mean_std

    out = {}
    for setting in SETTINGS:
        one = result["psnr"]["one_branch"][setting]["values"]
        two = result["psnr"]["two_branch"][setting]["values"]
        leaf = mean_std([a - b for a, b in zip(one, two)])
        out[setting] = {**leaf, "paper_dasr": PAPER_GAPS["DASR"][setting], "paper_dan": PAPER_GAPS["DAN"][setting]}
    return out

"""Training the baseline/target pair (paper Sec. 4.1 "Baseline model", Sec. 5.1 "Training details").

* ``baseline``: a plain x``scale`` SR model trained on clean downsampled patches (no blur, no noise).
* ``target``: fine-tuned from the baseline with blur and noise each applied independently with p = 0.5.
* ``retrain`` (paper Sec. 5.2.2): like ``target`` -- from the baseline, on the same blind task and the same
  stream of patches and degradations -- but only the ``trainable`` filters may change; every other weight
  and every bias keeps the baseline's value bit for bit. With ``trainable=None`` all parameters are
  retrained (the paper's upper bound). Its length and learning rate are ``retrain_iters``/``lr_retrain``.

Both use an L1 loss, Adam (betas 0.9/0.99) with a cosine-decayed learning rate and optional EMA weights.
With ``profile.train_precision`` ``"bf16"`` (or ``"auto"`` on hardware with native bfloat16) the forward pass
runs under bfloat16 autocast while the weights, gradients and Adam's state stay float32 ("master weights").
Training is deterministic for a seed: model init, patch sampling and degradations each draw from their own
generator. A resume state is written atomically every ``checkpoint_every`` iterations; calling
:func:`train_stage` again after an interruption continues from it and ends with the same weights, bit for
bit, as an uninterrupted run. A finished stage is cached: its checkpoint is returned without training.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from faiglib.core.checkpoint import (CheckpointError, atomic_save, check_finite, load_file, load_state, save_model)
from faiglib.core.progress import progress_bar
from faiglib.data.images import PatchSampler
from faiglib.data.degradations import Degradation, build_analysis_set, downsample, random_degrade
from faiglib.measures.metrics import psnr
from faiglib.models.networks import build_network
from faiglib.profiles import NetSpec, Profile

__all__ = ["STAGES", "TRAINING_VERSION", "TRAIN_PRECISIONS", "bf16_supported", "resolve_train_precision",
           "stage_settings", "TrainResult", "ResumableRun", "train_stage", "train_pair", "build_seeded", "degradation_of", "evaluate_psnr",
           "cosine_lr", "init_digest"]

STAGES = ("baseline", "target", "retrain")


@dataclass
class TrainResult:
    """Where the stage's checkpoint is, its logs, and from which iteration this call started (0: fresh)."""

    checkpoint: Path
    history: dict = field(default_factory=dict)
    started_at: int = 0
    cached: bool = False


def degradation_of(profile: Profile) -> Degradation:
    return Degradation(scale=profile.scale, resize=profile.resize, blur_sigma=profile.blur_sigma,
                       noise_sigma=profile.noise_sigma)


def build_seeded(spec: NetSpec, scale: int, seed: int) -> nn.Module:
    """Build ``spec`` with weights initialised from ``seed`` without touching the global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_network(spec.arch, **spec.kwargs(scale))


def init_digest(state: Mapping[str, torch.Tensor] | None) -> str | None:
    """The 16-hex-digit digest of a starting state dict (key order sorted, raw bytes), part of a training's key:
    the same architecture started from other weights is another run; ``None`` for a seeded start."""
    if state is None:
        return None
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def cosine_lr(base: float, it: int, total: int, warmup: int = 0) -> float:
    """The learning rate of iteration ``it`` (0-based) of ``total`` (every trainer of the book): with ``warmup``
    > 0, ``base · (it + 1) / warmup`` for the first ``warmup`` iterations; then cosine from ``base`` down to
    ``base / 100`` over the remaining ``total - warmup``."""
    if it < warmup:
        return base * (it + 1) / warmup
    eta_min = base * 0.01
    return eta_min + 0.5 * (base - eta_min) * (1 + math.cos(math.pi * (it - warmup) / max(total - warmup, 1)))


@torch.no_grad()
def evaluate_psnr(model: nn.Module, val_set, kinds: Sequence[str], device: str | torch.device = "cpu",
                  crop_border: int = 2) -> float:
    """Mean RGB PSNR (dB) of ``model`` over ``val_set`` (an :class:`AnalysisSet`) for the given kinds."""
    was_training = model.training
    model.eval()
    values = []
    for kind in kinds:
        for lr, hr in zip(val_set.lr[kind], val_set.hr):
            out = model(lr.unsqueeze(0).to(device)).cpu()[0]
            values.append(float(psnr(out, hr, crop_border=crop_border)))
    model.train(was_training)
    return sum(values) / len(values)


#: Bump when a change to the training code changes the weights it produces: every cached stage is retrained.
TRAINING_VERSION = 1

#: Values of ``Profile.train_precision``: float32 throughout, bfloat16 autocast, or bf16 where it is native.
TRAIN_PRECISIONS = ("fp32", "bf16", "auto")


def bf16_supported(device: str | torch.device = "cpu") -> bool:
    """Whether ``device`` computes bfloat16 natively, i.e. bf16 autocast is faster, not just emulated.

    CUDA: :func:`torch.cuda.is_bf16_supported` (compute capability >= 8.0). CPU: oneDNN is available and the
    processor has AVX512-BF16 or AMX tiles (``torch.cpu._is_avx512_bf16_supported`` /
    ``_is_amx_tile_supported``, private helpers of torch 2.x; missing ones count as "no"). oneDNN also runs bf16
    on plain AVX512 by conversion, which is not faster, so that does not count.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(check()) for check in checks if check is not None)


def resolve_train_precision(requested: str, device: str | torch.device = "cpu") -> str:
    """``"fp32"`` or ``"bf16"``: the training precision ``requested`` (one of :data:`TRAIN_PRECISIONS`) means on
    ``device``. ``"auto"`` is bf16 where :func:`bf16_supported`, else fp32; an explicit ``"bf16"`` is kept even
    where it is only emulated (slow, but the same numbers)."""
    if requested not in TRAIN_PRECISIONS:
        raise ValueError(f"unknown train_precision {requested!r}; use one of {TRAIN_PRECISIONS}")
    if requested == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return requested


def stage_settings(stage: str, profile: Profile, device: str | torch.device | None = None) -> dict:
    """The profile fields that change the weights a stage trains, and nothing else: a profile edit that only
    concerns attribution, masking or the other stage does not invalidate a finished stage (part of its key).
    The training precision resolved for ``device`` (``None``: the CPU) is included only when it is not fp32,
    so that the keys of fp32 stages are those they had before the field existed."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; use one of {STAGES}")
    relevant = ["scale", "resize", "batch_size", "hr_patch", "ema_decay"]
    relevant += {"baseline": ["baseline_iters", "lr_baseline"],
                 "target": ["target_iters", "lr_target"],
                 "retrain": ["retrain_iters", "lr_retrain"]}[stage]
    if stage != "baseline":
        relevant += ["blur_sigma", "noise_sigma", "p_blur", "p_noise"]
    settings = {k: getattr(profile, k) for k in relevant}
    if profile.trainer != "stages":
        settings["trainer"] = profile.trainer
    if profile.warmup_iters:  # only then: the keys of stages without warm-up stay as they were
        settings["warmup_iters"] = profile.warmup_iters
    precision = resolve_train_precision(profile.train_precision, "cpu" if device is None else device)
    if precision != "fp32":
        settings["train_precision"] = precision
    return settings


class ResumableRun:
    """The bookkeeping every cached, resumable training loop of faiglib shares (:func:`train_stage`,
    :func:`faiglib.studies.table1.train_table1_model`): the key of the run's configuration, the finished checkpoint ``final``
    (reused if it carries this key, refused if it carries another), the resume state ``resume`` (written
    atomically every ``checkpoint_every`` iterations, reloaded only for this key), the progress bar and the
    ``stop_after`` interruption used to test resumption.

    Use: :meth:`finished` (return it if not ``None``), build the model, :meth:`resumed` (load it if not
    ``None``), :meth:`begin`, then :meth:`step_done` after every iteration (return :meth:`paused` if it is
    true), :meth:`end` before saving ``final`` and :meth:`result` after.
    """

    def __init__(self, final: Path, resume: Path, config: Mapping, total: int, checkpoint_every: int,
                 stop_after: int | None, label: str) -> None:
        self.final, self.resume, self.total = final, resume, total
        self.checkpoint_every, self.stop_after, self.label = checkpoint_every, stop_after, label
        self.key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
        self.start, self.done_here, self.bar, self.tic = 0, 0, None, 0.0

    def finished(self) -> TrainResult | None:
        """The cached result if ``final`` exists with this configuration; raises if it has another."""
        if not self.final.exists():
            return None
        _, meta = load_state(self.final)
        if meta.get("config_key") == self.key:
            return TrainResult(self.final, meta.get("history", {}), self.total, cached=True)
        raise CheckpointError(f"{self.final} exists but was trained with another configuration "
                              f"(key {meta.get('config_key')} != {self.key}); move it away or use another out_dir")

    def resumed(self) -> dict | None:
        """The saved resume state of this configuration (its ``"iteration"`` becomes :attr:`start`), or ``None``."""
        if not self.resume.exists():
            return None
        state = load_file(self.resume)
        if state.get("config_key") != self.key:
            raise CheckpointError(f"{self.resume} belongs to another configuration; delete it to start over")
        self.start = int(state["iteration"])
        return state

    def begin(self, progress: bool, desc: str) -> None:
        if progress:
            self.bar = progress_bar(enabled=True, total=self.total, initial=self.start, desc=desc, unit="it")
        self.tic = time.perf_counter()

    def step_done(self, it: int, history: dict, state, postfix: dict | None = None) -> bool:
        """After iteration ``it``: advance the bar, save the resume state when due (``state()``: the dict of
        model, optimiser, generators, ...; its ``"model"`` is checked finite; ``history`` is added) and say
        whether ``stop_after`` interrupts the run here (the bar is then closed)."""
        self.done_here += 1
        if self.bar is not None:
            self.bar.update(1)
            if postfix:
                self.bar.set_postfix(refresh=False, **postfix)  # the bar's own rate limit applies
        interrupted = self.stop_after is not None and self.done_here >= self.stop_after and it + 1 < self.total
        if (it + 1) % self.checkpoint_every == 0 or interrupted:
            history["seconds"] += time.perf_counter() - self.tic
            self.tic = time.perf_counter()
            self.save_state(it, history, state())
        if interrupted and self.bar is not None:
            self.bar.close()
        return interrupted

    def save_state(self, it: int, history: dict, saved: dict) -> None:
        """Write the resume state after iteration ``it`` (``saved``: model, optimiser, generators, ...; its
        ``"model"`` is checked finite; this configuration's key and ``history`` are added)."""
        check_finite(saved["model"], f"{self.label} at iteration {it + 1}")
        atomic_save({"config_key": self.key, "iteration": it + 1, **saved, "history": json.dumps(history)},
                    self.resume)

    def paused(self, history: dict) -> TrainResult:
        """The result of a call interrupted by ``stop_after``: the resume state it left."""
        return TrainResult(self.resume, history, self.start)

    def end(self, history: dict) -> None:
        """Close the bar and add this call's seconds to ``history`` (before ``final`` is saved)."""
        if self.bar is not None:
            self.bar.close()
        history["seconds"] = round(history["seconds"] + time.perf_counter() - self.tic, 2)

    def result(self, history: dict) -> TrainResult:
        """After ``final`` is saved: drop the resume state; the run's result."""
        self.resume.unlink(missing_ok=True)
        return TrainResult(self.final, history, self.start)


@torch.enable_grad()  # callers may be inside torch.no_grad() (e.g. an evaluation that trains on a cache miss)
def train_stage(stage: str, *, profile: Profile, network: NetSpec, train_images, val_images, out_dir: str | Path,
                seed: int = 0, init_state: Mapping[str, torch.Tensor] | None = None, device: str = "cpu",
                progress: bool = True, stop_after: int | None = None, data_label: str = "",
                trainable: Mapping[str, torch.Tensor] | None = None, tag: str | None = None,
                blur_range: tuple[float, float] | None = None,
                noise_range: tuple[float, float] | None = None) -> TrainResult:
    """Train one stage; returns the path of ``<out_dir>/<net>_<stage>[-<tag>].pth``.

    ``train_images`` and ``val_images``: lists of ``(name, (3, H, W))`` HR images (sizes multiples of the
    scale). ``init_state``: the baseline weights to fine-tune from (``target`` and ``retrain``; required).
    ``trainable`` (``retrain`` only): boolean ``(out, in)`` masks per conv weight name (as from
    :meth:`faiglib.core.units.FilterIndex.masks`) of the filters that may change; ``None``: all parameters.
    ``tag`` names the checkpoint (several retrained models share a directory).
    ``blur_range`` / ``noise_range`` (``target`` only): draw each sample's blur / noise sigma uniformly from
    this ``(low, high)`` instead of the profile's fixed ``blur_sigma`` / ``noise_sigma`` (a target trained on a
    range of levels; :func:`~faiglib.data.degradations.random_degrade`).
    ``stop_after``: stop (with a resume state saved) after this many iterations *of this call* -- used to
    test resumption; a later call continues.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; use one of {STAGES}")
    if stage != "baseline" and init_state is None:
        raise ValueError(f"the {stage} stage is fine-tuned from the baseline: pass init_state")
    if trainable is not None and stage != "retrain":
        raise ValueError(f"trainable filters are for the retrain stage, not {stage!r}")
    if (blur_range is not None or noise_range is not None) and stage != "target":
        raise ValueError(f"degradation ranges are for the target stage, not {stage!r}")
    out_dir = Path(out_dir)
    name = f"{network.label}_{stage}" + (f"-{tag}" if tag else "")
    final = out_dir / f"{name}.pth"
    resume = out_dir / f"{name}.resume.pth"
    total = {"baseline": profile.baseline_iters, "target": profile.target_iters, "retrain": profile.retrain_iters}[stage]
    base_lr = {"baseline": profile.lr_baseline, "target": profile.lr_target, "retrain": profile.lr_retrain}[stage]
    config = {"stage": stage, "network": network.label, "seed": seed, "data": data_label,
              "settings": stage_settings(stage, profile, device),
              "train_images": [n for n, _ in train_images], "init": init_digest(init_state)}
    if blur_range is not None or noise_range is not None:  # only then: fixed-level keys stay as they were
        config["ranges"] = {"blur": None if blur_range is None else [float(v) for v in blur_range],
                            "noise": None if noise_range is None else [float(v) for v in noise_range]}
    if stage == "retrain":
        config["trainable"] = None if trainable is None else \
            {k: v.nonzero().flatten().tolist() for k, v in sorted(trainable.items()) if v.any()}
    run = ResumableRun(final, resume, config, total, profile.checkpoint_every, stop_after, f"{network.label} {stage}")
    cached = run.finished()
    if cached is not None:
        return cached
    if profile.trainer != "stages":
        raise ValueError(f"profile {profile.name!r} trains with the {profile.trainer!r} loop "
                         f"(faiglib.training.resident; `make gpu-run`); its {stage} stage is not in {out_dir} yet: "
                         f"run that first, or use a profile with trainer='stages'")

    model = build_seeded(network, profile.scale, seed)
    if init_state is not None:
        model.load_state_dict(init_state)
    model.to(device).train()
    grad_masks = _freeze_all_but(model, trainable) if trainable is not None else {}
    ema = None
    if profile.ema_decay:
        ema = build_network(network.arch, **network.kwargs(profile.scale)).to(device)
        ema.load_state_dict(model.state_dict())
        ema.requires_grad_(False)
    optimizer = torch.optim.Adam(model.parameters(), lr=base_lr, betas=(0.9, 0.99))
    # retraining sees the very patches and degradations the target saw: every selection gets the same data
    stage_offset = 0 if stage == "baseline" else 1
    patch_gen = torch.Generator().manual_seed(seed * 4 + 2 * stage_offset)
    degrade_gen = torch.Generator().manual_seed(seed * 4 + 2 * stage_offset + 1)
    sampler = PatchSampler(train_images, profile.hr_patch, profile.batch_size, patch_gen)
    degradation = degradation_of(profile)
    val_set = build_analysis_set(val_images, degradation, seed=seed)
    val_kinds = ("clean",) if stage == "baseline" else ("blur", "noise")
    history: dict = {"loss": [], "val_psnr": [], "val_kinds": list(val_kinds), "seconds": 0.0}
    state = run.resumed()
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        patch_gen.set_state(state["patch_gen"])
        degrade_gen.set_state(state["degrade_gen"])
        history = json.loads(state["history"])
    # the loss summed since the last logged (every 10th) iteration: part of the resume state, since a
    # checkpoint can fall inside a 10-iteration interval (resume states before this field: 0, as they were)
    running = float(state.get("running_loss", 0.0)) if state is not None else 0.0

    def resume_state() -> dict:
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "ema": ema.state_dict() if ema is not None else {}, "patch_gen": patch_gen.get_state(),
                "degrade_gen": degrade_gen.get_state(), "running_loss": running}

    # bf16: autocast the forward pass only; parameters, gradients and Adam's moments stay float32
    autocast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16,
                              enabled=resolve_train_precision(profile.train_precision, device) == "bf16")
    run.begin(progress, f"{network.label} {stage}")
    for it in range(run.start, total):
        hr = sampler.sample().to(device)
        if stage == "baseline":
            lr = downsample(hr, profile.scale, profile.resize)
        else:
            lr = random_degrade(hr, degradation, degrade_gen, profile.p_blur, profile.p_noise,
                                blur_range=blur_range, noise_range=noise_range)
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(base_lr, it, total, profile.warmup_iters)
        with autocast:
            out = model(lr)
        loss = F.l1_loss(out.float(), hr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for param, keep in grad_masks.items():  # zero gradient -> Adam leaves the entry exactly as it is
            param.grad = torch.where(keep, param.grad, torch.zeros_like(param.grad))
        optimizer.step()
        if ema is not None:
            with torch.no_grad():
                for p_ema, p in zip(ema.parameters(), model.parameters()):
                    p_ema.lerp_(p, 1.0 - profile.ema_decay)
        loss_value = loss.item()
        running += loss_value
        if (it + 1) % 10 == 0:
            history["loss"].append([it + 1, running / 10])
            running = 0.0
        if (it + 1) % profile.val_every == 0 or it + 1 == total:
            value = evaluate_psnr(ema if ema is not None else model, val_set, val_kinds, device)
            history["val_psnr"].append([it + 1, round(value, 4)])
        if run.step_done(it, history, resume_state, {"loss": f"{loss_value:.4f}"}):
            return run.paused(history)
    run.end(history)
    save_model(final, model, arch=network.arch, arch_kwargs=network.kwargs(profile.scale), ema=ema,
               stage=stage, profile=profile.name, seed=seed, data=data_label, iterations=total,
               config_key=run.key, history=history)
    return run.result(history)


def _freeze_all_but(model: nn.Module, trainable: Mapping[str, torch.Tensor]) -> dict[nn.Parameter, torch.Tensor]:
    """Stop gradients of every parameter without a selected filter; return, for the others, boolean masks of
    the parameter's shape (``True``: may change). A filter is a whole ``K×K`` kernel ``W[out, in]``."""
    params = dict(model.named_parameters())
    unknown = set(trainable) - set(params)
    if unknown:
        raise ValueError(f"trainable masks for parameters the model does not have: {sorted(unknown)}")
    masks = {}
    for name, param in params.items():
        mask = trainable.get(name)
        if mask is None or not bool(mask.any()):
            param.requires_grad_(False)
            continue
        if param.dim() != 4 or tuple(mask.shape) != tuple(param.shape[:2]):
            raise ValueError(f"trainable mask for {name!r} is {tuple(mask.shape)}; expected the (out, in) shape "
                             f"{tuple(param.shape[:2])} of a conv weight")
        masks[param] = mask.to(device=param.device, dtype=torch.bool)[:, :, None, None].expand_as(param)
    return masks


def train_pair(*, profile: Profile, network: NetSpec, train_images, val_images, out_dir: str | Path, seed: int = 0,
               device: str = "cpu", progress: bool = True, data_label: str = "",
               target_out_dir: str | Path | None = None, blur_range: tuple[float, float] | None = None,
               noise_range: tuple[float, float] | None = None) -> tuple[TrainResult, TrainResult]:
    """Baseline, then the target fine-tuned from it. Returns both :class:`TrainResult` (cached if done).

    ``target_out_dir`` (default ``out_dir``) and the ranges of :func:`train_stage` give a second target from
    the same baseline, e.g. one trained on a range of degradation levels."""
    base = train_stage("baseline", profile=profile, network=network, train_images=train_images,
                       val_images=val_images, out_dir=out_dir, seed=seed, device=device, progress=progress,
                       data_label=data_label)
    base_state, _ = load_state(base.checkpoint)
    target = train_stage("target", profile=profile, network=network, train_images=train_images,
                         val_images=val_images, out_dir=target_out_dir or out_dir, seed=seed, init_state=base_state,
                         device=device, progress=progress, data_label=data_label, blur_range=blur_range,
                         noise_range=noise_range)
    return base, target

"""A GPU-resident training path for the baseline/target pair: the same stages as :mod:`faiglib.training.stages`
(L1 loss, Adam 0.9/0.99, cosine learning rate, optional EMA; baseline on clean patches, target fine-tuned with
blur and noise each applied with p_blur / p_noise), but with nothing crossing the host-device boundary per step.

* The training images are uploaded once, as uint8, into one padded ``(n, 3, H_max, W_max)`` tensor on the
  device (:class:`ResidentPatches`); patch positions, flips and transposes are drawn there from an explicit
  device ``torch.Generator`` and gathered by one indexing operation per batch.
* Blur (separable 21-tap Gaussian, mirrored borders as :func:`faiglib.data.degradations.blur`), the x``scale``
  resize (:func:`faiglib.data.degradations.downsample`) and the noise run on the device
  (:func:`device_degrade`).
* The network runs in channels-last layout under bfloat16 autocast (``precision="bf16"``) with fp32 master
  weights and an fp32 loss; ``compile=True`` wraps it in ``torch.compile`` (off on CPU and in the tests).
* The loss is read back every ``log_every`` iterations only (a ``.item()`` per step would synchronise).

Checkpoints are written where and how :func:`~faiglib.training.stages.train_stage` writes them
(``<store entry>/<net>_<stage>.pth``, :func:`~faiglib.core.checkpoint.save_model`, the same ``config_key``), so a
:class:`~faiglib.studies.workspace.Workspace` with the same profile, seed and data finds the pair in its store
and never retrains it. The draws differ from :func:`train_stage`'s (device generators, another order), so the
weights are another sample of the same recipe, not the same bits; ``meta["trainer"]`` says which loop made them.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from faiglib.core.checkpoint import check_finite, load_state, save_model
from faiglib.data.degradations import Degradation, build_analysis_set, downsample, gaussian_kernel
from faiglib.data.images import center_crop, check_patch_source
from faiglib.profiles import NetSpec, Profile
from faiglib.training.stages import (ResumableRun, TrainResult, build_seeded, cosine_lr, degradation_of,
                                     evaluate_psnr, init_digest, stage_settings)

__all__ = ["PRECISIONS", "ResidentPatches", "device_blur", "device_degrade", "stage_config",
           "train_resident_stage", "train_resident_pair"]

PRECISIONS = ("fp32", "bf16")
TRAINER = "resident"


class ResidentPatches:
    """Random HR patches ``(batch_size, 3, patch, patch)`` float32 in [0, 1], drawn on ``device``.

    ``images``: ``(name, (3, H, W))`` float tensors in [0, 1] (8-bit images round-trip exactly through the
    uint8 copy; deeper ones are rounded to 8 bits). As :class:`~faiglib.data.images.PatchSampler`: an image
    uniformly, a position uniformly, then a horizontal flip, a vertical flip and a transpose each with p = 0.5
    -- all drawn from ``generator`` (a generator on ``device``), whose state is all a resumed run needs.
    """

    def __init__(self, images: Sequence[tuple[str, torch.Tensor]], patch: int, batch_size: int,
                 generator: torch.Generator, augment: bool = True) -> None:
        check_patch_source(images, patch, batch_size, "ResidentPatches")
        device = generator.device
        h_max = max(int(t.shape[-2]) for _, t in images)
        w_max = max(int(t.shape[-1]) for _, t in images)
        # one upload; padding is never sampled (positions are drawn inside each image's own size)
        packed = torch.zeros(len(images), 3, h_max, w_max, dtype=torch.uint8)
        for i, (_, img) in enumerate(images):
            packed[i, :, : img.shape[-2], : img.shape[-1]] = _as_uint8(img)
        self.packed = packed.to(device)
        self.sizes = torch.tensor([list(t.shape[-2:]) for _, t in images], device=device)
        self.patch, self.batch_size, self.augment, self.generator = patch, batch_size, augment, generator
        self._offsets = torch.arange(patch, device=device)
        self._channels = torch.arange(3, device=device)

    @property
    def nbytes(self) -> int:
        """Device memory of the uploaded images (bytes)."""
        return self.packed.numel()

    def sample(self) -> torch.Tensor:
        g, p, b = self.generator, self.patch, self.batch_size
        dev = self.packed.device
        pick = torch.randint(len(self.sizes), (b,), generator=g, device=dev)
        room = self.sizes[pick] - p + 1  # (b, 2): number of valid top / left positions
        # floor(u * room) with u in [0, 1) is uniform on {0, …, room − 1}
        start = (torch.rand(b, 2, generator=g, device=dev) * room).long().clamp_max(room - 1)
        rows = (start[:, 0:1] + self._offsets)[:, None, :, None]
        cols = (start[:, 1:2] + self._offsets)[:, None, None, :]
        x = self.packed[pick[:, None, None, None], self._channels[None, :, None, None], rows, cols]
        x = x.float().div_(255.0)
        if self.augment:
            flags = (torch.rand(b, 3, generator=g, device=dev) < 0.5).view(b, 3, 1, 1, 1)
            x = torch.where(flags[:, 0], x.flip(-1), x)
            x = torch.where(flags[:, 1], x.flip(-2), x)
            x = torch.where(flags[:, 2], x.transpose(-1, -2), x)
        return x


def _as_uint8(img: torch.Tensor) -> torch.Tensor:
    """An image as 8-bit values: ``uint8`` as it is, ``uint16`` and float in [0, 1] rounded to 8 bits."""
    if img.dtype == torch.uint8:
        return img
    if img.dtype == torch.uint16:
        return (img.double() / 65535 * 255).round().to(torch.uint8)
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


def device_blur(x: torch.Tensor, sigma: float, size: int = 21) -> torch.Tensor:
    """Gaussian blur of a batch ``(B, C, H, W)`` on its own device: two 1-D ``size``-tap passes with mirrored
    borders (reflect-101), equal to :func:`faiglib.data.degradations.blur` up to float rounding."""
    if x.dim() != 4:
        raise ValueError(f"device_blur expects a batch (B, C, H, W), got {tuple(x.shape)}")
    pad = size // 2
    if min(x.shape[-2:]) <= pad:
        raise ValueError(f"image {tuple(x.shape[-2:])} too small for a {size}x{size} blur (needs > {pad} pixels)")
    g = gaussian_kernel(sigma, size, torch.float64)[size // 2]
    g = (g / g.sum()).to(dtype=x.dtype, device=x.device)
    b, c, h, w = x.shape
    y = F.pad(x.reshape(b * c, 1, h, w), (pad, pad, pad, pad), mode="reflect")
    y = F.conv2d(F.conv2d(y, g.view(1, 1, 1, size)), g.view(1, 1, size, 1))
    return y.reshape(b, c, h, w)


def device_degrade(hr: torch.Tensor, degradation: Degradation, generator: torch.Generator, p_blur: float = 0.5,
                   p_noise: float = 0.5) -> torch.Tensor:
    """Training-time degradation of a batch ``(B, 3, H, W)`` on the device of ``generator``: blur and noise each
    applied per sample with probability ``p_blur`` / ``p_noise`` at the fixed strengths of ``degradation``
    (the recipe of :func:`~faiglib.data.degradations.random_degrade`, with device draws)."""
    for name, p in (("p_blur", p_blur), ("p_noise", p_noise)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {p}")
    n = hr.shape[0]
    flags = torch.rand(n, 2, generator=generator, device=hr.device)
    use_blur = (flags[:, 0] < p_blur).view(n, 1, 1, 1)
    use_noise = (flags[:, 1] < p_noise).view(n, 1, 1, 1)
    x = torch.where(use_blur, device_blur(hr, degradation.blur_sigma, degradation.blur_size), hr) if p_blur > 0 else hr
    lr = downsample(x, degradation.scale, degradation.resize)
    noise = torch.randn(lr.shape, generator=generator, device=lr.device, dtype=lr.dtype)
    lr = torch.where(use_noise, lr + degradation.noise_sigma * noise, lr)
    return lr.clamp(0.0, 1.0) if degradation.clip else lr


def stage_config(stage: str, profile: Profile, network: NetSpec, seed: int, data_label: str,
                 train_names: Sequence[str], init_state: Mapping[str, torch.Tensor] | None) -> dict:
    """The configuration :func:`~faiglib.training.stages.train_stage` keys a fixed-level baseline / target
    checkpoint by (its ``config_key`` is the hash of this dict); the resident loop writes the same key so that
    ``train_stage`` -- and hence ``Workspace.pair()`` -- returns the resident checkpoint as finished."""
    if stage not in ("baseline", "target"):
        raise ValueError(f"the resident trainer does the baseline and target stages, not {stage!r}")
    return {"stage": stage, "network": network.label, "seed": seed, "data": data_label,
            "settings": stage_settings(stage, profile), "train_images": list(train_names),
            "init": init_digest(init_state)}


def _autocast(device: torch.device, precision: str):
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use one of {PRECISIONS}")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@torch.enable_grad()
def train_resident_stage(stage: str, *, profile: Profile, network: NetSpec, patches: ResidentPatches,
                         val_images, out_dir: str | Path, seed: int = 0, data_label: str = "",
                         train_names: Sequence[str] = (), init_state: Mapping[str, torch.Tensor] | None = None,
                         precision: str = "bf16", compile: bool = False, log_every: int = 100,
                         iterations: int | None = None, save: bool = True,
                         log: Callable[[str], None] | None = None,
                         should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train one stage on the device of ``patches`` and save it as ``train_stage`` would (see the module
    docstring). ``patches.generator`` drives the patches, a second generator on the same device (seeded from
    ``seed`` and the stage) the degradations. ``iterations`` (benchmarks): run that many steps of the stage's
    schedule and do not save (``save=False`` also skips saving). Returns a :class:`TrainResult`;
    ``history["seconds"]`` is the wall time of the loop (synchronised), ``history["it_per_s"]`` its rate.

    Resumable: every ``profile.checkpoint_every`` iterations, and when ``should_stop()`` (asked after every
    iteration; e.g. a deadline) says so, the resume state -- model, EMA, Adam, the patch and degradation
    generators -- is written; the call then returns with ``history["paused_at"]`` and ``checkpoint`` the resume
    file. A later call with the same configuration continues from it and ends with the weights of an
    uninterrupted run (same draws, same order)."""
    if stage == "target" and init_state is None:
        raise ValueError("the target stage is fine-tuned from the baseline: pass init_state")
    device = patches.packed.device
    out_dir = Path(out_dir)
    final = out_dir / f"{network.label}_{stage}.pth"
    config = stage_config(stage, profile, network, seed, data_label, train_names, init_state)
    total = {"baseline": profile.baseline_iters, "target": profile.target_iters}[stage]
    base_lr = {"baseline": profile.lr_baseline, "target": profile.lr_target}[stage]
    run = ResumableRun(final, out_dir / f"{network.label}_{stage}.resume.pth", config, total,
                       profile.checkpoint_every, None, f"{network.label} {stage}")
    save = save and iterations is None
    if save:
        cached = run.finished()
        if cached is not None:
            return cached
    steps = total if iterations is None else int(iterations)

    model = build_seeded(network, profile.scale, seed)
    if init_state is not None:
        model.load_state_dict(init_state)
    model.to(device).train()
    model = model.to(memory_format=torch.channels_last)
    ema = None
    if profile.ema_decay:
        ema = build_seeded(network, profile.scale, seed).to(device)
        ema.load_state_dict(model.state_dict())
        ema.requires_grad_(False)
    fused = device.type == "cuda"
    optimizer = torch.optim.Adam(model.parameters(), lr=base_lr, betas=(0.9, 0.99), fused=fused)
    start = 0
    forward = torch.compile(model) if compile else model
    degradation = degradation_of(profile)
    stage_offset = 0 if stage == "baseline" else 1
    degrade_gen = torch.Generator(device=device).manual_seed(seed * 4 + 2 * stage_offset + 1)
    amp = lambda: _autocast(device, precision)  # noqa: E731 - a fresh context per step
    params, ema_params = list(model.parameters()), list(ema.parameters()) if ema is not None else []
    history: dict = {"loss": [], "val_psnr": [], "val_kinds": ["clean"] if stage == "baseline" else ["blur", "noise"],
                     "seconds": 0.0, "trainer": TRAINER, "precision": precision, "compiled": bool(compile)}
    resumed = run.resumed() if save else None
    if resumed is not None:
        start = int(resumed["iteration"])
        model.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        if ema is not None:
            ema.load_state_dict(resumed["ema"])
        patches.generator.set_state(resumed["patch_generator"])
        degrade_gen.set_state(resumed["degrade_generator"])
        history = {**history, **json.loads(resumed["history"])}
        history.pop("paused_at", None)
        if log is not None:
            log(f"{network.label} {stage}: resumed at iteration {start}/{total}")

    def resume_state() -> dict:
        return {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "ema": None if ema is None else {k: v.detach().cpu() for k, v in ema.state_dict().items()},
                "optimizer": optimizer.state_dict(), "patch_generator": patches.generator.get_state(),
                "degrade_generator": degrade_gen.get_state(),
                # the loss summed since the last logged iteration, so that a resumed log averages the same steps
                "running_loss": running.detach().cpu()}

    previous_seconds = float(history["seconds"])
    running = torch.zeros((), device=device)
    if resumed is not None:
        running += resumed["running_loss"].to(device)
    _sync(device)
    tic = time.perf_counter()
    for it in range(start, steps):
        hr = patches.sample()
        if stage == "baseline":
            lr = downsample(hr, profile.scale, profile.resize)
        else:
            lr = device_degrade(hr, degradation, degrade_gen, profile.p_blur, profile.p_noise)
        lr = lr.contiguous(memory_format=torch.channels_last)
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(base_lr, it, total, profile.warmup_iters)
        with amp():
            out = forward(lr)
        loss = F.l1_loss(out.float(), hr)  # fp32 loss on fp32 master weights
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(ema_params, params, 1.0 - profile.ema_decay)
        running += loss.detach()
        if (it + 1) % log_every == 0 or it + 1 == steps:
            n = (it % log_every) + 1
            history["loss"].append([it + 1, float(running) / n])  # the only sync of the loop
            running.zero_()
            if log is not None:
                log(f"{network.label} {stage} {it + 1}/{steps} loss {history['loss'][-1][1]:.4f} "
                    f"({time.perf_counter() - tic:.1f} s)")
        if save and it + 1 < steps:
            stop = should_stop is not None and should_stop()
            if stop or (it + 1) % profile.checkpoint_every == 0:
                _sync(device)
                history["seconds"] = round(previous_seconds + time.perf_counter() - tic, 3)
                run.save_state(it, history, resume_state())
            if stop:
                history["paused_at"] = it + 1
                if log is not None:
                    log(f"{network.label} {stage}: stopped at iteration {it + 1}/{total} (resume state saved)")
                return run.paused(history)
    _sync(device)
    loop_seconds = time.perf_counter() - tic
    history["seconds"] = round(previous_seconds + loop_seconds, 3)
    history["it_per_s"] = round((steps - start) / max(loop_seconds, 1e-9), 2)
    if not save:
        return TrainResult(final, history, 0)
    model = model.to(memory_format=torch.contiguous_format)
    final_model = ema if ema is not None else model
    val_set = build_analysis_set(val_images, degradation, seed=seed)
    history["val_psnr"].append([total, round(evaluate_psnr(final_model, val_set, history["val_kinds"], device), 4)])
    check_finite(dict(model.state_dict()), f"{network.label} {stage}")
    save_model(final, model.cpu(), arch=network.arch, arch_kwargs=network.kwargs(profile.scale),
               ema=ema.cpu() if ema is not None else None, stage=stage, profile=profile.name, seed=seed,
               data=data_label, iterations=total, config_key=run.key, history=history, trainer=TRAINER)
    return run.result(history)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_resident_pair(ws, *, precision: str = "bf16", compile: bool = False, log_every: int = 100,
                        log: Callable[[str], None] | None = None,
                        should_stop: Callable[[], bool] | None = None) -> tuple[TrainResult, TrainResult] | None:
    """Baseline then target of a :class:`~faiglib.studies.workspace.Workspace` (fixed-level target only) with the
    resident loop, written into the workspace's store entries; then ``ws.pair()`` (which finds them) is
    returned. A pair already in the store is not retrained; a stage stopped by ``should_stop`` (see
    :func:`train_resident_stage`) leaves its resume state in the store and the call returns ``None``."""
    if getattr(ws, "levels", False):
        raise ValueError("the resident trainer does fixed-level targets only; use Workspace.pair() for levels=True")
    spec, profile = ws.spec, ws.recipe  # the network's own training recipe (NetSpec.training)
    device = torch.device(ws.device)
    train = ws.train_images()
    names = [n for n, _ in train]
    data_label = str(ws.train_data)  # what Workspace.pair() passes to train_stage
    val_images = [(n, center_crop(x, 128, profile.scale)) for n, x in ws.analysis_images()[:4]]
    common = dict(profile=profile, network=spec, val_images=val_images, seed=ws.seed, data_label=data_label,
                  train_names=names, precision=precision, compile=compile, log_every=log_every, log=log)
    for stage in ("baseline", "target"):
        parts = ws.baseline_parts() if stage == "baseline" else ws.target_parts()
        with ws.store.entry(stage, parts) as folder:
            init = None
            if stage == "target":
                base_path = ws.store.path("baseline", ws.baseline_parts()) / f"{spec.label}_baseline.pth"
                init = load_state(base_path)[0]  # as Workspace.pair() loads it (EMA weights if any)
            gen = torch.Generator(device=device).manual_seed(ws.seed * 4 + (0 if stage == "baseline" else 2))
            patches = ResidentPatches(train, profile.hr_patch, profile.batch_size, gen)
            result = train_resident_stage(stage, patches=patches, out_dir=folder, init_state=init,
                                          should_stop=should_stop, **common)
            del patches
        if "paused_at" in result.history:
            return None
    return ws.pair()

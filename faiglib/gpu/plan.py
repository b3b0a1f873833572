"""The GPU run's cost model: every stage's FLOPs, their estimated seconds on the device, the dry run (here) and the
preflight (on the device, with measured rates).

Sizing (``--dry-run``): every stage's FLOPs are counted (:func:`faiglib.models.complexity.complexity`, FLOPs
per LR pixel of one forward pass) and multiplied by what the stage does (training: batch x patch pixels x 3
for forward + backward, per iteration; FAIG and IG: images' pixels x 2 degradations x N x 3; masking: pixels
x selections x 2 inputs, forward only), divided by :data:`ASSUMED_BF16_FLOPS` (bf16) or
:data:`ASSUMED_FP32_FLOPS` (fp32/TF32 work), plus a fixed cost per training iteration for kernel launches and
the optimiser (:data:`ASSUMED_STEP_OVERHEAD_S`). The same FLOP model is checked against the CPU: the dry run
times a few training steps and a FAIG call of the same network on this CPU and prints the throughput it
reaches, so that the GPU assumption can be read as a multiple of a measured number. The preflight
(``--preflight``, ``make gpu-check``) measures the device instead and corrects the estimate.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import torch

__all__ = ["ASSUMED_BF16_FLOPS", "ASSUMED_FP32_FLOPS", "ASSUMED_STEP_OVERHEAD_S", "BUDGET_S", "DEFAULT_TIME_LIMIT_S",
           "flops_per_lr_pixel", "plan", "estimate", "dry_run", "preflight"]

#: H200 (SXM) dense bf16 tensor-core peak is ~989 TFLOP/s; 3x3 convs with 64 channels at small batches reach a
#: fraction of it. Assumed sustained: 10 % of the peak (conservative; measured numbers belong in
#: benchmarks/results-gpu.txt once the machine is lent).
ASSUMED_BF16_FLOPS = 0.10 * 989e12
#: fp32 work (IG, reference outputs) runs as TF32 convolutions in cuDNN: half the bf16 rate assumed.
ASSUMED_FP32_FLOPS = ASSUMED_BF16_FLOPS / 2
#: Per training iteration, independent of the FLOPs: ~250 kernel launches (forward, backward, fused Adam,
#: EMA, sampling, degradation) at a few microseconds each.
ASSUMED_STEP_OVERHEAD_S = 1.5e-3
#: One command may run 10 minutes; the run must fit in 8 (start-up, packing and slack take the rest).
BUDGET_S = 8 * 60
#: Of one 10-minute command: the stages stop starting (and training pauses) after this many seconds, leaving
#: about 2 minutes for the interpreter's start, data upload before and packing after.
DEFAULT_TIME_LIMIT_S = 480.0


# ---- the plan: FLOPs of each stage and the estimate ---------------------------------------------------------

def _lr_pixels(ws) -> list[int]:
    return [int(x.shape[-2] * x.shape[-1]) for x in ws.analysis_set().lr["clean"]]


def flops_per_lr_pixel(spec, scale: int) -> float:
    """Forward FLOPs per LR pixel of ``spec`` (measured on a 64x64 input: the count is linear in pixels)."""
    from faiglib.models.complexity import complexity
    from faiglib.models.networks import build_network

    c = complexity(build_network(spec.arch, **spec.kwargs(scale)), (64, 64))
    return c.flops / (64 * 64)


def plan(ws, classify: bool = False) -> list[dict[str, Any]]:
    """The stages of :func:`run` with their FLOPs, precision and fixed costs: ``[{"stage", "flops",
    "precision", "fixed_s", "what"}]``."""
    p = ws.recipe  # the network's own training recipe; the rest is the profile's
    per_px = flops_per_lr_pixel(ws.spec, p.scale)
    pixels = _lr_pixels(ws)
    n_px = sum(pixels)
    patch_px = p.batch_size * (p.hr_patch // p.scale) ** 2
    n_methods = 3  # faig, ig, abs_change
    stages = [
        {"stage": "train baseline", "flops": 3 * per_px * patch_px * p.baseline_iters, "precision": "bf16",
         "fixed_s": ASSUMED_STEP_OVERHEAD_S * p.baseline_iters,
         "what": f"{p.baseline_iters} it x {p.batch_size} x {p.hr_patch}^2 HR"},
        {"stage": "train target", "flops": 3 * per_px * patch_px * p.target_iters, "precision": "bf16",
         "fixed_s": ASSUMED_STEP_OVERHEAD_S * p.target_iters,
         "what": f"{p.target_iters} it x {p.batch_size} x {p.hr_patch}^2 HR"},
        {"stage": "FAIG", "flops": 3 * per_px * n_px * 2 * p.n_steps, "precision": p.precision, "fixed_s": 0.0,
         "what": f"{len(pixels)} images, {n_px} LR px, 2 degradations, N = {p.n_steps}"},
        {"stage": "IG", "flops": 3 * per_px * n_px * 2 * p.n_steps, "precision": "fp32", "fixed_s": 0.0,
         "what": f"{len(pixels)} images, 2 degradations, N = {p.n_steps}"},
        # the tables the chapters ask for, so that they read them from the store: the baselines chapter's
        # (Table 2 and Fig. 3: every method at every curve proportion) and the masking chapter's (FAIG and random)
        {"stage": "Table 2 / Fig. 3 masking",
         "flops": per_px * n_px * 2 * 2 * len(p.curve_proportions) * (n_methods + p.yardstick_draws),
         "precision": "fp32", "fixed_s": 0.0,
         "what": f"{len(p.curve_proportions)} proportions x 2 filter sets x ({n_methods} methods + "
                 f"{p.yardstick_draws} random) x 2 inputs"},
        {"stage": "masking chapter", "flops": per_px * n_px * 2 * 2 * len(p.mask_proportions) * (1 + p.yardstick_draws),
         "precision": "fp32", "fixed_s": 0.0,
         "what": f"{len(p.mask_proportions)} proportions x 2 filter sets x (FAIG + {p.yardstick_draws} random) "
                 f"x 2 inputs"},
    ]
    if classify:
        crop = p.classify_crop or 512
        n_cls = 15  # the embedded validation + test photos (8 + 7)
        n = p.n_steps if p.classify_n_steps is None else p.classify_n_steps
        stages.append({"stage": "classification", "flops": 3 * per_px * n_cls * 4 * n * (crop // p.scale) ** 2,
                       "precision": p.precision, "fixed_s": 0.0,
                       "what": f"{n_cls} images x 4 versions, {crop}^2 crops, N = {n}"})
    stages.append({"stage": "start-up, data, packing", "flops": 0.0, "precision": "fp32", "fixed_s": 30.0,
                   "what": "imports, image decoding, upload, cuDNN autotuning, tar (assumed)"})
    return stages


def estimate(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each stage of :func:`plan` with ``seconds`` = FLOPs / assumed throughput + fixed cost."""
    out = []
    for s in stages:
        rate = ASSUMED_BF16_FLOPS if s["precision"] == "bf16" else ASSUMED_FP32_FLOPS
        out.append({**s, "seconds": s["flops"] / rate + s["fixed_s"]})
    return out


def _cpu_throughput(spec, scale: int) -> dict[str, float]:
    """FLOP/s this CPU reaches on the network's training step (fp32, batch 2 of 32x32 LR) and on a FAIG
    call (one 32x32 LR image, N = 2), by the same FLOP model as :func:`plan`."""
    from faiglib.methods.faig import faig
    from faiglib.training.stages import build_seeded

    per_px = flops_per_lr_pixel(spec, scale)
    model = build_seeded(spec, scale, 0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g)
    y = torch.rand(2, 3, 32 * scale, 32 * scale, generator=g)

    def step():
        loss = torch.nn.functional.l1_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    tic = time.perf_counter()
    for _ in range(3):
        step()
    train_rate = 3 * 3 * per_px * 2 * 32 * 32 / (time.perf_counter() - tic)
    base = {k: v + 0.01 for k, v in model.state_dict().items()}
    faig(model, base, model.state_dict(), x[:1], y[:1], n_steps=1)
    tic = time.perf_counter()
    faig(model, base, model.state_dict(), x[:1], y[:1], n_steps=2)
    faig_rate = 3 * per_px * 32 * 32 * 2 / (time.perf_counter() - tic)
    return {"train_flops_per_s": train_rate, "faig_flops_per_s": faig_rate}


def dry_run(ws, classify: bool = False, budget_s: float = BUDGET_S,
            measure_cpu: bool = True, print_: Callable[[str], None] = print) -> dict[str, Any]:
    """Print the plan, its estimated GPU seconds and the CPU's measured throughput; return them. Raises
    ``ValueError`` when the estimate exceeds ``budget_s`` (shrink the profile's iterations)."""
    p = ws.recipe
    stages = estimate(plan(ws, classify))
    total = sum(s["seconds"] for s in stages)
    print_(f"profile {p.name}: {ws.spec.label}, {len(_lr_pixels(ws))} analysis images ({sum(_lr_pixels(ws))} LR px)")
    print_(f"assumed sustained throughput: bf16 {ASSUMED_BF16_FLOPS / 1e12:.0f} TFLOP/s (10 % of the H200's "
           f"989 TFLOP/s dense peak), fp32/TF32 {ASSUMED_FP32_FLOPS / 1e12:.0f} TFLOP/s, "
           f"+{ASSUMED_STEP_OVERHEAD_S * 1e3:.1f} ms per training iteration")
    for s in stages:
        print_(f"  {s['stage']:<24s} {s['flops'] / 1e15:8.3f} PFLOP  {s['precision']:>4s}  {s['seconds']:7.1f} s"
               f"   ({s['what']})")
    print_(f"  {'total':<24s} {sum(s['flops'] for s in stages) / 1e15:8.3f} PFLOP        {total:7.1f} s"
           f"   (budget {budget_s:.0f} s)")
    iters = p.baseline_iters + p.target_iters
    print_(f"training: {p.baseline_iters} + {p.target_iters} = {iters} iterations of batch {p.batch_size} on "
           f"{p.hr_patch}^2 HR patches; the paper: 1,000,000 + 100,000 ({iters / 1.1e6:.1%} of it)")
    result: dict[str, Any] = {"stages": stages, "total_s": total, "budget_s": budget_s}
    if measure_cpu:
        with torch.inference_mode(False):
            cpu = _cpu_throughput(ws.spec, p.scale)
        result["cpu"] = cpu
        print_(f"this CPU ({torch.get_num_threads()} threads): training step {cpu['train_flops_per_s'] / 1e9:.1f} "
               f"GFLOP/s, FAIG {cpu['faig_flops_per_s'] / 1e9:.1f} GFLOP/s (same FLOP model); the bf16 assumption "
               f"is x{ASSUMED_BF16_FLOPS / cpu['train_flops_per_s']:.0f} the CPU's training rate; this run would "
               f"take ~{sum(s['flops'] for s in stages) / cpu['train_flops_per_s'] / 3600:.0f} h here")
    if total > budget_s:
        raise ValueError(f"estimated {total:.0f} s exceeds the {budget_s:.0f} s budget: lower baseline_iters/"
                         f"target_iters or yardstick_draws of profile {p.name!r}")
    return result


def preflight(ws, time_limit_s: float = DEFAULT_TIME_LIMIT_S, classify: bool = False, steps: int = 20,
              print_: Callable[[str], None] = print) -> dict[str, Any]:
    """About a minute on the device before the run: CUDA visible (for a ``cuda`` workspace), bf16 autocast and
    channels-last layout working, then the profile's training step (``steps`` iterations of the resident loop,
    nothing saved) and a FAIG call on the first analysis image (N = 2) measured. The plan of :func:`plan` is
    re-estimated with these rates; prints the corrected seconds per stage, go / no-go against ``time_limit_s``
    and the training iterations that fit. Returns ``{"checks", "it_per_s", "faig_flops_per_s", "stages",
    "total_s", "go", "iterations_that_fit"}``."""
    from faiglib.methods.faig import faig
    from faiglib.training.resident import ResidentPatches, train_resident_stage
    from faiglib.training.stages import build_seeded

    p, device = ws.recipe, torch.device(ws.device)
    checks = {"device": str(device)}
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("CUDA is not visible here: run the preflight on the GPU machine (or --device cpu)")
        checks["cuda"] = torch.cuda.get_device_name(device)
    net = build_seeded(ws.spec, p.scale, 0).to(device).to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 16, 16, device=device).contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
        y = net(x)
    checks["bf16_autocast"] = bool(torch.isfinite(y.float()).all())
    checks["channels_last"] = tuple(y.shape) == (1, 3, 16 * p.scale, 16 * p.scale)
    print_(f"checks: {checks}")
    gen = torch.Generator(device=device).manual_seed(0)
    patches = ResidentPatches(ws.train_images(), p.hr_patch, p.batch_size, gen)
    val = [(n, x) for n, x in ws.analysis_images()[:1]]
    common = dict(profile=p, network=ws.spec, patches=patches, val_images=val, out_dir=".", save=False,
                  precision="bf16" if device.type == "cuda" else "fp32")
    train_resident_stage("baseline", iterations=2, **common)  # warm-up (cuDNN autotuning)
    rate = train_resident_stage("baseline", iterations=steps, **common).history["it_per_s"]
    aset = ws.analysis_set()
    model = ws.architecture()
    base = {k: v + 0.01 for k, v in model.state_dict().items()}
    lr, hr = aset.lr["blur"][0][None].to(device), aset.hr[0][None].to(device)
    faig(model, base, model.state_dict(), lr, hr, n_steps=1)
    tic = time.perf_counter()
    faig(model, base, model.state_dict(), lr, hr, n_steps=2)
    if device.type == "cuda":
        torch.cuda.synchronize()
    faig_rate = 3 * flops_per_lr_pixel(ws.spec, p.scale) * lr.shape[-2] * lr.shape[-1] * 2 / (time.perf_counter() - tic)
    stages = []
    for s in plan(ws, classify):
        if s["stage"].startswith("train "):
            iters = p.baseline_iters if s["stage"] == "train baseline" else p.target_iters
            seconds = iters / rate
        else:
            seconds = s["flops"] / faig_rate + s["fixed_s"]
        stages.append({**s, "seconds": seconds})
    total = sum(s["seconds"] for s in stages)
    other = sum(s["seconds"] for s in stages if not s["stage"].startswith("train "))
    fit = max(0, int((time_limit_s - other) * rate))
    share = p.baseline_iters / max(p.baseline_iters + p.target_iters, 1)
    iterations = {"baseline": int(fit * share), "target": fit - int(fit * share)}
    for s in stages:
        print_(f"  {s['stage']:<24s} {s['seconds']:8.1f} s   ({s['what']})")
    go = total <= time_limit_s
    print_(f"measured: {rate:.1f} training it/s, FAIG {faig_rate / 1e12:.2f} TFLOP/s; estimated {total:.0f} s of the "
           f"{time_limit_s:.0f} s limit: {'GO' if go else 'NO-GO'}; iterations that fit beside the other stages: "
           f"{iterations['baseline']} + {iterations['target']} (profile: {p.baseline_iters} + {p.target_iters})")
    return {"checks": checks, "it_per_s": rate, "faig_flops_per_s": faig_rate, "stages": stages, "total_s": total,
            "go": go, "iterations_that_fit": iterations}

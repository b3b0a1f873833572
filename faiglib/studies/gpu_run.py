"""The paper's scale on one GPU in one command (``make gpu-run``): train the MSRResNet pair with the resident
bf16 loop, then FAIG (N = 100) and IG on the analysis images, Table 2 (FAIG / IG / |θ−θ̄| / random) and the
Fig. 3 curves by batched masking, all into a :class:`~faiglib.studies.workspace.Workspace`'s store; then pack
the store into at most :data:`MAX_PARTS` files of at most :data:`PART_BYTES` under ``--out`` with a manifest of
their SHA-256 digests, the results JSON and a timing log. ``--unpack`` (back on the CPU, ``make gpu-unpack``)
verifies every part and file against the manifest before writing anything (a missing, truncated or altered part
is a one-line error), moves the store entries into ``artifacts/`` with atomic renames, and checks that a
Workspace with the same data finds them, so the notebooks run with ``PROFILE=gpu`` from the store without
recomputing.

Plain Python with the machine's own interpreter: torch, numpy, scikit-image, tqdm (no papermill, no venv).

Sizing (``--dry-run``): every stage's FLOPs are counted (:func:`faiglib.models.complexity.complexity`, FLOPs
per LR pixel of one forward pass) and multiplied by what the stage does (training: batch x patch pixels x 3
for forward + backward, per iteration; FAIG and IG: images' pixels x 2 degradations x N x 3; masking: pixels
x selections x 2 inputs, forward only), divided by :data:`ASSUMED_BF16_FLOPS` (bf16) or
:data:`ASSUMED_FP32_FLOPS` (fp32/TF32 work), plus a fixed cost per training iteration for kernel launches and
the optimiser (:data:`ASSUMED_STEP_OVERHEAD_S`). The same FLOP model is checked against the CPU: the dry run
times a few training steps and a FAIG call of the same network on this CPU and prints the throughput it
reaches, so that the GPU assumption can be read as a multiple of a measured number.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any, Callable

import torch

from faiglib.core.checkpoint import MANIFEST, atomic_write_bytes, atomic_write_text, file_sha256

__all__ = ["ASSUMED_BF16_FLOPS", "ASSUMED_FP32_FLOPS", "ASSUMED_STEP_OVERHEAD_S", "BUDGET_S", "MAX_PARTS",
           "PART_BYTES", "MANIFEST_NAME", "DEFAULT_TIME_LIMIT_S", "Clock", "PackError", "estimate", "pack_store",
           "verify_pack", "unpack", "remaining_iterations", "run", "preflight", "main"]

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
#: What comes back from the device: at most 8 files of at most 16 MiB and 64 MiB together; 3 are the results
#: JSON, the log and the pack's manifest, so the store gets 4 parts of 15 MiB (60 MiB).
MAX_PARTS = 4
PART_BYTES = 15 * 2 ** 20
PACK_NAME = "store.tar.gz"
#: the pack's manifest: every part's size and SHA-256, and every packed file's SHA-256, written after the parts.
MANIFEST_NAME = "store.manifest.json"


class PackError(ValueError):
    """A returned pack that is incomplete or altered: nothing of it is unpacked."""


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
    p = ws.profile
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
    p = ws.profile
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


# ---- packing -------------------------------------------------------------------------------------------------

def _skip(name: str) -> bool:
    base = os.path.basename(name)
    # resume states travel: a second call continues an unfinished training from them
    return base.endswith(".lock") or base == "file-digests.json" \
        or (base.startswith(".") and base.endswith(".tmp")) or name.startswith("quarantine")


def pack_store(store_root: str | Path, out: str | Path, max_parts: int = MAX_PARTS,
               part_bytes: int = PART_BYTES) -> list[Path]:
    """Pack ``store_root`` (its entries and resume states; no locks or quarantined files) into a gzipped tar split
    into ``out/store.tar.gz.partNN`` files of at most ``part_bytes``, then ``out/store.manifest.json`` (each
    part's size and SHA-256, the whole pack's, and each packed file's). Raises ``ValueError`` (before writing
    any part) if it needs more than ``max_parts``."""
    store_root, out = Path(store_root), Path(out)
    buffer = io.BytesIO()
    files: dict[str, str] = {}
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for path in sorted(store_root.rglob("*")):
            rel = path.relative_to(store_root)
            if path.is_file() and not _skip(str(rel)):
                name = (Path("store") / rel).as_posix()
                files[name] = file_sha256(path)
                tar.add(path, arcname=name)
    data = buffer.getvalue()
    n = max(1, -(-len(data) // part_bytes))
    if n > max_parts:
        raise ValueError(f"the packed store is {len(data) / 2 ** 20:.1f} MiB: {n} parts of "
                         f"{part_bytes / 2 ** 20:.0f} MiB, more than the {max_parts} allowed; leave out a stage "
                         f"(e.g. --no-classify) or shrink the profile")
    out.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(n):
        path = out / f"{PACK_NAME}.part{i:02d}"
        atomic_write_bytes(data[i * part_bytes: (i + 1) * part_bytes], path)
        parts.append(path)
    manifest = {"pack": PACK_NAME, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                "parts": [{"name": q.name, "bytes": q.stat().st_size, "sha256": file_sha256(q)} for q in parts],
                "files": files}
    # written last: a pack without its manifest is one whose packing did not finish
    atomic_write_text(json.dumps(manifest, indent=1) + "\n", out / MANIFEST_NAME)
    return parts


def verify_pack(source: str | Path) -> tuple[dict[str, Any], bytes]:
    """``(manifest, the joined pack)`` of a returned folder, after checking every part named in its manifest
    (present, size, SHA-256), that no other part is there, the whole pack's SHA-256, and that the archive holds
    exactly the manifest's files with their SHA-256 under ``store/``. Raises :class:`PackError` with one line
    naming what is wrong; reads only."""
    source = Path(source)
    manifest_path = source / MANIFEST_NAME
    if not manifest_path.is_file():
        found = sorted(q.name for q in source.glob(f"{PACK_NAME}.part*"))
        raise PackError(f"{source}: no {MANIFEST_NAME}" + (f" beside {len(found)} part(s): the run stopped before "
                        "its packing finished" if found else ": pass the folder the GPU run's $OUT came back to"))
    try:
        manifest = json.loads(manifest_path.read_text())
        listed = [(q["name"], int(q["bytes"]), str(q["sha256"])) for q in manifest["parts"]]
        files = dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as err:
        raise PackError(f"{manifest_path}: not a pack manifest ({type(err).__name__}: {err})") from None
    extra = sorted({q.name for q in source.glob(f"{PACK_NAME}.part*")} - {name for name, _, _ in listed})
    if extra:
        raise PackError(f"{source}: part(s) {extra} are not in the manifest (from another run?)")
    chunks = []
    for name, size, sha in listed:
        part = source / name
        if not part.is_file():
            raise PackError(f"{part}: missing ({len(listed)} parts listed); copy back every part of the run")
        data = part.read_bytes()
        if len(data) != size:
            raise PackError(f"{part}: {len(data)} bytes, the manifest says {size} (truncated or replaced)")
        if hashlib.sha256(data).hexdigest() != sha:
            raise PackError(f"{part}: its SHA-256 differs from the manifest's (altered in transfer)")
        chunks.append(data)
    data = b"".join(chunks)
    if hashlib.sha256(data).hexdigest() != manifest.get("sha256"):
        raise PackError(f"{source}: the joined parts differ from the pack the run wrote (parts out of order?)")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = {m.name: m for m in tar.getmembers()}
            bad = [n for n, m in members.items() if not n.startswith("store/") or ".." in Path(n).parts
                   or not (m.isfile() or m.isdir())]
            if bad:
                raise PackError(f"{source}: unexpected archive members {bad[:3]}; not a packed faiglib store")
            held = {n for n, m in members.items() if m.isfile()}
            if held != set(files):
                raise PackError(f"{source}: the archive holds {len(held)} files, the manifest {len(files)}")
            for name in sorted(held):
                with tar.extractfile(members[name]) as fh:
                    if hashlib.sha256(fh.read()).hexdigest() != files[name]:
                        raise PackError(f"{source}: {name} differs from its SHA-256 in the manifest")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise PackError(f"{source}: the pack does not decompress ({type(err).__name__}: {err})") from None
    return manifest, data


def unpack(source: str | Path, into: str | Path, results: str | Path | None = None) -> dict[str, Any]:
    """Verify ``source`` (:func:`verify_pack`: nothing is written unless every part and file checks out), then
    extract the store into a temporary folder beside ``into/store`` and move each file into place with an atomic
    rename: a file already there with the same bytes is kept, one with other bytes (an earlier broken unpack)
    replaced, and each entry's digest manifest merged. Copies ``gpu_run.json`` (if there) to
    ``results/<profile>/gpu_run.json``. Returns the results JSON (``{}`` if none)."""
    source, into = Path(source), Path(into)
    manifest, data = verify_pack(source)
    into.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=into))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for m in tar.getmembers():
                if m.isfile():
                    target = staging / m.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(m) as fh, open(target, "wb") as dst:
                        shutil.copyfileobj(fh, dst)
        names = sorted(manifest["files"], key=lambda n: (Path(n).name == MANIFEST, n))  # manifests last
        for name in names:
            target, staged = into / name, staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if Path(name).name == MANIFEST and target.exists():
                merged = {**json.loads(target.read_text()), **json.loads(staged.read_text())}
                atomic_write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n", target)
            elif not (target.exists() and file_sha256(target) == manifest["files"][name]):
                os.replace(staged, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    payload: dict[str, Any] = {}
    found = source / "gpu_run.json"
    if found.exists():
        payload = json.loads(found.read_text())
        if results is not None:
            dest = Path(results) / payload["profile"] / "gpu_run.json"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(found, dest)
    return payload


# ---- the run -------------------------------------------------------------------------------------------------

class _Log:
    """Timing log: printed and appended to ``path`` line by line (a killed run still leaves what it did)."""

    def __init__(self, path: Path | None) -> None:
        self.path, self.t0, self.stages = path, time.perf_counter(), {}
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")

    def __call__(self, line: str) -> None:
        line = f"[{time.perf_counter() - self.t0:7.1f} s] {line}"
        print(line, flush=True)
        if self.path is not None:
            with open(self.path, "a") as fh:
                fh.write(line + "\n")

    def stage(self, name: str, fn: Callable[[], Any]) -> Any:
        tic = time.perf_counter()
        self(f"{name} ...")
        value = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.stages[name] = round(time.perf_counter() - tic, 2)
        self(f"{name} done in {self.stages[name]:.1f} s")
        return value


#: Of one 10-minute command: the stages stop starting (and training pauses) after this many seconds, leaving
#: about 2 minutes for the interpreter's start, data upload before and packing after.
DEFAULT_TIME_LIMIT_S = 480.0


class Clock:
    """The run's deadline: ``limit_s`` seconds after it was made (``None``: never)."""

    def __init__(self, limit_s: float | None) -> None:
        if limit_s is not None and not limit_s > 0:
            raise ValueError(f"the time limit must be > 0 seconds, got {limit_s!r}")
        self.limit_s, self.t0 = limit_s, time.monotonic()

    def left(self) -> float:
        return float("inf") if self.limit_s is None else self.limit_s - (time.monotonic() - self.t0)

    def expired(self) -> bool:
        return self.left() <= 0


def remaining_iterations(ws) -> dict[str, int]:
    """Training iterations still to run per stage: 0 when the stage's checkpoint is in the store, the total
    minus the resume state's iteration when one is there, else the total."""
    from faiglib.core.checkpoint import load_file

    out = {}
    for stage, parts, total in (("baseline", ws.baseline_parts(), ws.profile.baseline_iters),
                                ("target", ws.target_parts(), ws.profile.target_iters)):
        folder = ws.store.path(stage, parts)
        if (folder / f"{ws.spec.label}_{stage}.pth").exists():
            out[stage] = 0
        elif (folder / f"{ws.spec.label}_{stage}.resume.pth").exists():
            out[stage] = total - int(load_file(folder / f"{ws.spec.label}_{stage}.resume.pth")["iteration"])
        else:
            out[stage] = total
    return out


def run(ws, out: str | Path, *, compile: bool = False, train_precision: str = "bf16",
        classify: bool = False, chunk: int = 8, clock: Clock | None = None) -> dict[str, Any]:
    """Everything of the GPU run for one :class:`Workspace` (see the module docstring); returns the results
    payload (also written to ``out/gpu_run.json``, with ``out/timing.log`` and the store parts).

    ``clock`` (default: no limit): no stage starts after its deadline, and training stops there with its resume
    state saved. The pack is written whatever finished -- resume states included -- and ``gpu_run.json`` says
    ``"finished"``, the stages done and skipped, and the training iterations left; a second call with the
    returned folder (``--resume-from``) continues where this one stopped."""
    from faiglib.studies.masking import yardstick_masking
    from faiglib.training.resident import train_resident_pair

    out = Path(out)
    clock = clock or Clock(None)
    log = _Log(out / "timing.log")
    p = ws.profile
    log(f"device {ws.device} ({torch.cuda.get_device_name() if ws.device.startswith('cuda') else platform.processor()}),"
        f" torch {torch.__version__}, profile {p.name}, {ws.spec.label}, seed {ws.seed}, time limit "
        f"{'none' if clock.limit_s is None else f'{clock.limit_s:.0f} s'}")
    if ws.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    done: list[str] = []
    skipped: list[str] = []
    errors: dict[str, str] = {}

    def stage(name: str, fn: Callable[[], Any], needs: bool = True) -> Any:
        if not needs or clock.expired() or errors:
            skipped.append(name)
            why = "an earlier stage failed" if errors else "its inputs are not finished" if not needs else \
                "time limit reached"
            log(f"{name}: skipped ({why})")
            return None
        try:
            value = log.stage(name, fn)
        except Exception as err:  # the pack is still written, with what finished before
            errors[name] = f"{type(err).__name__}: {err}"
            skipped.append(name)
            log(f"{name}: FAILED ({errors[name]})")
            return None
        done.append(name)
        return value

    stage("data", lambda: (ws.train_images(), ws.analysis_set(), ws.analysis_digest()))
    pair = stage("train pair", lambda: train_resident_pair(ws, precision=train_precision, compile=compile, log=log,
                                                           should_stop=clock.expired))
    if pair is None and "train pair" in done:  # it paused: a stage that returned no pair did not finish
        done.remove("train pair")
        skipped.append("train pair")
    trained = pair is not None
    psnr = stage("PSNR table", ws.psnr_table, trained)
    stage("FAIG", ws.scores, trained)
    stage("IG", ws.ig_ranking, trained)
    # exactly what the baselines chapter (method_masking) and the masking chapter (masking_table, gray) ask
    # for, so that back on a CPU they read these tables from the store instead of recomputing them
    table2 = stage("Table 2 / Fig. 3 masking", lambda: yardstick_masking(
        ws, p.curve_proportions, ("gray", "blue"), batch=chunk)["table"], trained)
    stage("masking chapter", lambda: yardstick_masking(ws, p.mask_proportions, ("gray",), ("faig", "random"),
                                                       batch=chunk), trained)
    classification = None
    if classify:
        from faiglib.studies.classification import classify as classify_fn

        classification = stage("classification", lambda: classify_fn(ws), trained)
    history = {k: r.history for k, r in zip(("baseline", "target"), pair)} if trained else {}
    payload = {
        "profile": p.name, "seed": ws.seed, "network": ws.spec.label, "device": ws.device,
        "device_name": torch.cuda.get_device_name() if ws.device.startswith("cuda") else platform.processor(),
        "torch": torch.__version__, "data": str(ws.data), "train_data": str(ws.train_data),
        "pair_keys": ws.pair_keys(), "analysis_digest": ws.analysis_digest(),
        "finished": not skipped, "stages_done": done, "stages_skipped": skipped, "errors": errors,
        "remaining_iterations": remaining_iterations(ws), "time_limit_s": clock.limit_s,
        "iterations": {"baseline": p.baseline_iters, "target": p.target_iters},
        "train_it_per_s": {k: h.get("it_per_s") for k, h in history.items()},
        "train_seconds": {k: h.get("seconds") for k, h in history.items()},
        "psnr": psnr, "table2": table2, "stage_seconds": log.stages, "compiled": compile,
        "train_precision": train_precision, "profile_fields": p.as_dict(),
    }
    if classification is not None:
        payload["classification"] = json.loads(json.dumps(classification, default=_plain))
    ws.write_results("gpu_run", payload)
    shutil.copyfile(Path(ws.results) / p.name / "gpu_run.json", out / "gpu_run.json")
    parts = log.stage("pack", lambda: pack_store(ws.store.root, out))
    state = "finished" if not skipped else f"NOT finished: {', '.join(skipped)} left; run again with --resume-from"
    log(f"packed {sum(q.stat().st_size for q in parts) / 2 ** 20:.1f} MiB into {len(parts)} part(s); {state}; "
        f"total {time.perf_counter() - log.t0:.1f} s")
    return payload


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

    p, device = ws.profile, torch.device(ws.device)
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


def _plain(obj: Any) -> Any:
    if torch.is_tensor(obj):
        return obj.tolist()
    if hasattr(obj, "__dict__"):
        return vars(obj)
    return str(obj)


def _profile(name: str, overrides: list[str]):
    from faiglib.profiles import get_profile

    profile = get_profile(name)
    changes = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not hasattr(profile, key):
            raise ValueError(f"--set takes FIELD=VALUE with a field of Profile, got {item!r}")
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ValueError(f"--set {item}: the value of {key} must be JSON (e.g. 100, 0.5, \"bf16\", [1, 2]), "
                             f"got {value!r}") from None
        changes[key] = tuple(parsed) if isinstance(parsed, list) else parsed
    return profile.with_(**changes) if changes else profile


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="gpu")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=JSON",
                    help="override a profile field, e.g. --set baseline_iters=100 (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=None, help="analysis images (e.g. build/gpu-data/Set14)")
    ap.add_argument("--train-data", default=None, help="training images (e.g. build/gpu-data/train)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--work", default="build/gpu-work", help="the run's store and results (out of the tree)")
    ap.add_argument("--out", default=os.environ.get("OUT"), help="where the parts, JSON and log go ($OUT)")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                    help="torch.compile the training network (off by default: compiling each stage's network costs "
                         "tens of seconds of the budget for a small gain on a conv-bound net)")
    ap.add_argument("--train-precision", default="bf16", choices=("bf16", "fp32"))
    ap.add_argument("--classify", action="store_true", help="also per-image FAIG classification (Sec. 5.3)")
    ap.add_argument("--chunk", type=int, default=16, help="masked selections per vectorised forward pass")
    ap.add_argument("--dry-run", action="store_true", help="print the estimated GPU time and exit")
    ap.add_argument("--preflight", action="store_true",
                    help="about a minute on the device: checks, measured rates, corrected estimate, go / no-go")
    ap.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT_S,
                    help="seconds after which no stage starts and training pauses (the pack is always written)")
    ap.add_argument("--resume-from", metavar="DIR",
                    help="a returned $OUT folder of an unfinished run: unpacked into --work first, then continued")
    ap.add_argument("--unpack", metavar="DIR", help="unpack a returned $OUT folder into --into and exit")
    ap.add_argument("--into", default="artifacts")
    ap.add_argument("--results", default="results")
    args = ap.parse_args(argv)
    try:
        return _main(ap, args)
    except ValueError as err:  # bad overrides, data, a broken pack: one line, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return 2


def _main(ap: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from faiglib.studies.workspace import Workspace

    if args.unpack:
        payload = unpack(args.unpack, args.into, args.results)
        print(f"unpacked {args.unpack} into {Path(args.into) / 'store'}")
        if payload:
            ws = Workspace(profile=_profile(payload["profile"], args.set), seed=payload["seed"], data=payload["data"],
                           train_data=payload["train_data"], out=args.into, results=args.results, progress=False)
            same_pair = ws.pair_keys() == payload["pair_keys"]
            same_analysis = ws.analysis_digest() == payload["analysis_digest"]
            print(f"pair keys {'match' if same_pair else 'DIFFER'}; analysis set "
                  f"{'matches' if same_analysis else 'DIFFERS (its images decode/degrade to other bytes here)'}")
            if not (same_pair and same_analysis):
                print("the notebooks would recompute: use the same --set overrides and data folders "
                      f"(data={payload['data']}, train_data={payload['train_data']})")
                return 1
        return 0

    profile = _profile(args.profile, args.set)
    if args.train_data is None and profile.train_data is None:
        raise ValueError(f"profile {profile.name!r} has no default training data: pass --train-data (e.g. "
                         f"build/gpu-data/train, made here by `make gpu-data`)")
    ws = Workspace(profile=profile, seed=args.seed, device=args.device, data=args.data, train_data=args.train_data,
                   out=args.work, results=Path(args.work) / "results", progress=False)
    if args.dry_run:
        dry_run(ws, args.classify)
        return 0
    if args.preflight:
        preflight(ws, args.time_limit, args.classify)
        return 0
    if not args.out:
        ap.error("--out (or $OUT) is required: the folder whose files come back")
    clock = Clock(args.time_limit)  # from here: the data, training and analysis stages count
    if args.resume_from:
        unpack(args.resume_from, args.work)  # verified before anything is written
        print(f"resuming from {args.resume_from}: remaining iterations {remaining_iterations(ws)}", flush=True)
    compile_ = bool(args.compile)
    payload = run(ws, args.out, compile=compile_, train_precision=args.train_precision, classify=args.classify,
                  chunk=args.chunk, clock=clock)
    return 1 if payload["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""The paper's scale on one GPU in one command (``make gpu-run``): train the MSRResNet pair with the resident
bf16 loop, then FAIG (N = 100) and IG on the analysis images, Table 2 (FAIG / IG / |θ−θ̄| / random) and the
Fig. 3 curves by batched masking, all into a :class:`~faiglib.studies.workspace.Workspace`'s store; then pack
the store (:mod:`faiglib.gpu.pack`) with the results JSON and a timing log. A clock stops starting stages and
pauses training at the time limit, so the pack is always written; ``--resume-from`` continues. ``--unpack`` (back
on the CPU, ``make gpu-unpack``) verifies the pack, moves the store entries into ``artifacts/``, and checks that
a Workspace with the same data finds them, so the notebooks run with ``PROFILE=gpu`` from the store without
recomputing. ``--dry-run`` and ``--preflight``: :mod:`faiglib.gpu.plan`.

Plain Python with the machine's own interpreter: torch, numpy, scikit-image, tqdm (no papermill, no venv).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from faiglib.gpu.pack import pack_store, unpack
from faiglib.gpu.plan import DEFAULT_TIME_LIMIT_S, dry_run, preflight

__all__ = ["Clock", "remaining_iterations", "run", "main"]

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
    for stage, parts, total in (("baseline", ws.baseline_parts(), ws.recipe.baseline_iters),
                                ("target", ws.target_parts(), ws.recipe.target_iters)):
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

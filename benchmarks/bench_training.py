"""Training steps per second, fp32 against bf16 autocast (float32 master weights), in one run.

Each measurement is :func:`faiglib.training.stages.train_stage` itself -- patch sampling, degradation, forward,
L1 loss, backward, Adam -- on random HR images, timed for two lengths in fresh directories; the difference
cancels the fixed costs (building the net, the final validation; one untimed warm-up run first), so
steps/s = extra steps / extra seconds.
Networks MSRResNet-32x4 and -64x16, batch 16, HR patches 64x64 (x2: LR 32x32), the target stage's blind
degradations.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_training.py            # single-threaded
    .venv/bin/python benchmarks/bench_training.py --steps 4 --nets 32x4       # quick look
"""
from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch

from faiglib.profiles import NetSpec, get_profile
from faiglib.training.stages import bf16_supported, build_seeded, train_stage


def timed_run(profile, spec, images, iters: int, out: Path) -> float:
    p = profile.with_(target_iters=iters, val_every=iters, checkpoint_every=iters)
    init = build_seeded(spec, p.scale, 0).state_dict()
    start = time.perf_counter()
    train_stage("target", profile=p, network=spec, train_images=images, val_images=images[:1], out_dir=out,
                seed=0, init_state=init, progress=False)
    return time.perf_counter() - start


def steps_per_second(profile, spec, images, short: int, long: int, root: Path) -> float:
    timed_run(profile, spec, images, short, root / "warm-up")  # first calls pay oneDNN's kernel selection
    t_short = timed_run(profile, spec, images, short, root / "short")
    t_long = timed_run(profile, spec, images, long, root / "long")
    return (long - short) / (t_long - t_short)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nets", nargs="+", default=["32x4", "64x16"], help="MSRResNet <features>x<blocks>")
    parser.add_argument("--steps", type=int, default=None, help="extra steps timed (default 20 for 32x4, 8 for 64x16)")
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    images = [(f"r{i}", torch.rand(3, 128, 128, generator=g)) for i in range(4)]
    base = get_profile("cpu").with_(batch_size=16, hr_patch=64)
    print(f"# OMP/torch threads {torch.get_num_threads()}; torch {torch.__version__}; "
          f"{platform.processor() or platform.machine()}; native bf16: {bf16_supported('cpu')}")
    for net in args.nets:
        feat, blocks = (int(v) for v in net.split("x"))
        spec = NetSpec("msrresnet", feat, blocks)
        extra = args.steps or (20 if feat * blocks <= 128 else 8)
        rates = {}
        for precision in ("fp32", "bf16"):
            with tempfile.TemporaryDirectory() as tmp:
                rates[precision] = steps_per_second(base.with_(train_precision=precision), spec, images, 2,
                                                    2 + extra, Path(tmp))
        print(f"msrresnet-{net}, batch 16, HR 64: fp32 {rates['fp32']:.3f} steps/s, bf16 {rates['bf16']:.3f} steps/s, "
              f"bf16/fp32 x {rates['bf16'] / rates['fp32']:.2f}   ({extra} steps timed each)")


if __name__ == "__main__":
    main()

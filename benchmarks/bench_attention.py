"""Training-step time of the attention networks against MSRResNet, measured in one run.

For each network of a profile (``networks[0]`` and ``attention_networks``): seconds per Adam step on a batch of
``batch_size`` LR patches of ``hr_patch / scale`` (the profile's training recipe), single-threaded by default,
after two warm-up steps; printed with the ratio to the first network. The cpu profile's sizes were chosen with
it (a ratio above 2 would make the attention pairs more than twice as slow to train as the MSRResNet pair).

    OMP_NUM_THREADS=1 python benchmarks/bench_attention.py [profile] [steps]
"""
from __future__ import annotations

import sys
import time

import torch

from faiglib.profiles import get_profile
from faiglib.training.stages import build_seeded


def step_seconds(spec, profile, steps: int) -> float:
    model = build_seeded(spec, profile.scale, 0)
    opt = torch.optim.Adam(model.parameters(), profile.lr_baseline)
    g = torch.Generator().manual_seed(0)
    lr_side = profile.hr_patch // profile.scale
    x = torch.rand(profile.batch_size, 3, lr_side, lr_side, generator=g)
    y = torch.rand(profile.batch_size, 3, profile.hr_patch, profile.hr_patch, generator=g)
    for i in range(steps + 2):
        if i == 2:
            start = time.perf_counter()
        loss = (model(x) - y).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    profile = get_profile(sys.argv[1] if len(sys.argv) > 1 else "cpu")
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    torch.set_num_threads(int(__import__("os").environ.get("OMP_NUM_THREADS", "1")))
    specs = [profile.networks[0], *profile.attention_networks]
    times = {s.label: step_seconds(s, profile, steps) for s in specs}
    first = times[specs[0].label]
    print(f"profile {profile.name}: batch {profile.batch_size}, HR {profile.hr_patch}, {torch.get_num_threads()} "
          f"thread(s), {steps} steps")
    for label, t in times.items():
        params = sum(p.numel() for p in build_seeded(profile.network(label), profile.scale, 0).parameters())
        print(f"{label:28s} {params:>9,} parameters  {t:.3f} s/step  {t / first:.2f}x {specs[0].label}")


if __name__ == "__main__":
    main()

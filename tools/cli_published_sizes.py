"""The `faiglib` command on community-layout checkpoints of published sizes (issue 25): RCAN x4 (15.6M parameters)
and SwinIR-light x4, each a seeded random baseline and a perturbed target saved as ``{"params_ema": state_dict}``
(no faiglib metadata), run through ``faiglib units`` and ``faiglib faig`` as a user would; prints each command's
exit status, wall time and last line.

    OMP_NUM_THREADS=1 .venv/bin/python tools/cli_published_sizes.py --work ../cli-check --data ../shared/data/Set14/HR \\
        --images 2 --crop 64

The weights are random: the numbers say the commands run at these sizes, not what a trained network does.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from faiglib.models.networks import build_network

NETWORKS = {"rcan_x4": dict(arch="rcan", num_feat=64, num_group=10, num_block=20, squeeze_factor=16, upscale=4),
            "swinir_light_x4": dict(arch="swinir", embed_dim=60, depths=(6,) * 4, num_heads=6, window_size=8,
                                    mlp_ratio=2, upsampler="pixelshuffledirect", upscale=4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True, help="a folder for the checkpoints and outputs (outside the work tree)")
    ap.add_argument("--data", required=True, help="a folder of HR images")
    ap.add_argument("--images", type=int, default=2, help="how many of its images (sorted by name)")
    ap.add_argument("--crop", type=int, default=64, help="central HR crop of each image")
    args = ap.parse_args(argv)
    work = Path(args.work)
    data = work / "hr"
    data.mkdir(parents=True, exist_ok=True)
    for image in sorted(p for p in Path(args.data).iterdir() if p.suffix.lower() in (".png", ".jpg"))[: args.images]:
        shutil.copy(image, data / image.name)
    g = torch.Generator().manual_seed(0)
    for name, kwargs in NETWORKS.items():
        torch.manual_seed(0)
        base = build_network(**kwargs)
        target = {k: v + 0.01 * torch.randn(v.shape, generator=g) if v.is_floating_point() else v
                  for k, v in base.state_dict().items()}
        torch.save({"params_ema": base.state_dict()}, work / f"{name}_baseline.pth")
        torch.save({"params_ema": target}, work / f"{name}_target.pth")
        for command in (["units", work / f"{name}_target.pth"],
                        ["faig", work / f"{name}_baseline.pth", work / f"{name}_target.pth", "--data", data,
                         "--crop", args.crop, "--n-steps", 4, "--draws", 3, "--out", work / f"{name}_faig"]):
            tic = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "faiglib.cli", *map(str, command)], capture_output=True,
                                  text=True)
            last = (done.stdout.strip().splitlines() or [""])[-1] if done.returncode == 0 else done.stderr.strip()
            print(f"{name} {command[0]}: exit {done.returncode}, {time.perf_counter() - tic:.1f} s: {last[:300]}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

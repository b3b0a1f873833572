"""Fill a store with the dev scale study's seeds in the background (issue 28): resumable, one job per core.

    OMP_NUM_THREADS=1 nohup python tools/scale_seeds.py --out ../faiglib-store --seeds 1 2 \\
        --archs msrresnet-48x6 msrresnet-32x4 msrresnet-16x2 > ../faiglib-store/scale-seeds.log 2>&1 &

For each (network, seed), in the order given: the pair, FAIG, the 1 % masking yardstick, depth, classification and
Table 3's three retrainings -- everything :func:`faiglib.studies.scale.scale_row` asks of the store -- then one
line of the row's headline numbers on stdout and ``<out>/scale-rows/<profile>-<net>-seed<k>.json``. Killed at any
point, a rerun continues from the store (training resumes from its last resume state). The scale chapter then
reads everything from the same ``out`` (``make section S=scale PROFILE=dev OUT=../faiglib-store ...``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from faiglib.core.checkpoint import atomic_write_text
from faiglib.studies.scale import scale_row
from faiglib.studies.workspace import Workspace


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="dev")
    ap.add_argument("--out", required=True, help="the store's folder (outside the work tree)")
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--archs", nargs="+", required=True, help="network labels, e.g. msrresnet-48x6")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = Path(args.out) / "scale-rows"
    for arch in args.archs:
        for seed in args.seeds:
            tic = time.time()
            ws = Workspace(profile=args.profile, seed=seed, arch=arch, out=args.out, results=Path(args.out) / "results")
            row = scale_row(ws, classify=True, retrain=True)
            seconds = time.time() - tic
            atomic_write_text(json.dumps({"seconds": seconds, **row}, indent=1, default=str) + "\n",
                              rows / f"{args.profile}-{arch}-seed{seed}.json")
            print(f"{arch} seed {seed}: {seconds:.0f} s; FAIG/random deblur {row['deblur_over_random']['ratio']:.3g}, "
                  f"denoise {row['denoise_over_random']['ratio']:.3g}; Table 3 gain blur "
                  f"{row['retrain_gain_blur_db']:+.3f} / noise {row['retrain_gain_noise_db']:+.3f} dB; depth deblur "
                  f"{row['depth']['deblur_filters']:.3f} / denoise {row['depth']['denoise_filters']:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

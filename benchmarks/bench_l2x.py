"""What one pixel map of a window costs: L2X (one pass) against LAM, IG and gradient × input, measured in one run.

Same network, image, window and crop for all (the L2X chapter's setting: the window's LR footprint plus the
receptive field, reference = the blurred whole image cropped). Prints, per method, the best of ``--repeats``
wall times, the images passed forward / backward through the network, and the ratio to L2X.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_l2x.py --out ../artifacts-shared   # cpu profile
    .venv/bin/python benchmarks/bench_l2x.py --profile smoke --repeats 1
"""
from __future__ import annotations

import argparse

import torch

from faiglib.studies.l2x import COMPARED_METHODS, attribute, window_case
from faiglib.studies.lam import choose_windows
from faiglib.studies.workspace import Workspace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="artifacts")
    ap.add_argument("--which", default="target", choices=("baseline", "target"))
    ap.add_argument("--kind", default="blur")
    ap.add_argument("--fold", type=int, default=50)
    ap.add_argument("--ig-steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    ws = Workspace(profile=args.profile, seed=args.seed, out=args.out, progress=False)
    aset = ws.analysis_set()
    model = ws.model(args.which)
    window = choose_windows(aset.hr[0], 1, 16, torch.Generator().manual_seed(1000 * args.seed))[0]
    case = window_case(model, aset.lr[args.kind][0], tuple(window), 16)
    print(f"{ws.spec.label} {args.which}, {args.kind} LR {tuple(aset.lr[args.kind][0].shape)} of {aset.names[0]}, "
          f"window {tuple(window)}, crop {tuple(case.x.shape)}; fold {args.fold}, IG steps {args.ig_steps}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    rows = {}
    for method in COMPARED_METHODS:
        if method == "random":
            continue
        runs = []
        for _ in range(args.repeats):
            _, cost = attribute(model, case, method, fold=args.fold, ig_steps=args.ig_steps)
            runs.append(cost["seconds"])
        rows[method] = (min(runs), cost["forward"], cost["backward"], runs)
    base = rows["l2x"][0]
    for method, (best, fwd, bwd, runs) in rows.items():
        print(f"{method:>17s}: {1000 * best:8.1f} ms  x{best / base:6.2f} of L2X   forward {fwd:3d} images, "
              f"backward {bwd:3d}   (runs: {', '.join(f'{1000 * r:.1f}' for r in runs)} ms)")


if __name__ == "__main__":
    main()

"""Fill a store with a long study's trained pairs and measures in the background: resumable, one job per core.

    OMP_NUM_THREADS=1 nohup python tools/fill_store.py scale --out ../faiglib-store --seeds 1 2 \\
        --archs msrresnet-48x6 msrresnet-32x4 msrresnet-16x2 > ../faiglib-store/scale-seeds.log 2>&1 &
    OMP_NUM_THREADS=1 nohup python tools/fill_store.py attention --out ../faiglib-store --seeds 1 \\
        --archs rcan-32x3-g2 > ../faiglib-store/attention-rcan-1.log 2>&1 &

For each (network, seed), in the order given, everything the study's chapter asks of the store:

* ``scale`` (issue 28): the pair, FAIG, the 1 % masking yardstick, depth, classification and Table 3's three
  retrainings (:func:`faiglib.studies.scale.scale_row`);
* ``attention``: the pair, FAIG at the N its completeness gap needs, and the 1 % / 5 % masking against random
  units (:func:`faiglib.studies.attention.network_summary`, with the attention chapter's default arguments);
* ``lam``: the LAM diffusion study of the pair (:func:`faiglib.studies.lam.stored_diffusion_study`, with the LAM
  chapter's default parameters), e.g. for the LAM chapter's comparison across architectures.

Then one line of headline numbers on stdout and ``<out>/<study>-rows/<profile>-<net>-seed<k>.json``. Killed at any
point, a rerun continues from the store (training resumes from its last resume state). The chapter then reads
everything from the same ``out`` (``make section S=<study> PROFILE=dev OUT=../faiglib-store ...``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from faiglib.core.checkpoint import atomic_write_text
from faiglib.studies.workspace import Workspace


def scale_line(ws) -> tuple[dict, str]:
    from faiglib.studies.scale import scale_row

    row = scale_row(ws, classify=True, retrain=True)
    return row, (f"FAIG/random deblur {row['deblur_over_random']['ratio']:.3g}, denoise "
                 f"{row['denoise_over_random']['ratio']:.3g}; Table 3 gain blur {row['retrain_gain_blur_db']:+.3f} / "
                 f"noise {row['retrain_gain_noise_db']:+.3f} dB; depth deblur {row['depth']['deblur_filters']:.3f} / "
                 f"denoise {row['depth']['denoise_filters']:.3f}")


def attention_line(ws) -> tuple[dict, str]:
    from faiglib.studies.attention import CHANNEL, PROPORTIONS, SEED_MEASURES, network_summary, small_set_verdict

    summary = network_summary(ws, proportions=PROPORTIONS, channel=CHANNEL)  # the chapter's defaults
    values = ", ".join(f"{key} {value(summary):.3g}" for key, (_, value) in SEED_MEASURES.items()
                       if key.endswith("1pct") or key.startswith("gain"))
    return summary, f"FAIG N {summary['n_steps']}; {values}; {small_set_verdict(summary)['answer']}"


def lam_line(ws) -> tuple[dict, str]:
    from faiglib.studies.lam import stored_diffusion_study

    study = stored_diffusion_study(ws)  # the LAM chapter's defaults (n_windows 3, 16x16, sigma 1.2, 50 steps)
    values = ", ".join(f"{which} {kind} {cell['mean']:.3g}" for which, per in study["summary"].items()
                       for kind, cell in per.items())
    return study, f"DI {values}"


STUDIES = {"scale": scale_line, "attention": attention_line, "lam": lam_line}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", choices=sorted(STUDIES))
    ap.add_argument("--profile", default="dev")
    ap.add_argument("--out", required=True, help="the store's folder (outside the work tree)")
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--archs", nargs="+", required=True, help="network labels, e.g. msrresnet-48x6, rcan-32x3-g2")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = Path(args.out) / f"{args.study}-rows"
    for arch in args.archs:
        for seed in args.seeds:
            tic = time.time()
            ws = Workspace(profile=args.profile, seed=seed, arch=arch, out=args.out, results=Path(args.out) / "results")
            row, line = STUDIES[args.study](ws)
            seconds = time.time() - tic
            atomic_write_text(json.dumps({"seconds": seconds, **row}, indent=1, default=str) + "\n",
                              rows / f"{args.profile}-{arch}-seed{seed}.json")
            print(f"{arch} seed {seed}: {seconds:.0f} s; {line}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

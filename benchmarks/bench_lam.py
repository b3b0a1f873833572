"""faiglib's LAM vs a loop written the way the reference LAM demo works (speed and agreement of the maps).

The reference follows the demo's workflow step by step (no code of it is reused):

* the LR image as an ``(h, w, c)`` float32 numpy array; for every step k: the Gaussian kernels of σ_{k+1} and
  σ_k built in numpy, the image filtered with each (mirrored borders, as ``cv2.filter2D``; here
  ``scipy.ndimage.correlate(mode="mirror")``), the path derivative ``(K_{k+1} − K_k) ⊗ x · fold``;
* the step image back to a torch tensor, batch 1, forward, the objective over the whole output's gradient
  magnitude then cropped to the window, ``.backward()``, the gradient back to numpy, NaN set to 0,
  ``grad ⊙ derivative`` accumulated; the map is the mean over the steps.

faiglib computes the whole path at once (float64 convolutions), runs the steps in batches of
``internal_batch_size`` through one forward/backward each, takes input gradients only, and by default restricts
the network to the window's measured receptive field (``context="auto"``, checked against the whole image). Same model, image,
window and settings for all; the script prints the wall time of each, the speed ratio and the maximum
relative difference of the maps, ``max |map − map_ref| / max |map_ref|``.

    .venv/bin/python benchmarks/bench_lam.py --out ../faiglib-store --profile dev --arch msrresnet-48x6 --seed 1
    .venv/bin/python benchmarks/bench_lam.py --out build/artifacts --which baseline   # cpu profile, if trained
    .venv/bin/python benchmarks/bench_lam.py --profile smoke --repeats 1
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.ndimage import correlate

from faiglib.core.store import ReadOnlyStoreError
from faiglib.methods.lam import lam
from faiglib.studies.lam import choose_windows
from faiglib.studies.workspace import Workspace
from faiglib.training.stages import build_seeded


def demo_kernel(size: int, sigma: float, epsilon: float = 1e-5) -> np.ndarray:
    """The demo's isotropic Gaussian: ``exp(−(xx² + yy²) / (2 (σ + ε)²))``, normalised (float64, as the demo
    builds it)."""
    ax = np.arange(-size // 2 + 1., size // 2 + 1.)
    xx, yy = np.meshgrid(ax, ax)
    k = np.exp(-(xx ** 2 + yy ** 2) / (2.0 * (sigma + epsilon) ** 2))
    return k / k.sum()


def filter_hwc(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return np.stack([correlate(img[..., c], kernel, mode="mirror") for c in range(img.shape[-1])], -1)


def reference_lam(model, lr: torch.Tensor, window, size: int, sigma: float, fold: int, kernel_size: int) -> np.ndarray:
    """The demo's loop: one step at a time, numpy round trips, batch 1. Returns the map ``(C, h, w)``."""
    image = np.moveaxis(lr.numpy(), 0, 2).astype(np.float32)  # (h, w, c), as the demo holds images
    sigmas = np.linspace(sigma, 0, fold + 1)
    kernels = [demo_kernel(kernel_size, s) for s in sigmas]
    total = np.zeros_like(image)
    y, x = window
    for k in range(fold):
        # the demo filters the float image with float64 kernels and casts the path to float32
        step = filter_hwc(image, kernels[k + 1]).astype(np.float32)
        derivative = filter_hwc(image, (kernels[k + 1] - kernels[k]) * fold).astype(np.float32)
        tensor = torch.from_numpy(np.moveaxis(step, 2, 0).copy()).unsqueeze(0).requires_grad_(True)
        out = model(tensor)
        gh = (out[:, :, :-1, :] - out[:, :, 1:, :]) ** 2
        gw = (out[:, :, :, :-1] - out[:, :, :, 1:]) ** 2
        magnitude = (gh[:, :, :, :-1] + gw[:, :, :-1, :]) ** 0.5
        magnitude[:, :, y: y + size, x: x + size].sum().backward()
        grad = np.moveaxis(tensor.grad[0].numpy(), 0, 2).copy()
        grad[np.isnan(grad)] = 0.0
        total += grad * derivative
    return np.moveaxis(total / fold, 2, 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--data", default=None, help="analysis images (default: the profile's)")
    ap.add_argument("--out", default="artifacts", help="where a trained pair of the profile may be cached")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arch", default=None, help="network label (default: the profile's)")
    ap.add_argument("--which", default="target", choices=("baseline", "target"), help="which trained network")
    ap.add_argument("--kind", default="blur", help="analysis input kind")
    ap.add_argument("--fold", type=int, default=50)
    ap.add_argument("--batches", default="10,50", help="internal_batch_size values of faiglib, comma-separated")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    exp = Workspace(profile=args.profile, data=args.data, out=args.out, seed=args.seed, arch=args.arch,
                    progress=False, read_only=True)
    spec, scale = exp.spec, exp.profile.scale
    try:  # a trained network from the store, never a training here
        model = exp.model(args.which).eval()
        origin = f"trained {args.which} (seed {args.seed}) from the store in {args.out}"
    except ReadOnlyStoreError:  # an untrained net: seeded init plus a seeded perturbation (the init zeroes the last conv)
        model = build_seeded(spec, scale, 0).eval()
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.02 * torch.randn(p.shape, generator=g))
        origin = "untrained net (seeded init + perturbation; train the pair first for a trained one)"
    aset = exp.analysis_set()
    lr, hr = aset.lr[args.kind][0], aset.hr[0]
    size = 16
    window = choose_windows(hr, 1, size, torch.Generator().manual_seed(0))[0]
    print(f"network {spec.label} x{scale}; {origin}")
    print(f"{args.kind} LR {tuple(lr.shape[-2:])} of {aset.names[0]}, window {size}x{size} at {window}; fold {args.fold}, "
          f"sigma 1.2, kernel 9; torch {torch.__version__}, {torch.get_num_threads()} threads")

    contenders = {"reference (demo loop, batch 1)": lambda: reference_lam(model, lr, window, size, 1.2, args.fold, 9),
                  "faiglib default (context auto)": lambda: lam(model, lr, window, window_size=size,
                                                                fold=args.fold).map.numpy()}
    for b in [int(v) for v in args.batches.split(",")]:
        contenders[f"faiglib, whole image, batch {b}"] = (
            lambda b=b: lam(model, lr, window, window_size=size, fold=args.fold, internal_batch_size=b,
                            context=None).map.numpy())
    used = lam(model, lr, window, window_size=size, fold=2).meta["context"]
    print(f"context 'auto' chose {used if used is not None else 'the whole image'}"
          f"{' LR pixels around the window' if used is not None else ''}")
    # warm-up (allocator, oneDNN primitive caches) on a short path, then interleaved runs, fastest kept,
    # because the shared machine's speed drifts
    lam(model, lr, window, window_size=size, fold=2, context=None)
    reference_lam(model, lr, window, size, 1.2, 1, 9)
    times = {name: [] for name in contenders}
    maps = {}
    for _ in range(args.repeats):
        for name, run in contenders.items():
            tic = time.perf_counter()
            maps[name] = run()
            times[name].append(time.perf_counter() - tic)
    ref_name = next(iter(contenders))
    ref, t_ref = maps[ref_name], min(times[ref_name])
    for name in contenders:
        t = min(times[name])
        diff = np.abs(maps[name] - ref).max() / np.abs(ref).max()
        print(f"{name:>36s}: {t:7.2f} s   speed-up x{t_ref / t:5.2f}   max relative difference {diff:.2e}   "
              f"(runs: {', '.join(f'{v:.1f}' for v in times[name])})")


if __name__ == "__main__":
    main()

"""The ``faiglib`` command: the book's methods on your own checkpoints, without Python glue.

    faiglib lam CHECKPOINT IMAGE --window Y X [--size 16] [--hr] --out DIR
    faiglib l2x CHECKPOINT IMAGE --window Y X [--size 16] [--hr] --out DIR
    faiglib faig BASELINE TARGET --data DIR [--degradation blur|noise] [--n-steps N] --out DIR
    faiglib units CHECKPOINT

Checkpoints: faiglib's own, or the community layouts :func:`faiglib.load_sr_model` detects (MSRResNet, EDSR, RCAN,
RRDBNet, SwinIR; ``params_ema`` / ``params`` / bare, ``.pth`` or ``.safetensors``), read ``weights_only``. Images:
PNG / JPEG / ...; ``IMAGE`` is the LR input unless ``--hr`` (then it is the HR image, downscaled by the model's
scale first: bicubic, MATLAB-style, as SR test sets are made). The window ``Y X`` is the top-left corner of the
output window in HR pixels. Results go to ``--out`` (created; files written atomically); progress bars and the one
line of a refused input go to stderr (exit status 2, no traceback).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import torch

__all__ = ["main", "build_parser"]


def _device(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: no CUDA device is visible to torch here; use --device cpu")
    return torch.device(name)


def _model(path: str, device: torch.device, scale: int | None = None) -> torch.nn.Module:
    from faiglib.models.loading import load_sr_model

    if not Path(path).is_file():
        raise ValueError(f"{path}: no such checkpoint file")
    return load_sr_model(path, scale=scale).to(device)


def _lr_image(path: str, model: torch.nn.Module, hr: bool) -> torch.Tensor:
    """``(3, h, w)`` float in [0, 1]: the file as it is, or (``hr``) mod-cropped and bicubic-downscaled by the
    model's scale."""
    from faiglib.data.degradations import downsample
    from faiglib.data.images import load_image, mod_crop

    if not Path(path).is_file():
        raise ValueError(f"{path}: no such image file")
    image = load_image(path)
    if hr:
        image = downsample(mod_crop(image, model.scale, Path(path).name), model.scale, resize="bicubic").clamp(0, 1)
    return image


def _figures() -> None:
    """Files, not windows: matplotlib's Agg backend (ValueError with the remedy where matplotlib is missing)."""
    try:
        import matplotlib
    except ImportError:
        raise ValueError("the figures need matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")


def _write_figure(fig, path: Path) -> None:
    from faiglib.core.checkpoint import atomic_write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    atomic_write_bytes(buffer.getvalue(), path)


def _write_json(payload: dict, path: Path) -> None:
    from faiglib.core.checkpoint import atomic_write_text

    atomic_write_text(json.dumps(payload, indent=1, default=str) + "\n", path)


def _settings(args: argparse.Namespace, model: torch.nn.Module, image: torch.Tensor) -> dict[str, Any]:
    return {"checkpoint": Path(args.checkpoint).name, "image": Path(args.image).name, "hr": args.hr,
            "arch": model.arch, "scale": model.scale, "lr_size": list(image.shape[-2:]), "window": list(args.window),
            "window_size": args.size, "sigma": args.sigma, "device": str(args.device)}


def _window_method(args: argparse.Namespace, explain) -> tuple[torch.nn.Module, torch.Tensor, Any, float, Path]:
    """The common course of the window commands: the model and the LR image of ``args``, ``explain(model, image)``
    timed, the output folder created: ``(model, image, explain's result, seconds, folder)``."""
    _figures()
    model = _model(args.checkpoint, _device(args.device))
    image = _lr_image(args.image, model, args.hr)
    tic = time.perf_counter()
    result = explain(model, image)
    seconds = time.perf_counter() - tic
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return model, image, result, seconds, out


def _report(out: Path, name: str, fig, payload: dict[str, Any], line: str) -> dict[str, Any]:
    """``out/<name>.png`` and ``out/<name>.json``, and one line on stdout naming them."""
    _write_figure(fig, out / f"{name}.png")
    _write_json(payload, out / f"{name}.json")
    print(f"{line} -> {out / f'{name}.png'}, {out / f'{name}.json'}")
    return payload


def run_lam(args: argparse.Namespace) -> dict[str, Any]:
    """``DIR/lam.png`` (the demo's panels) and ``DIR/lam.json`` (DI, completeness gap, settings, wall time)."""
    from faiglib.methods.lam import lam
    from faiglib.report.plots import lam_panels

    model, image, result, seconds, out = _window_method(args, lambda model, image: lam(
        model, image, tuple(args.window), window_size=args.size, sigma=args.sigma, fold=args.fold))
    payload = {**_settings(args, model, image), "fold": args.fold, **result.as_dict(),
               "relative_completeness_gap": result.relative_completeness_gap, "seconds": round(seconds, 3)}
    return _report(out, "lam", lam_panels({f"{model.arch} x{model.scale}": (result, image.cpu())}), payload,
                   f"LAM of {model.arch} x{model.scale}, window {result.window} ({args.size}x{args.size}): DI "
                   f"{result.diffusion_index:.2f}, completeness gap {result.relative_completeness_gap:.2%}, "
                   f"{seconds:.1f} s")


def run_l2x(args: argparse.Namespace) -> dict[str, Any]:
    """``DIR/l2x.png`` (signed, positive and negative maps) and ``DIR/l2x.json``."""
    from faiglib.methods.l2x import rescale_attribution
    from faiglib.report.l2x_plots import l2x_panels
    from faiglib.methods.window import window_case

    def explain(model, image):
        case = window_case(model, image, tuple(args.window), args.size, sigma=args.sigma)
        return case, rescale_attribution(model, case.x, case.window, window_size=args.size, reference=case.reference)

    model, image, (case, result), seconds, out = _window_method(args, explain)
    found = result.as_dict()
    payload = {**_settings(args, model, image), "crop_box": list(case.box), "context": case.context,
               "window_in_crop": found.pop("window"), **found, "objective_name": result.meta.get("objective"),
               "objective": result.objective, "delta": result.delta,
               "relative_summation_gap": result.relative_summation_gap, "seconds": round(seconds, 3)}
    return _report(out, "l2x", l2x_panels({f"{model.arch} x{model.scale}": (result, case)}), payload,
                   f"L2X of {model.arch} x{model.scale}, window {tuple(args.window)}: positive "
                   f"{payload['sum_positive']:+.4g}, negative {payload['sum_negative']:+.4g}, summation gap "
                   f"{result.relative_summation_gap:.2%}, {seconds:.2f} s")


def run_faig(args: argparse.Namespace) -> dict[str, Any]:
    """``DIR/faig_<degradation>.csv`` (every unit: rank, layer, out, in, kind, score), ``DIR/faig.json`` (settings,
    the top 1 %, and the masking check: the output change of masking the top 1 % against the median of
    ``--draws`` random selections of as many units)."""
    from faiglib.core.checkpoint import atomic_write_text
    from faiglib.core.units import FilterIndex
    from faiglib.data.degradations import Degradation, build_analysis_set
    from faiglib.data.images import center_crop, resolve_images
    from faiglib.core.ranking import top_count
    from faiglib.methods.baselines import random_filter_ranking
    from faiglib.methods.faig import discriminative_filters
    from faiglib.studies.masking import masking_effect, random_summary, reference_outputs

    device = _device(args.device)
    target = _model(args.target, device)
    baseline = _model(args.baseline, device, scale=target.scale)
    if baseline.arch != target.arch:
        raise ValueError(f"the baseline is a {baseline.arch}, the target a {target.arch}: FAIG interpolates "
                         f"between two checkpoints of one architecture")
    images = resolve_images(args.data, scale=target.scale)
    if args.crop:
        images = [(name, center_crop(img, args.crop, target.scale)) for name, img in images]
    degradation = Degradation(scale=target.scale, blur_sigma=args.blur_sigma, noise_sigma=args.noise_sigma)
    analysis = build_analysis_set(images, degradation, seed=args.seed)
    tic = time.perf_counter()
    filters = discriminative_filters(target, baseline.state_dict(), target.state_dict(), analysis,
                                     n_steps=args.n_steps, progress=True)
    seconds = time.perf_counter() - tic
    index = FilterIndex(target)
    kinds = {layer.name: layer.kind for layer in index.layers}
    scores = filters.scores(args.degradation)
    order = filters.ranking(args.degradation)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["rank", "layer", "out", "in", "kind", "score"])
    for rank, flat in enumerate(order.tolist(), start=1):
        layer, o, i = index.locate(flat)
        writer.writerow([rank, layer, o, i, kinds[layer], f"{float(scores[flat]):.6g}"])
    atomic_write_text(rows.getvalue(), out / f"faig_{args.degradation}.csv")
    count = top_count(0.01, len(index))
    top = order[:count]
    state = baseline.state_dict()
    reference = reference_outputs(target, analysis, (args.degradation,))
    effect = float(masking_effect(target, state, top, analysis, (args.degradation,), index=index,
                                  reference=reference)[args.degradation].mean())
    # draw r is the masking chapter's random draw r of this seed (Workspace.random_rankings): same sets, same yardstick
    draws = [float(masking_effect(target, state,
                                  random_filter_ranking(index, 1000 * args.seed + r, (args.degradation,))
                                  .top(args.degradation, 0.01), analysis,
                                  (args.degradation,), index=index, reference=reference)[args.degradation].mean())
             for r in range(args.draws)]
    median = random_summary(torch.tensor(draws))["random_median"]  # the masking chapter's yardstick
    payload = {"baseline": Path(args.baseline).name, "target": Path(args.target).name, "arch": target.arch,
               "scale": target.scale, "images": list(analysis.names), "degradation": args.degradation,
               "n_steps": args.n_steps, "units": len(index), "seconds": round(seconds, 3),
               "top_1_percent": [list(index.locate(f)) for f in top.tolist()],
               "masking": {"proportion": 0.01, "units": count, "effect": effect, "random_draws": draws,
                           "random_median": median, "ratio_to_random_median": effect / median if median > 0 else None,
                           "metric": "MSE x 1e3 of gray gradient maps, masked vs unmasked target"},
               "completeness_gap": {d: float(filters.deltas[d].abs().mean()) for d in filters.degradations}}
    _write_json(payload, out / "faig.json")
    ratio = payload["masking"]["ratio_to_random_median"]
    print(f"FAIG ({args.degradation}, N={args.n_steps}) of {target.arch} x{target.scale} on {len(analysis)} images: "
          f"{len(index)} units, top 1 % = {count}; masking them changes the output "
          f"{'x%.3g' % ratio if ratio is not None else '(random draws change nothing)'} the median of {args.draws} "
          f"random draws; {seconds:.1f} s -> {out / f'faig_{args.degradation}.csv'}, {out / 'faig.json'}")
    return payload


def run_units(args: argparse.Namespace) -> dict[str, Any]:
    """The units of every layer under the default rules: layer, kind, out x in grid, units (a table on stdout)."""
    from faiglib.core.units import FilterIndex

    model = _model(args.checkpoint, torch.device("cpu"))
    index = FilterIndex(model)
    rows = [{"layer": layer.name, "kind": layer.kind, "out": layer.out_channels, "in": layer.in_per_group,
             "units": layer.out_channels * layer.in_per_group} for layer in index.layers]
    width = max(len(r["layer"]) for r in rows)
    print(f"{model.arch} x{model.scale}: {len(index)} units in {len(rows)} layers")
    print(f"{'layer':<{width}}  {'kind':<8} {'out x in':>12} {'units':>8}")
    for r in rows:
        print(f"{r['layer']:<{width}}  {r['kind']:<8} {str(r['out']) + ' x ' + str(r['in']):>12} {r['units']:>8}")
    by_kind: dict[str, int] = {}
    for r in rows:
        by_kind[r["kind"]] = by_kind.get(r["kind"], 0) + r["units"]
    print("by kind: " + ", ".join(f"{k} {v}" for k, v in by_kind.items()))
    return {"arch": model.arch, "scale": model.scale, "units": len(index), "layers": rows, "by_kind": by_kind}


def _window_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="the network (.pth / .safetensors)")
    p.add_argument("image", help="the LR input image (or the HR image with --hr)")
    p.add_argument("--window", type=int, nargs=2, required=True, metavar=("Y", "X"),
                   help="top-left corner of the output window, in HR pixels")
    p.add_argument("--size", type=int, default=16, help="side of the output window (HR pixels; default 16)")
    p.add_argument("--hr", action="store_true", help="IMAGE is HR: downscale it by the model's scale first")
    p.add_argument("--sigma", type=float, default=1.2, help="blur of the reference input (default 1.2)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--out", required=True, help="folder for the figure and the JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faiglib", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("lam", help="local attribution map of an output window (LAM)")
    _window_arguments(p)
    p.add_argument("--fold", type=int, default=50, help="path steps (default 50)")
    p.set_defaults(run=run_lam)
    p = commands.add_parser("l2x", help="one-pass rescale-rule map with positive and negative parts (L2X)")
    _window_arguments(p)
    p.set_defaults(run=run_l2x)
    p = commands.add_parser("faig", help="FAIG: the units that carry deblurring or denoising, and the masking check")
    p.add_argument("baseline", help="the baseline network (before fine-tuning)")
    p.add_argument("target", help="the target network (fine-tuned on degraded input), same architecture")
    p.add_argument("--data", required=True, help="folder of HR analysis images")
    p.add_argument("--degradation", default="blur", choices=("blur", "noise"))
    p.add_argument("--n-steps", type=int, default=100, help="integration steps N (default 100)")
    p.add_argument("--crop", type=int, default=None, help="central crop of each HR image (pixels)")
    p.add_argument("--blur-sigma", type=float, default=2.0, help="Gaussian blur of the analysis input (default 2)")
    p.add_argument("--noise-sigma", type=float, default=0.1, help="noise of the analysis input (default 0.1)")
    p.add_argument("--draws", type=int, default=10, help="random selections of the masking check (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seeds the noise and the random draws")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--out", required=True, help="folder for the CSV and the JSON")
    p.set_defaults(run=run_faig)
    p = commands.add_parser("units", help="the units of every layer under the default rules")
    p.add_argument("checkpoint", help="the network (.pth / .safetensors)")
    p.set_defaults(run=run_units)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a refused input is one line on stderr and exit status 2."""
    from faiglib.core.checkpoint import CheckpointError
    from faiglib.core.store import ReadOnlyStoreError

    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, KeyError, CheckpointError, ReadOnlyStoreError, OSError) as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"faiglib {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

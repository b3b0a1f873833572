"""faiglib's discriminative-filter search vs a reference loop written the way the official FAIG scripts work.

The reference follows the official workflow step by step (no code of it is reused):

* one ranking per degradation, each a separate loop over the images: the noise ranking calls the per-image
  routine with (noisy, blurry), the blur ranking again with (blurry, noisy) -- so every gradient is
  computed twice;
* inside, for every step α = k/N: build a fresh network, load the interpolated state dict
  α·θ̄ + (1 − α)·θ, run the two degraded images one after the other with ``.backward()`` and collect the
  conv-weight gradients;
* filter score Σ_{3x3} |Δθ ⊙ mean gradient|, difference of the two images' scores, summed over images,
  sorted in descending order.

faiglib computes each image's per-degradation scores once and derives both rankings from them, with
channels-last autograd on interpolated parameters (no network rebuild). Same models, images and N for
both; the script prints the wall-time ratio and the top-1 % overlap, for fp32 and for bf16 autocast.

    .venv/bin/python benchmarks/bench_faig.py                 # cpu profile, its trained pair if cached
    .venv/bin/python benchmarks/bench_faig.py --profile smoke --n-steps 4
"""
from __future__ import annotations

import argparse
import time

import torch

from faiglib.methods.faig import discriminative_filters, top_count
from faiglib.core.checkpoint import load_state
from faiglib.studies.workspace import Workspace
from faiglib.core.units import FilterIndex
from faiglib.models.networks import build_network
from faiglib.training.stages import build_seeded


def reference_ranking(arch: str, arch_kwargs: dict, baseline: dict, target: dict, inputs_d, inputs_other, gts,
                      n_steps: int) -> torch.Tensor:
    """Official-style ranking of all filters for one degradation (descending order of Eq. 7 scores)."""
    conv_keys = [k for k, v in target.items() if k.endswith("weight") and v.dim() == 4]
    variation = torch.cat([(baseline[k] - target[k]).reshape(-1, *target[k].shape[2:]) for k in conv_keys])
    total_score = 0.0
    for img1, img2, gt in zip(inputs_d, inputs_other, gts):
        img1, img2, gt = img1.unsqueeze(0), img2.unsqueeze(0), gt.unsqueeze(0)
        grad1, grad2 = 0.0, 0.0
        for step in range(n_steps):
            alpha = step / n_steps
            state = {k: alpha * baseline[k] + (1 - alpha) * target[k] for k in baseline}
            net = build_network(arch, **arch_kwargs)  # rebuilt at every step, as the official script does
            net.eval()
            net.load_state_dict(state)
            criterion = torch.nn.MSELoss(reduction="sum")
            grads = []
            for img in (img1, img2):
                net.zero_grad()
                criterion(gt, net(img)).backward()
                params = dict(net.named_parameters())
                grads.append(torch.cat([params[k].grad.reshape(-1, *params[k].shape[2:]) for k in conv_keys]))
            grad1 = grad1 + grads[0]
            grad2 = grad2 + grads[1]
        score1 = (grad1 * variation / n_steps).abs().sum(dim=(1, 2))
        score2 = (grad2 * variation / n_steps).abs().sum(dim=(1, 2))
        total_score = total_score + (score1 - score2)
    return torch.sort(total_score, descending=True, stable=True).indices


def overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    return len(set(a.tolist()) & set(b.tolist())) / len(a)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--data", default=None, help="analysis images (default: the profile's)")
    ap.add_argument("--images", type=int, default=4, help="number of analysis images")
    ap.add_argument("--n-steps", type=int, default=None, help="N (default: the profile's)")
    ap.add_argument("--out", default="artifacts", help="where a trained pair of the profile may be cached")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    exp = Workspace(profile=args.profile, data=args.data, out=args.out, progress=False)
    spec, scale = exp.spec, exp.profile.scale
    n_steps = args.n_steps or exp.profile.n_steps
    base_path = exp.store.path("baseline", exp.baseline_parts()) / f"{spec.label}_baseline.pth"
    target_path = exp.workdir / f"{spec.label}_target.pth"
    if base_path.exists() and target_path.exists():
        baseline, target = load_state(base_path)[0], load_state(target_path)[0]
        models = f"trained pair from {exp.workdir}"
    else:  # an untrained pair: seeded init, and a seeded perturbation of every parameter for the target
        baseline = build_seeded(spec, scale, 0).state_dict()
        g = torch.Generator().manual_seed(1)
        target = {k: v + 0.02 * torch.randn(v.shape, generator=g) for k, v in baseline.items()}
        models = "untrained pair (seeded init + perturbation; run `make book` first for a trained one)"
    aset = exp.analysis_set()
    n = min(args.images, len(aset))
    aset.names, aset.hr = aset.names[:n], aset.hr[:n]
    aset.lr = {k: v[:n] for k, v in aset.lr.items()}
    sizes = sorted({tuple(x.shape[-2:]) for x in aset.lr["blur"]})
    arch_kwargs = spec.kwargs(scale)
    n_filters = len(FilterIndex(build_network(spec.arch, **arch_kwargs)))
    k = top_count(0.01, n_filters)
    print(f"network {spec.label} ({n_filters} filters, top 1 % = {k}); {models}")
    print(f"{n} images, LR sizes {sizes}; N = {n_steps}; torch {torch.__version__}, {torch.get_num_threads()} threads")

    # Warm-up (allocator, oneDNN primitive caches) for both contenders, so neither pays first-call costs.
    reference_ranking(spec.arch, arch_kwargs, baseline, target, aset.lr["noise"][:1], aset.lr["blur"][:1],
                      aset.hr[:1], 1)
    model = build_network(spec.arch, **arch_kwargs)
    warm = type(aset)(aset.names[:1], aset.hr[:1], {k: v[:1] for k, v in aset.lr.items()}, aset.degradation, aset.seed)
    precisions = args.precisions.split(",")
    for precision in precisions:
        discriminative_filters(model, baseline, target, warm, n_steps=1, precision=precision)

    # The machine's speed drifts (shared CPUs), so the contenders run interleaved, `--repeats` times, and
    # each one's fastest run is compared.
    times: dict[str, list[float]] = {"reference": [], **{p: [] for p in precisions}}
    found = {}
    for _ in range(args.repeats):
        tic = time.perf_counter()
        ref = {"noise": reference_ranking(spec.arch, arch_kwargs, baseline, target, aset.lr["noise"], aset.lr["blur"],
                                          aset.hr, n_steps),
               "blur": reference_ranking(spec.arch, arch_kwargs, baseline, target, aset.lr["blur"], aset.lr["noise"],
                                         aset.hr, n_steps)}
        times["reference"].append(time.perf_counter() - tic)
        for precision in precisions:
            tic = time.perf_counter()
            found[precision] = discriminative_filters(model, baseline, target, aset, n_steps=n_steps, method="left",
                                                      precision=precision)
            times[precision].append(time.perf_counter() - tic)
    t_ref = min(times["reference"])
    print(f"reference (official workflow): {t_ref:8.2f} s   (runs: {', '.join(f'{t:.1f}' for t in times['reference'])})")
    for precision in precisions:
        t = min(times[precision])
        overlaps = {d: overlap(found[precision].ranking(d)[:k], ref[d][:k]) for d in ("blur", "noise")}
        print(f"faiglib {precision:>4s}: {t:8.2f} s   speed-up x{t_ref / t:5.2f}   top-1 % overlap "
              f"deblur {overlaps['blur']:.4f}  denoise {overlaps['noise']:.4f}   "
              f"(runs: {', '.join(f'{x:.1f}' for x in times[precision])})")

if __name__ == "__main__":
    main()

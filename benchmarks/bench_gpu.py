"""The GPU path, measured in one run on whatever device is given (tiny sizes on a CPU by default):

1. faiglib's FAIG batched over α (``internal_batch_size``) against the official-style loop
   (``bench_faig.reference_ranking``: one network rebuilt per step, every gradient computed twice) on the same
   models, images and N -- the wall-time ratio and the top-1 % overlap of the rankings;
2. the fraction of the machine's measured conv throughput that FAIG reaches: a plain 3x3 conv (the body's
   shape) forward + backward at the same pixels and batch is timed, and FAIG's FLOPs (the FLOP model of
   :mod:`faiglib.gpu.plan`) divided by its time are compared with it;
3. training iterations per second of the resident loop (:mod:`faiglib.training.resident`, bf16 autocast on a
   GPU) against a plain fp32 loop (host-side PatchSampler + random_degrade + copy to the device, as
   ``training/stages.py``).

    .venv/bin/python benchmarks/bench_gpu.py                          # CPU, tiny sizes
    python3 benchmarks/bench_gpu.py --device cuda --feat 64 --blocks 16 --size 256 --n-steps 100 --chunk 10 \\
        --patch 128 --batch 16 --train-iters 200
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_faig import overlap, reference_ranking  # noqa: E402

from faiglib.data.degradations import Degradation, build_analysis_set, random_degrade  # noqa: E402
from faiglib.data.images import PatchSampler, center_crop, embedded_images  # noqa: E402
from faiglib.methods.faig import discriminative_filters, top_count  # noqa: E402
from faiglib.core.units import FilterIndex  # noqa: E402
from faiglib.profiles import NetSpec, PROFILES  # noqa: E402
from faiglib.gpu.plan import flops_per_lr_pixel  # noqa: E402
from faiglib.training.resident import ResidentPatches, train_resident_stage  # noqa: E402
from faiglib.training.stages import build_seeded  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, repeats=1):
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        tic = time.perf_counter()
        value = fn()
        sync(device)
        best = min(best, time.perf_counter() - tic)
    return best, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--feat", type=int, default=16)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--size", type=int, default=64, help="HR crop of the analysis images")
    ap.add_argument("--n-steps", type=int, default=10)
    ap.add_argument("--chunk", type=int, default=5, help="internal_batch_size of the batched FAIG")
    ap.add_argument("--precision", default=None, help="FAIG precision (default: bf16 on cuda, fp32 on cpu)")
    ap.add_argument("--patch", type=int, default=48)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--train-iters", type=int, default=20)
    args = ap.parse_args()
    device = torch.device(args.device)
    precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    spec, scale = NetSpec("msrresnet", args.feat, args.blocks), 2
    base_model = build_seeded(spec, scale, 0)
    baseline = {k: v.to(device) for k, v in base_model.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    target = {k: v + 0.02 * torch.randn(v.shape, generator=g).to(device) for k, v in baseline.items()}
    images = [(n, center_crop(x, args.size, scale)) for n, x in embedded_images()[: args.images]]
    aset = build_analysis_set(images, Degradation(), seed=0)
    aset.hr = [x.to(device) for x in aset.hr]
    aset.lr = {k: [x.to(device) for x in v] for k, v in aset.lr.items()}
    model = build_seeded(spec, scale, 0).to(device)
    n_filters = len(FilterIndex(model))
    k = top_count(0.01, n_filters)
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}), torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads; {spec.label}, {n_filters} filters; "
          f"{args.images} images {args.size}^2 HR; N = {args.n_steps}")

    # 1. batched FAIG vs the official-style loop
    def reference():
        # the official scripts run on the device too: same device, models and inputs for both contenders
        base_d, tgt_d = baseline, target
        return {"noise": reference_ranking(spec.arch, spec.kwargs(scale), base_d, tgt_d, aset.lr["noise"],
                                           aset.lr["blur"], aset.hr, args.n_steps),
                "blur": reference_ranking(spec.arch, spec.kwargs(scale), base_d, tgt_d, aset.lr["blur"],
                                          aset.lr["noise"], aset.hr, args.n_steps)}

    if device.type == "cuda":  # reference_ranking builds its networks on the CPU: move them with a patched build
        import bench_faig
        from faiglib.models import networks
        bench_faig.build_network = lambda arch, **kw: networks.build_network(arch, **kw).to(device)

    def ours():
        return discriminative_filters(model, baseline, target, aset, n_steps=args.n_steps,
                                      internal_batch_size=args.chunk, precision=precision)

    ours()  # warm-up (cuDNN autotuning, allocator)
    t_ref, ref = timed(reference, device)
    t_ours, found = timed(ours, device, repeats=2)
    overlaps = {d: overlap(found.ranking(d)[:k], ref[d][:k]) for d in ("blur", "noise")}
    print(f"FAIG official-style loop: {t_ref:8.3f} s")
    print(f"FAIG faiglib batched (internal_batch_size {args.chunk}, {precision}): {t_ours:8.3f} s   speed-up "
          f"x{t_ref / t_ours:.2f}   top-1 % overlap deblur {overlaps['blur']:.3f} denoise {overlaps['noise']:.3f}")

    # 2. FAIG's share of the machine's conv throughput
    per_px = flops_per_lr_pixel(spec, scale)
    lr_px = sum(int(x.shape[-2] * x.shape[-1]) for x in aset.lr["blur"])
    faig_flops = 3 * per_px * lr_px * 2 * args.n_steps
    h, w = aset.lr["blur"][0].shape[-2:]
    batch = 2 * args.chunk
    conv = torch.nn.Conv2d(args.feat, args.feat, 3, padding=1).to(device).to(memory_format=torch.channels_last)
    x = torch.randn(batch, args.feat, h, w, device=device).contiguous(memory_format=torch.channels_last)
    x.requires_grad_()

    def conv_step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            y = conv(x)
        y.float().sum().backward()

    conv_step()
    reps = 20
    t_conv, _ = timed(lambda: [conv_step() for _ in range(reps)], device)
    conv_rate = reps * 3 * 2 * args.feat * args.feat * 9 * batch * h * w / t_conv
    faig_rate = faig_flops / t_ours
    print(f"plain 3x3 conv {args.feat}->{args.feat} fwd+bwd at {batch}x{h}x{w}: {conv_rate / 1e9:9.1f} GFLOP/s; "
          f"FAIG reaches {faig_rate / 1e9:9.1f} GFLOP/s = {faig_rate / conv_rate:.0%} of it")

    # 3. training: resident (bf16 on a GPU) vs a plain fp32 loop with host-side sampling
    prof = PROFILES["smoke"].with_(batch_size=args.batch, hr_patch=args.patch, baseline_iters=args.train_iters,
                                   target_iters=args.train_iters)
    train_images = embedded_images(("brick", "grass", "gravel", "camera"), scale)
    deg = Degradation()

    def plain_loop():
        net = build_seeded(spec, scale, 0).to(device).train()
        opt = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.99))
        sampler = PatchSampler(train_images, args.patch, args.batch, torch.Generator().manual_seed(0))
        gen = torch.Generator().manual_seed(1)
        for _ in range(args.train_iters):
            hr = sampler.sample()
            lr = random_degrade(hr, deg, gen).to(device)
            loss = F.l1_loss(net(lr), hr.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return loss.item()

    def resident(train_precision):
        patches = ResidentPatches(train_images, args.patch, args.batch, torch.Generator(device=device).manual_seed(0))
        return train_resident_stage("target", profile=prof, network=spec, patches=patches, val_images=[],
                                    out_dir="unused", init_state=base_model.state_dict(), precision=train_precision,
                                    iterations=args.train_iters, log_every=args.train_iters).history

    plain_loop()  # warm-up
    t_plain, _ = timed(plain_loop, device)
    rates = {"plain fp32 (host sampling)": args.train_iters / t_plain}
    for p in ("fp32", "bf16"):
        resident(p)
        rates[f"resident {p}"] = resident(p)["it_per_s"]
    line = ", ".join(f"{name} {r:.2f} it/s" for name, r in rates.items())
    print(f"training ({args.batch} x {args.patch}^2 HR, target stage): {line}; resident bf16 / plain fp32 "
          f"x{rates['resident bf16'] / rates['plain fp32 (host sampling)']:.2f}")


if __name__ == "__main__":
    main()

"""LAM -- Local Attribution Maps: which LR input pixels a window of an SR output depends on (seeds 001, 003).

LAM is an integrated gradient in *input* space. The quantity attributed is a feature of one output window,
not pixel values: the objective ``D`` sums the gradient magnitude of the SR output ``F(x)`` over a window.
The path is the progressive blur of :func:`faiglib.core.paths.blur_path`, from the blurred baseline
``x₀ = ω(σ) ⊗ x`` to ``x`` itself:

    LAM_i = ∫₀¹ ∂D(F(γ(α)))/∂γ_i · ∂γ_i/∂α dα ≈ (1/fold) Σ_k ∂D(F(γ_k))/∂γ_k,i · derivative_k,i ,

    Σ_i LAM_i → D(F(x)) − D(F(x₀))   (completeness; the gap shrinks as ``fold`` grows).

The *diffusion index* summarises how spread out a map is: ``DI = (1 − Gini(|Σ_c LAM| / max)) · 100`` --
about 100/n for a map concentrated on one of n pixels, up to 100 for a map spread evenly over all of them.

``convention="official"`` reproduces the reference demo (what users compare against):

* ``D``: per channel, forward differences ``sqrt((I[i,j] − I[i+1,j])² + (I[i,j] − I[i,j+1])²)``, summed over the
  window (``size x size`` from the top-left corner ``(y, x)`` in HR pixels) and over the channels;
* path σ_k = linspace(σ, 0, fold + 1), kernel size 9, kernels ``exp(−r²/(2(σ+1e-5)²))``, reflect-101 borders;
* the map is the mean over the ``fold`` steps of ``∂D/∂x ⊙ derivative``.

``convention="sobel"`` uses the 3x3 Sobel magnitude instead (the detector of the LAM paper / seed 003).

Where ``D``'s square root is 0 (two equal neighbours) its gradient is taken as 0; the demo gets NaN there and
zeroes the whole input gradient of that step instead, which only differs on exactly flat outputs.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from faiglib.core.edits import in_evaluation_mode
from faiglib.core.paths import blur_baseline, blur_path
from faiglib.core.validate import check_input_channels
from faiglib.methods.receptive_field import fit_crop

__all__ = ["LAMResult", "lam", "check_lr_image", "check_window_arguments", "check_window", "infer_scale",
           "safe_sqrt", "window_objective", "gini", "diffusion_index", "channel_sum", "abs_normalized",
           "attribution_density", "CONVENTIONS", "STEP_PIXELS"]

CONVENTIONS = ("official", "sobel")
# LR pixels per batch of path steps by default: on a CPU, batches of whole images run slower than one image at a
# time (benchmarks/bench_lam.py: all 50 steps of a 128x128 image 0.6x the demo's loop, 10 steps 0.9x)
STEP_PIXELS = 1 << 16


# ---- the diffusion index -------------------------------------------------------------------------------------

def gini(values) -> float:
    """Gini coefficient of the flattened ``values`` in the demo's convention: negatives shifted up to 0 (by
    subtracting the minimum), ``1e-7`` added, sorted ascending, ``Σ_i (2i − n − 1) a_i / (n Σ a_i)`` with
    ``i = 1 … n``. 0 for equal values, ``(n − 1)/n`` (up to the 1e-7) for one non-zero value of n. Float64."""
    a = torch.as_tensor(values, dtype=torch.float64).flatten()
    if a.numel() == 0 or not torch.isfinite(a).all():
        raise ValueError(f"gini needs a non-empty array of finite numbers, got {a.numel()} values "
                         f"({'some not finite' if a.numel() else 'none'})")
    if a.min() < 0:
        a = a - a.min()
    a = torch.sort(a + 1e-7).values
    n = a.numel()
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(((2 * i - n - 1) * a).sum() / (n * a.sum()))


def channel_sum(attribution: torch.Tensor) -> torch.Tensor:
    """``Σ_c map``: a pixel attribution ``(C, h, w)`` (or already ``(h, w)``) -> ``(h, w)`` float64 on the CPU.
    ValueError for any other shape."""
    m = torch.as_tensor(attribution).detach().to(torch.float64).cpu()
    if m.dim() == 3:
        m = m.sum(0)
    if m.dim() != 2:
        raise ValueError(f"an attribution map is (C, h, w) or (h, w), got shape {tuple(m.shape)}")
    return m


def abs_normalized(attribution: torch.Tensor) -> torch.Tensor:
    """``|Σ_c map| / max``: ``(C, h, w)`` (or ``(h, w)``) -> ``(h, w)`` float64 in [0, 1]."""
    a = channel_sum(attribution).abs()
    if not bool(torch.isfinite(a).all()):
        raise ValueError(f"the attribution map has NaN or inf at {int((~torch.isfinite(a)).sum())} pixels: the "
                         f"model's output or its gradient is not finite on this input; check the input and weights")
    top = float(a.max())
    if not top > 0:
        raise ValueError("the attribution map is zero everywhere: the window's objective does not depend on the "
                         "input along the path (a flat window?); choose a window with edges or texture")
    return a / top


def diffusion_index(attribution: torch.Tensor) -> float:
    """``DI = (1 − Gini(|Σ_c map| / max)) · 100`` of a ``(C, h, w)`` or ``(h, w)`` map, in (0, 100]."""
    return (1 - gini(abs_normalized(attribution))) * 100


# ---- the objective ---------------------------------------------------------------------------------------------

def safe_sqrt(t: torch.Tensor) -> torch.Tensor:
    """``sqrt(t)`` for ``t >= 0`` with gradient 0 at 0 (the window objective's gradient magnitude)."""
    # d sqrt/dt is infinite at 0; there the difference is 0 too, so take the subgradient 0 instead of NaN
    positive = t > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, t, torch.ones_like(t))), torch.zeros_like(t))


def _margins(convention: str) -> tuple[int, int]:
    """Output pixels the objective reads before and after the window (per axis)."""
    if convention == "official":
        return 0, 1
    if convention == "sobel":
        return 1, 1
    raise ValueError(f"unknown LAM convention {convention!r}; known: {CONVENTIONS}")


def check_lr_image(lr) -> None:
    """ValueError unless ``lr`` is one float image ``(C, h, w)`` without NaN/inf (the pixel methods' input)."""
    if not torch.is_tensor(lr) or lr.dim() != 3 or not lr.is_floating_point():
        raise ValueError(f"lr must be one float image (C, h, w), got "
                         f"{tuple(lr.shape) if torch.is_tensor(lr) else type(lr).__name__}")
    bad = int((~torch.isfinite(lr)).sum())
    if bad:
        raise ValueError(f"lr has {bad} NaN or inf pixel values of {lr.numel()}: a pixel map of it would be NaN "
                         f"or meaningless; fix or drop the image")


def check_window_arguments(window, size: int) -> None:
    """ValueError unless ``window`` is ``(y, x)`` integers and ``size`` an integer >= 1 (before any network runs)."""
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"window_size must be an integer >= 1, got {size!r}")
    if (not isinstance(window, (tuple, list)) or len(window) != 2
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in window)):
        raise ValueError(f"window must be (y, x): the top-left corner in output (HR) pixels, got {window!r}")


def check_window(window, size: int, height: int, width: int, convention: str) -> tuple[int, int]:
    """``(y, x)`` of a ``size`` x ``size`` window inside a ``height`` x ``width`` output, with the extra pixels
    the ``convention``'s objective reads; ValueError naming the allowed range otherwise."""
    check_window_arguments(window, size)
    before, after = _margins(convention)
    y, x = int(window[0]), int(window[1])
    if size + before + after > min(height, width):
        raise ValueError(f"a {size}x{size} window is larger than the {height}x{width} output allows "
                         f"({convention} objective reads {before} + {after} extra pixels); use a smaller window_size")
    if not (before <= y <= height - size - after and before <= x <= width - size - after):
        raise ValueError(f"window {size}x{size} at (y, x) = ({y}, {x}) is outside the {height}x{width} output: "
                         f"y must be in [{before}, {height - size - after}], x in [{before}, {width - size - after}]")
    return y, x


def window_objective(sr: torch.Tensor, window: tuple[int, int], size: int = 16,
                     convention: str = "official") -> torch.Tensor:
    """``D`` of every image of ``sr`` ``(B, C, H, W)``: the gradient magnitude summed over the ``size x size``
    window at top-left ``window = (y, x)`` and over the channels. Returns ``(B,)`` (same dtype), >= 0."""
    if not torch.is_tensor(sr) or sr.dim() != 4:
        raise ValueError(f"window_objective needs a batch of images (B, C, H, W), got "
                         f"{tuple(sr.shape) if torch.is_tensor(sr) else type(sr).__name__}")
    y, x = check_window(window, size, sr.shape[-2], sr.shape[-1], convention)
    if convention == "official":
        patch = sr[:, :, y: y + size + 1, x: x + size + 1]  # one extra row/column for the forward differences
        dv = (patch[:, :, :-1, :-1] - patch[:, :, 1:, :-1]) ** 2
        dh = (patch[:, :, :-1, :-1] - patch[:, :, :-1, 1:]) ** 2
        return safe_sqrt(dv + dh).sum(dim=(1, 2, 3))
    patch = sr[:, :, y - 1: y + size + 1, x - 1: x + size + 1]
    c = patch.shape[1]
    sobel = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]], dtype=sr.dtype, device=sr.device)
    kernels = torch.stack([sobel, sobel.t()]).unsqueeze(1).repeat(c, 1, 1, 1)  # (2C, 1, 3, 3): gx, gy per channel
    g = F.conv2d(patch, kernels, groups=c)  # (B, 2C, size, size)
    return safe_sqrt(g[:, 0::2] ** 2 + g[:, 1::2] ** 2).sum(dim=(1, 2, 3))


# ---- LAM ---------------------------------------------------------------------------------------------------------

@dataclass
class LAMResult:
    """One local attribution map.

    ``map``: ``(C, h, w)`` float32 on the CPU, the attribution of every LR input value (sums to about
    ``objective − baseline_objective``). ``output``: the SR output ``F(x)``, ``(C', H, W)``. ``path_objectives``:
    ``D`` at every path step (``fold`` values, the last one ``D(F(x))``)."""

    map: torch.Tensor
    output: torch.Tensor
    window: tuple[int, int]
    window_size: int
    scale: int
    objective: float  # D(F(x))
    baseline_objective: float  # D(F(x₀)), x₀ the input blurred with σ
    path_objectives: torch.Tensor
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """Σ map."""
        return float(self.map.double().sum())

    @property
    def completeness_gap(self) -> float:
        """``Σ map − (D(F(x)) − D(F(x₀)))``: the error of the Riemann sum (→ 0 as ``fold`` grows)."""
        return self.total - (self.objective - self.baseline_objective)

    @property
    def relative_completeness_gap(self) -> float:
        """:attr:`completeness_gap` over ``|D(F(x)) − D(F(x₀))|``."""
        delta = abs(self.objective - self.baseline_objective)
        return abs(self.completeness_gap) / delta if delta > 0 else math.inf

    @property
    def diffusion_index(self) -> float:
        return diffusion_index(self.map)

    @property
    def gini(self) -> float:
        return gini(abs_normalized(self.map))

    def as_dict(self) -> dict[str, Any]:
        """The scalars (JSON-ready)."""
        return {"window": list(self.window), "window_size": self.window_size, "scale": self.scale,
                "objective": self.objective, "baseline_objective": self.baseline_objective,
                "completeness_gap": self.completeness_gap, "diffusion_index": self.diffusion_index, **self.meta}


def infer_scale(out, lr: torch.Tensor, scale) -> int:
    """The integer SR scale of a model from its output ``out`` ``(B, C', H, W)`` for ``lr`` ``(B, C, h, w)``
    (checked against ``scale`` when given); ValueError for a non-image output or a non-integer scale."""
    if not torch.is_tensor(out) or out.dim() != 4 or out.shape[0] != lr.shape[0] or not out.is_floating_point():
        raise ValueError(f"the model must map a batch of images (B, C, h, w) to a batch of float images "
                         f"(B, C', H, W); for input {tuple(lr.shape)} it returned "
                         f"{tuple(out.shape) if torch.is_tensor(out) else type(out).__name__}"
                         f"{' of ' + str(out.dtype) if torch.is_tensor(out) else ''}")
    (h, w), (H, W) = lr.shape[-2:], out.shape[-2:]
    if scale is not None:
        if isinstance(scale, bool) or not isinstance(scale, numbers.Integral) or scale < 1:
            raise ValueError(f"scale must be a positive integer (2, 3, 4, ...), got {scale!r}")
        if (H, W) != (scale * h, scale * w):
            raise ValueError(f"scale {scale} does not match the model: input {h}x{w}, output {H}x{W}")
        return int(scale)
    if H % h or W % w or H // h != W // w:
        raise ValueError(f"the model's output {H}x{W} is not an integer multiple of its input {h}x{w} "
                         f"(scale {H / h:g} x {W / w:g}); LAM needs an integer SR scale")
    return H // h


@in_evaluation_mode
def lam(model: nn.Module, lr: torch.Tensor, window: tuple[int, int], *, window_size: int = 16,
        sigma: float = 1.2, fold: int = 50, kernel_size: int = 9, internal_batch_size: int | None = None,
        scale: int | None = None, convention: str = "official", context: int | str | None = "auto",
        context_tolerance: float = 1e-4) -> LAMResult:
    """Local attribution map of ``model`` for the output window at ``window = (y, x)`` (top-left, HR pixels).

    ``model``: any image-to-image ``nn.Module`` mapping ``(B, C, h, w)`` to ``(B, C', s·h, s·w)``; it is evaluated in
    eval mode (batch norm with its running statistics: the path steps are batched and must not interact) and its
    weights, buffers and modes are as before afterwards (:func:`~faiglib.core.edits.evaluation_mode`). ``lr``:
    ``(C, h, w)`` float without NaN/inf, in [0, 1] for the networks here; moved to the model's device and dtype. ``scale``: inferred from the output size when ``None``.
    ``internal_batch_size``: path steps per forward/backward (``None``: as many as keep a batch under
    :data:`STEP_PIXELS` LR pixels -- all ``fold`` steps of a typical crop, a few of a whole image; the map does not
    depend on it).
    ``context``: where the path steps run (:func:`~faiglib.methods.receptive_field.fit_crop`). ``"auto"`` (default):
    on the window's LR footprint plus the network's measured receptive radius (+2), the crop checked against the
    whole image and widened until the window's output agrees within ``context_tolerance`` -- the whole image for
    networks with global operations; ``None``: the whole image; an integer: that many LR pixels, refused when
    the check fails. A verified crop gives the whole image's map (zero outside the crop) many times faster.

    ValueError for a window outside or larger than the output, a non-integer scale, ``fold`` < 1, σ <= 0,
    an even kernel size or one larger than the image, a model whose output is not an image.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown LAM convention {convention!r}; known: {CONVENTIONS}")
    check_lr_image(lr)
    check_input_channels(model, lr, "lr")
    if internal_batch_size is not None and (isinstance(internal_batch_size, bool)
                                            or not isinstance(internal_batch_size, numbers.Integral)
                                            or internal_batch_size < 1):
        raise ValueError(f"internal_batch_size must be None or an integer >= 1, got {internal_batch_size!r}")
    param = next(iter(model.parameters()), None)
    if param is not None:
        lr = lr.to(device=param.device, dtype=param.dtype)
    # the path first: it validates sigma, fold and the kernel before any network runs
    images, derivatives = blur_path(lr, sigma, fold, kernel_size)
    x0 = blur_baseline(lr, sigma, kernel_size)
    pair = torch.stack([lr, x0])  # D(F(x)) and D(F(x₀)) on the whole image, without the path's crop
    with torch.no_grad():
        full = model(pair)
    s = infer_scale(full, pair, scale)
    y, x = check_window(window, window_size, full.shape[-2], full.shape[-1], convention)
    d_full = window_objective(full, (y, x), window_size, convention)
    objective, baseline_objective = float(d_full[0]), float(d_full[1])

    before, after = _margins(convention)
    crop = fit_crop(model, pair, (y, x), window_size, s, full, before, after, context, context_tolerance)
    rows, cols = slice(crop.r0, crop.r1), slice(crop.c0, crop.c1)
    images, derivatives = images[:, :, rows, cols], derivatives[:, :, rows, cols]

    pixels = (crop.r1 - crop.r0) * (crop.c1 - crop.c0)
    chunk = int(internal_batch_size) if internal_batch_size is not None else max(1, min(fold, STEP_PIXELS // pixels))
    acc = torch.zeros_like(images[0], dtype=torch.float64)
    values = []
    for start in range(0, fold, chunk):
        xb = images[start: start + chunk].clone().requires_grad_(True)
        with torch.enable_grad():
            d = window_objective(model(xb), crop.window, window_size, convention)  # (b,): samples are independent
            (g,) = torch.autograd.grad(d.sum(), xb)  # input gradients only: no parameter .grad is touched
        acc += (g * derivatives[start: start + chunk]).to(torch.float64).sum(0)
        values.append(d.detach())
    path_objectives = torch.cat(values).to(torch.float64).cpu()
    attribution = torch.zeros(lr.shape, dtype=torch.float64, device=acc.device)
    attribution[:, rows, cols] = acc / fold  # the mean over the steps (outside: no influence)
    return LAMResult(map=attribution.float().cpu(), output=full[0].detach().float().cpu(), window=(y, x),
                     window_size=int(window_size), scale=s, objective=objective,
                     baseline_objective=baseline_objective, path_objectives=path_objectives,
                     meta={"sigma": float(sigma), "fold": int(fold), "kernel_size": int(kernel_size),
                           "convention": convention, "context": crop.context, "context_requested": context})


# ---- the density view ------------------------------------------------------------------------------------------

def attribution_density(attribution: torch.Tensor) -> torch.Tensor:
    """A kernel-density view of where the attribution lies, as the demo draws it: a Gaussian KDE of the pixel
    positions weighted by ``|Σ_c map| / max``, with Scott's bandwidth (the weighted covariance of the positions
    times ``n_eff^(−1/3)``, ``n_eff = (Σw)²/Σw²``), evaluated at every pixel. Since the points lie on the pixel
    grid, the KDE is the weight image convolved with that Gaussian (done exactly, by zero-padded FFT).
    ``(C, h, w)`` or ``(h, w)`` -> ``(h, w)`` float64 in [0, 1] (divided by its maximum)."""
    wgt = abs_normalized(attribution)
    h, w = wgt.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    total = wgt.sum()
    p = wgt / total
    pos = torch.stack([ys.flatten(), xs.flatten()])  # (2, n)
    mean = (pos * p.flatten()).sum(1, keepdim=True)
    centred = pos - mean
    cov = (centred * p.flatten()) @ centred.t() / (1 - (p ** 2).sum()).clamp_min(1e-12)  # unbiased weighted
    n_eff = float(1 / (p ** 2).sum())
    cov = cov * n_eff ** (-2 / 6) + 1e-6 * torch.eye(2, dtype=torch.float64)  # Scott: factor² = n_eff^(−2/(d+4))
    oy = torch.arange(-(h - 1), h, dtype=torch.float64)
    ox = torch.arange(-(w - 1), w, dtype=torch.float64)
    d = torch.stack(torch.meshgrid(oy, ox, indexing="ij"), -1)  # (2h−1, 2w−1, 2) offsets
    inv = torch.linalg.inv(cov)
    kernel = torch.exp(-0.5 * torch.einsum("...i,ij,...j->...", d, inv, d))
    fh, fw = 3 * h - 2, 3 * w - 2  # linear (not circular) convolution
    full = torch.fft.irfft2(torch.fft.rfft2(wgt, (fh, fw)) * torch.fft.rfft2(kernel, (fh, fw)), (fh, fw))
    density = full[h - 1: 2 * h - 1, w - 1: 2 * w - 1].clamp_min(0)
    return density / density.max()

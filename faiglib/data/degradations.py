"""The classical degradation model of the paper, Eq. 1: ``x = (x_gt * k) ↓r + n``.

Images are float tensors in [0, 1], shaped ``(3, H, W)`` or ``(B, 3, H, W)``; every function returns the
same rank it was given. Randomness comes only from an explicit ``torch.Generator``.

Defaults follow the official FAIG code: x2 *bilinear* resize (the folders say "bicubic" but the resize is
bilinear), an isotropic 21x21 Gaussian blur with sigma 2 applied to the HR image, and Gaussian noise with
sigma 0.1 (on the [0, 1] scale) added after downsampling. A MATLAB-style antialiased bicubic resize is
available as ``resize="bicubic"``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F

from faiglib.data.images import check_min_size

__all__ = [
    "gaussian_kernel", "blur", "downsample", "add_noise", "Degradation", "random_degrade",
    "DEGRADATION_KINDS", "build_analysis_set", "AnalysisSet", "uniform_draws", "blind_degrade",
]

#: The four analysis conditions; ``"blur"`` and ``"noise"`` are the two degradations that Eq. 7 contrasts.
DEGRADATION_KINDS: tuple[str, ...] = ("clean", "blur", "noise", "blur+noise")


def _as_batch(img: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if not torch.is_tensor(img) or img.dim() not in (3, 4):
        raise ValueError(f"expected an image tensor (C, H, W) or (B, C, H, W), got {getattr(img, 'shape', type(img))}")
    if not img.is_floating_point():
        raise ValueError(f"expected a float image in [0, 1], got dtype {img.dtype}")
    return (img.unsqueeze(0), True) if img.dim() == 3 else (img, False)


def gaussian_kernel(sigma: float = 2.0, size: int = 21, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Isotropic 2-D Gaussian, ``(size, size)``, summing to 1. ``size`` must be odd and ``sigma`` > 0."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"blur kernel size must be a positive odd integer, got {size}")
    if not sigma > 0:
        raise ValueError(f"blur sigma must be > 0, got {sigma}")
    ax = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(ax ** 2) / (2 * sigma ** 2))
    k2 = torch.outer(g, g)
    return (k2 / k2.sum()).to(dtype)


def blur(img: torch.Tensor, sigma: float = 2.0, size: int = 21) -> torch.Tensor:
    """Convolve each channel with :func:`gaussian_kernel`; borders are mirrored (reflect-101, as OpenCV)."""
    x, squeeze = _as_batch(img)
    pad = size // 2
    if min(x.shape[-2:]) <= pad:
        raise ValueError(f"image of size {x.shape[-2]}x{x.shape[-1]} is too small for a {size}x{size} blur, which "
                         f"needs at least {pad + 1} pixels per side; use larger images or a smaller blur_size")
    # The isotropic Gaussian is separable, and each 1-D pass (with the mirrored border folded in) is a
    # banded (n, n) matrix: two small matmuls are far cheaper on a CPU than a depthwise 21x21 conv.
    h, w = x.shape[-2:]
    mh = _blur_matrix(h, float(sigma), size).to(dtype=x.dtype, device=x.device)
    mw = mh if w == h else _blur_matrix(w, float(sigma), size).to(dtype=x.dtype, device=x.device)
    out = torch.matmul(torch.matmul(mh, x), mw.transpose(0, 1))
    return out.squeeze(0) if squeeze else out


@lru_cache(maxsize=64)
def _blur_matrix(n: int, sigma: float, size: int) -> torch.Tensor:
    """(n, n) float64 matrix of a 1-D Gaussian pass with reflect-101 borders (needs n > size // 2)."""
    g = gaussian_kernel(sigma, size, torch.float64)[size // 2]
    g = g / g.sum()
    pad = size // 2
    matrix = torch.zeros(n, n, dtype=torch.float64)
    rows = torch.arange(n).unsqueeze(1)
    src = rows + torch.arange(-pad, pad + 1).unsqueeze(0)  # (n, size) source indices before mirroring
    src = torch.where(src < 0, -src, src)
    src = torch.where(src > n - 1, 2 * (n - 1) - src, src)
    matrix.scatter_add_(1, src, g.expand(n, size).clone())
    return matrix


_gaussian_blur = blur  # Degradation.__call__ takes a ``blur`` flag that shadows the function


def _cubic(t: torch.Tensor) -> torch.Tensor:
    # Keys' cubic convolution kernel with a = -0.5 (MATLAB imresize, PIL BICUBIC).
    at = t.abs()
    at2, at3 = at ** 2, at ** 3
    return ((1.5 * at3 - 2.5 * at2 + 1) * (at <= 1)
            + (-0.5 * at3 + 2.5 * at2 - 4 * at + 2) * ((at > 1) & (at <= 2)))


@lru_cache(maxsize=64)
def _bicubic_matrix(in_len: int, out_len: int, scale: float) -> torch.Tensor:
    """(out_len, in_len) float64 resampling matrix of MATLAB's antialiased bicubic ``imresize``."""
    kernel_scale = min(scale, 1.0)  # widen the kernel when shrinking: antialiasing
    width = 4.0 / kernel_scale
    centre = (torch.arange(1, out_len + 1, dtype=torch.float64) / scale) + 0.5 * (1 - 1 / scale)
    left = torch.floor(centre - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left.unsqueeze(1) + torch.arange(taps, dtype=torch.float64).unsqueeze(0)  # 1-based input indices
    weights = kernel_scale * _cubic(kernel_scale * (centre.unsqueeze(1) - idx))
    weights = weights / weights.sum(dim=1, keepdim=True)
    # MATLAB mirrors out-of-range indices: 0 -> 1, -1 -> 2, n+1 -> n, ...
    period = 2 * in_len
    zero_based = torch.remainder(idx - 1, period)
    zero_based = torch.where(zero_based >= in_len, period - 1 - zero_based, zero_based).long()
    matrix = torch.zeros(out_len, in_len, dtype=torch.float64)
    matrix.scatter_add_(1, zero_based, weights)
    return matrix


def downsample(img: torch.Tensor, scale: int = 2, resize: str = "bilinear") -> torch.Tensor:
    """Shrink by the integer factor ``scale``. ``(…, H, W)`` -> ``(…, H // scale, W // scale)``.

    ``resize="bilinear"``: half-pixel-centred bilinear without antialiasing (OpenCV ``INTER_LINEAR``,
    as in the official code; for x2 this is the mean of each 2x2 block). ``resize="bicubic"``: MATLAB
    ``imresize`` bicubic with antialiasing. H and W must be multiples of ``scale`` (see ``data.mod_crop``).
    """
    x, squeeze = _as_batch(img)
    if scale < 1 or int(scale) != scale:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    h, w = x.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"image size {h}x{w} is not a multiple of the scale {scale}; mod-crop it first")
    if resize == "bilinear":
        out = F.interpolate(x, size=(h // scale, w // scale), mode="bilinear", align_corners=False, antialias=False)
    elif resize == "bicubic":
        mh = _bicubic_matrix(h, h // scale, 1 / scale).to(x)
        mw = _bicubic_matrix(w, w // scale, 1 / scale).to(x)
        out = torch.einsum("oh,bchw,pw->bcop", mh, x, mw)
    else:
        raise ValueError(f"unknown resize {resize!r}; use 'bilinear' or 'bicubic'")
    return out.squeeze(0) if squeeze else out


def add_noise(img: torch.Tensor, sigma: float = 0.1, generator: torch.Generator | None = None,
              clip: bool = True) -> torch.Tensor:
    """Add white Gaussian noise of standard deviation ``sigma`` (on the [0, 1] scale); clip to [0, 1].

    ``generator`` is required: results must be reproducible.
    """
    if generator is None:
        raise ValueError("add_noise needs an explicit torch.Generator (reproducibility)")
    if not sigma >= 0:
        raise ValueError(f"noise sigma must be >= 0, got {sigma}")
    noise = torch.randn(img.shape, generator=generator, dtype=img.dtype, device=generator.device)
    out = img + sigma * noise.to(img.device)
    return out.clamp(0.0, 1.0) if clip else out


#: Bump when a change to this module changes the LR inputs it makes: every stored result made from them is
#: recomputed (it is part of :meth:`AnalysisSet.key`).
DEGRADATIONS_VERSION = 1


@dataclass(frozen=True)
class Degradation:
    """Eq. 1 with its parameters: blur ``blur_sigma``/``blur_size`` on HR, ``resize`` by ``scale``, then noise."""

    scale: int = 2
    resize: str = "bilinear"
    blur_sigma: float = 2.0
    blur_size: int = 21
    noise_sigma: float = 0.1
    clip: bool = True

    def __post_init__(self) -> None:
        gaussian_kernel(self.blur_sigma, self.blur_size)  # validates sigma and size
        if self.resize not in ("bilinear", "bicubic"):
            raise ValueError(f"unknown resize {self.resize!r}; use 'bilinear' or 'bicubic'")
        if not self.noise_sigma >= 0:
            raise ValueError(f"noise sigma must be >= 0, got {self.noise_sigma}")

    def __call__(self, hr: torch.Tensor, *, blur: bool, noise: bool,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Degrade HR ``(…, 3, H, W)`` into LR ``(…, 3, H/scale, W/scale)``; ``generator`` needed if ``noise``."""
        x = _gaussian_blur(hr, self.blur_sigma, self.blur_size) if blur else hr
        x = downsample(x, self.scale, self.resize)
        if noise:
            x = add_noise(x, self.noise_sigma, generator, clip=self.clip)
        return x

    def kind(self, hr: torch.Tensor, kind: str, generator: torch.Generator | None = None) -> torch.Tensor:
        """Apply one of :data:`DEGRADATION_KINDS` by name."""
        if kind not in DEGRADATION_KINDS:
            raise ValueError(f"unknown degradation kind {kind!r}; known: {DEGRADATION_KINDS}")
        return self(hr, blur="blur" in kind, noise="noise" in kind, generator=generator)

def random_degrade(hr: torch.Tensor, degradation: Degradation, generator: torch.Generator,
                   p_blur: float = 0.5, p_noise: float = 0.5, *, blur_range: tuple[float, float] | None = None,
                   noise_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Training-time degradation of a batch ``(B, 3, H, W)``: blur and noise each applied independently per
    sample with probabilities ``p_blur`` and ``p_noise`` (the official target training uses 0.5 / 0.5).

    Strengths are ``degradation.blur_sigma`` / ``noise_sigma``; with ``blur_range`` / ``noise_range``
    (``(low, high)``) every sample draws its own blur sigma / noise sigma uniformly from the range instead
    (a target trained on a range of levels). Draw order: blur flags, noise flags, [blur sigmas], [noise
    sigmas], noise -- without ranges exactly the draws of the fixed-strength version.
    """
    if hr.dim() != 4:
        raise ValueError(f"random_degrade expects a batch (B, 3, H, W), got {tuple(hr.shape)}")
    for name, p in (("p_blur", p_blur), ("p_noise", p_noise)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {p}")
    n = hr.shape[0]
    # All random draws happen on the generator's device (CPU) so that a run is the same on any device.
    use_blur = (torch.rand(n, generator=generator) < p_blur).to(hr.device)
    use_noise = (torch.rand(n, generator=generator) < p_noise).to(hr.device)
    _check_sigma_ranges(blur_range, noise_range)
    blur_sigmas = uniform_draws(n, blur_range, generator) if blur_range is not None else None
    noise_sigmas = uniform_draws(n, noise_range, generator) if noise_range is not None else None
    if not use_blur.any():
        blurred = hr
    elif blur_sigmas is None:
        blurred = torch.where(use_blur.view(n, 1, 1, 1), blur(hr, degradation.blur_sigma, degradation.blur_size), hr)
    else:  # one kernel per blurred sample
        blurred = torch.cat([blur(hr[i: i + 1], float(blur_sigmas[i]), degradation.blur_size) if use_blur[i]
                             else hr[i: i + 1] for i in range(n)])
    lr = downsample(blurred, degradation.scale, degradation.resize)
    noise = torch.randn(lr.shape, generator=generator, dtype=lr.dtype).to(lr.device)
    noise = noise * (degradation.noise_sigma if noise_sigmas is None
                     else noise_sigmas.to(dtype=lr.dtype, device=lr.device).view(n, 1, 1, 1))
    lr = torch.where(use_noise.view(n, 1, 1, 1), lr + noise, lr)
    return lr.clamp(0.0, 1.0) if degradation.clip else lr


def _check_sigma_ranges(blur_range, noise_range) -> None:
    """Blur sigmas must be > 0 and noise sigmas >= 0 over the whole ``(low, high)`` range (``None``: unused)."""
    if blur_range is not None and not float(blur_range[0]) > 0:
        raise ValueError(f"blur sigmas must be > 0, got the range {blur_range}")
    if noise_range is not None and not float(noise_range[0]) >= 0:
        raise ValueError(f"noise sigmas must be >= 0, got the range {noise_range}")


def uniform_draws(n: int, value_range: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    """``n`` values drawn uniformly from ``value_range = (low, high)`` (float64, shape ``(n,)``).

    ``low == high`` gives that value ``n`` times (still consuming the same draws, so that a range of width 0
    does not shift the generator's later draws). ``generator`` is required: runs must be reproducible.
    """
    if generator is None:
        raise ValueError("uniform_draws needs an explicit torch.Generator (reproducibility)")
    low, high = (float(v) for v in value_range)
    if not low <= high:
        raise ValueError(f"value range must be (low, high) with low <= high, got {value_range}")
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)


def blind_degrade(hr: torch.Tensor, generator: torch.Generator, *, blur_range: tuple[float, float],
                  noise_range: tuple[float, float] | None = None, scale: int = 2, resize: str = "bilinear",
                  blur_size: int = 21, clip: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Blind-SR degradation of a batch ``(B, 3, H, W)`` in [0, 1] (Eq. 1 with random parameters, as in DASR's
    isotropic-Gaussian settings): every sample is blurred with its own sigma drawn uniformly from
    ``blur_range``, resized by ``scale``, and (if ``noise_range`` is given) gets white Gaussian noise whose
    standard deviation (on the [0, 1] scale) is drawn uniformly from ``noise_range``.

    Returns ``(lr (B, 3, H/scale, W/scale), blur sigmas (B,), noise sigmas (B,))`` (noise sigmas are 0 without
    noise). All draws come from ``generator`` (on the CPU), in a fixed order: blur sigmas, noise sigmas, noise.
    """
    if hr.dim() != 4:
        raise ValueError(f"blind_degrade expects a batch (B, 3, H, W), got {tuple(hr.shape)}")
    n = hr.shape[0]
    _check_sigma_ranges(blur_range, noise_range)
    sigmas = uniform_draws(n, blur_range, generator)
    noise_sigmas = uniform_draws(n, noise_range, generator) if noise_range is not None else torch.zeros(n, dtype=torch.float64)
    # one sample at a time: each has its own kernel (the separable blur is cheap at patch sizes)
    blurred = torch.cat([blur(hr[i: i + 1], float(sigmas[i]), blur_size) for i in range(n)])
    lr = downsample(blurred, scale, resize)
    if noise_range is not None:
        noise = torch.randn(lr.shape, generator=generator, dtype=lr.dtype).to(lr.device)
        lr = lr + noise * noise_sigmas.to(dtype=lr.dtype, device=lr.device).view(n, 1, 1, 1)
        lr = lr.clamp(0.0, 1.0) if clip else lr
    return lr, sigmas, noise_sigmas


@dataclass
class AnalysisSet:
    """HR ground truths and their LR versions for every kind in :data:`DEGRADATION_KINDS`.

    ``hr[i]`` is ``(3, H_i, W_i)``; ``lr[kind][i]`` is ``(3, H_i/scale, W_i/scale)``; ``names[i]`` its file.
    """

    names: list[str]
    hr: list[torch.Tensor]
    lr: dict[str, list[torch.Tensor]]
    degradation: Degradation
    seed: int

    def __len__(self) -> int:
        return len(self.names)

    def key(self, kinds: Sequence[str] | None = None) -> str:
        """A store key of what the inputs ``kinds`` (default: all) are made from: the HR images' bytes, the
        kinds, the degradation, the noise seed and :data:`DEGRADATIONS_VERSION` -- not the LR floats, whose
        last bits differ between machines, so a set built elsewhere from the same images has the same key."""
        from faiglib.core.store import digest, tensor_digest

        kinds = sorted(self.lr) if kinds is None else list(kinds)
        unknown = [k for k in kinds if k not in self.lr]
        if unknown:
            raise KeyError(f"no inputs of kind {unknown}; the set has {list(self.lr)}")
        return digest({"hr": tensor_digest(self.hr), "kinds": kinds, "degradation": asdict(self.degradation),
                       "seed": self.seed, "version": DEGRADATIONS_VERSION})


def build_analysis_set(images: Sequence[tuple[str, torch.Tensor]] | Iterable[tuple[str, torch.Tensor]],
                       degradation: Degradation = Degradation(), seed: int = 0) -> AnalysisSet:
    """Deterministically degrade named HR images (``(name, (3, H, W))`` pairs, sizes multiples of the scale, each
    side at least ``blur_size // 2 + 1`` pixels: a smaller image is a ``ValueError`` naming it and its size).

    The noise of image ``i`` comes from a generator seeded with ``(seed, i)``, so the set does not depend on
    the order in which kinds are generated, and ``"blur+noise"`` uses the same noise draw as ``"noise"``.
    """
    pairs = list(images)
    if not pairs:
        raise ValueError("build_analysis_set got no images")
    check_min_size(pairs, degradation.blur_size // 2 + 1, f"the {degradation.blur_size}x{degradation.blur_size} blur")
    for name, img in pairs:
        if img.shape[-2] % degradation.scale or img.shape[-1] % degradation.scale:
            raise ValueError(f"image {name!r} is {img.shape[-2]}x{img.shape[-1]}, not a multiple of the scale "
                             f"{degradation.scale}; mod-crop it first (faiglib.data.images.mod_crop)")
    names = [n for n, _ in pairs]
    hr = [img for _, img in pairs]
    lr: dict[str, list[torch.Tensor]] = {k: [] for k in DEGRADATION_KINDS}
    for i, img in enumerate(hr):
        for kind in DEGRADATION_KINDS:
            gen = torch.Generator().manual_seed(seed * 1_000_003 + i)
            lr[kind].append(degradation.kind(img, kind, generator=gen))
    return AnalysisSet(names=names, hr=hr, lr=lr, degradation=degradation, seed=seed)

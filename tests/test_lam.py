"""LAM (faiglib.methods.lam) and its blur path (faiglib.core.paths): known answers and bad input."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from faiglib.core.paths import blur_baseline, blur_kernels, blur_path
from faiglib.methods.lam import (abs_normalized, attribution_density, diffusion_index, gini, lam,
                                 window_objective)
from faiglib.models.networks import build_network


def tiny(scale=2, dtype=torch.float32, seed=0):
    """A 4-wide MSRResNet with one block and random weights everywhere (the untrained init has a zero last
    conv: it would be the bilinear skip alone)."""
    net = build_network("msrresnet", num_feat=4, num_block=1, upscale=scale)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    return net.to(dtype).eval()


def image(h, w, dtype=torch.float32, seed=0):
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ---- Gini and the diffusion index --------------------------------------------------------------------------

def test_gini_of_equal_values_is_zero():
    assert gini(torch.full((50,), 0.3)) == pytest.approx(0.0, abs=1e-12)
    assert gini(torch.zeros(7)) == pytest.approx(0.0, abs=1e-12)  # only the 1e-7: still all equal


@pytest.mark.parametrize("n", [2, 10, 400])
def test_gini_of_one_nonzero_value_is_n_minus_1_over_n(n):
    a = torch.zeros(n)
    a[n // 2] = 3.0
    # sorted: n-1 times 1e-7, then 3 + 1e-7: Σ(2i-n-1)a_i = 3(n-1), Σa = 3 + n·1e-7
    assert gini(a) == pytest.approx(3 * (n - 1) / (n * (3 + n * 1e-7)), rel=1e-12)
    assert gini(a) == pytest.approx((n - 1) / n, rel=1e-4)


def test_gini_matches_the_mean_absolute_difference_and_shifts_negatives():
    # G = Σ_ij |a_i - a_j| / (2 n² mean): for 1,2,3,4 it is 20 / 80
    assert gini([4.0, 1.0, 3.0, 2.0]) == pytest.approx(0.25, abs=1e-7)
    assert gini([-1.0, 0.0, 1.0, 2.0]) == pytest.approx(20 / 48, abs=1e-7)  # shifted to 0, 1, 2, 3


def test_diffusion_index_of_a_one_pixel_map_and_of_a_uniform_map():
    m = torch.zeros(3, 8, 10)
    m[1, 2, 5] = -0.7  # sign and channel do not matter: |Σ_c map|
    n = 80
    assert diffusion_index(m) == pytest.approx((1 - (n - 1) / (n * (1 + n * 1e-7))) * 100, rel=1e-9)
    assert diffusion_index(torch.ones(3, 8, 10)) == pytest.approx(100.0, abs=1e-9)
    with pytest.raises(ValueError, match="zero everywhere"):
        diffusion_index(torch.zeros(3, 4, 4))


def test_abs_normalized_sums_channels_before_the_absolute_value():
    m = torch.zeros(2, 1, 2)
    m[0, 0, 0], m[1, 0, 0], m[0, 0, 1] = 1.0, -1.0, 0.5  # pixel 0 cancels over the channels
    assert abs_normalized(m).tolist() == [[0.0, 1.0]]


# ---- the blur path ---------------------------------------------------------------------------------------------

def reference_blur(x: np.ndarray, sigma: float, size: int) -> np.ndarray:
    """The demo's kernel -- ``isotropic_gaussian_kernel(l, sigma, epsilon=1e-5)``: ``exp(-(xx² + yy²) /
    (2·(sigma + epsilon)²))`` on ``arange(-l // 2 + 1, l // 2 + 1)``, normalised -- and cv2.filter2D's default
    border, written with explicit loops (float64)."""
    ax = np.arange(-size // 2 + 1, size // 2 + 1)
    xx, yy = np.meshgrid(ax, ax)
    k = np.exp(-(xx ** 2 + yy ** 2) / (2.0 * (sigma + 1e-5) ** 2))
    k /= k.sum()
    p = size // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p)), mode="reflect")  # numpy's "reflect" is reflect-101
    out = np.zeros_like(x)
    for u in range(size):
        for v in range(size):
            out += k[u, v] * xp[:, u: u + x.shape[1], v: v + x.shape[2]]
    return out


def test_blur_path_endpoints_steps_and_derivatives():
    x = image(11, 14, torch.float64)
    images, derivs = blur_path(x, sigma=1.5, fold=6, kernel_size=7)
    assert images.shape == derivs.shape == (6, 3, 11, 14) and images.dtype == torch.float64
    assert torch.equal(images[-1], x)  # σ = 0 at the end: the input itself, exactly
    sigmas = np.linspace(1.5, 0, 7)
    assert np.allclose(images[0].numpy(), reference_blur(x.numpy(), sigmas[1], 7), atol=1e-13)
    x0 = reference_blur(x.numpy(), 1.5, 7)  # σ_max: the baseline
    assert np.allclose(blur_baseline(x, 1.5, 7).numpy(), x0, atol=1e-13)
    # derivative_k = (K_{k+1} - K_k) ⊗ x · fold, so their mean telescopes to x - x0
    assert np.allclose(derivs[2].numpy(), (images[2] - images[1]).numpy() * 6, atol=1e-12)
    assert np.allclose(derivs.mean(0).numpy(), x.numpy() - x0, atol=1e-12)


def test_blur_kernels_follow_the_demo_formula():
    k = blur_kernels([1.2, 0.0, 0.05], 9)
    assert k.shape == (3, 9, 9) and torch.allclose(k.sum((1, 2)), torch.ones(3, dtype=torch.float64))
    # the demo adds its epsilon to sigma: exp(-r² / (2 (σ + 1e-5)²)), so neighbour / centre = exp(-1 / (2 (σ+ε)²))
    assert k[0, 4, 5] / k[0, 4, 4] == pytest.approx(math.exp(-1 / (2 * 1.20001 ** 2)), rel=1e-12)
    assert k[0, 3, 5] / k[0, 4, 4] == pytest.approx(math.exp(-2 / (2 * 1.20001 ** 2)), rel=1e-12)
    assert k[1, 4, 4] == 1.0 and k[1].sum() == 1.0
    # at a small sigma the two ways of placing epsilon differ by far more than float noise:
    # exp(-1/(2 · 0.05001²)) = 1.50e-87 against exp(-1/(2 · 0.05² + 1e-5)) = 2.06e-87
    assert k[2, 4, 5] / k[2, 4, 4] == pytest.approx(math.exp(-1 / (2 * 0.05001 ** 2)), rel=1e-9)


# ---- the objective ----------------------------------------------------------------------------------------------

def test_window_objective_of_a_ramp():
    a = 0.01
    ramp = (a * torch.arange(30, dtype=torch.float64)).expand(2, 3, 20, 30).clone()  # I[c, i, j] = a·j
    ramp[1] *= 2
    # forward differences: horizontal a, vertical 0 -> magnitude a at every pixel, 3 channels x 16 x 16
    assert window_objective(ramp, (2, 5), 16).tolist() == pytest.approx([3 * 256 * a, 3 * 256 * 2 * a], rel=1e-12)
    # Sobel: (1 + 2 + 1) · (I[j-1] - I[j+1]) = -8a
    assert window_objective(ramp, (2, 5), 16, "sobel").tolist() == pytest.approx([3 * 256 * 8 * a, 3 * 256 * 16 * a],
                                                                                 rel=1e-12)


# ---- LAM ------------------------------------------------------------------------------------------------------------

class ChannelMixUpsample(nn.Module):
    """A linear network: a 1x1 channel mix with non-negative weights, then nearest-neighbour upsampling."""

    def __init__(self, mix: torch.Tensor, scale: int):
        super().__init__()
        self.mix = nn.Parameter(mix)
        self.scale = scale

    def forward(self, x):
        y = torch.einsum("cd,bdhw->bchw", self.mix, x)
        return y.repeat_interleave(self.scale, 2).repeat_interleave(self.scale, 3)


def test_linear_network_map_in_closed_form():
    """Input increasing along columns, constant along rows: every image of the path and every output keeps
    that (the blur of a monotone signal with mirrored borders stays monotone), so on the window D is the
    linear functional Σ_c Σ_window (out[i, j+1] - out[i, j]) = ℓᵀ(A x), and LAM is (Aᵀℓ) ⊙ (x - x0) for any fold."""
    s, h, w, size, (y, x) = 2, 6, 12, 8, (3, 5)
    mix = torch.tensor([[1.0, 0.5, 0.0], [0.2, 1.0, 0.3], [0.0, 0.1, 2.0]], dtype=torch.float64)
    net = ChannelMixUpsample(mix, s)
    cols = torch.linspace(0.1, 0.9, w, dtype=torch.float64) ** 1.5
    lr = torch.stack([cols * (1 + c) / 3 for c in range(3)])[:, None, :].expand(3, h, w).contiguous()
    r = lam(net, lr, (y, x), window_size=size, fold=7, kernel_size=5)
    # ℓ on the output: +1 at (I, J+1), -1 at (I, J) for every window pixel; Aᵀ sums it into the LR pixel
    # under each output pixel and back through the channel mix
    g_out = torch.zeros(h, w, dtype=torch.float64)
    for i in range(y, y + size):
        for j in range(x, x + size):
            g_out[i // s, (j + 1) // s] += 1
            g_out[i // s, j // s] -= 1
    g = mix.sum(0)[:, None, None] * g_out  # every output channel has ℓ = g_out
    x0 = torch.from_numpy(reference_blur(lr.numpy(), 1.2, 5))
    expected = g * (lr - x0)
    assert torch.allclose(r.map.double(), expected, atol=1e-6)
    assert r.completeness_gap == pytest.approx(0.0, abs=1e-5)  # telescoping: exact for a linear D


def test_completeness_gap_shrinks_as_fold_grows():
    net = tiny(dtype=torch.float64)
    lr = image(12, 12, torch.float64)
    gaps = [abs(lam(net, lr, (6, 7), window_size=8, fold=f).completeness_gap) for f in (10, 40, 160)]
    r = lam(net, lr, (6, 7), window_size=8, fold=160)
    assert gaps[1] < gaps[0] / 3 and gaps[2] < gaps[1] / 3  # first order: the right Riemann sum
    assert r.relative_completeness_gap < 0.01


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shapes_at_every_scale_on_a_non_square_image(scale):
    net = tiny(scale)
    lr = image(9, 13)
    r = lam(net, lr, (3, 4), window_size=8, fold=4)
    assert r.map.shape == (3, 9, 13) and r.output.shape == (3, 9 * scale, 13 * scale) and r.scale == scale
    assert r.path_objectives.shape == (4,) and r.path_objectives[-1].item() == pytest.approx(r.objective, rel=1e-5)
    assert attribution_density(r.map).shape == (9, 13)


def reference_lam(net, lr: np.ndarray, window, size, sigma, fold, kernel_size) -> np.ndarray:
    """One step at a time, batch 1, numpy round trips; the objective over the whole output, then cropped."""
    sigmas = np.linspace(sigma, 0, fold + 1)
    total = np.zeros_like(lr)
    for k in range(fold):
        img = reference_blur(lr, sigmas[k + 1], kernel_size)
        deriv = (img - reference_blur(lr, sigmas[k], kernel_size)) * fold
        t = torch.from_numpy(img).unsqueeze(0).requires_grad_(True)
        out = net(t)
        gh = (out[:, :, :-1, :] - out[:, :, 1:, :]) ** 2
        gw = (out[:, :, :, :-1] - out[:, :, :, 1:]) ** 2
        mag = (gh[:, :, :, :-1] + gw[:, :, :-1, :]) ** 0.5
        mag[:, :, window[0]: window[0] + size, window[1]: window[1] + size].sum().backward()
        grad = t.grad[0].numpy().copy()
        grad[np.isnan(grad)] = 0
        total += grad * deriv
    return total / fold


@pytest.mark.parametrize("batch", [None, 3])
def test_matches_a_per_step_reference_loop(batch):
    net = tiny(dtype=torch.float64, seed=1)
    lr = image(10, 14, torch.float64, seed=2)
    r = lam(net, lr, (5, 9), window_size=6, fold=7, internal_batch_size=batch)
    ref = reference_lam(net, lr.numpy(), (5, 9), 6, 1.2, 7, 9)
    assert np.abs(r.map.double().numpy() - ref).max() < 1e-6 * np.abs(ref).max()


def test_context_crop_is_exact_or_refused():
    net = tiny()  # receptive field: 4 LR convs, the HR convs (1 LR pixel) and the bilinear skip: 5 LR pixels
    lr = image(24, 26)
    full = lam(net, lr, (20, 22), window_size=8, fold=5, context=None)
    crop = lam(net, lr, (20, 22), window_size=8, fold=5, context=5, internal_batch_size=2)
    assert torch.allclose(crop.map, full.map, atol=1e-5 * full.map.abs().max().item())
    assert crop.map[:, :4].abs().max() == 0  # nothing outside the crop
    with pytest.raises(ValueError, match="context 4 is too small"):
        lam(net, lr, (20, 22), window_size=8, fold=5, context=4)


def test_auto_context_is_the_default_and_gives_the_whole_image_map():
    net = tiny(dtype=torch.float64)  # receptive radius 5 LR pixels (see test_lam_study)
    lr = image(30, 32, torch.float64)
    auto = lam(net, lr, (22, 26), window_size=8, fold=5)
    whole = lam(net, lr, (22, 26), window_size=8, fold=5, context=None)
    assert auto.meta["context"] == 7 and auto.meta["context_requested"] == "auto" and whole.meta["context"] is None
    assert torch.allclose(auto.map, whole.map, rtol=0, atol=1e-6 * whole.map.abs().max().item())
    # the window's footprint is LR rows 11..15 and columns 13..17 (17 read by D's forward difference): + 7 each side
    assert auto.map[:, :4].abs().max() == 0 and auto.map[:, :, :6].abs().max() == 0
    assert auto.map[:, 4:23, 6:25].abs().max() > 0


class GlobalMean(nn.Module):
    """A global operation: every output pixel moves with the mean of the whole image (as channel attention)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(1.0, dtype=torch.float64))

    def forward(self, x):
        y = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        return y * (1 + self.weight * x.mean(dim=(1, 2, 3), keepdim=True))


def test_auto_context_falls_back_to_the_whole_image_for_a_global_operation():
    lr = image(20, 22, torch.float64)
    r = lam(GlobalMean(), lr, (10, 12), window_size=8, fold=4)
    assert r.meta["context"] is None
    assert r.map[:, 0, 0].abs().sum() > 0  # a corner far from the window still counts, through the mean
    with pytest.raises(ValueError, match="context 3 is too small"):
        lam(GlobalMean(), lr, (10, 12), window_size=8, fold=4, context=3)


class GatedGlobal(nn.Module):
    """Local on detailed input, global on smooth input: a global-mean branch behind a ReLU gate that opens when the
    image's mean absolute horizontal difference falls below 0.2 (random pixels: about 0.33; blurred: much less)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(50.0, dtype=torch.float64))

    def forward(self, x):
        y = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        detail = (x[..., 1:] - x[..., :-1]).abs().mean(dim=(1, 2, 3), keepdim=True)
        return y * (1 + self.weight * torch.relu(0.2 - detail) * x.mean(dim=(1, 2, 3), keepdim=True))


def test_auto_context_checks_the_crop_at_both_ends_of_the_path():
    lr = image(40, 44, torch.float64)
    net = GatedGlobal()
    with torch.no_grad():  # the gate: shut on the input, open on its blurred baseline
        detail = [float((t[..., 1:] - t[..., :-1]).abs().mean()) for t in (lr, blur_baseline(lr, 1.2, 9))]
    assert detail[0] > 0.2 > detail[1]
    auto = lam(net, lr, (36, 40), window_size=8, fold=4)
    assert auto.meta["context"] is None  # a crop that is exact on x alone is not exact on the path
    whole = lam(net, lr, (36, 40), window_size=8, fold=4, context=None)
    assert torch.equal(auto.map, whole.map)


def test_the_model_is_left_as_it_was():
    net = tiny()
    net.train()
    lam(net, image(10, 10), (2, 2), window_size=4, fold=2)
    assert net.training and all(p.requires_grad and p.grad is None for p in net.parameters())


# ---- bad input -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(window=(16, 2)), "outside"),  # 16 + 8 > 24 - 1
    (dict(window=(-1, 2)), "outside"),
    (dict(window=(0, 0), window_size=24), "larger than"),
    (dict(window=(1.5, 2)), r"window must be \(y, x\)"),
    (dict(scale=2.5), "positive integer"),
    (dict(scale=3), "does not match"),
    (dict(fold=0), "fold"),
    (dict(sigma=0.0), "sigma"),
    (dict(sigma=-1.0), "sigma"),
    (dict(kernel_size=8), "odd"),
    (dict(kernel_size=13), "larger than the image"),
    (dict(internal_batch_size=0), "internal_batch_size"),
    (dict(convention="canny"), "unknown LAM convention"),
])
def test_bad_arguments_are_refused(kwargs, match):
    args = dict(window=(2, 2), window_size=8)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        lam(tiny(), image(12, 14), args.pop("window"), **args)


@pytest.mark.parametrize("model, match", [
    (nn.Upsample(scale_factor=1.5), "not an integer multiple"),
    (nn.Flatten(), "must map a batch of images"),
    (nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()), "must map a batch of images"),
])
def test_models_without_an_integer_image_output_are_refused(model, match):
    with pytest.raises(ValueError, match=match):
        lam(model, image(10, 10), (0, 0), window_size=4)


def test_attribution_density_known_answers():
    one = torch.zeros(3, 9, 11)
    one[0, 4, 6] = 2.0
    d = attribution_density(one)  # one point: zero covariance, the kernel is (numerically) a delta
    assert d[4, 6] == 1.0 and d.sum() == pytest.approx(1.0, abs=1e-9)
    two = torch.zeros(1, 9, 11)
    two[0, 4, 2] = two[0, 4, 8] = 1.0
    d = attribution_density(two)
    # positions y = 4 (variance 0: a delta across rows), x = 2 and 8: unbiased weighted variance
    # 9 / (1 − Σp²) = 18, Scott's factor² n_eff^(−1/3) with n_eff = 2
    bw2 = 18 * 2 ** (-1 / 3) + 1e-6
    j = torch.arange(11, dtype=torch.float64)
    row = torch.exp(-(j - 2) ** 2 / (2 * bw2)) + torch.exp(-(j - 8) ** 2 / (2 * bw2))
    assert torch.allclose(d[4], row / row.max(), atol=1e-9)
    assert d[torch.arange(9) != 4].abs().max() < 1e-12


def test_the_crop_helpers_leave_a_batch_norm_network_as_it_was():
    # receptive_radius and window_case run the network (probe, whole image, crops): in eval mode, like the methods
    from faiglib.methods.receptive_field import receptive_radius
    from faiglib.methods.window import window_case

    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 12, 3, padding=1),
                        nn.PixelShuffle(2)).double()
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    receptive_radius(net)
    window_case(net, image(16, 18, torch.float64), (8, 10), 8)
    assert net.training and net[1].training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # running stats untouched

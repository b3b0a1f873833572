"""L2X (faiglib.methods.l2x), the captum-based pixel attributions, and the networks' DeepLift compatibility."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from faiglib.core.paths import blur_baseline
from faiglib.measures.costs import count_passes
from faiglib.methods.l2x import (SafeSqrt, Square, WindowObjective, check_rescale_compatible, rescale_attribution,
                                 rescale_rules)
from faiglib.methods.lam import window_objective
from faiglib.methods.pixel_attribution import gradient_times_input, integrated_gradients
from faiglib.models.networks import MSRResNet, build_network


def randomised(net, seed=0, std=0.3):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return net.eval()


def tiny_msrresnet(scale=2, seed=0):
    return randomised(build_network("msrresnet", num_feat=4, num_block=2, upscale=scale).double(), seed)


class TinyNet(nn.Module):
    """conv - LeakyReLU - conv - ReLU - conv x2 pixel shuffle, with a bilinear skip; one module per activation."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3, padding=1)
        self.a1 = nn.LeakyReLU(0.1)
        self.c2 = nn.Conv2d(6, 6, 3, padding=1)
        self.a2 = nn.ReLU()
        self.c3 = nn.Conv2d(6, 12, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        y = self.shuffle(self.c3(self.a2(self.c2(self.a1(self.c1(x))))))
        return y + F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class LinearNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 12, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        return self.shuffle(self.c1(x))


class ReusedActivation(TinyNet):
    def forward(self, x):  # a1 twice
        return self.shuffle(self.c3(self.a1(self.c2(self.a1(self.c1(x))))))


def image(h=12, w=12, seed=0):
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---- summation-to-delta ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("objective", ["gradient", "mean"])
def test_summation_to_delta_on_a_tiny_float64_net(objective):
    net = randomised(TinyNet().double())
    r = rescale_attribution(net, image(), (4, 6), window_size=8, objective=objective)
    assert abs(r.delta) > 1e-3  # something to explain
    assert abs(r.summation_gap) < 1e-10 * max(1.0, abs(r.delta))


@pytest.mark.parametrize("scale", [2, 4])
def test_summation_to_delta_on_msrresnet(scale):
    net = tiny_msrresnet(scale)
    r = rescale_attribution(net, image(10, 10), (6, 5), window_size=8)
    assert abs(r.delta) > 1e-3
    assert abs(r.summation_gap) < 1e-10 * abs(r.delta)


def test_the_objective_is_lams_d_and_the_mean():
    net = randomised(TinyNet().double())
    x = image().unsqueeze(0)
    sr = net(x)
    assert torch.allclose(WindowObjective(net, (3, 5), 8)(x), window_objective(sr, (3, 5), 8), rtol=0, atol=1e-12)
    assert torch.allclose(WindowObjective(net, (3, 5), 8, "mean")(x), sr[:, :, 3:11, 5:13].mean((1, 2, 3)))


def test_linear_net_map_is_exactly_gradient_times_difference():
    net = randomised(LinearNet().double())
    x, ref = image(seed=1), image(seed=2)
    r = rescale_attribution(net, x, (2, 2), window_size=8, objective="mean", reference=ref)
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(WindowObjective(net, (2, 2), 8, "mean")(xg.unsqueeze(0)).sum(), xg)
    assert torch.allclose(r.map, g * (x - ref), rtol=0, atol=1e-14)
    assert abs(r.summation_gap) < 1e-14


def test_rescale_rule_differs_from_the_gradient_by_a_hand_computed_amount():
    """One pixel, identity conv then ReLU; x = 1, x̄ = −1: the ReLU's multiplier is (1 − 0)/(1 − (−1)) = 1/2, so the
    attribution is 1/2 · 2 = 1 = Δy (the gradient would give 1 · 2 = 2)."""
    net = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.ReLU()).double()
    with torch.no_grad():
        net[0].weight.fill_(1.0)
    x = torch.zeros(1, 2, 2, dtype=torch.float64)
    ref = torch.zeros_like(x)
    x[0, 0, 0], ref[0, 0, 0] = 1.0, -1.0
    r = rescale_attribution(net, x, (0, 0), window_size=1, objective="mean", reference=ref)
    assert r.map[0, 0, 0].item() == pytest.approx(1.0, abs=1e-15)
    assert r.map.abs().sum().item() == pytest.approx(1.0, abs=1e-15)
    assert r.delta == pytest.approx(1.0, abs=1e-15)


def test_positive_plus_negative_is_the_map():
    net = tiny_msrresnet()
    r = rescale_attribution(net, image(10, 10), (6, 5), window_size=8)
    assert torch.equal(r.positive + r.negative, r.map)
    assert (r.positive >= 0).all() and (r.negative <= 0).all()
    assert torch.equal(r.brighter + r.darker, r.map)
    assert r.positive.sum() > 0 and r.negative.sum() < 0  # both kinds of evidence on a random net


def test_default_reference_is_the_blurred_input():
    net = tiny_msrresnet()
    x = image(10, 10)
    r = rescale_attribution(net, x, (6, 5), window_size=8, sigma=1.5)
    assert torch.equal(r.reference, blur_baseline(x, 1.5, 9))
    with torch.no_grad():
        want = window_objective(net(torch.stack([x, r.reference])), (6, 5), 8)
    assert r.objective == pytest.approx(float(want[0]), rel=1e-12)
    assert r.reference_objective == pytest.approx(float(want[1]), rel=1e-12)


def test_rules_table_is_restored():
    from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR

    before = dict(SUPPORTED_NON_LINEAR)
    with rescale_rules() as table:
        assert Square in table and SafeSqrt in table
    assert SUPPORTED_NON_LINEAR == before


# ---- bad input ----------------------------------------------------------------------------------------------

def test_reused_activation_module_is_refused():
    net = randomised(ReusedActivation().double())
    with pytest.raises(ValueError, match=r"used more than once.*'a1': 2"):
        rescale_attribution(net, image(), (4, 4), window_size=8)


def test_inplace_activation_is_refused():
    net = randomised(TinyNet().double())
    net.a2 = nn.ReLU(inplace=True)
    with pytest.raises(ValueError, match="in-place"):
        rescale_attribution(net, image(), (4, 4), window_size=8)


def test_reference_of_another_shape_is_refused():
    net = randomised(TinyNet().double())
    with pytest.raises(ValueError, match="reference must have the shape"):
        rescale_attribution(net, image(), (4, 4), window_size=8, reference=image(10, 12))
    with pytest.raises(ValueError, match="reference must have the shape"):
        integrated_gradients(net, image(), image(10, 12), (4, 4), 8)


def test_window_outside_and_unknown_objective_are_refused():
    net = randomised(TinyNet().double())
    with pytest.raises(ValueError, match="outside"):
        rescale_attribution(net, image(), (20, 4), window_size=8)
    with pytest.raises(ValueError, match="unknown objective"):
        rescale_attribution(net, image(), (4, 4), window_size=8, objective="max")


# ---- the networks are rescale-compatible, with unchanged keys and outputs ------------------------------------

def _functional_msrresnet(net, x):
    """MSRResNet as written before its activations became modules (F.relu / F.leaky_relu calls)."""
    lk = lambda t: F.leaky_relu(t, 0.1)  # noqa: E731
    feat = lk(net.conv_first(x))
    for block in net.body:
        feat = feat + block.conv2(F.relu(block.conv1(feat)))
    out = lk(net.pixel_shuffle(net.upconv1(feat)))
    if net.upscale == 4:
        out = lk(net.pixel_shuffle(net.upconv2(out)))
    out = net.conv_last(lk(net.conv_hr(out)))
    return out + F.interpolate(x, scale_factor=net.upscale, mode="bilinear", align_corners=False)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_msrresnet_keys_and_outputs_unchanged(scale):
    net = randomised(MSRResNet(num_feat=4, num_block=2, upscale=scale))
    keys = ["conv_first.weight", "conv_first.bias"]
    for i in range(2):
        keys += [f"body.{i}.conv1.weight", f"body.{i}.conv1.bias", f"body.{i}.conv2.weight", f"body.{i}.conv2.bias"]
    keys += ["upconv1.weight", "upconv1.bias"] + (["upconv2.weight", "upconv2.bias"] if scale == 4 else [])
    keys += ["conv_hr.weight", "conv_hr.bias", "conv_last.weight", "conv_last.bias"]
    assert list(net.state_dict()) == keys  # BasicSR's keys, in order: activations have no parameters
    x = image(9, 9).float().unsqueeze(0)
    with torch.no_grad():
        assert torch.equal(net(x), _functional_msrresnet(net, x))


def test_msrresnet_runs_every_activation_once():
    net = tiny_msrresnet(4)
    calls = check_rescale_compatible(net, image(8, 8).unsqueeze(0))
    assert calls and set(calls.values()) == {1}
    assert {"lrelu_first", "body.0.relu", "body.1.relu", "lrelu_up1", "lrelu_up2", "lrelu_hr"} <= set(calls)


# ---- the captum-based comparisons ---------------------------------------------------------------------------

def test_ig_and_gradient_times_input_on_a_linear_net():
    net = randomised(LinearNet().double())
    x, ref = image(seed=1), image(seed=2)
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(WindowObjective(net, (2, 2), 8, "mean")(xg.unsqueeze(0)).sum(), xg)
    a, delta = integrated_gradients(net, x, ref, (2, 2), 8, objective="mean", n_steps=3)
    # captum multiplies by its step sizes as float32 tensors: exact only to ~1e-7 relative
    assert torch.allclose(a, g * (x - ref), rtol=1e-6, atol=1e-12) and abs(delta) < 1e-7
    assert torch.allclose(gradient_times_input(net, x, (2, 2), 8, "mean"), g * x, rtol=0, atol=1e-14)


def test_costs_count_images_forward_and_backward():
    net = tiny_msrresnet()
    x = image(10, 10)
    with count_passes(net) as c:
        rescale_attribution(net, x, (2, 2), window_size=8)
    assert (c.forward, c.backward) == (4, 2)  # [x, x̄] once here, once in captum; one backward of both
    with count_passes(net) as c:
        integrated_gradients(net, x, blur_baseline(x), (2, 2), 8, n_steps=7)
    assert (c.forward, c.backward) == (9, 7)  # 7 path points + captum's delta check on x and x̄
    with count_passes(net) as c:
        gradient_times_input(net, x, (2, 2), 8)
    assert (c.forward, c.backward) == (1, 1) and c.seconds > 0


def test_captum_trapezoid_weights_do_not_sum_to_one():
    """Why integrated_gradients defaults to Gauss-Legendre: captum 0.9's trapezoid weights for n points sum to
    (n − 1)/n (here 2/3), so its IG maps would be scaled by that factor; if captum fixes it this test says so."""
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes, _ = approximation_parameters("riemann_trapezoid")
    assert sum(step_sizes(3)) == pytest.approx(2 / 3)
    step_sizes, alphas = approximation_parameters("gausslegendre")
    assert sum(step_sizes(3)) == pytest.approx(1.0, abs=1e-14)

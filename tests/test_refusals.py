"""No silent wrong maps, and no silent reading of ambiguous or degenerate inputs (issue 24, items 4 and 5).

Each refusal is checked against what the call returned before: a number that looked plausible."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from faiglib.core.edits import evaluation_mode
from faiglib.core.units import FilterIndex
from faiglib.data.images import ImageError
from faiglib.methods.baselines import input_ig_ranking
from faiglib.methods.faig import faig
from faiglib.methods.l2x import rescale_attribution
from faiglib.methods.lam import abs_normalized, diffusion_index, lam
from faiglib.methods.pixel_attribution import gradient_times_input
from faiglib.studies.classification import classification_images
from faiglib.studies.masking import masking_effects
from faiglib.studies.workspace import Workspace


def _randomised(net, seed=0, std=0.3):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return net


class ModuleNet(nn.Module):
    """conv - ReLU module - conv x2 pixel shuffle, one ReLU module: what captum's rescale rule handles."""

    def __init__(self, act: nn.Module | None = None):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3, padding=1)
        self.act = act if act is not None else nn.ReLU()
        self.c2 = nn.Conv2d(6, 12, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        return self.shuffle(self.c2(self.act(self.c1(x))))


class FunctionalNet(ModuleNet):
    """The same weights, the nonlinearity written as a function the hooks cannot see."""

    def forward(self, x):
        return self.shuffle(self.c2(F.leaky_relu(self.c1(x), 0.01)))


class BatchNormNet(nn.Module):
    """conv - BatchNorm - ReLU - conv x2: train mode normalises by the batch and updates the running statistics."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.act = nn.ReLU()
        self.c2 = nn.Conv2d(6, 12, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        return self.shuffle(self.c2(self.act(self.bn(self.c1(x)))))


def _image(seed=0, h=16, w=16):
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---- L2X: a map that does not explain the change is refused -------------------------------------------------
def test_l2x_with_module_activations_sums_to_the_change():
    net = _randomised(ModuleNet().double()).eval()
    r = rescale_attribution(net, _image(), (8, 8), window_size=8)
    assert r.relative_summation_gap < 1e-6


def test_l2x_refuses_a_network_with_functional_activations():
    net = _randomised(FunctionalNet().double()).eval()
    with pytest.raises(ValueError, match=r"F\.relu.*LAM"):
        rescale_attribution(net, _image(), (8, 8), window_size=8)
    # what it returned before: a map whose sum missed the change (the refusal's reason, measured)
    r = rescale_attribution(net, _image(), (8, 8), window_size=8, max_summation_gap=None)
    assert r.relative_summation_gap > 0.01


@pytest.mark.parametrize("act", [nn.GELU(), nn.SiLU(), nn.LayerNorm([6, 16, 16])], ids=["GELU", "SiLU", "LayerNorm"])
def test_l2x_refuses_nonlinear_modules_without_a_rescale_rule(act):
    net = _randomised(ModuleNet(act).double()).eval()
    with pytest.raises(ValueError, match=f"no rule for.*{type(act).__name__}"):
        rescale_attribution(net, _image(), (8, 8), window_size=8)


def test_l2x_window_must_be_a_pair():
    net = _randomised(ModuleNet().double()).eval()
    with pytest.raises(ValueError, match=r"window must be \(y, x\)"):
        rescale_attribution(net, _image(), 4, window_size=8)


# ---- NaN pixels ---------------------------------------------------------------------------------------------
def test_a_nan_pixel_is_refused_by_lam_and_l2x():
    net = _randomised(ModuleNet().double()).eval()
    x = _image()
    x[1, 3, 4] = float("nan")
    for method in (lambda: lam(net, x, (8, 8), window_size=8, fold=4),
                   lambda: rescale_attribution(net, x, (8, 8), window_size=8)):
        with pytest.raises(ValueError, match="1 NaN or inf pixel"):
            method()


def test_a_map_with_nan_is_not_reported_as_zero_everywhere():
    bad = torch.zeros(3, 4, 4)
    bad[0, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf at 1 pixels"):
        abs_normalized(bad)
    with pytest.raises(ValueError, match="zero everywhere"):
        abs_normalized(torch.zeros(3, 4, 4))


# ---- every method evaluates in eval mode and leaves the model as it was ------------------------------------
def _snapshot(net):
    return ({k: v.clone() for k, v in net.state_dict().items()}, [m.training for m in net.modules()])


def _assert_unchanged(net, snapshot):
    state, modes = snapshot
    assert [m.training for m in net.modules()] == modes
    now = net.state_dict()
    assert all(torch.equal(now[k], v) for k, v in state.items())  # running statistics and counters too


def _bn_net():
    net = _randomised(BatchNormNet().double(), std=0.3)
    with torch.no_grad():  # running statistics away from the batch's, so train mode would give other numbers
        net.bn.running_mean.uniform_(-0.5, 0.5, generator=torch.Generator().manual_seed(1))
        net.bn.running_var.uniform_(0.5, 2.0, generator=torch.Generator().manual_seed(2))
    return net


METHODS = {
    "lam": lambda net, x: lam(net, x, (8, 8), window_size=8, fold=4).map,
    "l2x": lambda net, x: rescale_attribution(net, x, (8, 8), window_size=8).map,
    "gradient_x_input": lambda net, x: gradient_times_input(net, x, (8, 8), window_size=8),
    "faig": lambda net, x: faig(net, net.state_dict(), _randomised(BatchNormNet().double(), seed=3).state_dict(),
                                x[None], torch.rand(1, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(4)).clamp(0, 1),
                                n_steps=2).filter_scores,
    "input_ig": lambda net, x: input_ig_ranking(net, net.state_dict(), [x * 0.5], {"blur": [x]}, n_steps=2,
                                                internal_batch_size=2).scores_by_degradation["blur"],
    "masking": lambda net, x: masking_effects(
        net, _randomised(BatchNormNet().double(), seed=5).state_dict(), torch.tensor([0, 5, 9]),
        type("A", (), {"lr": {"blur": [x]}})(), kinds=("blur",))["gray"]["blur"],
}


@pytest.mark.parametrize("name", list(METHODS))
def test_methods_explain_the_eval_mode_network_and_leave_it_as_it_was(name):
    x = _image()
    net = _bn_net()
    with evaluation_mode(net):
        expected = METHODS[name](net, x)  # the network as it computes in eval mode
    net.train()
    net.bn.eval()  # a mixed state the caller chose, which must come back as it was
    before = _snapshot(net)
    got = METHODS[name](net, x)
    _assert_unchanged(net, before)
    assert torch.allclose(torch.as_tensor(got), torch.as_tensor(expected), rtol=1e-10, atol=1e-12)
    net.train()
    before = _snapshot(net)
    METHODS[name](net, x)
    _assert_unchanged(net, before)  # batch norm in train mode: its running statistics are not updated


def test_lam_of_a_train_mode_network_is_the_eval_mode_map():
    """What the issue measured (DI 35.5 vs 10.4 with batch statistics): train-mode batch norm would give another
    network, so the mode is part of the result; LAM now explains the eval-mode network whatever mode it is in."""
    x = _image()
    expected = diffusion_index(lam(_bn_net().eval(), x, (8, 8), window_size=8, fold=4).map)
    assert diffusion_index(lam(_bn_net().train(), x, (8, 8), window_size=8, fold=4).map) == pytest.approx(expected)
    net = _bn_net()
    with torch.no_grad():
        running = net.eval()(torch.stack([x, x]))
        batch_stats = net.train()(torch.stack([x, x]))  # (this forward itself updates the running statistics)
    assert not torch.allclose(batch_stats, running)


# ---- ambiguous or degenerate inputs -------------------------------------------------------------------------
def test_an_integer_0_1_mask_of_full_length_is_refused():
    index = FilterIndex(ModuleNet())
    mask = torch.zeros(len(index), dtype=torch.long)
    mask[[3, 7]] = 1
    with pytest.raises(ValueError, match=r"0/1 mask.*mask\.bool\(\)"):
        index.selection(mask)
    assert index.selection(mask.bool()).nonzero().flatten().tolist() == [3, 7]
    assert index.selection(torch.tensor([3, 7])).nonzero().flatten().tolist() == [3, 7]


@pytest.mark.parametrize("kwargs, match", [({"count": 0, "crop": None}, "count must be an integer >= 1"),
                                           ({"count": None, "crop": 0}, "crop must be an integer >= 1"),
                                           ({"count": -2, "crop": None}, "count must be")])
def test_explicit_zeros_are_not_read_as_defaults(kwargs, match):
    with pytest.raises(ValueError, match=match):
        classification_images("embedded:validation", 2, **kwargs)
    assert len(classification_images("embedded:validation", 2, crop=None, count=1)) == 1


def test_zero_random_draws_is_refused(tmp_path):
    ws = Workspace(profile="smoke", out=tmp_path)
    with pytest.raises(ValueError, match="draws must be an integer >= 1"):
        ws.random_rankings(0)
    assert len(ws.random_rankings(2)) == 2


@pytest.mark.parametrize("value", [math.inf, math.nan, 0.0, -1.0])
def test_an_analysis_sigma_must_be_finite_and_positive(tmp_path, value):
    with pytest.raises(ValueError, match="finite sigma > 0"):
        Workspace(profile="smoke", out=tmp_path, analysis_noise_sigma=value)


@pytest.mark.parametrize("channels, match", [(1, "repeat a gray image"), (4, "drop the alpha channel")])
def test_an_image_with_other_channels_is_refused_with_the_remedy(channels, match):
    net = ModuleNet()
    sd = net.state_dict()
    x = torch.rand(1, channels, 8, 8)
    with pytest.raises(ValueError, match=f"{channels} channel.*'c1' takes 3: {match}"):
        faig(net, sd, sd, x, torch.rand(1, 3, 16, 16), n_steps=2)
    with pytest.raises(ValueError, match=f"{channels} channel"):
        lam(net, x[0], (4, 4), window_size=8, fold=2)


def test_an_image_smaller_than_the_scale_reports_its_own_size(tmp_path):
    import numpy as np
    from PIL import Image

    (tmp_path / "data").mkdir()
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "data" / "a.png")
    ws = Workspace(profile="smoke", data=str(tmp_path / "data"), out=tmp_path / "out")
    with pytest.raises(ImageError, match=r"a\.png is 1x1: a side is shorter than the scale 2"):
        ws.analysis_images()

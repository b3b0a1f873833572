"""faiglib.studies.attention: components, unit locations, completeness gaps and the verdict rule on known inputs."""
import dataclasses

import pytest
import torch

from faiglib.core.units import FilterIndex
from faiglib.methods.faig import DiscriminativeFilters
from faiglib.models.networks import MSRResNet
from faiglib.models.rcan import RCAN
from faiglib.models.swinir import SwinIR
from faiglib.profiles import Profile, get_profile
from faiglib.studies.attention import (complete_workspace, component_of, completeness_gaps, over_seeds,
                                       small_set_verdict, sufficient_n_steps, unit_components, unit_locations)


def swin():
    torch.manual_seed(0)
    return SwinIR(embed_dim=8, depths=(2,), num_heads=2, window_size=4, num_feat=8, upscale=2)


def test_components_of_each_network():
    index = FilterIndex(swin())
    comps = {layer.name: component_of(layer) for layer in index.layers}
    blk = "layers.0.residual_group.blocks.0"
    assert comps[f"{blk}.attn"] == comps[f"{blk}.attn.qkv"] == comps[f"{blk}.attn.proj"] == "attention"
    assert comps[f"{blk}.mlp.fc1"] == comps[f"{blk}.mlp.fc2"] == "mlp"
    assert comps["conv_first"] == comps["layers.0.conv"] == comps["conv_last"] == "conv"
    # counts from test_attention_units: attention 2 x (2 + 24 + 8) = 68, MLP 2 x (16 + 8) = 48, the rest conv
    c = unit_components(index)
    assert (c.count("attention"), c.count("mlp"), c.count("conv")) == (68, 48, 612 - 116)
    rcan = unit_components(FilterIndex(RCAN(num_feat=8, num_group=1, num_block=1, squeeze_factor=4, upscale=2)))
    assert rcan.count("attention") == 2 * 8 + 8 * 2 and rcan.count("mlp") == 0
    assert set(unit_components(FilterIndex(MSRResNet(num_feat=4, num_block=1)))) == {"conv"}


def test_unit_locations_known_answer():
    index = FilterIndex(swin())
    table = index.layer("layers.0.residual_group.blocks.1.attn")  # 2 heads, 49 weights each
    first = index.layer("conv_first")  # 24 units of 9 weights, depth 0
    loc = unit_locations(index, torch.tensor([table.offset, table.offset + 1, first.offset, first.offset + 5]))
    assert loc["n"] == 4 and loc["share"] == {"conv": 0.5, "attention": 0.5, "mlp": 0.0}
    assert loc["chance"]["attention"] == pytest.approx(68 / 612)
    n_layers = len(index.layers)
    layer_pos = [layer.name for layer in index.layers].index(table.name)
    assert loc["depth"] == pytest.approx((2 * layer_pos / (n_layers - 1) + 0) / 4)
    assert loc["size"] == pytest.approx((49 + 49 + 9 + 9) / 4)
    assert loc["layers"] == {table.name: 2, "conv_first": 2}
    with pytest.raises(IndexError):
        unit_locations(index, torch.tensor([len(index)]))
    with pytest.raises(ValueError, match="at least one"):
        unit_locations(index, torch.tensor([], dtype=torch.long))


def test_completeness_gaps():
    scores = DiscriminativeFilters(("blur", "noise"), {d: torch.zeros(2, 3) for d in ("blur", "noise")},
                                   {"blur": torch.tensor([[1.0, 3.0], [2.0, 1.0]], dtype=torch.float64),
                                    "noise": torch.tensor([[0.0, 4.0], [0.0, 4.0]], dtype=torch.float64)},
                                   {"blur": torch.tensor([0.02, -0.1], dtype=torch.float64),
                                    "noise": torch.tensor([0.0, 0.04], dtype=torch.float64)}, ["a", "b"])
    gaps = completeness_gaps(scores)
    # blur: |0.02| / 2 = 0.01, |-0.1| / 1 = 0.1; torch's median of two values is the lower one
    assert gaps["blur"] == {"median": pytest.approx(0.01), "max": pytest.approx(0.1)}
    assert gaps["noise"] == {"median": pytest.approx(0.0), "max": pytest.approx(0.01)}


def test_sufficient_n_steps_stops_at_the_first_n_within_the_gap():
    # a midpoint-rule-like gap that falls as 1/N^2: 20 -> 0.25, 50 -> 0.04, 100 -> 0.01
    asked = []

    def gaps_at(n):
        asked.append(n)
        return {"blur": {"median": 100.0 / n ** 2, "max": 1.0}, "noise": {"median": 0.001, "max": 0.002}}

    n, tried = sufficient_n_steps(gaps_at, [20, 50, 100, 200], max_gap=0.05)
    assert (n, asked, list(tried)) == (50, [20, 50], [20, 50])  # the max over images does not decide
    asked.clear()
    n, tried = sufficient_n_steps(gaps_at, [20, 50], max_gap=0.001)  # never within: the last N, its gap shown
    assert n == 50 and tried[50]["blur"]["median"] == pytest.approx(0.04)
    with pytest.raises(ValueError, match="at least one"):
        sufficient_n_steps(gaps_at, [], max_gap=0.05)


def _summary(deblur_low, denoise_low, noisy, blurry):
    cell = lambda low: {"faig_over_random": {"ratio": low * 2, "low": low, "high": low * 3}}  # noqa: E731
    return {"yardstick": {"mask_1pct": {"deblur_filters": {"blur_input": cell(deblur_low)},
                                        "denoise_filters": {"noise_input": cell(denoise_low)}}},
            "ratios": {"mask_1pct": {"noise_input_deblur_over_denoise_masking": noisy,
                                     "blur_input_denoise_over_deblur_masking": blurry}}}


@dataclasses.dataclass
class _GapWorkspace:
    """What complete_workspace asks of a Workspace: a profile with n_steps and max_completeness_gap, and scores whose
    completeness gap is 100 / N^2 (one image, loss change 1)."""
    profile: Profile
    _cache: dict = dataclasses.field(default_factory=dict)

    def scores(self, n_steps=None):
        n = self.profile.n_steps if n_steps is None else n_steps
        gap = torch.tensor([100.0 / n ** 2], dtype=torch.float64)
        losses = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
        return DiscriminativeFilters(("blur",), {"blur": torch.zeros(1)}, {"blur": losses}, {"blur": gap}, ["a"])


def test_complete_workspace_raises_n_only_as_far_as_the_gap_needs():
    smoke = get_profile("smoke")
    ws = _GapWorkspace(smoke.with_(n_steps=20, max_completeness_gap=0.05))
    raised, tried = complete_workspace(ws)  # 20 -> 0.25, 50 -> 0.04: stops at 50
    assert raised.profile.n_steps == 50 and list(tried) == [20, 50] and ws.profile.n_steps == 20
    assert tried[50]["blur"]["median"] == pytest.approx(0.04)
    same, tried = complete_workspace(ws, max_gap=0.3)  # within at the profile's own N: the workspace itself
    assert same is ws and list(tried) == [20]
    kept, tried = complete_workspace(ws, ladder=())
    assert kept is ws and list(tried) == [20]
    unbounded = _GapWorkspace(smoke.with_(n_steps=20, max_completeness_gap=None))
    assert complete_workspace(unbounded)[0] is unbounded


@pytest.mark.parametrize("args,answer", [
    ((3.0, 2.0, 0.2, 0.5), "yes"),
    ((3.0, 0.9, 0.2, 0.5), "specific, not effective"),  # the denoising interval reaches below 1
    ((3.0, 2.0, 0.2, 1.5), "effective, not specific"),  # the denoising set disturbs blurry input more
    ((0.5, 0.5, 2.0, 2.0), "no"),
])
def test_small_set_verdict_rule(args, answer):
    v = small_set_verdict(_summary(*args))
    assert v["answer"] == answer
    assert v["ratios"]["deblur_low"] == args[0] and v["ratios"]["blur_input_denoise_over_deblur"] == args[3]


def _full(deblur_low, blur_gain, share):
    s = _summary(deblur_low, 2.0, 0.2, 0.5)
    s["psnr"] = {"blur": {"baseline": 25.0, "target": 25.0 + blur_gain}, "noise": {"baseline": 20.0, "target": 23.0}}
    s["locations"] = {"deblur": {"share": {"attention": share}}, "denoise": {"share": {"attention": 0.0}}}
    return s


def test_over_seeds_by_hand():
    by_seed = {0: {"net": _full(3.0, 1.0, 0.25)}, 1: {"net": _full(0.5, 2.0, 0.75)}}
    (row,) = over_seeds(by_seed)
    assert row["network"] == "net" and row["seeds"] == [0, 1]
    assert row["summary"]["gain_blur_db"] == {"mean": pytest.approx(1.5), "std": pytest.approx(0.5 ** 0.5),
                                              "per_seed": [pytest.approx(1.0), pytest.approx(2.0)]}
    assert row["summary"]["deblur_over_random_1pct"]["per_seed"] == [6.0, 1.0]  # _summary's ratio is 2 x low
    assert row["summary"]["attention_share_deblur"]["mean"] == pytest.approx(0.5)
    assert "deblur_over_random_5pct" not in row["summary"]  # no 5 % masking in these summaries
    assert row["answers"] == ["yes", "specific, not effective"] and row["answer"] == "differs by seed"
    (same,) = over_seeds({0: {"net": _full(3.0, 1.0, 0.0)}, 3: {"net": _full(4.0, 1.0, 0.0)}})
    assert same["answer"] == "yes" and same["summary"]["gain_noise_db"]["std"] == 0.0
    with pytest.raises(ValueError, match="networks"):
        over_seeds({0: {"net": _full(3.0, 1.0, 0.0)}, 1: {"other": _full(3.0, 1.0, 0.0)}})

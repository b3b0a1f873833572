"""Baseline filter selections: |θ − θ̄|, input-space IG and random, against independent computations."""
import pytest
import torch

from faiglib.methods.baselines import (FilterRanking, abs_change_ranking, input_ig_ranking, random_filter_ranking, random_ranking)
from faiglib.core.units import FilterIndex
from faiglib.models.networks import build_network


def tiny(seed=0):
    torch.manual_seed(seed)
    return build_network("msrresnet", num_feat=4, num_block=1).double()


def test_abs_change_known_answer():
    model = tiny()
    base = {k: torch.ones_like(v) for k, v in model.state_dict().items()}
    target = {k: v.clone() for k, v in base.items()}
    target["body.0.conv1.weight"][2, 1] += torch.arange(9, dtype=torch.float64).view(3, 3)  # Σ|Δ| = 36
    target["conv_last.weight"][0, 3, 0, 0] -= 4.5
    r = abs_change_ranking(model, base, target)
    index = FilterIndex(model)
    expected = torch.zeros(len(index), dtype=torch.float64)
    expected[index.flat("body.0.conv1", 2, 1)] = 36 / 9  # normalised by the baseline filter's L1 norm (9)
    expected[index.flat("conv_last", 0, 3)] = 4.5 / 9
    torch.testing.assert_close(r.scores("blur"), expected)
    assert torch.equal(r.scores("blur"), r.scores("noise"))  # it cannot tell degradations apart
    assert r.top("blur", 2 / len(index)).tolist() == [index.flat("body.0.conv1", 2, 1), index.flat("conv_last", 0, 3)]


def test_input_ig_matches_a_plain_loop():
    model = tiny(1)
    target = {k: v + 0.05 * torch.randn_like(v) for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(0)
    clean = [torch.rand(3, 6, 6, generator=g, dtype=torch.float64) for _ in range(2)]
    degraded = {"blur": [c * 0.5 for c in clean], "noise": [0.1 + 0.9 * c for c in clean]}  # images in [0, 1]
    n = 5
    got = input_ig_ranking(model, target, clean, degraded, n_steps=n, internal_batch_size=2)
    got_one = input_ig_ranking(model, target, clean, degraded, n_steps=n, internal_batch_size=1)
    net = build_network("msrresnet", num_feat=4, num_block=1).double()
    net.load_state_dict(target)
    index = FilterIndex(net)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    for d, images in degraded.items():
        expected = torch.zeros(len(index), dtype=torch.float64)
        for x0, x1 in zip(clean, images):
            acc = [torch.zeros_like(c.weight) for c in convs]
            for k in range(n):
                net.zero_grad()
                net((x0 + k / n * (x1 - x0)).unsqueeze(0)).sum().backward()
                for a, c in zip(acc, convs):
                    a += c.weight.grad
            expected += torch.cat([(a / n).abs().sum(dim=(2, 3)).flatten() for a in acc])
        torch.testing.assert_close(got.scores(d), expected)
        torch.testing.assert_close(got_one.scores(d), expected)
    assert not torch.equal(got.scores("blur"), got.scores("noise"))


def test_random_ranking_and_round_trip(tmp_path):
    index = FilterIndex(tiny())
    r = random_filter_ranking(index, seed=3)
    k = 7
    assert r.top("blur", k / len(index)).tolist() == random_ranking(len(index), 3)[:k].tolist()
    assert random_ranking(len(index), 3).tolist() != random_ranking(len(index), 4).tolist()
    loaded = FilterRanking.load(r.save(tmp_path / "r.pt"))
    assert loaded.method == "random" and torch.equal(loaded.scores("noise"), r.scores("noise"))
    with pytest.raises(KeyError, match="jpeg"):
        r.scores("jpeg")
    with pytest.raises(ValueError, match="proportion"):
        r.top("blur", 1.5)
    with pytest.raises(ValueError, match="n_filters"):
        random_ranking(0, 1)


def test_input_ig_rejects_0_255_integer_and_nan_images():
    model = tiny(1)
    g = torch.Generator().manual_seed(0)
    clean = [torch.rand(3, 6, 6, generator=g, dtype=torch.float64)]
    for bad, message in (([clean[0] * 255], r"\[0, 1\].*divide"), ([(clean[0] * 255).to(torch.uint8)], "float"),
                         ([clean[0].clone().fill_(float("nan"))], "NaN or inf")):
        with pytest.raises(ValueError, match=message):
            input_ig_ranking(model, model.state_dict(), clean, {"blur": bad}, n_steps=2)
        with pytest.raises(ValueError, match=message):
            input_ig_ranking(model, model.state_dict(), bad, {"blur": clean}, n_steps=2)

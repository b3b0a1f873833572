"""Remove-and-replace (faiglib.measures.remove_replace) and linear CKA (faiglib.measures.cka): known answers."""
import itertools

import pytest
import torch
from torch import nn

from faiglib.measures.cka import CKAAccumulator, hsic, gram, layer_cka, linear_cka
from faiglib.measures.remove_replace import (channel_mean_reference, permuted_map, pixel_order, random_map,
                                             remove_and_replace, replaced_inputs)


def pixel_sum(batch):
    return batch.sum(dim=(1, 2, 3))


X = torch.tensor([[[4.0, 3.0], [2.0, 1.0]]], dtype=torch.float64)  # (1, 2, 2)
REF = torch.zeros_like(X)


# ---- remove-and-replace -------------------------------------------------------------------------------------

def test_hand_computed_curves():
    """g = sum of pixels, x = [[4, 3], [2, 1]], x̄ = 0: g(x) = 10. Replacing by |A| = x first removes 4, 3, 2, 1:
    f = 0, .4, .7, .9, 1, AUC = .25·(0/2 + .4 + .7 + .9 + 1/2) = .625; the negative order removes 1 first:
    f = 0, .1, .3, .6, 1, AUC = .375."""
    ks = (0, 25, 50, 75, 100)
    c = remove_and_replace(pixel_sum, X, REF, X, "absolute", ks)
    assert c.fraction == pytest.approx([0, 0.4, 0.7, 0.9, 1.0], abs=1e-15)
    assert c.auc == pytest.approx(0.625, abs=1e-15)
    assert remove_and_replace(pixel_sum, X, REF, X, "positive", ks).auc == pytest.approx(0.625, abs=1e-15)
    c = remove_and_replace(pixel_sum, X, REF, X, "negative", ks)
    assert c.fraction == pytest.approx([0, 0.1, 0.3, 0.6, 1.0], abs=1e-15)
    assert c.auc == pytest.approx(0.375, abs=1e-15)


def test_normalising_by_the_objective():
    """x̄ = 1 everywhere: g(x) = 10, g(x̄) = 4. Removing 4 first gives g = 7: 3/10 of the objective, 3/6 of the
    difference; at 100 % 6/10 and 1."""
    ref = torch.ones_like(X)
    c = remove_and_replace(pixel_sum, X, ref, X, "absolute", (0, 25, 100), normalise="objective")
    assert c.fraction == pytest.approx([0, 0.3, 0.6], abs=1e-15)
    assert c.auc == pytest.approx(0.25 * 0.3 / 2 + 0.75 * (0.3 + 0.6) / 2, abs=1e-15)
    d = remove_and_replace(pixel_sum, X, ref, X, "absolute", (0, 25, 100))
    assert d.fraction == pytest.approx([0, 0.5, 1.0], abs=1e-15)
    with pytest.raises(ValueError, match="unknown normalisation"):
        remove_and_replace(pixel_sum, X, ref, X, "absolute", normalise="psnr")
    with pytest.raises(ValueError, match="objective of the input"):
        remove_and_replace(pixel_sum, torch.zeros_like(X), ref, X, "absolute", normalise="objective")


def test_absolute_order_uses_magnitudes():
    a = torch.tensor([[[0.5, -3.0], [2.0, 0.0]]])
    assert pixel_order(a, "absolute").tolist() == [1, 2, 0, 3]
    assert pixel_order(a, "positive").tolist() == [2, 0, 3, 1]
    assert pixel_order(a, "negative").tolist() == [1, 3, 0, 2]
    assert pixel_order(torch.zeros(2, 2), "absolute").tolist() == [0, 1, 2, 3]  # ties: pixel order


def test_zero_percent_changes_nothing_and_hundred_gives_the_reference():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 6, 5, generator=g, dtype=torch.float64)
    ref = torch.rand(3, 6, 5, generator=g, dtype=torch.float64)
    batch = replaced_inputs(x, ref, pixel_order(random_map((3, 6, 5), g)), [0, 40, 100])
    assert torch.equal(batch[0], x) and torch.equal(batch[2], ref)
    assert int((batch[1] != x).any(0).sum()) == round(0.4 * 30)  # 12 whole pixels (all channels) replaced
    net = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Tanh()).double()
    objective = lambda b: net(b).sum((1, 2, 3))  # noqa: E731
    c = remove_and_replace(objective, x, ref, random_map((6, 5), g), "absolute", [0, 50, 100])
    with torch.no_grad():
        assert c.objectives[0] == float(objective(x[None])[0])
        assert c.objectives[-1] == float(objective(ref[None])[0])
    assert c.fraction[0] == 0 and c.fraction[-1] == 1


def test_batching_does_not_change_the_curve():
    g = torch.Generator().manual_seed(1)
    x, ref, a = torch.rand(3, 5, 5, generator=g), torch.rand(3, 5, 5, generator=g), torch.randn(5, 5, generator=g)
    one = remove_and_replace(pixel_sum, x, ref, a, "positive")
    two = remove_and_replace(pixel_sum, x, ref, a, "positive", batch_size=3)
    assert one.objectives == pytest.approx(two.objectives, rel=1e-6)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        remove_and_replace(pixel_sum, X, REF, X, "absolute", [0, 50, 120])
    with pytest.raises(ValueError, match=r"\[0, 100\]"):
        remove_and_replace(pixel_sum, X, REF, X, "absolute", [-5, 50])
    with pytest.raises(ValueError, match="shape of the input"):
        remove_and_replace(pixel_sum, X, torch.zeros(1, 3, 2), X, "absolute")
    with pytest.raises(ValueError, match="does not cover"):
        remove_and_replace(pixel_sum, X, REF, torch.zeros(3, 3), "absolute")
    with pytest.raises(ValueError, match="unknown order"):
        remove_and_replace(pixel_sum, X, REF, X, "largest")
    with pytest.raises(ValueError, match="nothing to remove"):
        remove_and_replace(pixel_sum, X, X.clone(), X, "absolute")


# ---- CKA ----------------------------------------------------------------------------------------------------

def feats(n=12, p=7, seed=0):
    return torch.randn(n, p, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_channel_mean_reference_is_the_whole_images_mean_on_the_crop():
    image = torch.stack([torch.full((4, 6), 0.25), torch.arange(24.0).reshape(4, 6), torch.zeros(4, 6)])
    crop = image[:, 1:3, 2:5]
    ref = channel_mean_reference(image, crop)
    assert ref.shape == (3, 2, 3)
    assert ref[0].unique().tolist() == [0.25] and ref[1].unique().tolist() == [11.5] and ref[2].abs().max() == 0
    with pytest.raises(ValueError, match="channels"):
        channel_mean_reference(image, crop[:2])


def test_permuted_map_moves_whole_pixels_and_is_seeded():
    a = torch.arange(2 * 3 * 4, dtype=torch.float64).reshape(2, 3, 4)
    p = permuted_map(a, torch.Generator().manual_seed(5))
    # channel 1 is channel 0 + 12 at every pixel: a pixel's channels travel together
    assert torch.equal(p[1] - p[0], torch.full((3, 4), 12.0, dtype=torch.float64))
    assert sorted(p[0].flatten().tolist()) == list(range(12))
    assert torch.equal(p, permuted_map(a, torch.Generator().manual_seed(5)))
    assert not torch.equal(p, a)


@pytest.mark.parametrize("unbiased", [True, False])
def test_cka_with_itself_is_one(unbiased):
    x = feats()
    assert linear_cka(x, x, unbiased) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("unbiased", [True, False])
def test_cka_invariant_to_orthogonal_transform_and_isotropic_scaling(unbiased):
    x, y = feats(seed=1), feats(p=5, seed=2)
    q, _ = torch.linalg.qr(torch.randn(7, 7, generator=torch.Generator().manual_seed(3), dtype=torch.float64))
    base = linear_cka(x, y, unbiased)
    assert linear_cka(x @ q, y, unbiased) == pytest.approx(base, abs=1e-12)
    assert linear_cka(3.7 * x, 0.2 * y, unbiased) == pytest.approx(base, abs=1e-12)


def test_biased_cka_hand_computed():
    """x = (1, 2, 3), y = (1, 2, 4): centred x = (−1, 0, 1), y = (−4/3, −1/3, 5/3); xᵀy = 3, |x|² = 2, |y|² = 14/3,
    so CKA = 3² / (2 · 14/3) = 27/28."""
    x = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)
    y = torch.tensor([[1.0], [2.0], [4.0]], dtype=torch.float64)
    assert linear_cka(x, y, unbiased=False) == pytest.approx(27 / 28, abs=1e-14)


def test_biased_cka_is_the_feature_space_formula():
    x, y = feats(seed=4), feats(p=3, seed=5)
    xc, yc = x - x.mean(0), y - y.mean(0)
    want = (yc.t() @ xc).norm() ** 2 / ((xc.t() @ xc).norm() * (yc.t() @ yc).norm())
    assert linear_cka(x, y, unbiased=False) == pytest.approx(float(want), abs=1e-12)


def test_unbiased_hsic_is_the_u_statistic():
    """Song et al.: HSIC₁ = 1/(n)₄ Σ over distinct (i, j, q, r) of k_ij l_ij + k_ij l_qr − 2 k_ij l_iq."""
    x, y = feats(n=6, p=3, seed=6), feats(n=6, p=2, seed=7)
    K, L = gram(x), gram(y)
    n = 6
    total = 0.0
    count = 0
    for i, j, q, r in itertools.permutations(range(n), 4):
        total += float(K[i, j] * L[i, j] + K[i, j] * L[q, r] - 2 * K[i, j] * L[i, q])
        count += 1
    assert float(hsic(K, L, unbiased=True)) == pytest.approx(total / count, rel=1e-10)


def test_minibatch_accumulation_averages_hsics():
    x, y = feats(n=16, seed=8), feats(n=16, p=4, seed=9)
    acc = CKAAccumulator(1, 1)
    acc.update([x[:8]], [y[:8]])
    acc.update([x[8:]], [y[8:]])
    h = lambda a, b: float(hsic(gram(a), gram(b)))  # noqa: E731
    kl = (h(x[:8], y[:8]) + h(x[8:], y[8:])) / 2
    kk = (h(x[:8], x[:8]) + h(x[8:], x[8:])) / 2
    ll = (h(y[:8], y[:8]) + h(y[8:], y[8:])) / 2
    assert float(acc.matrix()[0, 0]) == pytest.approx(kl / (kk * ll) ** 0.5, rel=1e-12)


def test_layer_cka_of_a_network_with_itself_has_a_unit_diagonal():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 3, padding=1)).double()
    g = torch.Generator().manual_seed(1)
    batches = [torch.rand(5, 3, 6, 6, generator=g, dtype=torch.float64) for _ in range(3)]
    r = layer_cka(net, ["0", "1", "2"], net, ["0", "1", "2"], batches)
    assert r["matrix"].diagonal().tolist() == pytest.approx([1.0, 1.0, 1.0], abs=1e-12)
    assert torch.allclose(r["matrix"], r["matrix"].t(), atol=1e-12)
    assert r["samples"] == 15 and r["batches"] == 3


def test_cka_bad_input():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1))
    with pytest.raises(ValueError, match="no module"):
        layer_cka(net, ["7"], net, ["0"], [torch.rand(4, 3, 5, 5)])
    with pytest.raises(ValueError, match="n >= 4"):
        linear_cka(feats(n=3), feats(n=3))
    with pytest.raises(ValueError, match="same samples"):
        linear_cka(feats(n=5), feats(n=6))

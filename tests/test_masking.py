"""Masking restores weights bit for bit; the output-difference metric has known answers."""
import pytest
import torch

from faiglib.core.units import FilterIndex
from faiglib.measures.gradient_maps import gradient_map, output_difference, to_gray
from faiglib.core.edits import masked
from faiglib.models.networks import build_network


def nets():
    torch.manual_seed(0)
    target = build_network("msrresnet", num_feat=4, num_block=2)
    baseline = build_network("msrresnet", num_feat=4, num_block=2)
    return target, baseline.state_dict()


def test_masked_swaps_exactly_the_chosen_filters_and_restores_them():
    model, base = nets()
    index = FilterIndex(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    chosen = torch.tensor([0, 5, len(index) - 1, index.flat("body.1.conv2", 3, 2)])
    with masked(model, base, chosen, index):
        inside = {k: v.clone() for k, v in model.state_dict().items()}
    for flat in range(len(index)):
        layer, o, i = index.locate(flat)
        w = f"{layer}.weight"
        expected = base[w][o, i] if flat in chosen.tolist() else before[w][o, i]
        assert torch.equal(inside[w][o, i], expected), (flat, layer, o, i)
    for k in before:
        if k.endswith(".bias"):
            assert torch.equal(inside[k], before[k])  # biases are not filters
        assert torch.equal(model.state_dict()[k], before[k])  # restored bit for bit


def test_masked_restores_after_an_exception():
    model, base = nets()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="boom"):
        with masked(model, base, torch.arange(40)):
            assert not torch.equal(model.conv_first.weight, before["conv_first.weight"])
            raise RuntimeError("boom")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_masking_everything_gives_the_baseline_output():
    model, base = nets()
    index = FilterIndex(model)
    x = torch.rand(1, 3, 8, 8)
    ref = build_network("msrresnet", num_feat=4, num_block=2)
    ref.load_state_dict({**model.state_dict(), **{k: v for k, v in base.items() if k.endswith("weight")}})
    with torch.no_grad(), masked(model, base, torch.arange(len(index)), index):
        torch.testing.assert_close(model(x), ref(x))


def test_masked_rejects_bad_indices():
    model, base = nets()
    with pytest.raises(IndexError):
        with masked(model, base, torch.tensor([10 ** 6])):
            pass


def test_gradient_map_known_answers():
    ramp = torch.arange(6, dtype=torch.float64).repeat(5, 1).view(1, 1, 5, 6) * 0.1  # I[y, x] = 0.1 x
    g = gradient_map(ramp)
    # interior: horizontal central difference 0.1*(x+1) - 0.1*(x-1) = 0.2, vertical 0
    torch.testing.assert_close(g[0, 0, 1:-1, 1:-1], torch.full((3, 4), (0.04 + 1e-6) ** 0.5, dtype=torch.float64))
    const = torch.full((1, 1, 4, 4), 0.5, dtype=torch.float64)
    assert float(gradient_map(const)[0, 0, 1:-1, 1:-1].max()) == pytest.approx(1e-3)


def test_output_difference():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 16, 16, generator=g)
    assert torch.equal(output_difference(a, a), torch.zeros(2))
    b = a.clone()
    b[:, 0] += 0.05  # change red only
    gray = output_difference(b.clamp(0, 1), a)
    blue = output_difference(b.clamp(0, 1), a, channel="blue")
    assert (gray > 0).all() and torch.equal(blue, torch.zeros(2))  # the blue channel does not see it
    # independent computation for one image, gray
    ga, gb = to_gray(a[:1]), to_gray(b[:1].clamp(0, 1))

    def grad_mag(img):
        p = torch.nn.functional.pad(img, (1, 1, 1, 1))
        dx = p[..., 1:-1, 2:] - p[..., 1:-1, :-2]
        dy = p[..., 2:, 1:-1] - p[..., :-2, 1:-1]
        return torch.sqrt(dx ** 2 + dy ** 2 + 1e-6)

    manual = ((grad_mag(gb) - grad_mag(ga)) ** 2).mean() * 1e3
    torch.testing.assert_close(gray[0], manual)
    with pytest.raises(ValueError, match="channel"):
        output_difference(a, a, channel="green")
    with pytest.raises(ValueError, match="shape"):
        output_difference(a, a[:, :, :8])


def test_masking_effect_with_precomputed_reference_is_identical():
    from faiglib.data.degradations import Degradation, build_analysis_set
    from faiglib.studies.masking import masking_effect, reference_outputs

    model, base = nets()
    with torch.no_grad():  # a fresh MSRResNet's conv_last is zero: give the filters something to change
        model.conv_last.weight.normal_(0, 0.1, generator=torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(1)
    aset = build_analysis_set([(f"i{i}", torch.rand(3, 24, 24, generator=g)) for i in range(2)], Degradation(blur_size=7))
    chosen = torch.arange(0, 60, 3)
    plain = masking_effect(model, base, chosen, aset)
    reused = masking_effect(model, base, chosen, aset, reference=reference_outputs(model, aset))
    for k in plain:
        assert torch.equal(plain[k], reused[k]) and (plain[k] > 0).all()


def test_masking_effects_gives_every_channel_from_one_pass_equal_to_single_channel_calls():
    from faiglib.data.degradations import Degradation, build_analysis_set
    from faiglib.studies.masking import masking_effect, masking_effects

    model, base = nets()
    with torch.no_grad():
        model.conv_last.weight.normal_(0, 0.1, generator=torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(1)
    aset = build_analysis_set([(f"i{i}", torch.rand(3, 24, 24, generator=g)) for i in range(2)], Degradation(blur_size=7))
    chosen = torch.arange(0, 60, 3)
    both = masking_effects(model, base, chosen, aset, channels=("gray", "blue"))
    assert set(both) == {"gray", "blue"}
    for channel in ("gray", "blue"):
        single = masking_effect(model, base, chosen, aset, channel=channel)
        for k in single:
            assert torch.equal(both[channel][k], single[k])
    assert not torch.equal(both["gray"]["blur"], both["blue"]["blur"])  # the two metrics do differ


def test_output_difference_rejects_integer_and_nan_outputs():
    a = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="float"):
        output_difference((a * 255).to(torch.uint8), a)
    bad = a.clone()
    bad[0, 2, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        output_difference(bad, a)
    with pytest.raises(ValueError, match="NaN or inf"):
        output_difference(a, bad)


# ---- filter selections: bool masks, integer indices (issue 12, part 2) ------------------------------------------
def _changed_filters(model, base, filters, edit=masked, **kw):
    index = FilterIndex(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with edit(model, base, filters, index=index, **kw):
        inside = {k: v.clone() for k, v in model.state_dict().items()}
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    changed = []
    for flat in range(len(index)):
        layer, o, i = index.locate(flat)
        if not torch.equal(inside[f"{layer}.weight"][o, i], before[f"{layer}.weight"][o, i]):
            changed.append(flat)
    return changed


def test_a_bool_mask_over_filters_selects_exactly_its_true_positions():
    from faiglib.core.edits import interpolated

    model, base = nets()
    index = FilterIndex(model)
    mask = torch.zeros(len(index), dtype=torch.bool)
    mask[[5, 100]] = True
    selected = torch.cat([m.flatten() for m in index.masks(mask).values()])
    assert selected.nonzero().flatten().tolist() == [5, 100]
    assert torch.equal(selected, mask)
    assert _changed_filters(model, base, mask) == [5, 100]
    assert _changed_filters(model, base, mask, interpolated, lam=0.5) == [5, 100]
    assert _changed_filters(model, base, mask.numpy()) == [5, 100]  # numpy bool arrays too
    assert _changed_filters(model, base, torch.tensor([100, 5, 5])) == [5, 100]  # duplicates are fine


def test_rejects_bool_masks_of_another_shape_and_non_integer_indices():
    model, base = nets()
    index = FilterIndex(model)
    for bad in (torch.ones(len(index) - 1, dtype=torch.bool), torch.ones(2, len(index), dtype=torch.bool),
                torch.tensor([True, False])):
        with pytest.raises(ValueError, match=f"bool mask.*{len(index)}"):
            index.masks(bad)
        with pytest.raises(ValueError, match="bool mask"):
            with masked(model, base, bad, index):
                pass
    for bad in (torch.tensor([1.7, 5.0]), [0.5], torch.tensor([3], dtype=torch.float64)):
        with pytest.raises(ValueError, match="integer"):
            index.masks(bad)
    assert not any(m.any() for m in index.masks([]).values())  # nothing selected is fine

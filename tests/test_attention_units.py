"""Attribution units beyond 3x3 convs (faiglib.core.units): known unit counts of the attention networks, the
reductions and masks of each unit kind against manual loops, a clear error for a type without a rule, FAIG
completeness on float64 tiny attention nets, masking that restores bit for bit."""
import pytest
import torch
from torch import nn

from faiglib.core.edits import masked
from faiglib.core.units import ATTENTION_RULES, FilterIndex, expand_mask
from faiglib.methods.faig import faig
from faiglib.models.rcan import RCAN
from faiglib.models.swinir import SWINIR_HEAD_RULES, SwinIR
from faiglib.studies.batched_masking import masked_outputs


def tiny_rcan(seed=0):
    torch.manual_seed(seed)
    return RCAN(num_feat=8, num_group=2, num_block=2, squeeze_factor=4, upscale=4)


def tiny_swin(seed=0, depths=(2,)):
    torch.manual_seed(seed)
    return SwinIR(embed_dim=8, depths=depths, num_heads=2, window_size=4, num_feat=8, upscale=2)


def test_rcan_unit_count():
    # C = 8, C/r = 2. conv_first 8*3 = 24; an RCAB: two 3x3 (2 * 64) + the attention's 1x1 convs (2*8 + 8*2) = 160;
    # a group: 2 RCABs + its conv (64) = 384, two groups 768; conv_after_body 64; x4 upsampler 2 * (32 * 8) = 512;
    # conv_last 3 * 8 = 24
    index = FilterIndex(tiny_rcan())
    assert len(index) == 24 + 768 + 64 + 512 + 24 == 1392
    assert index.layer("body.0.residual_group.0.rcab.3.attention.1").in_per_group == 8  # a 1x1 conv: (2, 8)
    assert index.layer("body.0.residual_group.0.rcab.3.attention.1").kernel == (1, 1)


def test_swinir_unit_counts():
    # embed 8, 2 heads, MLP 16. conv_first 24; a Swin block: table 2 heads + qkv 24 rows + proj 8 + fc1 16 + fc2 8
    # = 58, two blocks 116; group conv 64; conv_after_body 64; conv_before_upsample 64; upsample.0 32 * 8 = 256;
    # conv_last 24
    index = FilterIndex(tiny_swin())
    assert len(index) == 24 + 116 + 64 + 64 + 64 + 256 + 24 == 612
    kinds = {layer.name: layer.kind for layer in index.layers}
    assert kinds["layers.0.residual_group.blocks.1.attn"] == "head"
    assert kinds["layers.0.residual_group.blocks.1.mlp.fc1"] == "linear"
    # per head: table 2 + q/k/v x 2 heads 6 + proj 2 heads + fc1 16 + fc2 8 = 34 per block
    heads = FilterIndex(tiny_swin(), SWINIR_HEAD_RULES)
    assert len(heads) == 24 + 68 + 64 * 3 + 256 + 24 == 564
    assert heads.locate(heads.layer("layers.0.residual_group.blocks.0.attn.qkv").offset + 3) == \
        ("layers.0.residual_group.blocks.0.attn.qkv", 1, 1)  # k of head 1


def test_every_weight_entry_is_in_exactly_one_unit():
    for model, rules in ((tiny_swin(), None), (tiny_swin(), SWINIR_HEAD_RULES), (tiny_rcan(), None)):
        index = FilterIndex(model, rules)
        params = dict(model.named_parameters())
        covered = {n: torch.zeros(params[n].shape, dtype=torch.int64) for n in index.param_names}
        for k in range(len(index)):
            for n, m in index.masks(torch.tensor([k])).items():
                covered[n] += expand_mask(m, params[n]).long()
        for n, c in covered.items():
            assert bool((c == 1).all()), n


def test_reductions_match_manual_loops():
    model = tiny_swin()
    g = torch.Generator().manual_seed(0)
    t = {n: torch.randn(p.shape, generator=g, dtype=torch.float64) for n, p in model.named_parameters()}
    rows = FilterIndex(model)
    heads = FilterIndex(model, SWINIR_HEAD_RULES)
    blk = "layers.0.residual_group.blocks.0.attn"
    table, qkv, proj = t[f"{blk}.relative_position_bias_table"], t[f"{blk}.qkv.weight"], t[f"{blk}.proj.weight"]
    got = rows.reduce(t, absolute=False)
    lay = rows.layer(blk)
    assert torch.allclose(got[lay.offset: lay.offset + 2], table.sum(0))  # one unit per head: its column
    lay = rows.layer(f"{blk}.qkv")
    assert torch.allclose(got[lay.offset: lay.offset + 24], qkv.sum(1))  # one unit per row
    got = heads.reduce(t)
    lay = heads.layer(f"{blk}.qkv")
    manual = [qkv[w * 8 + h * 4: w * 8 + (h + 1) * 4].abs().sum() for w in range(3) for h in range(2)]
    assert torch.allclose(got[lay.offset: lay.offset + 6], torch.stack(manual))
    lay = heads.layer(f"{blk}.proj")
    assert torch.allclose(got[lay.offset: lay.offset + 2], torch.stack([proj[:, :4].abs().sum(), proj[:, 4:].abs().sum()]))
    batched = {k: torch.stack([v, -3 * v]) for k, v in t.items()}
    assert torch.allclose(heads.reduce(batched)[1], 3 * got)


def test_masks_of_each_kind():
    index = FilterIndex(tiny_swin())
    blk = "layers.0.residual_group.blocks.1"
    m = index.masks(torch.tensor([index.flat(f"{blk}.attn", 1, 0), index.flat(f"{blk}.mlp.fc2", 3, 0)]))
    table = m[f"{blk}.attn.relative_position_bias_table"]
    assert table.shape == (49, 2) and table[:, 1].all() and not table[:, 0].any()  # a head: a whole column
    rows = m[f"{blk}.mlp.fc2.weight"]
    assert rows.shape == (8,) and rows.tolist() == [i == 3 for i in range(8)]  # a Linear row: leading dim


def test_type_without_a_rule_is_a_clear_error():
    class Net(nn.Module):
        unit_rules = ATTENTION_RULES

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3)
            self.embed = nn.Embedding(4, 3)

    with pytest.raises(ValueError, match="type Embedding holds parameters"):
        FilterIndex(Net())
    # a module holding only a relative-position-bias table gets one unit per head under any strict map, so the
    # attention map without SwinIR's WindowAttention entry indexes SwinIR exactly as its own map does
    swin = tiny_swin()
    assert FilterIndex(swin, ATTENTION_RULES).layers == FilterIndex(swin).layers
    assert len(FilterIndex(Net(), strict=False)) == 9  # not strict: the embedding holds no units


def _random_pair(make, seed):
    base, target = make(seed), make(seed + 1)
    with torch.no_grad():  # trained nets' weights are spread; default inits leave LayerNorm / table near trivial
        for b, t in zip(base.parameters(), target.parameters()):
            t.copy_(b + 0.2 * torch.randn_like(b) * (b.std() if b.numel() > 1 else 1.0))
    return base.double().eval(), target.double().eval()


@pytest.mark.parametrize("make", [tiny_rcan, tiny_swin], ids=["rcan", "swinir"])
def test_faig_completeness_float64(make):
    base, target = _random_pair(make, 0)
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 8, 8, generator=g, dtype=torch.float64)
    scale = base.upscale
    y = torch.rand(2, 3, 8 * scale, 8 * scale, generator=g, dtype=torch.float64)
    res = faig(base, base.state_dict(), target.state_dict(), x, y, n_steps=512, method="trapezoid")
    change = res.loss_target - res.loss_baseline
    assert abs(float(change)) > 1e-3  # a real change to attribute
    assert abs(float(res.delta)) < 0.01 * abs(float(change))
    # the unit scores partition the weights of the unit parameters: signed unit sums = their attributions
    signed = res.index.reduce(res.param_attributions, absolute=False).sum()
    direct = sum(res.param_attributions[n].sum() for n in res.index.param_names)
    torch.testing.assert_close(signed, direct, rtol=1e-10, atol=1e-12)
    assert res.filter_scores.shape == (len(res.index),) and bool((res.filter_scores >= 0).all())


@pytest.mark.parametrize("make,rules", [(tiny_rcan, None), (tiny_swin, None), (tiny_swin, SWINIR_HEAD_RULES)])
def test_masking_restores_bit_for_bit(make, rules):
    base, target = _random_pair(make, 5)
    index = FilterIndex(target, rules)
    before = {n: p.detach().clone() for n, p in target.named_parameters()}
    chosen = torch.randperm(len(index), generator=torch.Generator().manual_seed(0))[: len(index) // 7]
    masks = index.masks(chosen)
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    with masked(target, base.state_dict(), chosen, index):
        inside = target(x)
        for n, p in target.named_parameters():
            if n in masks:
                full = expand_mask(masks[n], p)
                assert torch.equal(p[full], base.state_dict()[n][full]), n
                assert torch.equal(p[~full], before[n][~full]), n
            else:
                assert torch.equal(p, before[n]), n  # biases, LayerNorms: untouched
    for n, p in target.named_parameters():
        assert torch.equal(p, before[n]), n
    # the vectorised masking of many selections gives the same output
    batched = masked_outputs(target, base.state_dict(), [chosen, chosen[:3]], x, index)
    torch.testing.assert_close(batched[0:1], inside, rtol=0, atol=1e-10)

"""FilterIndex: counts, the flat <-> (layer, out, in) bijection, reductions and masks."""
import pytest
import torch
from torch import nn

from faiglib.core.units import CONV_RULES, FilterIndex
from faiglib.models.networks import MSRResNet, SRCNNStyle


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.grouped = nn.Conv2d(4, 6, 3, padding=1, groups=2)   # 6 x 2 filters
        self.nobias = nn.Conv2d(6, 2, 1, bias=False)             # 1x1, no bias
        self.block = nn.Sequential(nn.Linear(2, 2), nn.Conv2d(2, 2, (3, 5), padding=(1, 2), groups=2))

    def forward(self, x):
        return self.block[1](self.nobias(self.grouped(self.act(self.head(x)))))


def _convs(model):
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def _expected_len(model):
    return sum(m.out_channels * m.in_channels // m.groups for _, m in _convs(model))


MODELS = {
    "msrresnet": lambda: MSRResNet(num_feat=4, num_block=2, upscale=4),
    "srcnn_style": lambda: SRCNNStyle(num_feat=3, upscale=2),
    "custom": Custom,
}


@pytest.mark.parametrize("name", list(MODELS))
def test_len_and_round_trip_every_index(name):
    model = MODELS[name]()
    index = FilterIndex(model, CONV_RULES)  # the paper's filters: convs only
    assert len(index) == _expected_len(model)
    assert [layer.name for layer in index.layers] == [n for n, _ in _convs(model)]
    seen = set()
    # independent enumeration: layer by layer, then out, then in
    flat = 0
    for lname, m in _convs(model):
        for o in range(m.out_channels):
            for i in range(m.in_channels // m.groups):
                assert index.flat(lname, o, i) == flat
                assert index.locate(flat) == (lname, o, i)
                seen.add(flat)
                flat += 1
    assert seen == set(range(len(index)))
    for k in range(len(index)):
        assert index.flat(*index.locate(k)) == k


def test_custom_counts():
    index = FilterIndex(Custom(), CONV_RULES)
    assert len(index) == 4 * 3 + 6 * 2 + 2 * 6 + 2 * 1
    assert index.param_names == ["head.weight", "grouped.weight", "nobias.weight", "block.1.weight"]
    assert index.layer("grouped").in_per_group == 2
    assert index.locate(12) == ("grouped", 0, 0)
    assert index.locate(13) == ("grouped", 0, 1)
    assert index.locate(14) == ("grouped", 1, 0)
    assert index.locate(len(index) - 1) == ("block.1", 1, 0)


def test_locate_known_indices():
    nf = 4
    index = FilterIndex(MSRResNet(num_feat=nf, num_block=2, upscale=2))
    first_of_second = nf * 3  # conv_first has nf x 3 filters
    assert index.locate(0) == ("conv_first", 0, 0)
    assert index.locate(first_of_second - 1) == ("conv_first", nf - 1, 2)
    assert index.locate(first_of_second) == ("body.0.conv1", 0, 0)
    assert index.locate(first_of_second + nf + 1) == ("body.0.conv1", 1, 1)
    s = FilterIndex(SRCNNStyle(num_feat=3))
    assert s.locate(9) == ("features.2", 0, 0)
    assert s.locate(len(s) - 1) == ("features.17", 2, 5)


def test_out_of_range_indices():
    index = FilterIndex(SRCNNStyle(num_feat=2))
    for bad in (-1, len(index), len(index) + 10):
        with pytest.raises(IndexError):
            index.locate(bad)
    with pytest.raises(IndexError):
        index.flat("features.0", 2, 0)  # only 2 output channels
    with pytest.raises(IndexError):
        index.flat("features.0", 0, 3)  # only 3 input channels
    with pytest.raises(IndexError):
        index.flat("features.0", -1, 0)
    with pytest.raises(KeyError):
        index.flat("features.1", 0, 0)  # the LeakyReLU, not a conv
    with pytest.raises(IndexError):
        index.masks(torch.tensor([len(index)]))
    with pytest.raises(IndexError):
        index.masks(torch.tensor([-1]))


@pytest.mark.parametrize("name", ["custom", "srcnn_style"])
def test_reduce_equals_manual_sum(name):
    model = MODELS[name]()
    index = FilterIndex(model, CONV_RULES)  # the paper's filters: convs only
    g = torch.Generator().manual_seed(0)
    per_param = {n: torch.randn(p.shape, generator=g, dtype=torch.float64) for n, p in model.named_parameters()}
    manual, manual_signed = [], []
    for lname, m in _convs(model):
        t = per_param[f"{lname}.weight"]
        for o in range(m.out_channels):
            for i in range(m.in_channels // m.groups):
                manual.append(sum(abs(float(v)) for v in t[o, i].flatten()))
                manual_signed.append(sum(float(v) for v in t[o, i].flatten()))
    got = index.reduce(per_param)
    assert got.shape == (len(index),)
    torch.testing.assert_close(got, torch.tensor(manual, dtype=torch.float64), rtol=0, atol=1e-10)
    torch.testing.assert_close(index.reduce(per_param, absolute=False), torch.tensor(manual_signed, dtype=torch.float64),
                               rtol=0, atol=1e-10)
    # leading batch dimension kept
    batched = {k: torch.stack([v, 2 * v]) for k, v in per_param.items()}
    out = index.reduce(batched)
    assert out.shape == (2, len(index))
    torch.testing.assert_close(out[1], 2 * got, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", list(MODELS))
def test_masks_select_exactly(name):
    model = MODELS[name]()
    index = FilterIndex(model, CONV_RULES)  # the paper's filters: convs only
    g = torch.Generator().manual_seed(1)
    chosen = torch.randperm(len(index), generator=g)[:7]
    masks = index.masks(torch.cat([chosen, chosen[:2]]))  # duplicates are fine
    convs = dict(_convs(model))
    assert set(masks) == {f"{n}.weight" for n in convs}
    expected = {f"{n}.weight": torch.zeros(m.out_channels, m.in_channels // m.groups, dtype=torch.bool)
                for n, m in convs.items()}
    for k in chosen.tolist():
        lname, o, i = index.locate(k)
        expected[f"{lname}.weight"][o, i] = True
    for k in masks:
        assert masks[k].dtype == torch.bool
        assert torch.equal(masks[k], expected[k]), k
    assert sum(int(m.sum()) for m in masks.values()) == 7
    assert sum(int(m.sum()) for m in index.masks(torch.tensor([], dtype=torch.long)).values()) == 0


def test_masks_shape_matches_weight():
    model = Custom()
    index = FilterIndex(model, CONV_RULES)  # the paper's filters: convs only
    masks = index.masks(torch.arange(len(index)))
    for n, p in model.named_parameters():
        if n in masks:
            assert masks[n].shape == p.shape[:2] and masks[n].all()


def test_module_without_convs():
    with pytest.raises(ValueError, match="no module with attribution units"):
        FilterIndex(nn.Sequential(nn.Linear(3, 3), nn.ReLU()), CONV_RULES)
    assert len(FilterIndex(nn.Sequential(nn.Linear(3, 3), nn.ReLU()))) == 3  # the default: Linear rows


def test_default_rules_give_every_layer_units_and_keep_the_papers_cnns():
    # Custom: convs 4*3 + 6*2 + 2*6 + 2*1 = 38 filters, and the Linear(2, 2)'s 2 rows, in module order
    index = FilterIndex(Custom())
    assert len(index) == 40 and [layer.name for layer in index.layers] == ["head", "grouped", "nobias", "block.0",
                                                                         "block.1"]
    assert index.layer("block.0").kind == "linear" and index.layer("block.0").offset == 36
    for make in (MODELS["msrresnet"], MODELS["srcnn_style"]):  # 3x3 convs only: the same units, the same order
        a, b = FilterIndex(make()), FilterIndex(make(), CONV_RULES)
        assert a.layers == b.layers and len(a) == len(b)


class _Transformerish(nn.Module):
    """A transformer block and the layers the audit found dropped: ConvTranspose2d, MultiheadAttention, PReLU,
    LayerNorm, Embedding, GELU (no parameters)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(5, 4)
        self.conv = nn.Conv2d(3, 4, 3)                            # 4 x 3 = 12
        self.up = nn.ConvTranspose2d(4, 2, 2, stride=2)           # weight (4, 2, 2, 2): 4 x 2 = 8
        self.act = nn.PReLU()
        self.norm = nn.LayerNorm(4)
        self.attn = nn.MultiheadAttention(4, 2)                   # in_proj 12 rows; out_proj Linear 4 rows
        self.mlp = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 4))  # 8 + 4 rows


def test_default_units_of_a_transformer_block_by_hand():
    index = FilterIndex(_Transformerish())
    counts = {layer.name: layer.count for layer in index.layers}
    assert counts == {"conv": 12, "up": 8, "attn": 12, "attn.out_proj": 4, "mlp.0": 8, "mlp.2": 4}
    assert len(index) == 48
    assert index.layer("up").kind == "conv_transpose" and index.layer("attn").param == "attn.in_proj_weight"
    masks = index.masks(torch.tensor([12 + 3]))  # the 4th transposed-conv unit: weight[1, 1]
    assert masks["up.weight"].shape == (4, 2) and masks["up.weight"].nonzero().tolist() == [[1, 1]]


def test_a_parameter_holding_type_without_a_rule_is_named():
    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(3))

    net = nn.Sequential(nn.Conv2d(3, 3, 3), Gate())
    with pytest.raises(ValueError, match=r"type Gate holds parameters \['scale'\].*FilterIndex\(model, rules="):
        FilterIndex(net)
    from faiglib.core.units import UNIT_RULES
    assert len(FilterIndex(net, {**UNIT_RULES, Gate: None})) == 9
    assert len(FilterIndex(net, CONV_RULES)) == 9  # the convs-only map leaves it out, as asked


def test_top_level_conv():
    index = FilterIndex(nn.Conv2d(2, 3, 3))
    assert len(index) == 6 and index.param_names == ["weight"]
    assert index.locate(5) == ("", 2, 1)


def test_unit_rules_are_keyed_by_module_type():
    from faiglib.core.units import UNIT_RULES, conv_units

    class MyConv(nn.Conv2d):  # a subclass is matched by its base type's rule
        pass

    net = nn.Sequential(nn.Linear(3, 3), MyConv(3, 2, 3))
    index = FilterIndex(net, CONV_RULES)
    assert len(index) == 6 and index.layers[0].name == "1" and UNIT_RULES[nn.Conv2d] is conv_units
    assert len(FilterIndex(net)) == 3 + 6  # the default also gives the Linear its rows
    with pytest.raises(ValueError, match="no module with attribution units"):
        FilterIndex(nn.Sequential(nn.Linear(3, 3)), CONV_RULES)
    with pytest.raises(ValueError, match="no module with attribution units"):
        FilterIndex(net, rules={}, strict=False)

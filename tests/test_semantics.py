"""Deep degradation semantics: CHI, hooks, patch sampling, the no-GR MSRResNet and the bad-input errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from faiglib.data.degradations import Degradation, downsample
from faiglib.methods.semantics import (calinski_harabasz, collect_features, degree_conditions, layer_separation,
                                       recorded_activations, sample_patches, standard_conditions, tsne_embed)
from faiglib.models.networks import MSRResNet
from faiglib.profiles import NetSpec, get_profile
from faiglib.studies.semantics import depth_layers, stage_of

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _images(n=2, size=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(f"img{i}", torch.rand(3, size, size, generator=g)) for i in range(n)]


def _net(global_residual=True, seed=0):
    torch.manual_seed(seed)
    net = MSRResNet(num_feat=4, num_block=2, upscale=2, global_residual=global_residual)
    with torch.no_grad():  # a non-zero conv_last, so that the network's own output is not zero
        net.conv_last.weight.normal_(0, 0.1, generator=torch.Generator().manual_seed(seed + 1))
    return net.eval()


# ---- CHI -----------------------------------------------------------------------------------------------------
def test_chi_hand_computed_two_clusters():
    # clusters {0, 2} and {10, 12}: grand mean 6, between scatter 2*25 + 2*25 = 100 (1 dof), within 4 (2 dof)
    x = np.array([[0.0], [2.0], [10.0], [12.0]])
    assert calinski_harabasz(x, ["a", "a", "b", "b"]) == pytest.approx(100 / (4 / 2))


def test_chi_separated_vs_mixed_matches_sklearn():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    labels = [i for i in range(3) for _ in range(30)]
    separated = centres[labels] + torch.randn(90, 2, generator=g)
    mixed = torch.randn(90, 2, generator=g)
    for x in (separated, mixed):
        assert calinski_harabasz(x, labels) == pytest.approx(sklearn_metrics.calinski_harabasz_score(x.numpy(), labels))
    # unit-variance clusters 20 apart: between / within dispersion of order 20² / 1 (x dof ratio); mixed: order 1
    assert calinski_harabasz(separated, labels) > 1000 > 10 > calinski_harabasz(mixed, labels)


def test_chi_rejects_single_label_and_too_many_labels():
    x = np.random.default_rng(0).normal(size=(6, 3))
    with pytest.raises(ValueError, match="at least 2 different labels"):
        calinski_harabasz(x, ["blur"] * 6)
    with pytest.raises(ValueError, match="fewer labels"):
        calinski_harabasz(x, list(range(6)))
    with pytest.raises(ValueError, match="one label per sample"):
        calinski_harabasz(x, ["a", "b"])


# ---- hooks ---------------------------------------------------------------------------------------------------
def _hook_count(net):
    return sum(len(m._forward_hooks) for m in net.modules())


def test_hooks_are_removed_and_output_unchanged():
    net, x = _net(), torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    before = net(x)
    feats = collect_features(net, x, ["conv_first", "body.1", "conv_hr"], batch_size=2)
    assert _hook_count(net) == 0
    assert torch.equal(net(x), before)
    assert {k: tuple(v.shape) for k, v in feats.items()} == {"conv_first": (3, 4 * 64), "body.1": (3, 4 * 64),
                                                             "conv_hr": (3, 4 * 256)}
    # the recorded body.1 output is what the network computes there (batches of 2: same values up to rounding)
    expected = net.body(F.leaky_relu(net.conv_first(x), 0.1)).flatten(1).detach()
    assert torch.equal(collect_features(net, x, ["body.1"], batch_size=3)["body.1"], expected)
    assert torch.allclose(feats["body.1"], expected, atol=1e-6)


def test_hooks_are_removed_when_the_forward_raises():
    net = _net()
    with pytest.raises(RuntimeError):
        with recorded_activations(net, ["conv_first", "body.0"]):
            net(torch.rand(1, 5, 8, 8))  # 5 channels: conv_first raises
    assert _hook_count(net) == 0


def test_unknown_layer_is_a_clear_error():
    with pytest.raises(ValueError, match=r"no layer \['body.7'\]"):
        collect_features(_net(), torch.rand(1, 3, 8, 8), ["conv_first", "body.7"])
    assert depth_layers(_net()) == ["conv_first", "body.0", "body.1", "conv_hr"]


# ---- patches -------------------------------------------------------------------------------------------------
def test_patch_sampling_is_reproducible_and_aligned():
    deg = Degradation()
    conditions = standard_conditions(deg)
    a = sample_patches(_images(), deg, conditions, per_image=5, patch=8, seed=3)
    b = sample_patches(_images(), deg, conditions, per_image=5, patch=8, seed=3)
    c = sample_patches(_images(), deg, conditions, per_image=5, patch=8, seed=4)
    assert torch.equal(a.lr, b.lr) and a.position == b.position
    assert a.position != c.position
    assert len(a) == 2 * 4 * 5 and a.lr.shape[1:] == (3, 8, 8)
    assert a.condition[:6] == ["clean"] * 5 + ["blur"] and a.image[19:21] == [0, 1]
    # a clean patch is the crop of the downsampled image; every condition has the same positions
    (_, hr), (r, col) = _images()[0], a.position[0]
    assert torch.equal(a.lr[0], downsample(hr, 2)[:, r: r + 8, col: col + 8])
    assert a.position[0:5] == a.position[5:10] == a.position[15:20]


def test_degree_conditions_and_select():
    conds = degree_conditions(blur=(1.0, 3.0), noise=(0.05,))
    assert conds == {"blur 1": (1.0, None), "blur 3": (3.0, None), "noise 0.05": (None, 0.05)}
    ps = sample_patches(_images(1), Degradation(), conds, per_image=4, patch=8)
    sub = ps.select(["blur 3"])
    assert sub.condition == ["blur 3"] * 4 and torch.equal(sub.lr, ps.lr[4:8])
    with pytest.raises(ValueError, match="unknown conditions"):
        ps.select(["blur 2"])


def test_tsne_needs_enough_samples():
    x = np.random.default_rng(0).normal(size=(20, 4))
    with pytest.raises(ValueError, match="needs more than 30 samples, got 20"):
        tsne_embed(x, perplexity=10)
    assert tsne_embed(x, perplexity=5, seed=0).shape == (20, 2)


def test_layer_separation_finds_degradation_clusters():
    # features = degradation offset + small content noise: CHI(degradation) >> CHI(image)
    g = torch.Generator().manual_seed(0)
    deg = torch.tensor([0, 1] * 20)
    img = torch.arange(40) // 10
    feats = {"f": deg[:, None].float() * 5 + 0.1 * torch.randn(40, 6, generator=g)}
    out = layer_separation(feats, {"degradation": deg.tolist(), "image": img.tolist()}, n_components=3)
    assert out["f"]["degradation"] > 1000 and out["f"]["image"] < 5


# ---- global residual -----------------------------------------------------------------------------------------
def test_no_gr_output_is_gr_output_minus_bilinear():
    gr, nogr = _net(True), _net(False)
    nogr.load_state_dict(gr.state_dict())
    assert list(nogr.state_dict()) == list(gr.state_dict())
    x = torch.rand(2, 3, 6, 7, generator=torch.Generator().manual_seed(1))
    up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.equal(nogr(x) + up, gr(x))
    assert torch.allclose(gr(x) - up, nogr(x), atol=1e-6)


def test_gr_output_is_the_basicsr_forward_bit_for_bit():
    # the default (GR) forward written out step by step, as MSRResNet computed it before global_residual existed
    net, x = _net(), torch.rand(1, 3, 6, 6, generator=torch.Generator().manual_seed(5))
    assert net.global_residual is True and MSRResNet().global_residual is True
    lrelu = lambda t: F.leaky_relu(t, 0.1)  # noqa: E731
    feat = lrelu(net.conv_first(x))
    for block in net.body:
        feat = feat + block.conv2(F.relu(block.conv1(feat)))
    out = net.conv_last(lrelu(net.conv_hr(lrelu(net.pixel_shuffle(net.upconv1(feat))))))
    out = out + F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.equal(net(x), out)


def test_global_residual_must_be_a_bool():
    with pytest.raises(ValueError, match="global_residual"):
        MSRResNet(num_feat=4, num_block=1, global_residual="no")


def test_nogr_netspec_label_and_profile_lookup():
    spec = NetSpec("msrresnet", 32, 4, global_residual=False)
    assert spec.label == "msrresnet-32x4-nogr"
    assert spec.kwargs(2) == {"num_feat": 32, "upscale": 2, "num_block": 4, "global_residual": False}
    assert NetSpec("msrresnet", 32, 4).label == "msrresnet-32x4"
    assert "global_residual" not in NetSpec("msrresnet", 32, 4).kwargs(2)  # GR cache keys/kwargs unchanged
    cpu = get_profile("cpu")
    assert cpu.network("msrresnet-32x4-nogr") == spec
    assert cpu.network("msrresnet").label == "msrresnet-32x4"  # by arch: still the GR network
    assert [s.label for s in cpu.networks] == ["msrresnet-32x4", "srcnn_style-16"]
    with pytest.raises(ValueError, match="global_residual is a msrresnet option.*leave it True"):
        NetSpec("srcnn_style", 16, global_residual=False)


def test_stage_of_maps_filters_to_depths():
    layers = ["conv_first", "body.0", "body.1", "conv_hr"]
    assert [stage_of(n, layers) for n in ("conv_first", "body.0.conv1", "body.1.conv2", "upconv1", "conv_last")] \
        == ["conv_first", "body.0", "body.1", "conv_hr", "conv_hr"]


class _FakeScores:
    def __init__(self, top):
        self._top = top

    def top(self, degradation, proportion):
        return torch.tensor(self._top[degradation])


def test_faig_comparison_counts_filters_per_depth_and_finds_the_factor_rise():
    from types import SimpleNamespace

    from faiglib.core.units import FilterIndex
    from faiglib.studies.semantics import faig_comparison

    net = _net()  # convs: conv_first (4x3), body.0.conv1/2, body.1.conv1/2 (4x4 each), upconv1, conv_hr, conv_last
    index = FilterIndex(net)
    flat = {name: index.flat(name, 0, 0) for name in ("conv_first", "body.0.conv2", "body.1.conv1", "conv_last")}
    ws = SimpleNamespace(scores=lambda: _FakeScores({"blur": [flat["body.0.conv2"], flat["body.1.conv1"],
                                                              flat["body.0.conv2"] + 1],
                                                     "noise": [flat["conv_first"], flat["conv_last"]]}),
                         filter_index=index)
    chi = {"conv_first": 1.0, "body.0": 10.0, "body.1": 30.0, "conv_hr": 80.0}  # factors 10, 3, 2.7; +9, +20, +50
    out = faig_comparison(ws, chi, 0.01)
    assert out["rise_layer"] == "body.0" and out["rise_layer_absolute"] == "conv_hr"
    assert out["deblur"]["counts"] == {"conv_first": 0, "body.0": 2, "body.1": 1, "conv_hr": 0}
    assert out["deblur"]["mode_layer"] == "body.0" and out["deblur"]["coincide"] is True
    assert out["denoise"]["counts"] == {"conv_first": 1, "body.0": 0, "body.1": 0, "conv_hr": 1}
    assert out["denoise"]["share_at_or_after_rise"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="> 0"):
        faig_comparison(ws, {"conv_first": 0.0, "body.0": 1.0}, 0.01)


def test_semantics_findings_by_hand():
    from faiglib.studies.semantics import semantics_findings

    def chi(first_deg, last_deg, last_img):
        return {"conv_first": {"degradation": {"mean": first_deg}, "image": {"mean": 1.0}},
                "conv_hr": {"degradation": {"mean": last_deg}, "image": {"mean": last_img}}}

    depth = {"with GR": {"target": chi(2.0, 12.0, 4.0), "baseline": chi(1.0, 3.0, 6.0)},
             "without GR": {"target": chi(1.0, 3.0, 2.0), "baseline": chi(1.0, 1.5, 3.0)}}
    degree = {"blur": {"1 vs 3": {"conv_hr": 9.0}, "1 vs 2": {"conv_hr": 2.0}, "2 vs 3": {"conv_hr": 3.0}},
              "noise": {"0.05 vs 0.2": {"conv_hr": 1.0}, "0.05 vs 0.1": {"conv_hr": 2.0}, "0.1 vs 0.2": {"conv_hr": 0.5}}}
    deepest, findings = semantics_findings(depth, degree, ["conv_first", "conv_hr"],
                                           {"blur": (1, 2, 3), "noise": (0.05, 0.1, 0.2)})
    assert deepest["with GR/target"] == {"degradation": 12.0, "image": 4.0, "ratio": 3.0, "first_layer": 2.0}
    assert deepest["with GR/baseline"]["ratio"] == 0.5
    assert findings["gr_target_over_nogr_target_at_last"] == 4.0  # 12 / 3
    assert findings["gr_target_degradation_beats_image_at_last"] and findings["gr_target_rises_with_depth"]
    assert findings["degree_far_over_near"] == {"blur": 3.0, "noise": 0.5}  # 9 / max(2, 3); 1 / max(2, 0.5)
    _, alone = semantics_findings({"with GR": depth["with GR"]}, degree, ["conv_first", "conv_hr"],
                                  {"blur": (1, 2, 3)}, without_gr=False)
    assert alone["gr_target_over_nogr_target_at_last"] is None and set(alone["degree_far_over_near"]) == {"blur"}

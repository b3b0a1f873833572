"""Named experiment profiles."""
import json

import pytest

from faiglib.models.networks import build_network
from faiglib.profiles import PROFILES, NetSpec, Profile, get_profile


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_get_profile(name):
    p = get_profile(name)
    assert isinstance(p, Profile) and p.name == name
    assert get_profile(p) is p
    d = p.as_dict()
    text = json.dumps(d, sort_keys=True)
    assert json.loads(text)["name"] == name
    assert isinstance(d["networks"], list) and all(isinstance(n, dict) for n in d["networks"])
    assert {n["arch"] for n in d["networks"]} == {"msrresnet", "srcnn_style"}


def test_unknown_profile_lists_known_names():
    with pytest.raises(ValueError) as info:
        get_profile("gpu-huge")
    msg = str(info.value)
    assert "gpu-huge" in msg
    for known in ("smoke", "cpu", "paper"):
        assert known in msg
    with pytest.raises(ValueError):
        get_profile(None)


def test_paper_profile_matches_paper():
    p = get_profile("paper")
    m = p.network("msrresnet")
    s = p.network("srcnn_style")
    assert (m.arch, m.num_feat, m.num_block) == ("msrresnet", 64, 16)
    assert (s.arch, s.num_feat) == ("srcnn_style", 64)
    assert p.n_steps == 100
    assert p.scale == 2 and p.blur_sigma == 2.0 and p.noise_sigma == 0.1
    assert m.kwargs(p.scale) == {"num_feat": 64, "num_block": 16, "upscale": 2}
    assert s.kwargs(p.scale) == {"num_feat": 64, "upscale": 2}


def test_network_lookup():
    p = get_profile("smoke")
    spec = p.network("srcnn_style")
    assert spec.arch == "srcnn_style"
    assert p.network() == p.networks[0]
    assert p.network(p.networks[0].label) == p.networks[0]
    with pytest.raises(ValueError, match="resnet50"):
        p.network("resnet50")


@pytest.mark.parametrize("name", ["smoke", "cpu"])
def test_profile_networks_build(name):
    p = get_profile(name)
    for spec in p.networks:
        net = build_network(spec.arch, **spec.kwargs(p.scale))
        assert net.upscale == p.scale


def test_with_and_netspec():
    p = get_profile("cpu").with_(n_steps=5)
    assert p.n_steps == 5 and p.name == "cpu" and PROFILES["cpu"].n_steps == 20
    assert NetSpec("msrresnet", 8).kwargs(3) == {"num_feat": 8, "num_block": 16, "upscale": 3}
    assert NetSpec("msrresnet", 8, 2).label == "msrresnet-8x2"
    with pytest.raises(Exception):
        p.n_steps = 3  # frozen


# ---- every field is checked when a profile is made (issue 12, part 2) ----------------------------------------
BAD_FIELDS = [
    ("checkpoint_every", 0), ("val_every", 0), ("baseline_iters", 0), ("target_iters", -1), ("retrain_iters", 0),
    ("batch_size", 0), ("hr_patch", 0), ("hr_patch", 33), ("n_steps", 0), ("classify_n_steps", 0),
    ("random_draws", 0), ("internal_batch_size", 0), ("analysis_crop", 0), ("max_analysis_images", 0),
    ("classify_images", 0), ("classify_crop", 0), ("max_analysis_pixels", 0), ("scale", 0),
    ("blur_sigma", 0.0), ("noise_sigma", 0.0), ("noise_sigma", -0.1), ("blur_sigma", float("nan")),
    ("lr_baseline", 0.0), ("lr_target", -1e-4), ("ema_decay", 0.0), ("ema_decay", 1.0),
    ("p_blur", 1.5), ("p_noise", -0.1),
    ("mask_proportions", (0.0, 0.1)), ("curve_proportions", (0.5, 1.5)), ("table_proportions", ()),
    ("retrain_proportion", 0.0), ("classify_proportion", 1.01),
    ("precision", "fp16"), ("method", "simpson"), ("resize", "nearest"),
    ("seeds", ()), ("seeds", (0, 1.5)), ("levels_blur", (0.0, 1.0)), ("levels_noise", (-0.1,)),
    ("levels_blur_range", (0.0, 3.0)), ("levels_blur_range", (3.0, 1.0)), ("levels_noise_range", (-0.1, 0.2)),
    ("table1_blur_range", (1.0,)), ("table1_noise_range", (0.2, 0.1)), ("table1_feat", 0), ("table1_blocks", 0),
    ("table1_iters", 0), ("table1_batch_size", 0), ("table1_hr_patch", 0), ("table1_hr_patch", 33),
    ("table1_lr", 0.0), ("table1_contrast_weight", -1.0), ("networks", ()), ("name", ""),
    ("batch_size", True), ("batch_size", 2.0), ("n_steps", "20"),
]


@pytest.mark.parametrize("field,value", BAD_FIELDS, ids=[f"{f}={v!r}" for f, v in BAD_FIELDS])
def test_rejects_invalid_profile_fields(field, value):
    with pytest.raises(ValueError, match=field):
        get_profile("smoke").with_(**{field: value})


def test_checkpoint_every_zero_is_an_error_not_a_zero_division():
    with pytest.raises(ValueError, match=r"checkpoint_every must be an integer >= 1, got 0"):
        get_profile("cpu").with_(checkpoint_every=0)


def test_valid_edge_values_are_accepted():
    p = get_profile("smoke").with_(mask_proportions=[1.0], ema_decay=None, internal_batch_size=None, p_blur=0.0,
                                   table1_contrast_weight=0.0, max_analysis_pixels=None, analysis_crop=None,
                                   levels_noise_range=(0.0, 0.0), classify_n_steps=1)
    assert p.mask_proportions == (1.0,)  # a list becomes a tuple: profiles stay hashable
    hash(p)
    assert get_profile("paper").max_analysis_pixels >= 1024 * 1024


def test_netspec_training_recipe():
    spec = NetSpec("swinir", 8, depths=(2,), training={"target_iters": 100, "lr_target": 2e-4})
    assert spec.training == (("lr_target", 2e-4), ("target_iters", 100))  # sorted pairs: hashable, one order
    assert spec.label == "swinir-8-d2" and hash(spec)
    assert NetSpec("msrresnet", 8, training=[["warmup_iters", 5]]).training == (("warmup_iters", 5),)  # from JSON
    smoke = get_profile("smoke")
    assert smoke.training_for(spec).target_iters == 100 and smoke.training_for(NetSpec("msrresnet", 8)) is smoke
    with pytest.raises(ValueError, match="may set each of"):
        NetSpec("msrresnet", 8, training={"n_steps": 100})  # an attribution setting, not training
    with pytest.raises(ValueError, match="target_iters must be an integer"):
        smoke.training_for(NetSpec("msrresnet", 8, training={"target_iters": 0}))


def test_netspec_rejects_bad_sizes():
    with pytest.raises(ValueError, match="num_feat"):
        NetSpec("msrresnet", 0)
    with pytest.raises(ValueError, match="num_block"):
        NetSpec("msrresnet", 8, 0)

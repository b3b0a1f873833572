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

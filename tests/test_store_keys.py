"""The store keys of trained pairs and analysis sets are pinned: a refactor that changed them would silently orphan
every stored training -- the dev scale study's seeds train for hours into such a store (../faiglib-store). A change
that is meant to change a key bumps the version that says so (TRAINING_VERSION, FAIG_VERSION, ...) and updates the
values here in the same commit."""
from pathlib import Path

import pytest

from faiglib.methods.faig import FAIG_VERSION
from faiglib.studies.masking import MASKING_VERSION
from faiglib.training.stages import TRAINING_VERSION
from faiglib.studies.workspace import Workspace

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_smoke_keys_are_pinned(tmp_path):
    ws = Workspace(profile="smoke", out=tmp_path, progress=False)
    assert ws.pair_keys() == ["e3f9dc2576b94dd0ba50", "7fedcdf5775456d03f09"]
    assert ws.analysis_digest() == "43b477f1a6708948aa9a"
    assert (TRAINING_VERSION, FAIG_VERSION, MASKING_VERSION) == (1, 1, 1)


@pytest.mark.skipif(not (SHARED / "BSD200").is_dir(), reason="the research images beside the clone (../shared/data)")
@pytest.mark.parametrize("arch, seed, keys", [
    ("msrresnet-48x6", 1, ["8d96f935da3404e3023d", "0b878143071803fae4bf"]),
    ("msrresnet-32x4", 0, ["048cb2c09f1bf0b00ef9", "9ef2f7e1c9c739650864"]),
])
def test_dev_pair_keys_of_the_scale_study_are_pinned(tmp_path, monkeypatch, arch, seed, keys):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the dev profile's data paths are repository-relative
    assert Workspace(profile="dev", seed=seed, arch=arch, out=tmp_path, progress=False).pair_keys() == keys


def test_a_networks_own_training_recipe_changes_its_keys_and_nothing_else(tmp_path):
    from dataclasses import replace

    from faiglib.profiles import get_profile

    smoke = get_profile("smoke")

    def keys(training):
        spec = replace(smoke.networks[0], training=training)
        ws = Workspace(profile=smoke.with_(networks=(spec, *smoke.networks[1:])), out=tmp_path, progress=False)
        assert ws.spec.label == smoke.networks[0].label and ws.profile.target_iters == 12  # the label names the
        return ws.recipe, ws.pair_keys()                                                 # network, not its training

    plain = Workspace(profile="smoke", out=tmp_path, progress=False).pair_keys()
    recipe, longer = keys({"target_iters": 24})
    assert recipe.target_iters == 24 and longer[0] == plain[0] and longer[1] != plain[1]  # the same baseline entry
    recipe, warm = keys({"warmup_iters": 4})  # a warm-up is every stage's: both keys change
    assert recipe.warmup_iters == 4 and warm[0] != plain[0] and warm[1] != plain[1]

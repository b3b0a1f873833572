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

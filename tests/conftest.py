"""Shared fixtures."""
import pytest


@pytest.fixture(scope="session")
def smoke_experiment(tmp_path_factory):
    """One smoke-profile Workspace (trained pair, scores cached) shared by the tests of the applications
    (classification, ablation, controllable restoration), so that the pair is trained once."""
    from faiglib.studies.workspace import Workspace

    root = tmp_path_factory.mktemp("smoke-shared")
    return Workspace(profile="smoke", out=root / "a", results=root / "r", progress=False)

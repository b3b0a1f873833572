"""The live-notebook masking explorer builds and redraws (headless)."""
import pytest

pytest.importorskip("ipywidgets")


def test_masking_explorer_redraws(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    from faiglib.studies.workspace import Workspace
    from faiglib.report.widgets import masking_explorer
    from faiglib.studies import masking

    exp = Workspace(profile="smoke", out=tmp_path / "a", results=tmp_path / "r", progress=False)
    calls = []
    original = masking.example_outputs
    monkeypatch.setattr(masking, "example_outputs", lambda ws, **kw: calls.append(kw) or original(ws, **kw))
    widget = masking_explorer(exp)
    proportion, image = widget.children[0].children
    assert proportion.value == 0.01 and image.max == len(exp.analysis_set()) - 1
    proportion.value = 0.1
    image.value = 1
    assert calls == [{"proportion": 0.01, "image": 0}, {"proportion": 0.1, "image": 0},
                     {"proportion": 0.1, "image": 1}]

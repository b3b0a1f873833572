"""End to end: every section notebook runs under papermill with the smoke profile and writes its results."""
import json
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
papermill = pytest.importorskip("papermill")

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ["degradations", "training", "attribution", "masking"]  # dependency order, as `make book` runs them


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    work = tmp_path_factory.mktemp("book")
    done = {}
    for name in SECTIONS:
        source = work / f"{name}.ipynb"
        jupytext.write(jupytext.read(ROOT / "notebooks" / f"{name}.py"), source)
        papermill.execute_notebook(str(source), str(work / f"{name}.out.ipynb"), cwd=str(work), progress_bar=False,
                                   parameters={"profile": "smoke", "seed": 0, "device": "cpu",
                                               "out": str(work / "artifacts"), "results": str(work / "results")})
        done[name] = work / f"{name}.out.ipynb"
    return work


@pytest.mark.parametrize("name", SECTIONS)
def test_notebook_has_parameters_cell_and_figures(executed, name):
    nb = json.loads((executed / f"{name}.out.ipynb").read_text())
    tags = [c.get("metadata", {}).get("tags", []) for c in nb["cells"] if c["cell_type"] == "code"]
    assert "parameters" in tags[0]  # the first code cell is the parameters cell
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{name} shows no figure"
    assert (executed / "results" / "smoke" / f"{name}.json").exists()


def test_masking_results_have_the_documented_shape(executed):
    res = json.loads((executed / "results" / "smoke" / "masking.json").read_text())
    for pct in ("1", "3", "5", "10"):
        entry = res[f"mask_{pct}pct"]
        for filters in ("deblur_filters", "denoise_filters"):
            for inp in ("blur_input", "noise_input"):
                values = entry[filters][inp]
                assert set(values) >= {"faig", "random"}
                assert all(isinstance(v, float) and v >= 0 for v in values.values())
    assert res["profile"] == "smoke" and res["commit"]


def test_sections_reuse_cached_artefacts(executed):
    ckpts = sorted(p.name for p in (executed / "artifacts" / "smoke").rglob("*.pth"))
    assert ckpts == ["msrresnet-8x1_baseline.pth", "msrresnet-8x1_target.pth"]  # trained once, reused after
    assert len(list((executed / "artifacts" / "smoke").rglob("faig_*.pt"))) == 1

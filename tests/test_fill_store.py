"""tools/fill_store.py: the background filler writes each (network, seed)'s row from the store the chapter reads."""
import importlib.util
import json
from pathlib import Path

from faiglib.studies.attention import network_summary
from faiglib.studies.workspace import Workspace


def _tool():
    spec = importlib.util.spec_from_file_location("fill_store", Path(__file__).parents[1] / "tools" / "fill_store.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_attention_rows_are_the_chapters_network_summary(smoke_experiment, capsys):
    out = smoke_experiment.out
    assert _tool().main(["attention", "--profile", "smoke", "--out", str(out), "--seeds", "0",
                         "--archs", "msrresnet-8x1"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("msrresnet-8x1 seed 0:") and "FAIG N" in line
    row = json.loads((Path(out) / "attention-rows" / "smoke-msrresnet-8x1-seed0.json").read_text())
    # what the chapter computes with its defaults, read back from the same store
    chapter = network_summary(Workspace(profile="smoke", seed=0, arch="msrresnet-8x1", out=out, progress=False),
                              proportions=(0.01, 0.05), channel="gray")
    assert row["n_steps"] == chapter["n_steps"] and row["psnr"] == chapter["psnr"]
    assert row["ratios"] == json.loads(json.dumps(chapter["ratios"]))


def test_scale_rows_hold_table_3s_retraining_and_depth(smoke_experiment, capsys):
    out = smoke_experiment.out
    assert _tool().main(["scale", "--profile", "smoke", "--out", str(out), "--seeds", "0",
                         "--archs", "msrresnet-8x1"]) == 0
    assert "Table 3 gain blur" in capsys.readouterr().out
    row = json.loads((Path(out) / "scale-rows" / "smoke-msrresnet-8x1-seed0.json").read_text())
    assert row["network"] == "msrresnet-8x1" and row["seconds"] > 0
    assert {"retraining", "depth", "classification", "retrain_gain_blur_db"} <= set(row)


def test_lam_rows_are_the_lam_chapters_study(smoke_experiment, capsys, monkeypatch):
    out = smoke_experiment.out
    assert _tool().main(["lam", "--profile", "smoke", "--out", str(out), "--seeds", "0",
                         "--archs", "msrresnet-8x1"]) == 0
    assert "DI baseline clean" in capsys.readouterr().out
    row = json.loads((Path(out) / "lam-rows" / "smoke-msrresnet-8x1-seed0.json").read_text())

    def must_not_run(*args, **kwargs):
        raise AssertionError("the chapter's call missed the row's store entry")

    import faiglib.studies.lam as lam_study
    monkeypatch.setattr(lam_study, "diffusion_study", must_not_run)
    # the LAM chapter's call with its default parameters (notebooks/lam.py) reads what the tool stored
    chapter = lam_study.stored_diffusion_study(
        Workspace(profile="smoke", seed=0, arch="msrresnet-8x1", out=out, progress=False),
        kinds=("clean", "blur", "noise"), n_windows=3, n_images=None, window_size=16, sigma=1.2, fold=50)
    assert row["di"] == chapter["di"] and row["settings"]["n_windows"] == 3

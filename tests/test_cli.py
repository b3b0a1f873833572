"""The faiglib command end to end on tiny community-layout checkpoints: files written, numbers equal to the API's,
bad input answered by one line on stderr (exit status 2, no traceback)."""
import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from faiglib.cli import main
from faiglib.core.units import FilterIndex
from faiglib.data.images import load_image
from faiglib.methods.lam import lam
from faiglib.models.networks import build_network


def _randomised(net, seed=0, scale=0.2):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
    return net.eval()


def _png(path, h, w, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture()
def files(tmp_path):
    net = _randomised(build_network("msrresnet", num_feat=8, num_block=1, upscale=2))
    torch.save({"params_ema": net.state_dict()}, tmp_path / "net.pth")  # the community layout, no faiglib meta
    target = _randomised(build_network("msrresnet", num_feat=8, num_block=1, upscale=2), seed=0)
    _randomised(target, seed=1, scale=0.05)
    torch.save({"params": target.state_dict()}, tmp_path / "target.pth")
    data = tmp_path / "hr"
    data.mkdir()
    _png(data / "a.png", 40, 44, seed=1)
    _png(data / "b.png", 36, 40, seed=2)
    return {"dir": tmp_path, "net": net, "ckpt": tmp_path / "net.pth", "target": tmp_path / "target.pth",
            "lr": _png(tmp_path / "lr.png", 24, 26, seed=3), "hr": _png(tmp_path / "hr.png", 48, 52, seed=4),
            "data": data}


def test_lam_command_writes_the_figure_and_the_api_numbers(files, capsys):
    out = files["dir"] / "lam"
    assert main(["lam", str(files["ckpt"]), str(files["lr"]), "--window", "10", "12", "--size", "8",
                 "--fold", "10", "--out", str(out)]) == 0
    report = json.loads((out / "lam.json").read_text())
    direct = lam(files["net"], load_image(files["lr"]), (10, 12), window_size=8, fold=10)
    assert report["diffusion_index"] == pytest.approx(direct.diffusion_index, rel=1e-6)
    assert report["arch"] == "msrresnet" and report["scale"] == 2 and report["lr_size"] == [24, 26]
    assert (out / "lam.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "DI" in capsys.readouterr().out
    # --hr: the 48x52 HR image is downscaled by the model's scale first
    assert main(["lam", str(files["ckpt"]), str(files["hr"]), "--hr", "--window", "10", "12", "--size", "8",
                 "--fold", "4", "--out", str(out)]) == 0
    assert json.loads((out / "lam.json").read_text())["lr_size"] == [24, 26]


def test_l2x_command_maps_sum_to_the_change_of_the_objective(files):
    out = files["dir"] / "l2x"
    assert main(["l2x", str(files["ckpt"]), str(files["lr"]), "--window", "10", "12", "--size", "8",
                 "--out", str(out)]) == 0
    report = json.loads((out / "l2x.json").read_text())
    assert report["sum_positive"] + report["sum_negative"] == pytest.approx(report["delta"], rel=1e-4)
    assert report["delta"] == pytest.approx(report["objective"] - report["reference_objective"], rel=1e-9)
    assert report["sum_positive"] >= 0 >= report["sum_negative"] and report["window"] == [10, 12]
    assert (out / "l2x.png").stat().st_size > 0


def test_faig_command_ranks_every_unit_and_checks_the_top_1_percent(files):
    out = files["dir"] / "faig"
    assert main(["faig", str(files["ckpt"]), str(files["target"]), "--data", str(files["data"]), "--n-steps", "4",
                 "--draws", "3", "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "faig_blur.csv").open()))
    units = len(FilterIndex(files["net"]))
    assert len(rows) == units and [int(r["rank"]) for r in rows] == list(range(1, units + 1))
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    report = json.loads((out / "faig.json").read_text())
    count = max(1, int(0.01 * units))  # the top 1 %, floored, at least one unit
    assert report["masking"]["units"] == count and len(report["top_1_percent"]) == count
    assert report["top_1_percent"][0] == [rows[0]["layer"], int(rows[0]["out"]), int(rows[0]["in"])]
    draws = report["masking"]["random_draws"]
    assert len(draws) == 3 and report["masking"]["random_median"] == pytest.approx(float(np.median(draws)))
    assert report["images"] == ["a.png", "b.png"]


def test_faig_command_draws_the_masking_chapters_random_sets(files, monkeypatch):
    # draw r of seed s masks the first 1 % of the permutation of a generator seeded 1000 s + r, the sets of the
    # masking chapter's Workspace.random_rankings, so that the command's yardstick is the book's
    import faiglib.studies.masking as masking

    masked, effect = [], masking.masking_effect
    monkeypatch.setattr(masking, "masking_effect", lambda net, state, units, *a, **k: (masked.append(units.tolist()),
                                                                                     effect(net, state, units, *a, **k))[1])
    assert main(["faig", str(files["ckpt"]), str(files["target"]), "--data", str(files["data"]), "--n-steps", "2",
                 "--draws", "2", "--seed", "3", "--out", str(files["dir"] / "faig3")]) == 0
    units = len(FilterIndex(files["net"]))
    count = max(1, int(0.01 * units))
    expected = [torch.randperm(units, generator=torch.Generator().manual_seed(3000 + r))[:count].tolist()
                for r in range(2)]
    assert masked[1:] == expected  # masked[0] is the FAIG top 1 %


def test_units_command_counts_every_kind(tmp_path, capsys):
    # a SwinIR with Linear, LayerNorm and GELU: conv units (out x in), Linear rows, one unit per bias-table head
    net = build_network("swinir", embed_dim=8, depths=(2,), num_heads=2, window_size=4, num_feat=4, upscale=2)
    torch.save(net.state_dict(), tmp_path / "swin.pth")
    assert main(["units", str(tmp_path / "swin.pth")]) == 0
    text = capsys.readouterr().out
    convs = sum(m.weight.shape[0] * m.weight.shape[1] for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    rows = sum(m.weight.shape[0] for m in net.modules() if isinstance(m, torch.nn.Linear))
    heads = 2 * 2  # two blocks, two heads each
    assert f"by kind: conv {convs}, linear {rows}, head {heads}" in text.replace("\n", " ") or \
        all(f"{k} {v}" in text for k, v in (("conv", convs), ("linear", rows), ("head", heads)))
    assert f"{convs + rows + heads} units" in text


@pytest.mark.parametrize("args, match", [
    (["lam", "{ckpt}", "{lr}", "--window", "60", "12", "--size", "8", "--out", "{dir}/x"], "outside"),
    (["lam", "{dir}/missing.pth", "{lr}", "--window", "1", "1", "--out", "{dir}/x"], "no such checkpoint"),
    (["lam", "{short}", "{lr}", "--window", "1", "1", "--out", "{dir}/x"], "truncated, corrupt"),
    (["lam", "{ckpt}", "{lr}", "--window", "1", "1", "--device", "cuda:7", "--out", "{dir}/x"],
     "no CUDA device|cuda"),
    (["units", "{odd}"], "unknown checkpoint layout"),
    (["faig", "{ckpt}", "{x3}", "--data", "{data}", "--out", "{dir}/x"], "not x3"),
])
def test_bad_input_is_one_line_on_stderr(files, capsys, args, match):
    d = files["dir"]
    data = files["ckpt"].read_bytes()
    (d / "short.pth").write_bytes(data[: len(data) // 2])
    sd = dict(files["net"].state_dict())
    sd["attention.qkv.weight"] = sd.pop("conv_first.weight")
    torch.save(sd, d / "odd.pth")
    torch.save(build_network("msrresnet", num_feat=8, num_block=1, upscale=3).state_dict(), d / "x3.pth")
    names = {"ckpt": files["ckpt"], "lr": files["lr"], "dir": d, "short": d / "short.pth", "odd": d / "odd.pth",
             "x3": d / "x3.pth", "data": files["data"]}
    if "cuda:7" in args and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    code = main([a.format(**{k: str(v) for k, v in names.items()}) for a in args])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"faiglib {args[0]}: error: ")
    import re
    assert re.search(match, err), err


@pytest.mark.parametrize("arch, kwargs", [
    ("rcan", {"num_feat": 8, "num_group": 1, "num_block": 1, "squeeze_factor": 4, "upscale": 2}),
    ("swinir", {"embed_dim": 8, "depths": (2,), "num_heads": 2, "window_size": 4, "upsampler": "pixelshuffledirect",
                "upscale": 2}),
])
def test_lam_and_faig_commands_on_attention_checkpoints(files, arch, kwargs):
    # an RCAN and a SwinIR-light in their community layouts: read from the keys, explained by the same commands
    base = _randomised(build_network(arch, **kwargs), seed=2, scale=0.05)
    target = _randomised(build_network(arch, **kwargs), seed=2, scale=0.05)
    _randomised(target, seed=3, scale=0.02)
    d = files["dir"]
    torch.save({"params_ema": base.state_dict()}, d / f"{arch}_base.pth")
    torch.save({"params": target.state_dict()}, d / f"{arch}_target.pth")
    assert main(["lam", str(d / f"{arch}_target.pth"), str(files["lr"]), "--window", "10", "12", "--size", "8",
                 "--fold", "6", "--out", str(d / f"{arch}_lam")]) == 0
    assert json.loads((d / f"{arch}_lam" / "lam.json").read_text())["arch"] == arch
    assert main(["faig", str(d / f"{arch}_base.pth"), str(d / f"{arch}_target.pth"), "--data", str(files["data"]),
                 "--n-steps", "3", "--draws", "2", "--out", str(d / f"{arch}_faig")]) == 0
    report = json.loads((d / f"{arch}_faig" / "faig.json").read_text())
    assert report["arch"] == arch and report["units"] == len(FilterIndex(target))

"""The GPU path on the CPU: resident sampling and degradations against the host versions, batched masking against
masking_effects, and the one-command runner end to end (pack into a fake $OUT, unpack, find everything in the
store without recomputing)."""
import json

import numpy as np
import pytest
import torch

from faiglib.core.units import FilterIndex
from faiglib.data.degradations import Degradation, blur, downsample
from faiglib.models.networks import build_network
from faiglib.gpu import pack, plan
from faiglib.gpu import run as gpu_run
from faiglib.studies.batched_masking import batched_masking_effects, masked_outputs
from faiglib.studies.masking import masking_effects
from faiglib.training.resident import ResidentPatches, device_blur, device_degrade


def test_device_blur_equals_the_host_blur():
    x = torch.rand(2, 3, 30, 34, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(device_blur(x, 2.0), blur(x, 2.0), atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="too small"):
        device_blur(torch.rand(1, 3, 8, 8), 2.0)


def _dihedral(x, h, v, t):
    """The sampler's augmentation, in its order: horizontal flip, vertical flip, transpose."""
    x = x.flip(-1) if h else x
    x = x.flip(-2) if v else x
    return x.transpose(-1, -2) if t else x


def test_resident_patches_are_augmented_crops_of_the_images():
    g = torch.Generator().manual_seed(0)
    images = [("a", torch.randint(0, 256, (3, 20, 24), generator=g).float() / 255),
              ("b", torch.randint(0, 256, (3, 17, 13), generator=g).float() / 255)]
    sampler = ResidentPatches(images, 8, 50, torch.Generator().manual_seed(3))
    seen_images, seen_flags = set(), set()
    for patch in sampler.sample():
        hits = [(i, h, v, t) for i, (_, img) in enumerate(images) for h in (0, 1) for v in (0, 1) for t in (0, 1)
                for top in range(img.shape[1] - 7) for left in range(img.shape[2] - 7)
                if torch.equal(_dihedral(img[:, top: top + 8, left: left + 8], h, v, t), patch)]
        assert hits, "a patch that is no augmented crop of any training image"
        seen_images.add(hits[0][0])
        seen_flags.update(hits[0][1:][k] * (k + 1) for k in range(3))
    assert seen_images == {0, 1} and seen_flags == {0, 1, 2, 3}
    again = ResidentPatches(images, 8, 50, torch.Generator().manual_seed(3)).sample()
    assert torch.equal(again, ResidentPatches(images, 8, 50, torch.Generator().manual_seed(3)).sample())
    with pytest.raises(ValueError, match="smaller than the 18x18"):
        ResidentPatches(images, 18, 4, torch.Generator())


def test_device_degrade_is_the_recipe_with_explicit_draws():
    hr = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    d = Degradation(noise_sigma=0.1, clip=False)
    only_blur = device_degrade(hr, d, torch.Generator().manual_seed(0), p_blur=1.0, p_noise=0.0)
    torch.testing.assert_close(only_blur, downsample(blur(hr, 2.0)), atol=1e-6, rtol=1e-5)
    assert torch.equal(device_degrade(hr, d, torch.Generator().manual_seed(0), 0.0, 0.0), downsample(hr))
    noisy = device_degrade(hr, d, torch.Generator().manual_seed(5), p_blur=0.0, p_noise=1.0)
    g = torch.Generator().manual_seed(5)
    torch.rand(4, 2, generator=g)  # the flags come first, then the noise
    torch.testing.assert_close(noisy, downsample(hr) + 0.1 * torch.randn(4, 3, 16, 16, generator=g))
    with pytest.raises(ValueError, match="p_noise"):
        device_degrade(hr, d, torch.Generator(), 0.5, 1.5)


def test_batched_masking_equals_masking_one_selection_at_a_time():
    torch.manual_seed(0)
    model = build_network("msrresnet", num_feat=4, num_block=2).eval()
    base = {k: v + 0.05 * torch.randn_like(v) for k, v in model.state_dict().items()}
    index = FilterIndex(model)
    g = torch.Generator().manual_seed(1)
    selections = [torch.randperm(len(index), generator=g)[:k] for k in (1, 7, 30)] + \
        [torch.tensor([], dtype=torch.long), torch.arange(len(index))]
    aset = type("A", (), {})()
    aset.lr = {"blur": [torch.rand(3, 10, 12, generator=g), torch.rand(3, 8, 8, generator=g)],
               "noise": [torch.rand(3, 10, 12, generator=g), torch.rand(3, 8, 8, generator=g)]}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batched = batched_masking_effects(model, base, selections, aset, channels=("gray", "blue"), index=index, chunk=2)
    for sel, got in zip(selections, batched):
        expected = masking_effects(model, base, sel, aset, channels=("gray", "blue"), index=index)
        for c in ("gray", "blue"):
            for k in ("blur", "noise"):
                torch.testing.assert_close(got[c][k], expected[c][k], rtol=1e-4, atol=1e-7)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())  # the model is untouched
    assert torch.count_nonzero(torch.stack([batched[3]["gray"][k] for k in ("blur", "noise")])) == 0
    with pytest.raises(ValueError, match="one input"):
        masked_outputs(model, base, selections, torch.rand(2, 3, 8, 8))


def test_batched_masking_tables_equal_the_one_at_a_time_ones(smoke_experiment):
    ws = smoke_experiment
    from faiglib.studies.masking import yardstick_effects

    methods = ("faig", "ig", "abs_change", "random")
    expected = yardstick_effects(ws, (0.01, 0.05), ("gray",), methods, 4)
    got = yardstick_effects(ws, (0.01, 0.05), ("gray",), methods, 4, batch=3)
    for mask, per_set in expected["draws"]["gray"].items():
        for fs, per_input in per_set.items():
            for inp, values in per_input.items():
                assert got["draws"]["gray"][mask][fs][inp] == pytest.approx(values, rel=1e-4, abs=1e-9)
    expected, got = expected["table"], got["table"]
    assert got.keys() == expected.keys()
    for mask, per_set in expected["gray"].items():
        for fs, per_input in per_set.items():
            for inp, row in per_input.items():
                assert got["gray"][mask][fs][inp].keys() == row.keys()
                for m, v in row.items():
                    assert got["gray"][mask][fs][inp][m] == pytest.approx(v, rel=1e-4, abs=1e-9), (mask, fs, inp, m)


def _png_folders(root):
    from PIL import Image
    from skimage import data

    for sub, names in {"train": ["brick", "grass", "gravel"], "analysis": ["astronaut", "coffee"]}.items():
        (root / sub).mkdir(parents=True)
        for n in names:
            a = getattr(data, n)()
            a = np.stack([a] * 3, -1) if a.ndim == 2 else a
            Image.fromarray(np.ascontiguousarray(a[:72, :80])).save(root / sub / f"{n}.png")
    return root / "analysis", root / "train"


TINY = ["baseline_iters=6", "target_iters=4", "yardstick_draws=3", "mask_proportions=[0.01, 0.1]"]


def test_runner_end_to_end_then_unpacked_store_serves_without_recomputing(tmp_path, monkeypatch):
    analysis, train = _png_folders(tmp_path / "data")
    out = tmp_path / "OUT"
    monkeypatch.chdir(tmp_path)  # data paths relative to the working directory, as on the device (repo root)
    args = ["--profile", "smoke", "--data", "data/analysis", "--train-data", "data/train", "--work", "work",
            "--out", str(out), "--device", "cpu"] + [a for s in TINY for a in ("--set", s)]
    assert gpu_run.main(args) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["gpu_run.json", "store.manifest.json", "store.tar.gz.part00", "timing.log"]
    assert all((out / f).stat().st_size <= 16 * 2 ** 20 for f in files)
    payload = json.loads((out / "gpu_run.json").read_text())
    assert payload["iterations"] == {"baseline": 6, "target": 4}
    assert "FAIG done" in (out / "timing.log").read_text()

    # back on "the CPU": a fresh checkout's artifacts/ and results/
    assert gpu_run.main(["--unpack", str(out), "--into", "fresh", "--results", "res"] +
                        [a for s in TINY for a in ("--set", s)]) == 0
    assert json.loads((tmp_path / "res/smoke/gpu_run.json").read_text())["pair_keys"] == payload["pair_keys"]

    def refuse(*a, **k):
        raise AssertionError("recomputed instead of read from the store")

    import faiglib.studies.batched_masking as bm
    import faiglib.studies.masking as masking
    import faiglib.studies.workspace as wsm
    import faiglib.training.stages as stages
    monkeypatch.setattr(stages, "build_seeded", refuse)
    monkeypatch.setattr(wsm, "discriminative_filters", refuse)
    monkeypatch.setattr(wsm, "input_ig_ranking", refuse)
    monkeypatch.setattr(bm, "batched_masking_effects", refuse)
    monkeypatch.setattr(masking, "yardstick_effects", refuse)
    ws = wsm.Workspace(profile=gpu_run._profile("smoke", TINY), data="data/analysis", train_data="data/train",
                       out="fresh", results="res", progress=False)
    ws.pair()
    assert ws.pair_keys() == payload["pair_keys"]
    assert ws.scores().per_image["blur"].shape == (2, len(ws.filter_index))
    assert ws.ig_ranking().scores("noise").shape == (len(ws.filter_index),)
    assert masking.method_masking(ws) == payload["table2"]  # the baselines chapter's table, read
    assert set(masking.masking_table(ws)) == {f"mask_{q * 100:g}pct" for q in ws.profile.mask_proportions}
    # every unpacked entry came with its digests: what the fresh store reads is verified, not trusted
    from faiglib.core.checkpoint import MANIFEST
    entries = [p.parent for p in (tmp_path / "fresh" / "store").rglob("parts.json")]
    assert entries and all((e / MANIFEST).is_file() for e in entries)


def _small_store(root):
    from faiglib.core.store import Store
    from faiglib.core.checkpoint import atomic_write_bytes

    store = Store(root)
    for key, seed in (("a", 0), ("b", 1)):
        with store.entry("faig", {"k": key}) as folder:
            atomic_write_bytes(np.random.default_rng(seed).bytes(2500), folder / "result.pt")
    (root / "faig" / "x.lock").write_text("")
    return store


def test_pack_refuses_more_parts_than_come_back(tmp_path):
    _small_store(tmp_path / "store")
    with pytest.raises(ValueError, match="more than the 1 allowed"):
        pack.pack_store(tmp_path / "store", tmp_path / "out", max_parts=1, part_bytes=1000)
    assert not (tmp_path / "out").exists()
    parts = pack.pack_store(tmp_path / "store", tmp_path / "out", max_parts=8, part_bytes=1000)
    assert len(parts) >= 3 and all(p.stat().st_size <= 1000 for p in parts)
    manifest = json.loads((tmp_path / "out" / pack.MANIFEST_NAME).read_text())
    assert [q["name"] for q in manifest["parts"]] == [p.name for p in parts]
    assert pack.MAX_PARTS * pack.PART_BYTES + 2 ** 20 <= 64 * 2 ** 20  # what comes back: 64 MiB in all
    pack.unpack(tmp_path / "out", tmp_path / "back")
    for result in (tmp_path / "store" / "faig").glob("*/result.pt"):
        assert (tmp_path / "back/store/faig" / result.parent.name / "result.pt").read_bytes() == result.read_bytes()
    assert not (tmp_path / "back/store/faig/x.lock").exists()


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize("damage", ["missing middle part", "truncated part", "flipped byte", "no manifest",
                                    "foreign part"])
def test_a_damaged_pack_is_refused_and_nothing_is_written(tmp_path, damage):
    _small_store(tmp_path / "store")
    parts = pack.pack_store(tmp_path / "store", tmp_path / "out", max_parts=8, part_bytes=1000)
    assert len(parts) >= 3
    middle = parts[len(parts) // 2]
    if damage == "missing middle part":
        middle.unlink()
        match = f"{middle.name}: missing"
    elif damage == "truncated part":
        middle.write_bytes(middle.read_bytes()[:-10])
        match = f"{middle.name}: 990 bytes, the manifest says 1000"
    elif damage == "flipped byte":
        data = bytearray(middle.read_bytes())
        data[17] ^= 0x20
        middle.write_bytes(bytes(data))
        match = f"{middle.name}: its SHA-256 differs"
    elif damage == "no manifest":
        (tmp_path / "out" / pack.MANIFEST_NAME).unlink()
        match = "no store.manifest.json beside .* part\\(s\\): the run stopped before its packing finished"
    else:
        (tmp_path / "out" / f"{pack.PACK_NAME}.part99").write_bytes(b"x")
        match = "part99.*not in the manifest"
    with pytest.raises(pack.PackError, match=match):
        pack.unpack(tmp_path / "out", tmp_path / "back")
    assert _tree(tmp_path / "back") == []
    # the command line: one line on stderr, exit code 2, nothing written
    assert gpu_run.main(["--unpack", str(tmp_path / "out"), "--into", str(tmp_path / "back2")]) == 2
    assert _tree(tmp_path / "back2") == []


def test_an_intact_pack_repairs_a_file_an_earlier_unpack_left_broken(tmp_path):
    _small_store(tmp_path / "store")
    pack.pack_store(tmp_path / "store", tmp_path / "out", max_parts=8, part_bytes=1000)
    pack.unpack(tmp_path / "out", tmp_path / "back")
    broken = next((tmp_path / "back/store/faig").glob("*/result.pt"))
    good = broken.read_bytes()
    broken.write_bytes(good[:100])  # what the old unpack could leave: a short file that later unpacks kept
    pack.unpack(tmp_path / "out", tmp_path / "back")
    assert broken.read_bytes() == good
    from faiglib.core.checkpoint import verify_file
    verify_file(broken)  # and its entry's digest manifest vouches for it


def test_command_line_errors_are_one_line(tmp_path, capsys):
    assert gpu_run.main(["--dry-run", "--profile", "gpu"]) == 2
    assert "pass --train-data" in capsys.readouterr().err
    assert gpu_run.main(["--dry-run", "--train-data", "x", "--set", "baseline_iters=abc"]) == 2
    assert "the value of baseline_iters must be JSON" in capsys.readouterr().err


#: LR sizes (x2) of the 14 Set14 images (PROVENANCE.md's sizes, mod-cropped): what the gpu profile analyses.
SET14_LR = [(240, 250), (288, 360), (256, 256), (144, 176), (180, 125), (138, 138), (181, 250), (144, 176),
            (256, 256), (256, 256), (256, 384), (256, 256), (328, 264), (195, 293)]


def test_dry_run_of_the_gpu_profile_fits_the_budget_and_catches_an_oversized_one(monkeypatch):
    from faiglib.studies.workspace import Workspace

    monkeypatch.setattr(plan, "_lr_pixels", lambda ws: [h * w for h, w in SET14_LR])
    ws = Workspace(profile="gpu", train_data="embedded:train", progress=False)
    result = plan.dry_run(ws, measure_cpu=False, print_=lambda line: None)
    assert result["total_s"] <= plan.BUDGET_S
    train = [s for s in result["stages"] if s["stage"] == "train baseline"][0]
    # MSRResNet-64x16 x2 by hand, multiply-adds per LR pixel: conv_first 3->64, 16 blocks of two 64->64 convs,
    # upconv 64->256 (all 3x3 at LR), then conv_hr 64->64 and conv_last 64->3 at the 4 HR pixels of each LR pixel
    macs = 9 * (3 * 64 + 32 * 64 * 64 + 64 * 256 + 4 * (64 * 64 + 64 * 3))
    assert plan.flops_per_lr_pixel(ws.spec, 2) == 2 * macs == 2_966_400
    # training: forward + backward = 3 forwards, on 16 LR patches of 64x64, 30k iterations: 1.7497e16 FLOPs;
    # at 10 % of 989 TFLOP/s that is 176.9 s, plus 1.5 ms of launches per iteration (45 s)
    assert train["flops"] == pytest.approx(1.7496539e16, rel=1e-7)
    assert train["seconds"] == pytest.approx(221.91, abs=0.01)
    big = Workspace(profile=ws.profile.with_(baseline_iters=320_000), train_data="embedded:train", progress=False)
    with pytest.raises(ValueError, match="exceeds the 480 s budget"):
        plan.dry_run(big, measure_cpu=False, print_=lambda line: None)


def test_resident_patches_pack_uint8_uint16_and_float_images_alike():
    g = torch.Generator().manual_seed(0)
    u8 = torch.randint(0, 256, (3, 40, 36), generator=g, dtype=torch.uint8)
    as_float = u8.float() / 255
    as_u16 = (u8.to(torch.int32) * 257).to(torch.uint16)  # 8-bit values scaled to 16 bits exactly
    packs = [ResidentPatches([("a", img)], 16, 2, torch.Generator().manual_seed(1)).packed
             for img in (u8, as_float, as_u16)]
    assert all(torch.equal(p[0], u8) for p in packs)


def _tiny_args():
    return ["--profile", "smoke", "--data", "data/analysis", "--train-data", "data/train", "--device", "cpu"] + \
        [a for s in TINY for a in ("--set", s)]


def _stage_weights(work, ws_args):
    from faiglib.core.checkpoint import load_state
    from faiglib.studies.workspace import Workspace

    ws = Workspace(profile=gpu_run._profile("smoke", TINY), data="data/analysis", train_data="data/train",
                   out=work, progress=False, read_only=True)
    return [load_state(r.checkpoint)[0] for r in ws.pair()]


def test_a_run_stopped_by_its_clock_packs_what_finished_and_a_second_call_ends_as_one_run(tmp_path, monkeypatch):
    _png_folders(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    assert gpu_run.main(_tiny_args() + ["--work", "whole", "--out", "OUT_whole"]) == 0
    whole = json.loads((tmp_path / "OUT_whole/gpu_run.json").read_text())
    assert whole["finished"] and whole["remaining_iterations"] == {"baseline": 0, "target": 0}

    real_clock = gpu_run.Clock

    class StopsAfterThreeIterations(real_clock):
        calls = 0

        def expired(self):  # asked before 'data', before 'train pair', then after every training iteration
            StopsAfterThreeIterations.calls += 1
            return StopsAfterThreeIterations.calls > 4

    monkeypatch.setattr(gpu_run, "Clock", StopsAfterThreeIterations)
    assert gpu_run.main(_tiny_args() + ["--work", "first", "--out", "OUT1"]) == 0
    first = json.loads((tmp_path / "OUT1/gpu_run.json").read_text())
    assert first["finished"] is False and first["stages_done"] == ["data"]
    assert first["stages_skipped"][:3] == ["train pair", "PSNR table", "FAIG"]
    assert first["remaining_iterations"] == {"baseline": 6 - 3, "target": 4}
    assert (tmp_path / "OUT1" / pack.MANIFEST_NAME).exists()  # the pack is written all the same
    assert "NOT finished" in (tmp_path / "OUT1/timing.log").read_text()

    monkeypatch.setattr(gpu_run, "Clock", real_clock)
    assert gpu_run.main(_tiny_args() + ["--work", "second", "--out", "OUT2", "--resume-from", "OUT1"]) == 0
    second = json.loads((tmp_path / "OUT2/gpu_run.json").read_text())
    assert second["finished"] and second["remaining_iterations"] == {"baseline": 0, "target": 0}
    assert second["pair_keys"] == whole["pair_keys"] and second["table2"] == whole["table2"]
    for got, want in zip(_stage_weights("second", None), _stage_weights("whole", None)):
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)  # bit for bit


def test_preflight_runs_on_the_cpu_and_says_no_go_when_nothing_fits(tmp_path, monkeypatch, capsys):
    _png_folders(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    assert gpu_run.main(_tiny_args() + ["--preflight", "--time-limit", "3600", "--work", "w"]) == 0
    printed = capsys.readouterr().out
    assert "checks: {'device': 'cpu', 'bf16_autocast': True, 'channels_last': True}" in printed
    assert "training it/s" in printed and ": GO;" in printed
    from faiglib.studies.workspace import Workspace

    ws = Workspace(profile=gpu_run._profile("smoke", TINY), data="data/analysis", train_data="data/train", out="w",
                   progress=False)
    # 1 s cannot hold the 30 s of start-up the plan assumes: no-go, and no training iteration fits
    result = plan.preflight(ws, time_limit_s=1.0, steps=3, print_=lambda line: None)
    assert result["go"] is False and result["iterations_that_fit"] == {"baseline": 0, "target": 0}
    assert result["it_per_s"] > 0 and result["faig_flops_per_s"] > 0


def test_a_stage_that_fails_still_leaves_the_pack_of_what_finished(tmp_path, monkeypatch):
    _png_folders(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    import faiglib.studies.workspace as wsm

    def broken(self, *a, **k):
        raise RuntimeError("CUDA error: an illegal memory access (simulated)")

    monkeypatch.setattr(wsm.Workspace, "ig_ranking", broken)
    assert gpu_run.main(_tiny_args() + ["--work", "w", "--out", "OUT"]) == 1
    payload = json.loads((tmp_path / "OUT/gpu_run.json").read_text())
    assert payload["errors"] == {"IG": "RuntimeError: CUDA error: an illegal memory access (simulated)"}
    assert payload["stages_done"] == ["data", "train pair", "PSNR table", "FAIG"] and not payload["finished"]
    pack.verify_pack(tmp_path / "OUT")  # the pair and FAIG came back

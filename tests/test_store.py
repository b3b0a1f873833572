"""The artefact store: keys follow content, never names; concurrent runs compute once and never collide."""
import hashlib
import json
import multiprocessing as mp
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faiglib.core.checkpoint import IntegrityError, atomic_save, file_sha256, git_commit, load_file
from faiglib.core.store import ReadOnlyStoreError, Store, digest, tensor_digest
from faiglib.studies.workspace import Workspace


def _write_png(path: Path, seed: int, size: int = 64) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def _folder(root: Path, seeds) -> str:
    root.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(seeds):
        _write_png(root / f"img{i}.png", s)
    return str(root)


def test_digest_ignores_field_order_and_tensor_digest_ignores_names():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": (1, 2), "a": 1})
    assert digest({"a": 1}) != digest({"a": 1.5})
    x = torch.arange(6.0).view(2, 3)
    assert tensor_digest([("one", x)]) == tensor_digest([("other", x.clone())])
    assert tensor_digest([x]) != tensor_digest([x.double()]) != tensor_digest([x.view(3, 2)])
    y = x.clone()
    y[1, 2] += 1e-6
    assert tensor_digest([x]) != tensor_digest([y])
    with pytest.raises(TypeError, match="store key"):
        digest({"a": object()})


def test_file_digest_follows_content_even_when_size_and_mtime_are_restored(tmp_path):
    store = Store(tmp_path / "store")
    f = tmp_path / "a.bin"
    f.write_bytes(b"one")
    st = f.stat()
    first = store.file_digest(f)
    assert first == hashlib.sha256(b"one").hexdigest()[:20]  # the SHA-256 of the bytes, independently computed
    f.write_bytes(b"two")  # same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old modification time: a cache by stamp is fooled
    assert store.file_digest(f) == hashlib.sha256(b"two").hexdigest()[:20]


def test_entry_writes_its_parts_and_removes_leftover_temporary_files(tmp_path):
    store = Store(tmp_path)
    folder = store.path("faig", {"n": 1})
    folder.mkdir(parents=True)
    (folder / ".result.pt.abc123.tmp").write_bytes(b"half a file")  # an atomic write that was killed
    with store.entry("faig", {"n": 1}) as entry:
        assert entry == folder and not list(entry.glob(".*.tmp"))
        assert '"n": 1' in (entry / "parts.json").read_text()
    assert store.path("faig", {"n": 2}) != folder
    with pytest.raises(ValueError, match="kinds"):
        store.key("../escape", {})


def test_replacing_an_analysis_image_of_the_same_name_gives_new_scores(tmp_path):
    data = _folder(tmp_path / "analysis", [1, 2])
    out = tmp_path / "out"
    ws = Workspace(profile="smoke", data=data, out=out, results=tmp_path / "r", progress=False)
    before = ws.scores()
    _write_png(tmp_path / "analysis" / "img1.png", 99)  # same name, other pixels
    ws2 = Workspace(profile="smoke", data=data, out=out, results=tmp_path / "r", progress=False)
    assert ws2.pair_keys() == ws.pair_keys()  # the pair does not depend on the analysis images
    after = ws2.scores()
    fresh = Workspace(profile="smoke", data=data, out=tmp_path / "empty", results=tmp_path / "r",
                      progress=False).scores()
    assert not torch.equal(after.per_image["blur"], before.per_image["blur"])
    assert torch.equal(after.per_image["blur"], fresh.per_image["blur"])
    assert len(list((out / "store" / "faig").glob("*/result.pt"))) == 2


def test_training_data_and_training_fields_are_part_of_the_pair_and_score_keys(tmp_path):
    train = _folder(tmp_path / "train", [3, 4])
    ws = Workspace(profile="smoke", train_data=train, out=tmp_path / "out", progress=False)
    keys = ws.pair_keys()
    _write_png(tmp_path / "train" / "img0.png", 30)  # same name, other pixels
    changed = Workspace(profile="smoke", train_data=train, out=tmp_path / "out", progress=False)
    assert changed.pair_keys()[0] != keys[0] and changed.pair_keys()[1] != keys[1]
    longer = Workspace(profile=ws.profile.with_(target_iters=13), train_data=train, out=tmp_path / "out")
    assert longer.pair_keys()[0] == changed.pair_keys()[0] and longer.pair_keys()[1] != changed.pair_keys()[1]
    noisier = Workspace(profile=ws.profile.with_(noise_sigma=0.2), train_data=train, out=tmp_path / "out")
    assert noisier.pair_keys()[1] != changed.pair_keys()[1]
    # a field of attribution only: the pair stays, the scores move
    finer = Workspace(profile=ws.profile.with_(n_steps=5), train_data=train, out=tmp_path / "out")
    assert finer.pair_keys() == changed.pair_keys()


def test_the_analysis_degradation_is_a_parameter_of_the_analysis_set_not_of_the_pair(tmp_path):
    ws = Workspace(profile="smoke", out=tmp_path, progress=False)
    other = Workspace(profile="smoke", out=tmp_path, progress=False, analysis_blur_sigma=1.5, analysis_noise_sigma=0.07)
    assert other.pair_keys() == ws.pair_keys()
    assert other.degradation.blur_sigma == 1.5 and other.degradation.noise_sigma == 0.07
    assert ws.degradation.blur_sigma == ws.profile.blur_sigma
    assert other.analysis_digest() != ws.analysis_digest()
    assert torch.equal(other.analysis_set().lr["clean"][0], ws.analysis_set().lr["clean"][0])
    with pytest.raises(ValueError, match="analysis_blur_sigma must be a finite sigma > 0"):
        Workspace(profile="smoke", out=tmp_path, analysis_blur_sigma=0)


def _train_in_process(out: str, train: str, done: str) -> None:
    torch.set_num_threads(1)
    ws = Workspace(profile="smoke", train_data=train, out=out, progress=False)
    base, target = ws.pair()
    Path(done).write_text(f"{base.checkpoint}\n{target.checkpoint}\n")


def test_two_concurrent_runs_with_different_data_on_one_out_keep_their_own_artefacts(tmp_path):
    trains = [_folder(tmp_path / f"train{i}", [10 + i, 20 + i]) for i in (0, 1)]
    out = str(tmp_path / "out")
    ctx = mp.get_context("spawn")
    jobs = [ctx.Process(target=_train_in_process, args=(out, t, str(tmp_path / f"done{i}")))
            for i, t in enumerate(trains)]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join(300)
    assert [j.exitcode for j in jobs] == [0, 0]
    paths = [(tmp_path / f"done{i}").read_text().split() for i in (0, 1)]
    assert len({p for pair in paths for p in pair}) == 4  # four distinct checkpoints
    for i, t in enumerate(trains):  # each equals a run of its own on an empty out (same thread count)
        solo = ctx.Process(target=_train_in_process, args=(str(tmp_path / f"solo{i}"), t, str(tmp_path / "solo")))
        solo.start()
        solo.join(300)
        got = torch.load(paths[i][1], weights_only=True)["params"]
        want = torch.load((tmp_path / "solo").read_text().split()[1], weights_only=True)["params"]
        assert all(torch.equal(got[k], want[k]) for k in want)


def _compute_once(root: str, log: str) -> None:
    ws = Workspace(profile="smoke", out=root, progress=False)

    def compute():
        with open(log, "a") as fh:
            fh.write("computed\n")
        time.sleep(1.0)
        return torch.arange(3)

    value = ws.cached("demo", {"x": 1}, compute, lambda v, p: torch.save(v, p),
                      lambda p: torch.load(p, weights_only=True))
    assert torch.equal(value, torch.arange(3))


def test_concurrent_runs_of_one_configuration_compute_it_once(tmp_path):
    log = tmp_path / "log.txt"
    ctx = mp.get_context("spawn")
    jobs = [ctx.Process(target=_compute_once, args=(str(tmp_path / "out"), str(log))) for _ in range(2)]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join(120)
    assert [j.exitcode for j in jobs] == [0, 0]
    assert log.read_text() == "computed\n"


def test_results_do_not_make_the_commit_dirty(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@t")
    git("config", "user.name", "t")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "x.json").write_text("{}")
    (tmp_path / "code.py").write_text("a = 1\n")
    git("add", ".")
    git("commit", "-qm", "init")
    (tmp_path / "results" / "x.json").write_text('{"new": 1}')
    assert not git_commit(tmp_path).endswith("-dirty")
    (tmp_path / "code.py").write_text("a = 2\n")
    assert git_commit(tmp_path).endswith("-dirty")


def test_stored_masking_tables_follow_the_versions_of_the_rankings_and_training_follows_the_degradations(
        tmp_path, monkeypatch):
    import faiglib.studies.masking as masking
    import faiglib.studies.workspace as workspace

    ws = Workspace(profile="smoke", out=tmp_path, progress=False)
    masking.masking_table(ws, proportions=(0.05,))
    monkeypatch.setattr(masking, "FAIG_VERSION", masking.FAIG_VERSION + 1)
    masking.masking_table(ws, proportions=(0.05,))
    assert len(list((tmp_path / "store" / "masking").glob("*/result.json"))) == 2
    keys = ws.pair_keys()
    monkeypatch.setattr(workspace, "DEGRADATIONS_VERSION", workspace.DEGRADATIONS_VERSION + 1)
    assert Workspace(profile="smoke", out=tmp_path, progress=False).pair_keys()[0] != keys[0]


# ---- integrity: every stored file proves its bytes (issue 24, item 3) ---------------------------------------
def test_a_flipped_byte_in_a_stored_faig_result_is_quarantined_and_recomputed(tmp_path, smoke_experiment):
    out = tmp_path / "out"
    ws = Workspace(profile="smoke", out=out, results=tmp_path / "r", progress=False)
    # the pair from the shared session store, copied in: only the FAIG entry is computed here
    import shutil
    smoke_experiment.pair()
    for kind in ("baseline", "target"):
        shutil.copytree(smoke_experiment.store.root / kind, out / "store" / kind, dirs_exist_ok=True)
    original = ws.scores()
    path = next((out / "store" / "faig").glob("*/result.pt"))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, in the middle of the tensors
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="differ from the SHA-256 recorded"):
        load_file(path)  # a direct read refuses it
    fresh = Workspace(profile="smoke", out=out, results=tmp_path / "r", progress=False)
    with pytest.warns(RuntimeWarning, match="failed the digest check"):
        again = fresh.scores()
    assert torch.equal(again.per_image["blur"], original.per_image["blur"])
    assert torch.equal(again.per_image["noise"], original.per_image["noise"])
    assert len(list((out / "store" / "quarantine" / "faig").glob("*/result.pt.*"))) == 1
    assert file_sha256(path) == json.loads((path.parent / "digests.json").read_text())["result.pt"]


def test_a_file_no_write_recorded_is_refused_and_quarantined(tmp_path):
    store = Store(tmp_path)
    with store.entry("demo", {"x": 1}) as folder:
        atomic_save({"a": torch.ones(2)}, folder / "good.pt")
    (folder / "dropped-in.pt").write_bytes((folder / "good.pt").read_bytes())  # same bytes, but not written by us
    with pytest.raises(IntegrityError, match="no digest was recorded"):
        load_file(folder / "dropped-in.pt")
    assert torch.equal(load_file(folder / "good.pt")["a"], torch.ones(2))
    with pytest.warns(RuntimeWarning, match="dropped-in.pt failed the digest check"):
        with store.entry("demo", {"x": 1}) as again:
            assert sorted(p.name for p in again.iterdir()) == ["digests.json", "good.pt", "parts.json"]


def test_an_entry_of_an_older_faiglib_without_digests_is_recomputed(tmp_path):
    store = Store(tmp_path)
    folder = store.path("demo", {"x": 1})
    folder.mkdir(parents=True)
    (folder / "parts.json").write_text("{}\n")
    torch.save(torch.zeros(1), folder / "result.pt")  # unsealed: nothing vouches for it
    calls = []
    ws = Workspace(profile="smoke", out=tmp_path / "..", progress=False)
    ws.store.root = tmp_path
    with pytest.warns(RuntimeWarning, match="result.pt failed the digest check"):
        value = ws.cached("demo", {"x": 1}, lambda: calls.append(1) or torch.ones(1), lambda v, p: atomic_save(v, p),
                          load_file)
    assert calls == [1] and torch.equal(value, torch.ones(1))
    assert '"x": 1' in (folder / "parts.json").read_text()  # rewritten under the seal


# ---- a store someone else made can be read without changing it (issue 24, item 6) ----------------------------
def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def test_a_complete_store_is_read_without_writing_anything(tmp_path):
    out = tmp_path / "out"
    ws = Workspace(profile="smoke", out=out, progress=False)
    value = ws.cached("demo", {"x": 2}, lambda: torch.arange(4), lambda v, p: atomic_save(v, p), load_file)
    before = _tree(out)
    reader = Workspace(profile="smoke", out=out, progress=False, read_only=True)
    got = reader.cached("demo", {"x": 2}, lambda: pytest.fail("a read-only run computed"), atomic_save, load_file)
    assert torch.equal(got, value) and _tree(out) == before  # no lock, no parts.json, no digest index written
    with pytest.raises(ReadOnlyStoreError, match=r"demo/[0-9a-f]{20}.*may only read"):
        reader.cached("demo", {"x": 3}, lambda: pytest.fail("computed"), atomic_save, load_file)
    assert _tree(out) == before
    with pytest.raises(ReadOnlyStoreError, match="baseline checkpoint"):
        Workspace(profile="smoke", out=tmp_path / "empty", progress=False, read_only=True).pair()  # no training


def test_a_store_folder_this_process_may_not_write_is_read_only(tmp_path, monkeypatch):
    out = tmp_path / "out"
    ws = Workspace(profile="smoke", out=out, progress=False)
    ws.cached("demo", {"x": 4}, lambda: torch.arange(2), lambda v, p: atomic_save(v, p), load_file)
    before = _tree(out)
    real_access = os.access
    # (the tests run as root, for whom chmod a-w changes nothing: what the store asks the OS is stubbed)
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode == os.W_OK else real_access(p, mode))
    reader = Workspace(profile="smoke", out=out, progress=False)
    assert reader.store.read_only("demo", {"x": 4})
    assert torch.equal(reader.cached("demo", {"x": 4}, lambda: pytest.fail("computed"), atomic_save, load_file),
                       torch.arange(2))
    assert _tree(out) == before


def test_a_read_only_store_with_a_corrupted_file_is_an_error_not_a_quarantine(tmp_path):
    out = tmp_path / "out"
    ws = Workspace(profile="smoke", out=out, progress=False)
    ws.cached("demo", {"x": 5}, lambda: torch.arange(2), lambda v, p: atomic_save(v, p), load_file)
    path = next((out / "store" / "demo").glob("*/result.pt"))
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    reader = Workspace(profile="smoke", out=out, progress=False, read_only=True)
    with pytest.raises(IntegrityError, match="result.pt"):
        reader.cached("demo", {"x": 5}, lambda: pytest.fail("computed"), atomic_save, load_file)
    assert path.exists()  # left where it is: a read-only run moves nothing


def test_workspace_refuses_a_seed_that_is_not_a_non_negative_int(tmp_path):
    for bad in ("0", 1.0, -1, True):
        with pytest.raises(ValueError, match="seed must be a non-negative int"):
            Workspace(profile="smoke", seed=bad, out=tmp_path)

"""Training is deterministic, resumes bit for bit after an interruption, and caches finished stages."""
import pytest
import torch

from faiglib.checkpoint import load_state
from faiglib.profiles import get_profile
from faiglib.training import train_stage

PROFILE = get_profile("smoke").with_(baseline_iters=8, target_iters=6, checkpoint_every=3, val_every=4)
SPEC = PROFILE.network()


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    train = [(f"t{i}", torch.rand(3, 40, 44, generator=g)) for i in range(3)]
    val = [("v0", torch.rand(3, 32, 32, generator=g))]
    return train, val


def run(stage, out, images, **kw):
    train, val = images
    return train_stage(stage, profile=PROFILE, network=SPEC, train_images=train, val_images=val, out_dir=out,
                       seed=0, progress=False, **kw)


def test_interrupted_training_resumes_to_identical_weights(tmp_path, images):
    full = run("baseline", tmp_path / "a", images)
    first = run("baseline", tmp_path / "b", images, stop_after=2)
    assert first.checkpoint.name.endswith(".resume.pth") and first.checkpoint.exists()
    second = run("baseline", tmp_path / "b", images, stop_after=4)
    assert second.started_at == 2
    last = run("baseline", tmp_path / "b", images)
    assert last.started_at == 6 and not (tmp_path / "b" / f"{SPEC.label}_baseline.resume.pth").exists()
    a, meta_a = load_state(full.checkpoint)
    b, meta_b = load_state(last.checkpoint)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert meta_a["history"]["loss"] == meta_b["history"]["loss"]

    # the target stage too, fine-tuned from that baseline
    t_full = run("target", tmp_path / "a", images, init_state=a)
    run("target", tmp_path / "b", images, init_state=a, stop_after=5)
    t_resumed = run("target", tmp_path / "b", images, init_state=a)
    ta, tb = load_state(t_full.checkpoint)[0], load_state(t_resumed.checkpoint)[0]
    assert all(torch.equal(ta[k], tb[k]) for k in ta)
    assert any(not torch.equal(ta[k], a[k]) for k in a)  # fine-tuning changed the weights


def test_finished_stage_is_cached_and_config_changes_are_refused(tmp_path, images):
    first = run("baseline", tmp_path, images)
    again = run("baseline", tmp_path, images)
    assert again.cached and again.checkpoint == first.checkpoint
    train, val = images
    with pytest.raises(Exception, match="another configuration"):
        train_stage("baseline", profile=PROFILE.with_(lr_baseline=5e-3), network=SPEC, train_images=train,
                    val_images=val, out_dir=tmp_path, seed=0, progress=False)


def test_seed_changes_the_run(tmp_path, images):
    train, val = images
    a = run("baseline", tmp_path / "a", images)
    b = train_stage("baseline", profile=PROFILE, network=SPEC, train_images=train, val_images=val,
                    out_dir=tmp_path / "b", seed=1, progress=False)
    sa, sb = load_state(a.checkpoint)[0], load_state(b.checkpoint)[0]
    assert any(not torch.equal(sa[k], sb[k]) for k in sa)


def test_target_needs_the_baseline(tmp_path, images):
    with pytest.raises(ValueError, match="init_state"):
        run("target", tmp_path, images)
    with pytest.raises(ValueError, match="stage"):
        run("pretrain", tmp_path, images)


def test_training_reduces_the_loss(tmp_path, images):
    long = PROFILE.with_(baseline_iters=40, val_every=40, checkpoint_every=40)
    train, val = images
    r = train_stage("baseline", profile=long, network=SPEC, train_images=train, val_images=val, out_dir=tmp_path,
                    seed=0, progress=False)
    loss = r.history["loss"]
    assert loss[-1][1] < loss[0][1]


def test_training_works_inside_no_grad(tmp_path, images):
    """An evaluation under torch.no_grad that misses the cache must still be able to train."""
    with torch.no_grad():
        r = run("baseline", tmp_path, images)
    assert r.checkpoint.exists()

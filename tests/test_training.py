"""Training is deterministic, resumes bit for bit after an interruption, and caches finished stages."""
import pytest
import torch

from faiglib.core.checkpoint import load_state
from faiglib.profiles import get_profile
from faiglib.training.stages import train_stage

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


def test_retraining_changes_only_the_selected_filters_bit_for_bit(tmp_path, images):
    from faiglib.core.units import FilterIndex
    from faiglib.training.stages import build_seeded

    base = build_seeded(SPEC, PROFILE.scale, 3).state_dict()
    with torch.no_grad():  # a fresh MSRResNet's conv_last is zero: give every filter a gradient
        base["conv_last.weight"].normal_(0, 0.05, generator=torch.Generator().manual_seed(1))
    index = FilterIndex(build_seeded(SPEC, PROFILE.scale, 0))
    chosen = torch.tensor([0, 5, len(index) // 2, len(index) - 1])
    masks = index.masks(chosen)
    profile = PROFILE.with_(retrain_iters=5)
    train, val = images
    result = train_stage("retrain", profile=profile, network=SPEC, train_images=train, val_images=val,
                         out_dir=tmp_path, seed=0, progress=False, init_state=base, trainable=masks, tag="some")
    assert result.checkpoint.name == f"{SPEC.label}_retrain-some.pth"
    new, _ = load_state(result.checkpoint)
    for name, before in base.items():
        after = new[name]
        if name in masks and masks[name].any():
            keep = masks[name][:, :, None, None].expand_as(before)
            assert torch.equal(after[~keep], before[~keep]), name  # frozen filters: bit-identical
            assert not torch.equal(after[keep], before[keep]), name  # selected filters: trained
        else:
            assert torch.equal(after, before), name  # biases and weights without a selected filter
    # all parameters (the upper bound) -- and another selection is another cache entry, not a clash
    everything = train_stage("retrain", profile=profile, network=SPEC, train_images=train, val_images=val,
                             out_dir=tmp_path, seed=0, progress=False, init_state=base, tag="all")
    every = load_state(everything.checkpoint)[0]
    assert all(not torch.equal(every[k], base[k]) for k in base if k.endswith("weight"))
    with pytest.raises(Exception, match="another configuration"):
        train_stage("retrain", profile=profile, network=SPEC, train_images=train, val_images=val, out_dir=tmp_path,
                    seed=0, progress=False, init_state=base, trainable=index.masks(chosen[:2]), tag="some")


def test_retraining_resumes_and_rejects_bad_masks(tmp_path, images):
    from faiglib.core.units import FilterIndex
    from faiglib.training.stages import build_seeded

    base = build_seeded(SPEC, PROFILE.scale, 3).state_dict()
    masks = FilterIndex(build_seeded(SPEC, PROFILE.scale, 0)).masks(torch.arange(0, 40, 3))
    profile = PROFILE.with_(retrain_iters=6)
    train, val = images
    kw = dict(profile=profile, network=SPEC, train_images=train, val_images=val, seed=0, progress=False,
              init_state=base, trainable=masks)
    full = train_stage("retrain", out_dir=tmp_path / "a", **kw)
    train_stage("retrain", out_dir=tmp_path / "b", stop_after=4, **kw)
    resumed = train_stage("retrain", out_dir=tmp_path / "b", **kw)
    a, b = load_state(full.checkpoint)[0], load_state(resumed.checkpoint)[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="does not have"):
        train_stage("retrain", out_dir=tmp_path / "c", **{**kw, "trainable": {"nope.weight": torch.ones(2, 2, dtype=bool)}})
    bad = {k: v[:1] for k, v in masks.items()}
    with pytest.raises(ValueError, match="expected the"):
        train_stage("retrain", out_dir=tmp_path / "d", **{**kw, "trainable": bad})
    with pytest.raises(ValueError, match="retrain stage"):
        train_stage("target", out_dir=tmp_path / "e", **kw)
    with pytest.raises(ValueError, match="init_state"):
        train_stage("retrain", out_dir=tmp_path / "f", **{**kw, "init_state": None})


def test_target_on_a_range_of_levels_is_its_own_cached_model(tmp_path, images):
    base = load_state(run("baseline", tmp_path, images).checkpoint)[0]
    fixed = run("target", tmp_path / "fixed", images, init_state=base)
    ranged = run("target", tmp_path / "ranged", images, init_state=base, blur_range=(1.0, 3.0), noise_range=(0.05, 0.2))
    a, b = load_state(fixed.checkpoint)[0], load_state(ranged.checkpoint)[0]
    assert any(not torch.equal(a[k], b[k]) for k in a)  # other degradations, other weights
    assert load_state(fixed.checkpoint)[1]["config_key"] != load_state(ranged.checkpoint)[1]["config_key"]
    assert run("target", tmp_path / "ranged", images, init_state=base, blur_range=(1.0, 3.0),
               noise_range=(0.05, 0.2)).cached
    with pytest.raises(Exception, match="another configuration"):  # the same file with other ranges
        run("target", tmp_path / "ranged", images, init_state=base, blur_range=(1.0, 2.0), noise_range=(0.05, 0.2))
    with pytest.raises(ValueError, match="target stage"):
        run("baseline", tmp_path / "x", images, blur_range=(1.0, 3.0))


def test_resumed_history_equals_an_uninterrupted_one_when_checkpoints_are_not_every_10(tmp_path, images):
    """The running loss sum of a 10-iteration log interval is part of the resume state (checkpoint_every=3)."""
    profile = PROFILE.with_(baseline_iters=20, val_every=10, checkpoint_every=3)
    train, val = images

    def go(out, **kw):
        return train_stage("baseline", profile=profile, network=SPEC, train_images=train, val_images=val,
                           out_dir=out, seed=0, progress=False, **kw)

    full = load_state(go(tmp_path / "a").checkpoint)[1]["history"]
    go(tmp_path / "b", stop_after=4)  # stops at iteration 4, mid-interval, resume state written there
    go(tmp_path / "b", stop_after=10)  # and again at 14
    resumed = load_state(go(tmp_path / "b").checkpoint)[1]["history"]
    assert len(full["loss"]) == 2
    assert resumed["loss"] == full["loss"] and resumed["val_psnr"] == full["val_psnr"]


def test_uint8_training_images_train_the_same_weights_as_their_float_version(tmp_path):
    """Training images kept as uint8 (resolve_images(..., raw=True)) give bit for bit the weights of their
    float32 version: cached checkpoints stay valid."""
    from faiglib.data.images import to_float

    g = torch.Generator().manual_seed(1)
    raw = [(f"t{i}", torch.randint(0, 256, (3, 40, 44), generator=g, dtype=torch.uint8)) for i in range(2)]
    floats = [(n, to_float(t)) for n, t in raw]
    val = [("v0", torch.rand(3, 32, 32, generator=g))]
    a = run("baseline", tmp_path / "a", (floats, val))
    b = run("baseline", tmp_path / "b", (raw, val))
    wa, wb = load_state(a.checkpoint)[0], load_state(b.checkpoint)[0]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_bf16_training_keeps_fp32_weights_and_reaches_the_fp32_psnr(tmp_path, images):
    """Autocast bf16 with float32 master weights: measured on this recipe (smoke net, 40 baseline + 40 target
    iterations, random images, seeds 0-2, also 80 + 80) the validation PSNRs of fp32 and bf16 runs differed by
    at most 0.003 dB; the test allows 0.02 dB. The weights must differ (autocast really ran) and stay float32."""
    train, val = images
    recipe = PROFILE.with_(baseline_iters=40, target_iters=40, val_every=40, checkpoint_every=40)
    out = {}
    for precision in ("fp32", "bf16"):
        p = recipe.with_(train_precision=precision)
        base = train_stage("baseline", profile=p, network=SPEC, train_images=train, val_images=val,
                           out_dir=tmp_path / precision, seed=0, progress=False)
        state = load_state(base.checkpoint)[0]
        target = train_stage("target", profile=p, network=SPEC, train_images=train, val_images=val,
                             out_dir=tmp_path / precision, seed=0, progress=False, init_state=state)
        out[precision] = (base, target, load_state(target.checkpoint)[0])
    for stage in (0, 1):
        assert out["bf16"][stage].history["val_psnr"][-1][1] == pytest.approx(
            out["fp32"][stage].history["val_psnr"][-1][1], abs=0.02)
    w32, w16 = out["fp32"][2], out["bf16"][2]
    assert all(v.dtype == torch.float32 for v in w16.values() if v.is_floating_point())
    assert any(not torch.equal(w32[k], w16[k]) for k in w32)


def test_train_precision_enters_the_key_only_when_not_fp32(monkeypatch):
    from faiglib.training import stages

    fp32 = stages.stage_settings("target", PROFILE)
    assert "train_precision" not in fp32  # the keys of fp32 stages are those from before the field existed
    assert stages.stage_settings("target", PROFILE.with_(train_precision="bf16")) == {**fp32, "train_precision": "bf16"}
    monkeypatch.setattr(stages, "bf16_supported", lambda device="cpu": False)
    assert stages.stage_settings("target", PROFILE.with_(train_precision="auto")) == fp32
    monkeypatch.setattr(stages, "bf16_supported", lambda device="cpu": True)
    assert stages.stage_settings("target", PROFILE.with_(train_precision="auto"))["train_precision"] == "bf16"
    with pytest.raises(ValueError, match="unknown train_precision 'fp16'"):
        stages.stage_settings("target", PROFILE.with_(train_precision="fp16"))


def test_cosine_learning_rate_by_hand():
    # eta_min = base / 100; lr(it) = eta_min + (base - eta_min) (1 + cos(pi it / total)) / 2
    from faiglib.training.stages import cosine_lr

    assert cosine_lr(2e-4, 0, 100) == pytest.approx(2e-4)
    assert cosine_lr(2e-4, 50, 100) == pytest.approx(2e-6 + 0.5 * (2e-4 - 2e-6))  # cos(pi / 2) = 0
    assert cosine_lr(2e-4, 100, 100) == pytest.approx(2e-6)
    assert cosine_lr(1.0, 25, 100) == pytest.approx(0.01 + 0.99 * (1 + 2 ** -0.5) / 2)
    # linear warm-up over 10 iterations: 1/10, ..., 10/10 of base; then the cosine over the other 90
    assert [cosine_lr(1.0, it, 100, warmup=10) for it in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert cosine_lr(1.0, 10, 100, warmup=10) == pytest.approx(1.0)
    assert cosine_lr(1.0, 55, 100, warmup=10) == pytest.approx(0.01 + 0.99 * 0.5)  # halfway through the 90
    assert cosine_lr(1.0, 100, 100, warmup=10) == pytest.approx(0.01)


def test_warmup_enters_the_stage_key_only_when_set():
    from faiglib.training import stages

    assert "warmup_iters" not in stages.stage_settings("target", PROFILE)
    assert stages.stage_settings("target", PROFILE.with_(warmup_iters=200))["warmup_iters"] == 200
    with pytest.raises(ValueError, match="warmup_iters"):
        PROFILE.with_(warmup_iters=-1)


def test_init_digest_names_the_starting_weights():
    from faiglib.training.stages import init_digest

    a = {"w": torch.zeros(2, 2), "b": torch.ones(2)}
    assert init_digest(None) is None and len(init_digest(a)) == 16
    assert init_digest(a) == init_digest({"b": torch.ones(2), "w": torch.zeros(2, 2)})  # key order does not matter
    assert init_digest(a) != init_digest({"w": torch.zeros(2, 2), "b": torch.full((2,), 2.0)})

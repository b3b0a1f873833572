"""Table 1 training: both models see the same batches, resume bit for bit, are cached; a fixed test set."""
import pytest
import torch

from faiglib.studies import table1
from faiglib.core.checkpoint import load_state
from faiglib.profiles import get_profile

PROFILE = get_profile("smoke").with_(table1_iters=6, checkpoint_every=2)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    train = [(f"t{i}", torch.rand(3, 40, 44, generator=g)) for i in range(3)]
    test = [("v0", torch.rand(3, 32, 32, generator=g)), ("v1", torch.rand(3, 36, 40, generator=g))]
    return train, test


def run(kind, out, images, setting="blur+noise", **kw):
    return table1.train_table1_model(kind, setting, profile=kw.pop("profile", PROFILE), train_images=images[0], out_dir=out,
                             progress=False, **kw)


def test_configs_are_matched_and_labelled():
    cfg = table1.network_configs(get_profile("cpu"))
    assert cfg["two_branch"]["arch"] == "twobranch" and cfg["one_branch"]["arch"] == "msrresnet"
    table = table1.complexity_table(get_profile("cpu"))
    assert table["one_branch"]["label"] == cfg["one_branch"]["label"]
    assert abs(table["ratio"]["flops"] - 1) <= 0.1 and abs(table["ratio"]["params"] - 1) <= 0.1


@pytest.mark.parametrize("kind", list(table1.KINDS))
def test_interrupted_training_resumes_to_identical_weights(tmp_path, images, kind):
    full = run(kind, tmp_path / "a", images)
    first = run(kind, tmp_path / "b", images, stop_after=3)
    assert first.checkpoint.name.endswith(".resume.pth")
    last = run(kind, tmp_path / "b", images)
    assert last.started_at == 3  # the interruption wrote a resume state
    a, meta_a = load_state(full.checkpoint)
    b, meta_b = load_state(last.checkpoint)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert meta_a["history"]["loss"] == meta_b["history"]["loss"]
    again = run(kind, tmp_path / "a", images)
    assert again.cached and again.checkpoint == full.checkpoint
    with pytest.raises(Exception, match="another configuration"):
        run(kind, tmp_path / "a", images, profile=PROFILE.with_(table1_lr=5e-3))


def test_both_models_see_the_same_batches(tmp_path, images, monkeypatch):
    seen = {}
    original = table1._degrade

    def recording(hr, profile, setting, generator):
        lr = original(hr, profile, setting, generator)
        seen.setdefault(current, []).append((hr.clone(), lr.clone()))
        return lr

    monkeypatch.setattr(table1, "_degrade", recording)
    for current in table1.KINDS:
        run(current, tmp_path, images, seed=1)
    one, two = seen["one_branch"], seen["two_branch"]
    assert len(one) == len(two) == PROFILE.table1_iters
    assert all(torch.equal(h1, h2) and torch.equal(l1, l2) for (h1, l1), (h2, l2) in zip(one, two))
    assert not torch.equal(one[0][1], one[1][1])


def test_seed_and_setting_change_the_run(tmp_path, images):
    a = load_state(run("two_branch", tmp_path, images, seed=0).checkpoint)[0]
    b = load_state(run("two_branch", tmp_path, images, seed=1).checkpoint)[0]
    c = load_state(run("two_branch", tmp_path, images, setting="blur", seed=0).checkpoint)[0]
    assert any(not torch.equal(a[k], b[k]) for k in a) and any(not torch.equal(a[k], c[k]) for k in a)


def test_two_branch_training_lowers_both_losses(tmp_path, images):
    long = PROFILE.with_(table1_iters=60, checkpoint_every=60)
    h = run("two_branch", tmp_path, images, profile=long).history
    assert h["loss"][-1][1] < h["loss"][0][1]
    assert len(h["contrastive"]) == 6 and all(v >= 0 for _, v in h["contrastive"])


def test_test_set_is_fixed_and_model_loads(tmp_path, images):
    _, test = images
    a = table1.blind_test_set(test, PROFILE, "blur+noise")
    b = table1.blind_test_set(test[:1], PROFILE, "blur+noise")
    assert torch.equal(a[0][0], b[0][0])  # image 0's degradation does not depend on the others
    assert a[1][0].shape == (3, 18, 20) and not torch.equal(a[0][0], table1.blind_test_set(test, PROFILE, "blur")[0][0])
    model = table1.load_table1_model(run("one_branch", tmp_path, images).checkpoint)
    assert 0 < table1.blind_psnr(model, a, crop_border=2) < 100


def test_table1_shape(tmp_path, images):
    train, test = images
    res = table1.table1(PROFILE, [0, 1], train, test, tmp_path, progress=False)
    for kind in table1.KINDS:
        for setting in table1.SETTINGS:
            leaf = res["psnr"][kind][setting]
            assert len(leaf["values"]) == 2 and leaf["std"] >= 0
            assert len(res["seconds"][kind][setting]) == 2


def test_bad_input_is_refused(tmp_path, images):
    with pytest.raises(ValueError, match="setting"):
        run("two_branch", tmp_path, images, setting="noise")
    with pytest.raises(ValueError, match="model"):
        run("three_branch", tmp_path, images)
    with pytest.raises(ValueError, match="table1_hr_patch"):
        run("two_branch", tmp_path, images, profile=PROFILE.with_(table1_hr_patch=33))


def test_gaps_are_paired_by_seed_and_rendered():
    from faiglib.measures.statistics import mean_std
    from faiglib.report.tables import table1_gap_markdown, table1_markdown

    psnr = {"one_branch": {"blur": mean_std([30.0, 31.0, 32.0]), "blur+noise": mean_std([25.0, 25.0, 25.0])},
            "two_branch": {"blur": mean_std([29.9, 30.9, 31.9]), "blur+noise": mean_std([25.1, 24.9, 25.0])}}
    g = table1.gaps({"psnr": psnr})
    # paired: the one-branch model is 0.1 dB better in every seed, although the seeds spread by 1 dB
    assert g["blur"]["mean"] == pytest.approx(0.1) and g["blur"]["std"] == pytest.approx(0.0, abs=1e-12)
    assert g["blur+noise"]["mean"] == pytest.approx(0.0, abs=1e-12) and g["blur+noise"]["std"] == pytest.approx(0.1)
    assert g["blur"]["paper_dasr"] == pytest.approx(0.055)
    text = table1_gap_markdown(g)
    assert "| blur | +0.100 ± 0.000 (3 seeds) | +0.055 | +0.014 | one-branch better |" in text
    assert "no difference resolved" in text.splitlines()[3]
    cx = {"two_branch": {"label": "a", "flops": 2e9, "params": 1000}, "one_branch": {"label": "b", "flops": 2.1e9,
          "params": 990}, "ratio": {"lr_size": [64, 64]}}
    table = table1_markdown({"psnr": psnr, "complexity": cx}, table1.KINDS, table1.SETTINGS)
    assert "| SRResNet one-branch (b) | 2.100 | 1.0 | 31.000 ± 1.000 | 25.000 ± 0.000 |" in table


@pytest.mark.parametrize("kind", list(table1.KINDS))
def test_resumed_history_equals_an_uninterrupted_one(tmp_path, images, kind):
    """checkpoint_every=3 is not a multiple of the 10-iteration log interval: the running sums are resumed."""
    profile = PROFILE.with_(table1_iters=20, checkpoint_every=3)
    full = load_state(run(kind, tmp_path / "a", images, profile=profile).checkpoint)[1]["history"]
    run(kind, tmp_path / "b", images, profile=profile, stop_after=5)
    resumed = load_state(run(kind, tmp_path / "b", images, profile=profile).checkpoint)[1]["history"]
    assert len(full["loss"]) == 2
    assert resumed["loss"] == full["loss"] and resumed["contrastive"] == full["contrastive"]

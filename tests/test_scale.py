"""The scale study: its networks, its rows (the same numbers as the chapters' functions) and its bad input."""
import pytest

from faiglib.profiles import NetSpec, get_profile
from faiglib.measures.yardstick import yardstick_table
from faiglib.studies.claims import PAPER
from faiglib.studies.masking import masking_ratios
from faiglib.studies.masking import yardstick_masking
from faiglib.studies.retraining import depth_summary, retraining_table
from faiglib.studies.scale import paper_ratios, scale_archs, scale_row, scale_study
from faiglib.studies.workspace import Workspace


def test_paper_ratios_are_table2s_printed_effects_divided():
    r = paper_ratios()
    assert r["deblur_over_random"] == pytest.approx(6.68 / 0.07)
    assert r["denoise_over_random"] == pytest.approx(6.62 / 0.04)


def test_scale_archs_sorted_by_parameter_count():
    p = get_profile("cpu").with_(scale_networks=(NetSpec("msrresnet", 64, 8), NetSpec("msrresnet", 16, 2)))
    assert scale_archs(p) == ["msrresnet-16x2", "msrresnet-32x4", "msrresnet-64x8"]
    assert scale_archs(get_profile("dev")) == ["msrresnet-16x2", "msrresnet-32x4", "msrresnet-48x6"]
    with pytest.raises(ValueError, match="compares MSRResNets"):
        scale_archs(p.with_(scale_networks=(NetSpec("srcnn_style", 8),)))


def test_scale_networks_are_found_by_label_and_checked():
    p = get_profile("dev")
    assert p.network("msrresnet-48x6") == NetSpec("msrresnet", 48, 6)
    with pytest.raises(ValueError, match="scale_networks must be a tuple of NetSpec"):
        p.with_(scale_networks=("msrresnet-64x8",))


def test_scale_row_is_the_chapters_numbers(smoke_experiment):
    ws = smoke_experiment
    row = scale_row(ws)
    stored = yardstick_masking(ws, proportions=(0.01,), channels=("gray",), methods=("faig", "random"))
    table, draws = stored["table"]["gray"], stored["draws"]["gray"]
    yard = yardstick_table(table, draws)["mask_1pct"]
    assert row["deblur_over_random"] == yard["deblur_filters"]["blur_input"]["faig_over_random"]
    assert row["denoise_over_random"] == yard["denoise_filters"]["noise_input"]["faig_over_random"]
    ratios = masking_ratios(table["mask_1pct"])
    assert row["noise_input_deblur_over_denoise"] == ratios["noise_input_deblur_over_denoise_masking"]
    assert row["blur_input_denoise_over_deblur"] == ratios["blur_input_denoise_over_deblur_masking"]
    assert row["depth"] == depth_summary(ws, 0.01)
    for kind in ("blur", "noise", "clean"):
        assert row[f"gain_{kind}_db"] == pytest.approx(row["psnr"][kind]["target"] - row["psnr"][kind]["baseline"])
    assert row["params"] == sum(p.numel() for p in ws.architecture().parameters())
    assert row["network"] == ws.spec.label and "classification" not in row


def test_scale_row_retraining_gain_is_table_3s(smoke_experiment):
    # the row's Table 3 gain is FAIG − random of the very retrainings the Table 3 chapter makes (same store entries)
    ws = smoke_experiment
    row = scale_row(ws, retrain=True)
    table = retraining_table(ws, methods=("faig", "random"))
    for key, filters, inp in (("retrain_gain_blur_db", "deblur_filters", "blur_input"),
                              ("retrain_gain_noise_db", "denoise_filters", "noise_input")):
        expected = table[filters]["faig"][inp] - table[filters]["random"][inp]
        assert row[key] == pytest.approx(expected, abs=1e-9)
        gain = row["retraining_gains"][f"{filters}/{inp}"]
        assert gain["values"] == [pytest.approx(expected, abs=1e-9)] and gain["std"] == 0
        assert gain["paper"] == pytest.approx(PAPER[f"table3/{filters}/{inp}/faig"].value
                                              - PAPER[f"table3/{filters}/{inp}/random"].value)
    assert "upper_bound" not in row["retraining"] and "upper_bound" in table


def test_scale_study_sorts_by_size_and_refuses_mixed_runs(smoke_experiment, tmp_path):
    small = Workspace(profile="smoke", arch="msrresnet-4x1", out=smoke_experiment.out,
                      results=smoke_experiment.results, progress=False)
    study = scale_study([smoke_experiment, small])
    assert [r["network"] for r in study["rows"]] == ["msrresnet-4x1", "msrresnet-8x1"]
    assert study["seed"] == 0 and study["iterations"] == {"baseline": 12, "target": 12}
    with pytest.raises(ValueError, match="at least one workspace"):
        scale_study([])
    other_seed = Workspace(profile="smoke", seed=1, arch="msrresnet-4x1", out=tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"every network needs every seed \[0, 1\]; missing .*msrresnet-4x1': \[0\]"):
        scale_study([smoke_experiment, other_seed])
    other_profile = Workspace(profile="cpu", arch="msrresnet-32x4", out=tmp_path, progress=False)
    with pytest.raises(ValueError, match="one profile"):
        scale_study([smoke_experiment, other_profile])


def test_scale_study_over_seeds_averages_each_seeds_row(smoke_experiment):
    """Two seeds of both sizes: each row's means are the means of its seeds' own rows (scale_row run alone),
    FAIG / random the mean of the per-seed ratios, and Table 3's gains paired by seed."""
    kw = dict(out=smoke_experiment.out, results=smoke_experiment.results, progress=False)
    wss = [Workspace(profile="smoke", seed=s, arch=a, **kw) for a in ("msrresnet-8x1", "msrresnet-4x1") for s in (0, 1)]
    study = scale_study(wss, retrain=True)
    assert study["seeds"] == [0, 1] and "seed" not in study
    for row in study["rows"]:
        alone = [scale_row(Workspace(profile="smoke", seed=s, arch=row["network"], **kw), retrain=True) for s in (0, 1)]
        assert row["per_seed"] == alone
        ratios = [a["faig_effect"]["deblur_filters_blur_input"] / a["random_median"]["deblur_filters_blur_input"]["median"]
                  for a in alone]
        assert row["deblur_over_random"]["ratio"] == pytest.approx((ratios[0] + ratios[1]) / 2)
        assert row["deblur_over_random"]["values"] == pytest.approx(ratios)
        assert row["gain_blur_db"] == pytest.approx((alone[0]["gain_blur_db"] + alone[1]["gain_blur_db"]) / 2)
        gains = [a["retrain_gain_blur_db"] for a in alone]
        assert row["retraining_gains"]["deblur_filters/blur_input"]["values"] == pytest.approx(gains)
        assert row["retraining_gains"]["deblur_filters/blur_input"]["verdict"] == "no verdict"  # two seeds
        assert row["summary"]["depth_deblur"]["per_seed"] == [a["depth"]["deblur_filters"] for a in alone]

"""The claims module: known answers for every rule a chapter concludes with."""
import pytest

from faiglib.measures.statistics import mean_std
from faiglib.studies import claims


def test_verdict_rule_on_both_signs():
    assert claims.verdict(1.0, 0.1, 1.02) == "reproduced"
    assert claims.verdict(0.3, 0.1, 1.02) == "weaker"
    assert claims.verdict(-0.005, 0.021, 1.02) == "not reproduced"  # Table 3 deblurring at cpu scale
    assert claims.verdict(-0.45, 0.12, 0.42) == "opposite"
    assert claims.verdict(0.98, 0.07, 0.27) == "reproduced"  # larger than the paper's is still the claim
    assert claims.verdict(-2.0, 0.5, -1.5) == "reproduced"  # a claimed decrease
    assert claims.verdict(1.0, 0.5, -1.5) == "opposite"
    assert claims.verdict(0.5, 0.5, 1.0) == "not reproduced"  # interval touching 0
    with pytest.raises(ValueError, match="non-zero"):
        claims.verdict(1.0, 0.1, 0.0)
    with pytest.raises(ValueError, match="std"):
        claims.verdict(1.0, -0.1, 1.0)


def test_paired_gain_is_per_seed_difference_with_sample_std():
    g = claims.paired_gain([28.0, 28.5, 27.5], [27.0, 27.0, 27.0])
    assert g["values"] == [1.0, 1.5, 0.5]
    assert g["mean"] == pytest.approx(1.0) and g["std"] == pytest.approx(0.5)
    assert claims.paired_gain([1.0], [0.25]) == {"mean": 0.75, "std": 0.0, "values": [0.75]}
    with pytest.raises(ValueError, match="as many"):
        claims.paired_gain([1.0, 2.0], [1.0])


def _table3(faig_deblur, random_deblur):
    """Per-seed Table 3 tables where only the deblurring filters on blurry input differ."""
    tables = []
    for f, r in zip(faig_deblur, random_deblur):
        cell = lambda v: {"blur_input": v, "noise_input": 20.0}  # noqa: E731
        tables.append({"deblur_filters": {"faig": cell(f), "random": cell(r)},
                       "denoise_filters": {"faig": cell(25.0), "random": cell(20.0)}})
    return mean_std(tables)


def test_retraining_gains_pair_by_seed_and_carry_the_paper_and_a_verdict():
    gains = claims.retraining_gains(_table3([28.0, 28.2], [27.0, 27.0]))
    deblur = gains["deblur_filters/blur_input"]
    assert deblur["values"] == pytest.approx([1.0, 1.2]) and deblur["mean"] == pytest.approx(1.1)
    assert deblur["paper"] == pytest.approx(28.047 - 27.028) and deblur["verdict"] == "reproduced"
    assert gains["denoise_filters/blur_input"] == {"mean": 5.0, "std": 0.0, "values": [5.0, 5.0]}  # no paper value
    assert gains["denoise_filters/noise_input"]["verdict"] == "not reproduced"  # 20 − 20: no gain


def test_depth_claim_says_deeper_shallower_or_neither():
    runs = [{"deblur_filters": 0.4, "denoise_filters": 0.8, "all_filters": 0.57},
            {"deblur_filters": 0.5, "denoise_filters": 0.9, "all_filters": 0.57}]
    d = claims.depth_claim(runs)
    assert d["deblur_shallower_in_every_seed"] and not d["deblur_deeper_in_every_seed"]
    assert d["deblur_minus_denoise"]["values"] == pytest.approx([-0.4, -0.4])
    assert d["deblur_filters"]["mean"] == pytest.approx(0.45)
    mixed = claims.depth_claim([runs[0], {"deblur_filters": 0.9, "denoise_filters": 0.8, "all_filters": 0.57}])
    assert not mixed["deblur_deeper_in_every_seed"] and not mixed["deblur_shallower_in_every_seed"]
    with pytest.raises(ValueError, match="no seeds"):
        claims.depth_claim([])


def test_masking_ratios_in_both_directions():
    one = {"deblur_filters": {"blur_input": {"faig": 2.0, "random": 0.1}, "noise_input": {"faig": 0.3, "random": 0.1}},
           "denoise_filters": {"blur_input": {"faig": 1.0, "random": 0.1}, "noise_input": {"faig": 3.0, "random": 0.5}}}
    r = claims.masking_ratios(one)
    assert r == pytest.approx({"deblur_filters_blur_input_faig_over_random": 20.0,
                               "denoise_filters_noise_input_faig_over_random": 6.0,
                               "noise_input_deblur_over_denoise_masking": 0.1,
                               "blur_input_denoise_over_deblur_masking": 0.5})


def test_elimination_ratios_and_the_paper_effect():
    n = lambda with_, without: {"with_elimination": {"noise_input": with_},  # noqa: E731
                                "without_elimination": {"noise_input": without}}
    r = claims.elimination_ratios([n(0.5, 1.0), n(0.2, 0.6)])
    assert r["ratios"] == pytest.approx([2.0, 3.0]) and r["shows_paper_effect"] is True
    assert claims.elimination_ratios([n(0.5, 1.0), n(1.0, 0.5)])["shows_paper_effect"] is False
    assert claims.elimination_ratios([n(0.0, 1.0)])["ratios"] == [1e12]


def test_control_summary_reads_lambda_0_and_1_and_the_best():
    table = {"deblur_filters": {"blur_input": {"lambda": [0.0, 0.5, 1.0, 1.5], "psnr": [25.0, 26.0, 27.0, 27.5]},
                                "noise_input": {"lambda": [0.0, 1.0, 1.5], "psnr": [22.0, 22.0, 21.0]}}}
    s = claims.control_summary(table)
    assert s["deblur_filters/blur_input"] == {"psnr_lambda0": 25.0, "psnr_lambda1": 27.0, "best_lambda": 1.5}
    assert s["deblur_filters/noise_input"]["best_lambda"] == 0.0  # ties go to the first
    with pytest.raises(ValueError, match="λ = 0 and λ = 1"):
        claims.control_summary({"x": {"y": {"lambda": [0.5], "psnr": [1.0]}}})


def test_paper_values_are_where_the_chapters_read_them():
    from faiglib.studies.classification import PAPER_ACCURACY, PAPER_THRESHOLDS

    assert PAPER_ACCURACY == {"blur": 0.96, "noise": 0.98} and PAPER_THRESHOLDS == {"blur": 0.5, "noise": 0.6}
    assert claims.PAPER["table3/deblur_filters/blur_input/faig"].unit == "dB"

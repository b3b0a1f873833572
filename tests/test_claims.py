"""The claims and the numbers chapters conclude from: known answers for every rule (the verdict rules of
measures.verdicts, the yardstick, each study's summaries)."""
import pytest

from faiglib.measures import verdicts, yardstick
from faiglib.measures.statistics import mean_std, paired_difference
from faiglib.studies import classification, claims, control, masking, retraining


def paired_gain(a, b):
    return paired_difference(a, b)["difference"]


def test_seed_verdict_rule_on_known_values():
    v = verdicts.seed_verdict
    assert v([1.0, 1.1, 1.2], 1.02) == "reproduced"
    assert v([0.3, 0.2, 0.25], 1.02) == "weaker"  # every seed positive, mean 0.25 < 1.02 / 2
    assert v([-0.03, 0.01, 0.005], 1.02) == "not resolved"  # Table 3 deblurring at cpu scale: seeds disagree
    assert v([-0.4, -0.5, -0.45], 0.42) == "opposite"
    assert v([0.98, 0.9, 1.05], 0.27) == "reproduced"  # larger than the paper's is still the claim
    assert v([-2.0, -1.8, -2.2], -1.5) == "reproduced"  # a claimed decrease
    assert v([1.0, 0.8, 1.2], -1.5) == "opposite"
    # one seed below 0, but the mean's 95 % t interval (0.8875 - 2.365 * 0.4095 / sqrt(8) = 0.545) excludes 0
    assert v([0.9, -0.1, 1.0, 1.1, 1.2, 0.95, 1.05, 1.0], 1.0) == "reproduced"
    # the same disagreement among three seeds: interval 0.333 - 4.303 * 0.379 / sqrt(3) < 0
    assert v([0.5, -0.1, 0.6], 1.0) == "not resolved"
    assert v([-0.024], 1.02) == "no verdict" and v([0.7, 0.6], 1.02) == "no verdict"  # < 3 seeds: not judged
    assert v([0.95, 0.97, 0.96], 0.9, threshold=0.5) == "reproduced"  # accuracy above chance
    assert v([0.4, 0.45, 0.42], 0.9, threshold=0.5) == "opposite"
    assert v([0.1, 0.2, 0.3]) == "reproduced" and v([-0.1, -0.2, -0.3]) == "opposite"  # "> 0" claims
    assert v([2.0, 3.0, 2.5], threshold=1.0) == "reproduced"
    with pytest.raises(ValueError, match="paper's value"):
        v([1.0, 1.0, 1.0], 0.0)
    with pytest.raises(ValueError, match="finite"):
        v([1.0, float("nan"), 1.0], 1.0)


def test_ratio_claims_are_judged_on_the_log_scale():
    r = verdicts.ratio_seed_verdict
    assert r([90.0, 100.0, 80.0], 95.0) == "reproduced"
    assert r([3.0, 4.0, 3.5], 100.0) == "weaker"  # log 3.5 = 1.25 < log(100) / 2 = 2.30
    assert r([0.2, 0.3, 0.25], 100.0) == "opposite"
    assert r([1.5, 0.7, 2.0], 100.0) == "not resolved"
    assert r([95.0], 95.0) == "no verdict"
    with pytest.raises(ValueError, match="ratios must be > 0"):
        r([0.0, 1.0, 2.0], 95.0)


def test_paired_gain_is_per_seed_difference_with_sample_std():
    g = paired_gain([28.0, 28.5, 27.5], [27.0, 27.0, 27.0])
    assert g["values"] == [1.0, 1.5, 0.5]
    assert g["mean"] == pytest.approx(1.0) and g["std"] == pytest.approx(0.5)
    assert paired_gain([1.0], [0.25]) == {"mean": 0.75, "std": 0.0, "values": [0.75]}
    with pytest.raises(ValueError, match="as many"):
        paired_gain([1.0, 2.0], [1.0])


def _table3(faig_deblur, random_deblur):
    """Per-seed Table 3 tables where only the deblurring filters on blurry input differ."""
    tables = []
    for f, r in zip(faig_deblur, random_deblur):
        cell = lambda v: {"blur_input": v, "noise_input": 20.0}  # noqa: E731
        tables.append({"deblur_filters": {"faig": cell(f), "random": cell(r)},
                       "denoise_filters": {"faig": cell(25.0), "random": cell(20.0)}})
    return mean_std(tables)


def test_retraining_gains_pair_by_seed_and_carry_the_paper_and_a_verdict():
    gains = retraining.retraining_gains(_table3([28.0, 28.2, 28.1], [27.0, 27.0, 27.0]))
    deblur = gains["deblur_filters/blur_input"]
    assert deblur["values"] == pytest.approx([1.0, 1.2, 1.1]) and deblur["mean"] == pytest.approx(1.1)
    assert deblur["paper"] == pytest.approx(28.047 - 27.028) and deblur["verdict"] == "reproduced"
    assert gains["denoise_filters/blur_input"] == {"mean": 5.0, "std": 0.0, "values": [5.0, 5.0, 5.0]}  # no paper value
    assert gains["denoise_filters/noise_input"]["verdict"] == "not resolved"  # 20 − 20: no gain
    two = retraining.retraining_gains(_table3([28.0, 28.2], [27.0, 27.0]))
    assert two["deblur_filters/blur_input"]["verdict"] == "no verdict"  # two seeds are not judged


def test_depth_claim_says_deeper_shallower_or_neither():
    runs = [{"deblur_filters": 0.4, "denoise_filters": 0.8, "all_filters": 0.57},
            {"deblur_filters": 0.5, "denoise_filters": 0.9, "all_filters": 0.57}]
    d = retraining.depth_claim(runs)
    assert d["deblur_shallower_in_every_seed"] and not d["deblur_deeper_in_every_seed"]
    assert d["deblur_minus_denoise"]["values"] == pytest.approx([-0.4, -0.4])
    assert d["deblur_filters"]["mean"] == pytest.approx(0.45)
    mixed = retraining.depth_claim([runs[0], {"deblur_filters": 0.9, "denoise_filters": 0.8, "all_filters": 0.57}])
    assert not mixed["deblur_deeper_in_every_seed"] and not mixed["deblur_shallower_in_every_seed"]
    with pytest.raises(ValueError, match="no seeds"):
        retraining.depth_claim([])


def test_masking_ratios_in_both_directions():
    one = {"deblur_filters": {"blur_input": {"faig": 2.0, "random": 0.1}, "noise_input": {"faig": 0.3, "random": 0.1}},
           "denoise_filters": {"blur_input": {"faig": 1.0, "random": 0.1}, "noise_input": {"faig": 3.0, "random": 0.5}}}
    r = masking.masking_ratios(one)
    assert r == pytest.approx({"deblur_filters_blur_input_faig_over_random": 20.0,
                               "denoise_filters_noise_input_faig_over_random": 6.0,
                               "noise_input_deblur_over_denoise_masking": 0.1,
                               "blur_input_denoise_over_deblur_masking": 0.5})


def test_elimination_ratios_and_the_paper_effect():
    n = lambda with_, without: {"with_elimination": {"noise_input": with_},  # noqa: E731
                                "without_elimination": {"noise_input": without}}
    r = classification.elimination_ratios([n(0.5, 1.0), n(0.2, 0.6)])
    assert r["ratios"] == pytest.approx([2.0, 3.0]) and r["shows_paper_effect"] is True
    assert classification.elimination_ratios([n(0.5, 1.0), n(1.0, 0.5)])["shows_paper_effect"] is False
    assert classification.elimination_ratios([n(0.0, 1.0)])["ratios"] == [1e12]


def test_control_summary_reads_lambda_0_and_1_and_the_best():
    table = {"deblur_filters": {"blur_input": {"lambda": [0.0, 0.5, 1.0, 1.5], "psnr": [25.0, 26.0, 27.0, 27.5]},
                                "noise_input": {"lambda": [0.0, 1.0, 1.5], "psnr": [22.0, 22.0, 21.0]}}}
    s = control.control_summary(table)
    assert s["deblur_filters/blur_input"] == {"psnr_lambda0": 25.0, "psnr_lambda1": 27.0, "best_lambda": 1.5}
    assert s["deblur_filters/noise_input"]["best_lambda"] == 0.0  # ties go to the first
    with pytest.raises(ValueError, match="λ = 0 and λ = 1"):
        control.control_summary({"x": {"y": {"lambda": [0.5], "psnr": [1.0]}}})


def test_paper_values_are_where_the_chapters_read_them():
    from faiglib.studies.classification import PAPER_ACCURACY, PAPER_THRESHOLDS

    assert PAPER_ACCURACY == {"blur": 0.96, "noise": 0.98} and PAPER_THRESHOLDS == {"blur": 0.5, "noise": 0.6}
    assert claims.PAPER["table3/deblur_filters/blur_input/faig"].unit == "dB"


def test_median_iqr_hand_computed():
    # sorted 1, 2, 3, 4: positions (n-1)q = 0.75, 1.5, 2.25 -> 1.75, 2.5, 3.25 (linear interpolation)
    assert yardstick.median_iqr([4.0, 1.0, 3.0, 2.0]) == pytest.approx(
        {"median": 2.5, "q1": 1.75, "q3": 3.25, "iqr": 1.5, "n": 4})
    assert yardstick.median_iqr([7.0]) == pytest.approx({"median": 7.0, "q1": 7.0, "q3": 7.0, "iqr": 0.0, "n": 1})
    with pytest.raises(ValueError, match="at least one value"):
        yardstick.median_iqr([])


def test_ratio_to_random_constant_draws_give_a_zero_width_interval():
    r = yardstick.ratio_to_random(3.0, [0.5] * 10, resamples=200)
    assert r["ratio"] == r["low"] == r["high"] == pytest.approx(6.0)
    assert r["values"] == pytest.approx([6.0])


def test_ratio_to_random_median_interval_and_seed_reproducibility():
    draws = [0.1, 0.2, 0.3, 0.4, 10.0]  # one draw hit a sensitive layer: the mean (2.2) would divide by it
    r = yardstick.ratio_to_random(6.0, draws, resamples=500, seed=3)
    assert r["ratio"] == pytest.approx(20.0)  # 6 / median 0.3
    # a resampled median of 5 is one of the draws; it is the extreme 10.0 (or 0.1) with probability
    # P(>= 3 of 5 picks are that draw) = 5.8 % > 2.5 %, so the 95 % interval runs from 6 / 10 to 6 / 0.1
    assert (r["low"], r["high"]) == pytest.approx((0.6, 60.0))
    assert yardstick.ratio_to_random(6.0, draws, resamples=500, seed=3) == r
    many = [0.1 * k for k in range(1, 22)]  # 21 distinct draws: the interval ends depend on the resamples
    a = yardstick.ratio_to_random(1.0, many, resamples=300, seed=1)
    assert a == yardstick.ratio_to_random(1.0, many, resamples=300, seed=1)
    assert (a["low"], a["high"]) != (yardstick.ratio_to_random(1.0, many, resamples=300, seed=2)["low"],
                                     yardstick.ratio_to_random(1.0, many, resamples=300, seed=2)["high"])
    assert a["ratio"] == pytest.approx(1.0 / 1.1) and a["low"] < a["ratio"] < a["high"]
    # several seeds: the mean of the per-seed ratios
    two = yardstick.ratio_to_random([2.0, 4.0], [[1.0, 1.0, 1.0], [0.5, 0.5, 0.5]], resamples=50)
    assert two["values"] == pytest.approx([2.0, 8.0]) and two["ratio"] == two["low"] == pytest.approx(5.0)
    with pytest.raises(ValueError, match="one list of draws per effect"):
        yardstick.ratio_to_random([1.0, 2.0], [[1.0]])


def test_yardstick_table_one_model_and_over_seeds():
    one = {"mask_1pct": {"deblur_filters": {"blur_input": {"faig": 2.0, "random": 0.5}}}}
    draws = {"mask_1pct": {"deblur_filters": {"blur_input": [0.1, 0.2, 0.3, 0.4]}}}
    row = yardstick.yardstick_table(one, draws, resamples=100)["mask_1pct"]["deblur_filters"]["blur_input"]
    assert row["random"]["median"] == pytest.approx(0.25) and row["faig_over_random"]["ratio"] == pytest.approx(8.0)
    seeds = {"mask_1pct": {"deblur_filters": {"blur_input": {"faig": {"mean": 1.5, "std": 0.7, "values": [1.0, 2.0]}}}}}
    per_seed = [{"mask_1pct": {"deblur_filters": {"blur_input": d}}} for d in ([0.5, 0.5], [1.0, 1.0])]
    row = yardstick.yardstick_table(seeds, per_seed, resamples=100)["mask_1pct"]["deblur_filters"]["blur_input"]
    assert row["faig_over_random"]["values"] == pytest.approx([2.0, 2.0])
    assert row["random"]["median"] == pytest.approx(0.75) and row["random"]["n"] == 4
    with pytest.raises(ValueError, match="one list of draws per seed"):
        yardstick.yardstick_table(seeds, draws)


def test_masking_ratios_divide_by_the_median_when_there_is_one():
    cell = {"faig": 2.0, "random": 1.0, "random_median": 0.1}
    one = {"deblur_filters": {"blur_input": cell, "noise_input": {"faig": 0.3}},
           "denoise_filters": {"blur_input": {"faig": 1.0}, "noise_input": {"faig": 3.0, "random": 0.5}}}
    r = masking.masking_ratios(one)
    assert r["deblur_filters_blur_input_faig_over_random"] == pytest.approx(20.0)
    assert r["denoise_filters_noise_input_faig_over_random"] == pytest.approx(6.0)

"""Statistics over seeds and the Table 2 renderer have known answers."""
import math

import pytest

from faiglib.measures.statistics import mean_std, method_orderings, ordering, seed_spread
from faiglib.report.tables import format_mean_std, masking_markdown


def test_mean_std_known_answer_and_structure():
    trees = [{"a": {"x": 1.0, "y": 2}, "b": 4.0}, {"a": {"x": 3.0, "y": 2}, "b": 5.0},
             {"a": {"x": 5.0, "y": 2}, "b": 9.0}]
    s = mean_std(trees)
    assert s["a"]["x"] == {"mean": 3.0, "std": 2.0, "values": [1.0, 3.0, 5.0]}  # sample std of 1, 3, 5
    assert s["a"]["y"]["std"] == 0.0
    assert s["b"]["mean"] == 6.0 and math.isclose(s["b"]["std"], math.sqrt(7.0))
    assert mean_std([{"v": 2.5}])["v"] == {"mean": 2.5, "std": 0.0, "values": [2.5]}


def test_mean_std_rejects_mismatched_trees_and_non_numbers():
    with pytest.raises(ValueError, match="keys"):
        mean_std([{"a": 1.0}, {"b": 1.0}])
    with pytest.raises(ValueError, match="numbers"):
        mean_std([{"a": "x"}, {"a": "y"}])
    with pytest.raises(ValueError, match="at least one"):
        mean_std([])


def test_seed_spread_known_answer_and_left_out_measures():
    rows = [{"g": 1.0, "d": {"x": 2.0}}, {"g": 3.0, "d": {"x": 4.0}, "only_here": 1.0}, {"g": 8.0, "d": {"x": 6.0}}]
    out = seed_spread(rows, {"g": lambda r: r["g"], "x": lambda r: r["d"]["x"], "sum": lambda r: r["g"] + r["d"]["x"],
                             "missing": lambda r: r["only_here"], "none": lambda r: r.get("only_here")})
    assert set(out) == {"g", "x", "sum"}  # a measure some seed lacks is left out, not averaged over fewer seeds
    assert out["g"] == {"mean": 4.0, "std": math.sqrt(13.0), "per_seed": [1.0, 3.0, 8.0]}  # (9 + 1 + 16) / 2
    assert out["x"] == {"mean": 4.0, "std": 2.0, "per_seed": [2.0, 4.0, 6.0]}
    assert out["sum"]["per_seed"] == [3.0, 7.0, 14.0]
    assert seed_spread(rows[:1], {"g": lambda r: r["g"]})["g"]["std"] == 0.0


def _table(values_by_seed):
    """A one-proportion masking table per seed: {method: value} for deblur filters on blurry input."""
    trees = []
    for values in values_by_seed:
        cell = dict(values)
        trees.append({"mask_1pct": {"deblur_filters": {"blur_input": cell, "noise_input": cell},
                                    "denoise_filters": {"blur_input": cell, "noise_input": cell}}})
    return mean_std(trees)


def test_method_orderings_by_mean_and_per_seed():
    s = _table([{"faig": 3.0, "ig": 2.0, "random": 0.1}, {"faig": 1.0, "ig": 2.5, "random": 0.2}])
    o = method_orderings(s, 0.01, ("faig", "ig", "random"))
    cell = o["deblur_filters/blur_input"]
    assert cell["by_mean"] == ["ig", "faig", "random"]  # means 2.25 > 2.0 > 0.15
    assert cell["per_seed"] == [["faig", "ig", "random"], ["ig", "faig", "random"]]
    assert cell["same_in_every_seed"] is False
    assert ordering({"a": 1.0, "b": 1.0, "c": 2.0}) == ["c", "a", "b"]


def test_masking_markdown_renders_mean_std_and_bolds_the_column_maximum():
    s = _table([{"faig": 3.0, "random": 0.1}, {"faig": 1.0, "random": 0.3}])
    md = masking_markdown(s, (0.01,), {"faig": "FAIG", "random": "random"})
    lines = md.strip().splitlines()
    assert lines[0].startswith("| method | 1 %: deblur filters, blurry input |")
    assert len(lines) == 4 and lines[0].count("|") == lines[2].count("|")
    assert lines[2].startswith("| FAIG | **2 ± 1.4** |")
    assert "| random | 0.2 ± 0.14 |" in lines[3]
    assert format_mean_std(0.12345) == "0.123"
    with pytest.raises(KeyError, match="mask_5pct"):
        masking_markdown(s, (0.05,), {"faig": "FAIG"})


def test_retraining_markdown_has_reference_columns_then_each_method_per_filter_set():
    from faiglib.report.tables import retraining_markdown

    cell = {"blur_input": 27.0, "noise_input": 25.0}
    one = {"upper_bound": cell, "baseline": {"blur_input": 26.0, "noise_input": 22.0}, "target": cell,
           "deblur_filters": {"faig": {"blur_input": 28.0, "noise_input": 25.5}, "random": cell},
           "denoise_filters": {"faig": cell, "random": cell}}
    s = mean_std([one, one])
    md = retraining_markdown(s, {"faig": "FAIG", "random": "random"}).strip().splitlines()
    assert md[0] == ("| input | baseline | target | upper bound | deblur: FAIG | deblur: random | denoise: FAIG | "
                     "denoise: random |")
    assert md[2] == "| blurry | 26 ± 0 | 27 ± 0 | 27 ± 0 | 28 ± 0 | 27 ± 0 | 27 ± 0 | 27 ± 0 |"
    assert md[3].startswith("| noisy | 22 ± 0 | 25 ± 0 | 25 ± 0 | 25.5 ± 0 |")


def test_spearman_known_answers():
    from faiglib.measures.statistics import spearman

    assert spearman([1, 2, 3, 4], [1, 4, 9, 16]) == pytest.approx(1.0)  # any increasing map
    assert spearman([1, 2, 3, 4], [3, 2, 1, 0]) == pytest.approx(-1.0)
    # ties get average ranks: x ranks (1.5, 1.5, 3.5, 3.5), y ranks (1, 2, 3, 4) -> 4 / sqrt(4 * 5)
    assert spearman([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(4 / (4 * 5) ** 0.5)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="same length"):
        spearman([1, 2], [1, 2, 3])


def test_paired_difference_known_answer():
    from faiglib.measures.statistics import paired_difference

    # differences 3 - 1, 5 - 2, 4 - 4 = 2, 3, 0: mean 5/3, sample variance ((1/3)² + (4/3)² + (5/3)²) / 2 = 7/3
    p = paired_difference([3.0, 5.0, 4.0], [1.0, 2.0, 4.0])
    assert p["n"] == 3 and p["difference"]["values"] == [2.0, 3.0, 0.0]
    assert p["difference"]["mean"] == pytest.approx(5 / 3)
    assert p["standard_error"] == pytest.approx(math.sqrt(7 / 3) / math.sqrt(3))
    assert paired_difference([1.0], [2.0], sign=-1.0) == {"difference": {"mean": 1.0, "std": 0.0, "values": [1.0]},
                                                          "standard_error": None, "n": 1}
    with pytest.raises(ValueError, match="as many of each"):
        paired_difference([1.0, 2.0], [1.0])


def test_the_baselines_chapters_tables_render_known_rows():
    from faiglib.report.tables import discriminativeness_markdown, orderings_markdown, yardstick_markdown
    from faiglib.studies.masking import discriminativeness

    ratio = {"ratio": 12.0, "low": 9.5, "high": 15.25}
    cell = {"random": {"median": 0.25, "q1": 0.125, "q3": 0.5}, "faig_over_random": ratio}
    table = {"mask_1pct": {"deblur_filters": {"blur_input": cell}, "denoise_filters": {"noise_input": cell}}}
    md = yardstick_markdown({"net": {"gray": table}}, {"faig": "FAIG", "random": "random"}).strip().splitlines()
    assert md[0] == "| network | metric | masked | filters / input | random: median [IQR] | FAIG / median(random) [95 % CI] |"
    assert md[2] == "| net | gray | 1 % | deblur / blur | 0.25 [0.125, 0.5] | 12 [9.5, 15.2] |"
    assert md[3].startswith("| net | gray | 1 % | denoise / noise |")

    # two seeds; per seed the other set's effect over the right set's, on each input: (1/4, 2/4), then (3/4, 1/2)
    def seed(deblur_on_noise, denoise_on_blur):
        masked = {"deblur_filters": {"blur_input": {"faig": 4.0, "random": 1.0},
                                     "noise_input": {"faig": deblur_on_noise, "random": 1.0}},
                  "denoise_filters": {"blur_input": {"faig": denoise_on_blur, "random": 1.0},
                                      "noise_input": {"faig": 4.0, "random": 1.0}}}
        return {"gray": {"mask_1pct": masked}}

    d = discriminativeness([seed(1.0, 2.0), seed(3.0, 2.0)])
    assert d["noise_input_deblur_over_denoise_masking"]["values"] == [0.25, 0.75]
    assert d["blur_input_denoise_over_deblur_masking"]["mean"] == 0.5 and set(d) == {
        "noise_input_deblur_over_denoise_masking", "blur_input_denoise_over_deblur_masking"}
    assert discriminativeness_markdown({"net": d}).strip().splitlines()[2] == "| net | 0.5 ± 0.35 | 0.5 ± 0 |"

    o = {"by_mean": ["faig", "random"], "same_in_every_seed": False}
    assert orderings_markdown({"net": {"blue": {"deblur_filters/blur_input": o}}},
                              {"faig": "FAIG", "random": "random"}).strip().splitlines()[2] == \
        "| net | blue | deblur_filters/blur_input | FAIG > random | False |"


def test_masking_headline_rows():
    from faiglib.report.tables import masking_headline_markdown

    one = {"deblur_filters": {"blur_input": {"faig_over_random": {"ratio": 40.6, "low": 30.4, "high": 50.2}}},
           "denoise_filters": {"noise_input": {"faig_over_random": {"ratio": 74.7, "low": 65.3, "high": 91.6}}}}
    ratios = {"noise_input_deblur_over_denoise_masking": 0.0123, "blur_input_denoise_over_deblur_masking": 0.5}
    md = masking_headline_markdown(ratios, one).splitlines()
    assert md[2] == "| FAIG / median(random), deblurring filters, blurry input | 40.6 | [30.4, 50.2] |"
    assert md[3] == "| FAIG / median(random), denoising filters, noisy input | 74.7 | [65.3, 91.6] |"
    assert md[4:] == ["| noisy input: deblurring-set ÷ denoising-set masking | 0.0123 | – |",
                      "| blurry input: denoising-set ÷ deblurring-set masking | 0.5 | – |"]


def test_masking_cells_rows():
    from faiglib.report.tables import masking_cells_markdown

    table = {"mask_1pct": {"deblur_filters": {"blur_input": {"faig": 2.5}}}}
    y = {"mask_1pct": {"deblur_filters": {"blur_input": {"random": {"median": 0.05, "q1": 0.025, "q3": 0.1},
                                                         "faig_over_random": {"ratio": 50.0, "low": 25.04, "high": 99.96}}}}}
    assert masking_cells_markdown(table, y).splitlines()[2] == \
        "| 1 % | deblur filters | blur input | 2.5 | 0.05 [0.025, 0.1] | 50.0 [25.0, 100.0] |"


def test_scale_retraining_and_depth_rows():
    from faiglib.report.tables import depth_markdown, retraining_gains_markdown, scale_rows_markdown

    r = {"network": "msrresnet-48x6", "params": 123456, "deblur_over_random": {"ratio": 53.0, "low": 40.0, "high": 70.0},
         "denoise_over_random": {"ratio": 161.0, "low": 120.0, "high": 200.0}, "noise_input_deblur_over_denoise": 0.01,
         "blur_input_denoise_over_deblur": 0.2, "gain_blur_db": 1.5, "gain_noise_db": 3.25, "gain_clean_db": -0.125,
         "depth": {"deblur_filters": 0.75, "denoise_filters": 0.64}, "classification": {"blur": 0.9, "noise": 1.0},
         "retrain_gain_blur_db": 0.67, "retrain_gain_noise_db": -0.0125}
    md = scale_rows_markdown([r], classify=True, retrain=True).splitlines()
    assert md[0].endswith("| accuracy blur / noise | Table 3 FAIG − random blur / noise (dB) |")
    assert md[2] == ("| msrresnet-48x6 | 123,456 | 53 [40, 70] | 161 [120, 200] | 0.01 | 0.2 | +1.50 / +3.25 / -0.12 | "
                     "0.75 / 0.64 | 0.90 / 1.00 | +0.670 / -0.013 |")
    assert scale_rows_markdown([r]).splitlines()[0].endswith("| depth deblur / denoise |")
    gains = {"net": {"deblur_filters/blur_input": {"mean": 0.25, "std": 0.05, "values": [0.2, 0.3], "paper": 1.019,
                                                   "verdict": "no verdict"},
                     "denoise_filters/blur_input": {"mean": -0.1, "std": 0.0, "values": [-0.1]}}}
    md = retraining_gains_markdown(gains).splitlines()
    assert md[2] == "| net | deblur filters | blur input | +0.250 ± 0.050 | +0.200, +0.300 | +1.02 | no verdict |"
    assert md[3] == "| net | denoise filters | blur input | -0.100 ± 0.000 | -0.100 |  |  |"
    d = {"deblur_filters": {"mean": 0.75, "std": 0.05}, "denoise_filters": {"mean": 0.5, "std": 0.1},
         "all_filters": {"mean": 0.6}, "deblur_deeper_in_every_seed": True, "deblur_shallower_in_every_seed": False}
    assert depth_markdown({"net": d}).splitlines()[2] == "| net | 0.75 ± 0.05 | 0.5 ± 0.1 | 0.600 | True | False |"


def test_levels_tracking_summary():
    from faiglib.studies.levels import tracking_summary

    levels = {s: {"tracking": {"blur": {"spearman": rho, "increasing": up}, "noise": {"spearman": 0.5, "increasing": True}}}
              for s, rho, up in ((0, 0.9, True), (1, 0.7, False), (2, 0.8, True))}
    rho, rises = tracking_summary(levels)
    assert rho["blur"]["mean"] == pytest.approx(0.8) and rho["blur"]["std"] == pytest.approx(0.1)
    assert rises == {"blur": 2, "noise": 3}


def test_classification_elimination_control_tracking_and_lam_rows():
    from faiglib.report import tables as t

    r = {"thresholds": {"blur": 0.5, "noise": 0.625}, "validation_accuracy": {"blur": 0.9, "noise": 1.0},
         "accuracy": {"blur": 0.875, "noise": 0.95, "four_way": 0.5}}
    assert t.classification_markdown({0: r}).splitlines()[2] == \
        "| 0 | 0.500 | 0.625 | 90.0% | 100.0% | 87.5% | 95.0% | 50.0% |"
    n = {"overlap": 0.25, "with_elimination": {"blur_input": 2.0, "noise_input": 0.125},
         "without_elimination": {"blur_input": 2.5, "noise_input": 0.5}}
    assert t.elimination_markdown({1: n}).splitlines()[2:] == [
        "| 1 | 0.25 | with elimination | 2 | 0.125 |", "| 1 | 0.25 | without elimination | 2.5 | 0.5 |"]
    curves = {"deblur_filters": {"blur_input": {"lambda": [0.0, 1.0], "psnr": [24.0, 25.125]}}}
    md = t.control_markdown(curves, (0.0, 1.0)).splitlines()
    assert md[0] == "| filters | input | λ = 0 | λ = 1 |" and md[2] == "| deblur filters | blur input | 24.00 | 25.12 |"
    levels = {2: {"tracking": {"blur": {"increasing": True, "spearman": 0.8, "levels": [0, 1.5], "mean": [0.1, 0.25]}}}}
    assert t.tracking_markdown(levels).splitlines()[2] == "| 2 | blur | True | 0.800 | 0: 0.100, 1.5: 0.250 |"
    report = {"window": [112, 0], "diffusion_index": 0.4267, "objective": 43.93, "baseline_objective": 17.39,
              "relative_completeness_gap": 0.0148, "context": None}
    assert t.lam_report_markdown(report).splitlines()[2] == "| (112, 0) | 0.427 | 43.93 | 17.39 | 1.48% | whole image |"
    assert t.lam_report_markdown({**report, "context": 13}).splitlines()[2].endswith("| 13 LR px |")

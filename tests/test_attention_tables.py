"""The attention chapter's tables: known rows from a hand-made network summary."""
from faiglib.models.networks import build_network
from faiglib.report import attention_tables as t


def summary():
    ratio = {"ratio": 50.0, "low": 20.0, "high": 80.0}
    cell = {"random": {"median": 0.5, "q1": 0.25, "q3": 1.0}, "faig_over_random": ratio}
    per_set = {"deblur_filters": {"blur_input": cell}, "denoise_filters": {"noise_input": cell}}
    masked = {"deblur_filters": {"blur_input": {"faig": 25.0}}, "denoise_filters": {"noise_input": {"faig": 12.5}}}
    return {"n_units": 496, "psnr": {"blur": {"baseline": 25.0, "target": 26.5}, "noise": {"baseline": 20.0, "target": 24.0}},
            "completeness": {"blur": {"median": 0.012, "max": 0.5}, "noise": {"median": 0.001, "max": 0.0025}},
            "n_steps": 50, "completeness_by_n": {
                "20": {"blur": {"median": 0.33, "max": 0.5}, "noise": {"median": 0.07, "max": 1.25}},
                "50": {"blur": {"median": 0.012, "max": 0.5}, "noise": {"median": 0.001, "max": 0.0025}}},
            "masking": {"mask_1pct": masked}, "yardstick": {"mask_1pct": per_set},
            "ratios": {"mask_1pct": {"noise_input_deblur_over_denoise_masking": 0.125,
                                     "blur_input_denoise_over_deblur_masking": 0.25}},
            "locations": {"deblur": {"depth": 0.75, "depth_chance": 0.5, "size": 9.0, "size_chance": 12.0,
                                     "layers": {"body.0.conv1": 1, "body.1.conv2": 3, "conv_hr": 2, "upconv1": 1}}}}


def test_rows_of_one_network():
    s = {"net": summary()}
    assert t.pairs_markdown(s).splitlines()[2] == \
        "| net | 25.00 / 26.50 | 20.00 / 24.00 | 50 | 0.012, 0.5 | 0.001, 0.0025 |"
    assert t.completeness_markdown(s).splitlines()[2:] == ["| net | 20 | 0.33, 0.5 | 0.07, 1.2 |  |",
                                                           "| net | 50 | 0.012, 0.5 | 0.001, 0.0025 | yes |"]
    masking = t.masking_markdown(s).splitlines()
    assert masking[2] == "| net | 1 % | deblur | blur input | 25 | 0.5 [0.25, 1] | 50 [20, 80] |"
    assert masking[3].startswith("| net | 1 % | denoise | noise input | 12.5 |")
    assert t.discriminativeness_markdown(s).splitlines()[2] == "| net | 1 % | 0.125 | 0.25 |"
    assert t.locations_markdown(s, most=2).splitlines()[2] == \
        "| net | top deblur | 0.75 (0.50) | 9 (12) | body.1.conv2 (3), conv_hr (2) |"
    # effective (both lower ends > 1) and specific (both ratios < 1): the rule's "yes"
    assert t.comparison_markdown(s).splitlines()[2] == "| net | 496 | 50 [20, 80] | 50 [20, 80] | 0.125 | 0.25 | yes |"


def test_units_row_counts_parameters_and_units_by_hand():
    net = build_network("msrresnet", num_feat=4, num_block=1, upscale=2)
    params = sum(p.numel() for p in net.parameters())
    # conv units: out x in of every conv (3 -> 4, two 4 -> 4 in the block, 4 -> 16 upconv, 4 -> 4 hr, 4 -> 3 last)
    units = 4 * 3 + 2 * 4 * 4 + 16 * 4 + 4 * 4 + 3 * 4
    row = t.units_markdown({"m": net}).splitlines()[2]
    assert row == f"| m | {params:,} | {units:,} | {units:,} | 0 | 0 |"


def test_seed_answers_row():
    rows = [{"network": "net", "seeds": [0, 1], "answers": ["yes", "no"], "answer": "differs by seed"}]
    assert t.seed_answers_markdown(rows).splitlines()[2] == "| net | 0, 1 | yes; no | differs by seed |"

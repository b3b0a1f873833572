"""The L2X chapter's tables: known rows from hand-made study results."""
from types import SimpleNamespace

import torch

from faiglib.report import l2x_tables as t


def leaf(mean, std):
    return {"mean": mean, "std": std, "values": [mean - std, mean + std]}


def test_gap_text_hides_float32_rounding():
    assert t.relative_gap_text(3e-5) == "< 1e-4" and t.relative_gap_text(0.0123) == "1.2%"


def test_examples_row():
    res = SimpleNamespace(window=(4, 8), objective=1.5, reference_objective=0.25, positive=torch.tensor([1.0, 0.5]),
                          negative=torch.tensor([-0.25]), relative_summation_gap=0.02)
    assert t.examples_markdown({"blur": (res, None)}).splitlines()[2] == \
        "| blur | (4, 8) | 1.5 | 0.25 | +1.5 | -0.25 | 2.0% |"


def test_auc_rows_follow_networks_then_methods():
    orders = {"absolute": leaf(0.5, 0.1), "positive": leaf(0.25, 0.05), "negative": leaf(-0.125, 0.0)}
    md = t.auc_markdown({"target": {"l2x": orders, "lam": orders}}, ["target"], ["l2x", "lam"]).splitlines()
    assert md[2] == "| target: L2X (rescale, 1 pass) | 0.5 ± 0.1 | 0.25 ± 0.05 | -0.125 ± 0 |"
    assert md[3].startswith("| target: LAM (blur path) |")


def test_separation_ordering_paired_costs():
    def cell(z):
        return {"difference": {"mean": 0.125, "std": 0.1}, "standard_error": 0.025, "z": z}

    sep = {"mean": {"absolute": {"target": {"l2x": cell(5.0)}}, "positive": {"target": {"l2x": cell(-0.25)}},
                    "negative": {"target": {"l2x": cell(None)}}},
           "blur": {"absolute": {"target": {"l2x": cell(5.0)}}, "positive": {"target": {"l2x": cell(7.5)}},
                    "negative": {"target": {"l2x": cell(2.0)}}}}
    md = t.separation_markdown(sep, ["target"], ["l2x"]).splitlines()
    assert md[0] == ("| network | method | mean replacement: AUC(map) − AUC(permuted) by \\|R\\|; z by \\|R\\| / R⁺ / R⁻ | "
                     "blur replacement: AUC(map) − AUC(permuted) by \\|R\\|; z by \\|R\\| / R⁺ / R⁻ |")  # | escaped
    # the difference of the order by |R|, then z in the orders absolute, positive, negative (None: no spread, 0)
    assert md[2] == "| target | L2X (rescale, 1 pass) | +0.125 ± 0.025; z 5.0 / -0.2 / 0.0 | +0.125 ± 0.025; z 5.0 / 7.5 / 2.0 |"
    choices = {"absolute": {"replacement": "mean", "median_z": {"mean": 5.0, "blur": 5.0}},
               "positive": {"replacement": "blur", "median_z": {"mean": -0.25, "blur": 7.5}}}
    assert t.separating_markdown(choices).splitlines() == [
        "| order | median z, mean replacement | median z, blur replacement | tells maps apart better |",
        "|---|---|---|---|", "| absolute | 5.0 | 5.0 | mean |", "| positive | -0.2 | 7.5 | blur |"]
    assert t.ordering_text({"methods": ["l2x", "lam", "random"], "separated": [False, True]}) == "l2x ≈ lam > random"
    orderings = {"blur": {"target": {"negative": {"methods": ["lam", "l2x"], "separated": [True]}}}}
    assert t.orderings_markdown(orderings).splitlines()[2] == "| blur | target | negative | lam > l2x |"
    paired = {"absolute": {"target": {"lam": {"difference": {"mean": -0.01, "std": 0.02}, "verdict": "not resolved"}}}}
    assert t.paired_markdown(paired).splitlines()[2] == \
        "| target | absolute | LAM (blur path) | -0.010 ± 0.020 | not resolved |"
    costs = {"l2x": {"forward": {"mean": 4}, "backward": {"mean": 2}, "seconds": {"mean": 0.0075, "std": 0.00125}}}
    assert t.costs_markdown(costs, ["l2x"]).splitlines()[2] == \
        "| L2X (rescale, 1 pass) | 4 | 2 | wall 7.5 ± 1.2 ms |"


def test_cka_and_validity_rows():
    cka = {"a vs b": {"diagonal": [0.9, 0.5], "matrix": [[0.9, 0.1], [0.2, 0.5]]},
           "a vs swin": {"diagonal": [], "matrix": [[0.3]]}}
    md = t.layer_cka_markdown(cka).splitlines()
    assert md[2] == "| a vs b | 0.90, 0.50 | 0.50 |" and md[3] == "| a vs swin | – (other layer names) | 0.30 |"
    rows = [{"network": "swin", "kind": "blur", "method": "ig_blur", "relative_gap": 0.5, "refused": "x" * 100},
            {"network": "msr", "kind": "noise", "method": "l2x", "relative_gap": 1e-6, "refused": None},
            {"network": "rcan", "kind": "noise", "method": "ig_blur", "relative_gap": 0.02, "refused": "y",
             "ig_steps": 800, "ig_gaps": {50: 0.625, 200: 0.1, 800: 0.02}}]
    md = t.validity_markdown(rows, width=10).splitlines()
    assert md[2] == "| swin | blur | IG, blurred baseline | 50.0% | xxxxxxxxxx… |"
    assert md[3] == "| msr | noise | L2X (rescale, 1 pass) | < 1e-4 | – |"
    assert md[4] == "| rcan | noise | IG, blurred baseline (800 steps) | 2.0% (62.5% at 50, 10.0% at 200) | y |"
    acka = {"names": ["b", "t"], "matrix": [[1.0, 0.25], [0.25, 1.0]]}
    assert t.attribution_cka_markdown(acka).splitlines()[:3] == ["|  | b | t |", "|---|---|---|",
                                                                 "| b | 1.00 | 0.25 |"]


def test_cost_ratios_by_hand():
    from faiglib.studies.l2x import cost_ratios

    costs = {"l2x": {"backward": {"mean": 2}, "seconds": {"mean": 0.01}},
             "lam": {"backward": {"mean": 50}, "seconds": {"mean": 0.04}},
             "random": {"backward": {"mean": 0}, "seconds": {"mean": 0.0}}}
    assert cost_ratios(costs) == {"backward": 25.0, "wall": 4.0}
    assert cost_ratios(costs, "lam", "random") == {"backward": 50.0, "wall": 0.04 / 1e-9}  # zero: one image, 1 ns

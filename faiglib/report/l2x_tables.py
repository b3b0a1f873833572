"""The L2X chapter's tables (Markdown), from the results of :mod:`faiglib.studies.l2x`; its figures are
:mod:`faiglib.report.l2x_plots`. Every function only formats: the numbers come from the study."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from faiglib.measures.remove_replace import ORDERS
from faiglib.report.l2x_plots import METHOD_LABELS
from faiglib.report.tables import format_mean_std, markdown_table

__all__ = ["relative_gap_text", "examples_markdown", "auc_markdown", "separation_markdown", "separating_markdown", "ordering_text",
           "orderings_markdown", "paired_markdown", "costs_markdown", "layer_cka_markdown", "validity_markdown",
           "attribution_cka_markdown"]

_AUC_HEADER = ["network: method", "AUC by |R|", "AUC by R⁺ first", "AUC by R⁻ first"]


def relative_gap_text(gap: float) -> str:
    """A relative completeness gap for the page: ``"0.3%"``; float32 rounding (< 1e-4) is ``"< 1e-4"``, not
    printed digit by digit."""
    return "< 1e-4" if gap < 1e-4 else f"{gap:.1%}"


def examples_markdown(examples: Mapping[str, Any]) -> str:
    """One row per input kind of :func:`~faiglib.studies.l2x.l2x_examples` (``{kind: (L2X result, case)}``): the
    window and its crop, the objective on the input and on the reference, the sums of the positive and negative
    parts, and the relative summation gap."""
    rows = [[kind, str(res.window), f"{res.objective:.4g}", f"{res.reference_objective:.4g}",
             f"{float(res.positive.sum()):+.4g}", f"{float(res.negative.sum()):+.4g}",
             relative_gap_text(res.relative_summation_gap)] for kind, (res, _case) in examples.items()]
    return markdown_table(["input", "window (crop)", "D(F(x))", "D(F(x̄))", "Σ R⁺", "Σ R⁻", "|Σ R − ΔD| / |ΔD|"], rows)


def auc_markdown(summary: Mapping[str, Mapping[str, Mapping[str, Any]]], models: Sequence[str],
                 methods: Sequence[str]) -> str:
    """Remove-and-replace AUC (mean ± std over windows) per network and method, one column per order of
    :data:`~faiglib.measures.remove_replace.ORDERS`. ``summary``: ``{network: {method: {order: leaf}}}``."""
    return markdown_table(_AUC_HEADER, [[f"{which}: {METHOD_LABELS[m]}"]
                                        + [format_mean_std(summary[which][m][o]) for o in ORDERS]
                                        for which in models for m in methods])


def separation_markdown(separation: Mapping[str, Mapping[str, Any]], models: Sequence[str],
                        methods: Sequence[str]) -> str:
    """AUC(map) − AUC(permuted map) per network and method in the order by |R| (mean ± standard error), and ``z``
    in every order of :data:`~faiglib.measures.remove_replace.ORDERS`, one column per replacement.
    ``separation``: ``{replacement: {order: separation_from_permutation(...)}}``."""
    def cell(per_order, which, m):
        c = per_order["absolute"][which][m]
        zs = " / ".join(f"{per_order[o][which][m]['z'] or 0:.1f}" for o in ORDERS)
        return f"{c['difference']['mean']:+.3f} ± {c['standard_error'] or 0:.3f}; z {zs}"

    header = [f"{rep} replacement: AUC(map) − AUC(permuted) by |R|; z by |R| / R⁺ / R⁻" for rep in separation]
    return markdown_table(["network", "method"] + header,
                          [[which, METHOD_LABELS[m]] + [cell(separation[rep], which, m) for rep in separation]
                           for which in models for m in methods])


def separating_markdown(choices: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per order: the median ``z`` of each replacement and the one that tells maps apart better.
    ``choices``: ``{order: separating_replacement(...)}``."""
    reps = list(next(iter(choices.values()))["median_z"])
    return markdown_table(["order"] + [f"median z, {rep} replacement" for rep in reps] + ["tells maps apart better"],
                          [[o] + [f"{c['median_z'][rep]:.1f}" for rep in reps] + [c["replacement"]]
                           for o, c in choices.items()])


def ordering_text(ordering: Mapping[str, Any]) -> str:
    """``"l2x > lam ≈ ig_blur"``: the methods best first (:func:`~faiglib.studies.l2x.ordering_by_auc`), ``>``
    where neighbours are separated, ``≈`` where they are within one std."""
    methods = ordering["methods"]
    return methods[0] + "".join((" > " if sep else " ≈ ") + m for m, sep in zip(methods[1:], ordering["separated"]))


def orderings_markdown(orderings: Mapping[str, Mapping[str, Mapping[str, Mapping[str, Any]]]]) -> str:
    """One row per replacement, network and order: :func:`ordering_text`. ``orderings``: ``{replacement: {network:
    {order: ordering_by_auc(...)}}}``."""
    return markdown_table(["replacement", "network", "order", "methods, best first (>: separated, ≈: within one std)"],
                          [[rep, which, o, ordering_text(r)] for rep, per_net in orderings.items()
                           for which, per in per_net.items() for o, r in per.items()])


def paired_markdown(paired: Mapping[str, Mapping[str, Mapping[str, Mapping[str, Any]]]]) -> str:
    """L2X against each method on the same windows: ``paired``: ``{order: paired_differences(...)}``; one row per
    order, network and method, the mean ± std of the AUC differences and the verdict."""
    return markdown_table(["network", "order", "L2X against", "AUC difference (+: L2X better)", "verdict"],
                          [[which, o, METHOD_LABELS[m], f"{c['difference']['mean']:+.3f} ± {c['difference']['std']:.3f}",
                            c["verdict"]]
                           for o, by_network in paired.items() for which, per in by_network.items()
                           for m, c in per.items()])


def costs_markdown(costs: Mapping[str, Mapping[str, Mapping[str, float]]], methods: Sequence[str]) -> str:
    """Images forward and backward per window and the wall time (mean ± std, ms) per method."""
    return markdown_table(["method", "forward images", "backward images", "wall time per window"],
                          [[METHOD_LABELS[m], f"{costs[m]['forward']['mean']:.0f}", f"{costs[m]['backward']['mean']:.0f}",
                            f"wall {1000 * costs[m]['seconds']['mean']:.1f} ± {1000 * costs[m]['seconds']['std']:.1f} ms"]
                           for m in methods])


def layer_cka_markdown(cka: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per pair of networks of :func:`~faiglib.studies.l2x.cka_study`: the CKA of same-named layers,
    first to last, and of the last layers."""
    return markdown_table(["pair", "CKA of same-named layers, first to last", "CKA of the last layers"],
                          [[n, ", ".join(f"{v:.2f}" for v in r["diagonal"]) or "– (other layer names)",
                            f"{r['matrix'][-1][-1]:.2f}"] for n, r in cka.items()])


def validity_markdown(validity: Sequence[Mapping[str, Any]], width: int = 90) -> str:
    """One row per network and input of :func:`~faiglib.studies.l2x.l2x_where_valid`: the map used (IG with the
    steps it needed), its gap and the gaps at the fewer steps tried, and why L2X was refused (cut to ``width``
    characters)."""
    def why(reason):
        return "–" if not reason else reason[:width] + "…" if len(reason) > width else reason

    def used(r):
        return METHOD_LABELS[r["method"]] + (f" ({r['ig_steps']} steps)" if r.get("ig_steps") else "")

    def gaps(r):
        # the steps tried in order, the last one used (its gap is the row's): compare no keys, which JSON makes strings
        earlier = [f"{relative_gap_text(g)} at {n}" for n, g in list(r.get("ig_gaps", {}).items())[:-1]]
        return relative_gap_text(r["relative_gap"]) + (f" ({', '.join(earlier)})" if earlier else "")

    return markdown_table(["network", "input", "map", "relative summation / completeness gap", "why not L2X"],
                          [[r["network"], r["kind"], used(r), gaps(r), why(r["refused"])] for r in validity])


def attribution_cka_markdown(acka: Mapping[str, Any]) -> str:
    """The CKA matrix between networks' L2X maps (:func:`~faiglib.studies.l2x.attribution_cka`)."""
    return markdown_table([""] + list(acka["names"]),
                          [[a] + [f"{v:.2f}" for v in row] for a, row in zip(acka["names"], acka["matrix"])])

"""The attention chapter's tables (Markdown), from :func:`faiglib.studies.attention.network_summary` per network.
Every function only formats: the numbers and the verdict come from the study."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from torch import nn

from faiglib.core.units import FilterIndex
from faiglib.report.tables import interval_text, iqr_text, markdown_table, mask_label
from faiglib.studies.attention import COMPONENTS, small_set_verdict, unit_components

__all__ = ["units_markdown", "pairs_markdown", "masking_markdown", "discriminativeness_markdown",
           "locations_markdown", "comparison_markdown"]

#: the cells the chapter reports: each set on the input it is for
_CELLS = (("deblur_filters", "blur_input"), ("denoise_filters", "noise_input"))


def units_markdown(networks: Mapping[str, nn.Module]) -> str:
    """One row per network: parameters, units (:class:`~faiglib.core.units.FilterIndex`) and units per component
    (:data:`~faiglib.studies.attention.COMPONENTS`)."""
    rows = []
    for label, net in networks.items():
        index = FilterIndex(net)
        parts = unit_components(index)
        rows.append([label, f"{sum(t.numel() for t in net.parameters()):,}", f"{len(index):,}",
                     *[f"{parts.count(c):,}" for c in COMPONENTS]])
    return markdown_table(["network", "parameters", "units", *[f"{c} units" for c in COMPONENTS]], rows)


def pairs_markdown(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per network: PSNR of baseline / target on each input kind, FAIG's N and its completeness gap
    (median, max over images) per degradation at that N."""
    kinds = list(next(iter(summaries.values()))["psnr"])
    return markdown_table(
        ["network", *[f"{k}: baseline / target" for k in kinds], "FAIG N", "completeness gap blur (median, max)",
         "noise (median, max)"],
        [[label, *[f"{s['psnr'][k]['baseline']:.2f} / {s['psnr'][k]['target']:.2f}" for k in kinds],
          str(s["n_steps"]), *[_gap(s["completeness"][d]) for d in ("blur", "noise")]]
         for label, s in summaries.items()])


def _gap(gaps: Mapping[str, float]) -> str:
    return f"{gaps['median']:.2g}, {gaps['max']:.2g}"


def completeness_markdown(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per network and N tried (:func:`faiglib.studies.attention.complete_workspace`): FAIG's
    completeness gap (median, max over images) per degradation, and whether that N is the one used."""
    return markdown_table(
        ["network", "N", "gap blur (median, max)", "gap noise (median, max)", "used"],
        [[label, n, *[_gap(gaps[d]) for d in ("blur", "noise")], "yes" if int(n) == s["n_steps"] else ""]
         for label, s in summaries.items() for n, gaps in s["completeness_by_n"].items()])


def masking_markdown(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per network, masked proportion and set (on the input it is for): FAIG's masking effect, the
    random draws' median [IQR], FAIG / median(random) [95 % interval]."""
    rows = []
    for label, s in summaries.items():
        for mask, entry in s["masking"].items():
            for filters, inp in _CELLS:
                y = s["yardstick"][mask][filters][inp]
                rows.append([label, mask_label(mask), filters.replace("_filters", ""), inp.replace("_", " "),
                             f"{entry[filters][inp]['faig']:.3g}",
                             iqr_text(y["random"]),
                             interval_text(y["faig_over_random"])])
    return markdown_table(["network", "masked", "units", "input", "FAIG", "random: median [IQR]",
                           "FAIG / median(random) [95 % CI]"], rows)


def discriminativeness_markdown(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per network and masked proportion: the two "other set ÷ right set" ratios."""
    return markdown_table(
        ["network", "masked", "noisy input: deblur set ÷ denoise set", "blurry input: denoise set ÷ deblur set"],
        [[label, mask_label(mask), f"{r['noise_input_deblur_over_denoise_masking']:.3g}",
          f"{r['blur_input_denoise_over_deblur_masking']:.3g}"]
         for label, s in summaries.items() for mask, r in s["ratios"].items()])


def locations_markdown(summaries: Mapping[str, Mapping[str, Any]], most: int = 3) -> str:
    """One row per network and function: the top units' mean relative depth and weights per unit (all units'
    in brackets), and the ``most`` layers holding most of them."""
    return markdown_table(
        ["network", "units", "depth (all units)", "weights per unit (all units)", "layers holding most of them"],
        [[label, f"top {function}", f"{loc['depth']:.2f} ({loc['depth_chance']:.2f})",
          f"{loc['size']:.3g} ({loc['size_chance']:.3g})",
          ", ".join(f"{name} ({n})" for name, n in sorted(loc["layers"].items(), key=lambda kv: -kv[1])[:most])]
         for label, s in summaries.items() for function, loc in s["locations"].items()])


def comparison_markdown(summaries: Mapping[str, Mapping[str, Any]], mask: str = "mask_1pct") -> str:
    """The networks side by side: units, FAIG / median(random) [95 % CI] for deblurring (blurry input) and
    denoising (noisy input), the two discriminativeness ratios, and
    :func:`~faiglib.studies.attention.small_set_verdict`'s answer."""
    rows = []
    for label, s in summaries.items():
        y, r = s["yardstick"][mask], s["ratios"][mask]
        rows.append([label, str(s["n_units"]), interval_text(y["deblur_filters"]["blur_input"]["faig_over_random"]),
                     interval_text(y["denoise_filters"]["noise_input"]["faig_over_random"]),
                     f"{r['noise_input_deblur_over_denoise_masking']:.3g}",
                     f"{r['blur_input_denoise_over_deblur_masking']:.3g}", small_set_verdict(s, mask)["answer"]])
    return markdown_table(["network", "units", "deblur: FAIG / random [95 % CI]", "denoise: FAIG / random [95 % CI]",
                           "noisy: deblur ÷ denoise", "blurry: denoise ÷ deblur", "small set per degradation?"], rows)


def seed_answers_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """One row per network of :func:`faiglib.studies.attention.over_seeds`: the seeds, the rule's answer for each,
    and the answer over seeds (the common one, or "differs by seed")."""
    return markdown_table(["network", "seeds", "answer per seed", "over seeds"],
                          [[r["network"], ", ".join(map(str, r["seeds"])), "; ".join(r["answers"]), r["answer"]]
                           for r in rows])

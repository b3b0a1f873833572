"""FAIG on a workspace's pair (paper Sec. 4.1): completeness of the quadrature and the overlap of the
discriminative sets with and without gradient elimination (Eq. 7)."""
from __future__ import annotations

from faiglib.methods.faig import DiscriminativeFilters, faig

__all__ = ["completeness", "overlap_summary"]


def completeness(ws, kind: str = "blur", image: int = 0, steps=(1, 2, 5, 10, 20),
                 methods=("left", "trapezoid")) -> dict[str, list[dict[str, float]]]:
    """FAIG completeness on one analysis image: for each quadrature rule and N, the signed attributions'
    sum, the exact loss change L(target) − L(baseline) and their relative gap ``|delta| / |loss change|``."""
    base, target = ws.states()
    base = {k: v.to(ws.device) for k, v in base.items()}
    target = {k: v.to(ws.device) for k, v in target.items()}
    aset = ws.analysis_set()
    x = aset.lr[kind][image].unsqueeze(0).to(ws.device)
    y = aset.hr[image].unsqueeze(0).to(ws.device)
    model = ws.architecture()
    table: dict[str, list[dict[str, float]]] = {}
    for method in methods:
        rows = []
        for n in steps:
            r = faig(model, base, target, x, y, n_steps=n, method=method)
            change = float(r.loss_target - r.loss_baseline)
            rows.append({"n_steps": n, "attribution_sum": change + float(r.delta), "loss_change": change,
                         "relative_gap": abs(float(r.delta)) / abs(change)})
        table[method] = rows
    return table


def overlap_summary(ws, scores: DiscriminativeFilters | None = None, proportion: float = 0.01) -> dict[str, float]:
    """Jaccard overlaps of top-``proportion`` sets: deblur vs denoise, with and without gradient elimination,
    and each set with vs without elimination."""
    scores = scores or ws.scores()

    def jaccard(a, b):
        a, b = set(a.tolist()), set(b.tolist())
        return len(a & b) / len(a | b)

    with_e = {d: scores.top(d, proportion, eliminate=True) for d in ("blur", "noise")}
    without = {d: scores.top(d, proportion, eliminate=False) for d in ("blur", "noise")}
    return {"deblur vs denoise (with elimination)": jaccard(with_e["blur"], with_e["noise"]),
            "deblur vs denoise (without elimination)": jaccard(without["blur"], without["noise"]),
            "deblur: with vs without elimination": jaccard(with_e["blur"], without["blur"]),
            "denoise: with vs without elimination": jaccard(with_e["noise"], without["noise"])}

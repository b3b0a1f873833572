"""One object per notebook run: profile + seed + data + device -> cached artefacts and result files.

Each section notebook builds an :class:`Experiment` from its parameters and asks it for what it needs
(``pair()``, ``scores()``, ...). Whatever is missing is produced and cached under
``<out>/<profile>/faiglib-<version>/<net>-seed<seed>/``, so a section runs on its own and a rerun reuses what is there.
Headline numbers go to ``<results>/<profile>/<section>.json``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

import torch

from .attribution import DiscriminativeFilters, discriminative_filters
from .baselines import FilterRanking, abs_change_ranking, input_ig_ranking, random_filter_ranking
from .checkpoint import atomic_write_text, load_model, load_state
from .data import center_crop, resolve_images
from .degradations import AnalysisSet, build_analysis_set
from .filters import FilterIndex
from .networks import build_network
from .profiles import Profile, get_profile
from .training import TrainResult, degradation_of, evaluate_psnr, train_pair, train_stage

__all__ = ["Experiment", "FUNCTIONS", "METHODS", "experiments", "notebook_experiment",
           "notebook_experiments", "write_results",
           "edition_markdown"]

#: degradation -> the network function that removes it, as the paper names filter sets and JSON keys.
FUNCTIONS = {"blur": "deblur", "noise": "denoise"}

#: filter-selection methods compared in Table 2 (keys of :meth:`Experiment.rankings`) and their labels.
METHODS = {"faig": "FAIG", "ig": "IG", "abs_change": "|θ−θ̄|", "random": "random"}


@dataclass
class Experiment:
    """Parameters of a run. ``data``/``train_data`` of ``None`` fall back to the profile's."""

    profile: Profile | str = "cpu"
    seed: int = 0
    device: str = "cpu"
    data: str | None = None
    train_data: str | None = None
    out: str | Path = "artifacts"
    results: str | Path = "results"
    arch: str | None = None
    progress: bool = True
    #: True: the target is the one fine-tuned on a range of levels (``profile.levels_*_range``) from the same
    #: baseline; everything derived from it is cached in ``<workdir of the fixed-level pair>/levels``.
    levels: bool = False
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.profile = get_profile(self.profile)
        self.spec = self.profile.network(self.arch)
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {self.device!r} requested but CUDA is not available")
        self.data = self.data or self.profile.analysis_data
        self.train_data = self.train_data or self.profile.train_data
        if not self.train_data:
            raise ValueError(f"profile {self.profile.name!r} has no default training data: pass train_data "
                             f"(a folder of HR images, or several joined by ':')")
        self.out, self.results = Path(self.out), Path(self.results)

    # ---- paths -------------------------------------------------------------------------------------------
    @property
    def workdir(self) -> Path:
        """``<out>/<profile>/faiglib-<version>/<net>-seed<seed>``: a new faiglib version starts a fresh cache.
        (Within a version, each training stage also checks a key of its settings before reusing a checkpoint.)"""
        return self.pair_dir / "levels" if self.levels else self.pair_dir

    @property
    def pair_dir(self) -> Path:
        """``<out>/<profile>/faiglib-<version>/<net>-seed<seed>``: the baseline (shared by both targets)."""
        from . import __version__

        return self.out / self.profile.name / f"faiglib-{__version__}" / f"{self.spec.label}-seed{self.seed}"

    @property
    def degradation(self):
        return degradation_of(self.profile)

    def _data_key(self) -> str:
        key = json.dumps([str(self.data), self.profile.analysis_crop, self.profile.max_analysis_images,
                          self.profile.scale], sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:10]

    # ---- data --------------------------------------------------------------------------------------------
    def analysis_images(self) -> list[tuple[str, torch.Tensor]]:
        """HR analysis images: the profile's crop and count applied, sides multiples of the scale."""
        if "analysis" not in self._cache:
            images = resolve_images(self.data, self.profile.scale)
            if self.profile.max_analysis_images:
                images = images[: self.profile.max_analysis_images]
            if self.profile.analysis_crop:
                images = [(n, center_crop(x, self.profile.analysis_crop, self.profile.scale)) for n, x in images]
            self._cache["analysis"] = images
        return self._cache["analysis"]

    def analysis_set(self) -> AnalysisSet:
        """Clean / blur / noise / blur+noise LR versions of the analysis images (seeded by ``seed``)."""
        if "analysis_set" not in self._cache:
            self._cache["analysis_set"] = build_analysis_set(self.analysis_images(), self.degradation, self.seed)
        return self._cache["analysis_set"]

    def train_images(self) -> list[tuple[str, torch.Tensor]]:
        if "train" not in self._cache:
            self._cache["train"] = resolve_images(self.train_data, self.profile.scale)
        return self._cache["train"]

    # ---- models ------------------------------------------------------------------------------------------
    def pair(self) -> tuple[TrainResult, TrainResult]:
        """Train (or load from the cache) the baseline and the target model."""
        if "pair" not in self._cache:
            ranges = dict(blur_range=self.profile.levels_blur_range,
                          noise_range=self.profile.levels_noise_range) if self.levels else {}
            self._cache["pair"] = train_pair(profile=self.profile, network=self.spec,
                                             train_images=self.train_images(), val_images=self._val_images(),
                                             out_dir=self.pair_dir, target_out_dir=self.workdir, seed=self.seed,
                                             device=self.device, progress=self.progress,
                                             data_label=str(self.train_data), **ranges)
        return self._cache["pair"]

    def _val_images(self) -> list[tuple[str, torch.Tensor]]:
        """Validation images for training logs (they never change the weights): 128² crops of 4 analysis images."""
        return [(n, center_crop(x, 128, self.profile.scale)) for n, x in self.analysis_images()[:4]]

    def states(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Baseline and target state dicts (EMA weights where trained with EMA); read once, then kept."""
        if "states" not in self._cache:
            base, target = self.pair()
            self._cache["states"] = (load_state(base.checkpoint)[0], load_state(target.checkpoint)[0])
        return self._cache["states"]

    def model(self, which: str = "target") -> torch.nn.Module:
        """The ``"baseline"`` or ``"target"`` network on ``device``, in eval mode; loaded once, then shared
        (masking is a context manager that restores the weights exactly, so sharing is safe)."""
        key = f"model:{which}"
        if key not in self._cache:
            base, target = self.pair()
            path = {"baseline": base.checkpoint, "target": target.checkpoint}[which]
            self._cache[key] = load_model(path).to(self.device).eval()
        return self._cache[key]

    def architecture(self) -> torch.nn.Module:
        """An untrained instance of the network (for attribution, which only needs the architecture)."""
        return build_network(self.spec.arch, **self.spec.kwargs(self.profile.scale)).to(self.device)

    @cached_property
    def filter_index(self) -> FilterIndex:
        return FilterIndex(self.architecture())

    # ---- attribution -------------------------------------------------------------------------------------
    def scores(self, n_steps: int | None = None, method: str | None = None) -> DiscriminativeFilters:
        """Per-image FAIG scores for blur and noise on the analysis set (cached per data and N/method)."""
        n_steps = n_steps or self.profile.n_steps
        method = method or self.profile.method
        path = self.workdir / f"faig_{self._data_key()}_N{n_steps}_{method}_{self.profile.precision}.pt"
        if str(path) in self._cache:
            return self._cache[str(path)]
        if path.exists():
            self._cache[str(path)] = DiscriminativeFilters.load(path)
            return self._cache[str(path)]
        base, target = self.states()
        result = discriminative_filters(self.architecture(), {k: v.to(self.device) for k, v in base.items()},
                                        {k: v.to(self.device) for k, v in target.items()}, self._analysis_on_device(),
                                        n_steps=n_steps, method=method,
                                        internal_batch_size=self.profile.internal_batch_size,
                                        precision=self.profile.precision, progress=self.progress)
        result.per_image = {k: v.cpu() for k, v in result.per_image.items()}
        result.losses = {k: v.cpu() for k, v in result.losses.items()}
        result.deltas = {k: v.cpu() for k, v in result.deltas.items()}
        result.meta.update(profile=self.profile.name, seed=self.seed, network=self.spec.label, data=str(self.data))
        result.save(path)
        self._cache[str(path)] = result
        return result

    def _analysis_on_device(self) -> AnalysisSet:
        aset = self.analysis_set()
        if self.device == "cpu":
            return aset
        return AnalysisSet(aset.names, [x.to(self.device) for x in aset.hr],
                           {k: [x.to(self.device) for x in v] for k, v in aset.lr.items()}, aset.degradation, aset.seed)

    def ig_ranking(self) -> FilterRanking:
        """The paper's "IG" baseline (:func:`~faiglib.baselines.input_ig_ranking`: input-space path from the clean
        to the degraded LR image on the target net) on the analysis set, with the profile's N; cached on disk."""
        n_steps, method = self.profile.n_steps, self.profile.method
        path = self.workdir / f"ig_{self._data_key()}_N{n_steps}_{method}.pt"
        if str(path) not in self._cache:
            if path.exists():
                ranking = FilterRanking.load(path)
            else:
                _, target = self.states()
                aset = self._analysis_on_device()
                ranking = input_ig_ranking(self.architecture(), {k: v.to(self.device) for k, v in target.items()},
                                           aset.lr["clean"], {d: aset.lr[d] for d in FUNCTIONS},
                                           n_steps=n_steps, method=method)
                ranking.meta.update(profile=self.profile.name, seed=self.seed, network=self.spec.label,
                                    data=str(self.data))
                ranking.save(path)
            self._cache[str(path)] = ranking
        return self._cache[str(path)]

    def random_rankings(self, draws: int | None = None) -> list[FilterRanking]:
        """``draws`` (default ``profile.random_draws``) independent random orders, seeded by the experiment's
        seed: draw ``r`` uses seed ``1000 · seed + r``. The effect of masking one random set varies a lot from
        draw to draw, so statistics use several."""
        draws = self.profile.random_draws if draws is None else draws
        return [random_filter_ranking(self.filter_index, self.seed * 1000 + r, tuple(FUNCTIONS)) for r in range(draws)]

    def ranking(self, method: str):
        """The ranking of one selection method of :data:`METHODS`, with ``.top(degradation, proportion)``:
        ``"faig"`` (Eq. 7, with gradient elimination), ``"ig"``, ``"abs_change"`` or ``"random"`` (the first
        random draw)."""
        if method == "faig":
            return self.scores()
        if method == "ig":
            return self.ig_ranking()
        if method == "abs_change":
            base, target = self.states()
            return abs_change_ranking(self.architecture(), base, target, tuple(FUNCTIONS))
        if method == "random":
            return self.random_rankings(1)[0]
        raise ValueError(f"unknown selection method {method!r}; known: {list(METHODS)}")

    def rankings(self) -> dict[str, Any]:
        """``{method: ranking}`` for every method of :data:`METHODS` (see :meth:`ranking`)."""
        return {m: self.ranking(m) for m in METHODS}

    def selections(self, proportion: float, scores: DiscriminativeFilters | None = None) -> dict[str, dict]:
        """``{degradation: {"faig": indices, "random": [indices, …]}}`` for the top ``proportion`` of filters;
        ``"random"`` holds the top ``proportion`` of each of :meth:`random_rankings`."""
        scores = scores or self.scores()
        randoms = self.random_rankings()
        return {d: {"faig": scores.top(d, proportion), "random": [r.top(d, proportion) for r in randoms]}
                for d in scores.degradations}

    # ---- results -----------------------------------------------------------------------------------------
    def write_results(self, section: str, payload: Mapping[str, Any]) -> Path:
        """Write ``payload`` with the run's provenance to ``<results>/<profile>/<section>.json`` (atomically)."""
        return write_results(self.results, self.profile.name, section, payload, seed=self.seed, device=self.device,
                             network=self.spec.label, data=str(self.data), train_data=str(self.train_data))

    # ---- masking -----------------------------------------------------------------------------------------
    def method_masking(self, proportions=None, channels=("gray", "blue"), methods=tuple(METHODS)) -> dict[str, dict]:
        """Mean output difference when the top filters of each selection method are masked (Table 2, Fig. 3).

        ``{channel: {"mask_1pct": {"deblur_filters": {"blur_input": {"faig": x, "ig": …, "abs_change": …,
        "random": m, "random_std": s}, "noise_input": {...}}, "denoise_filters": {...}}, ...}}``: values are
        means over the analysis images; ``random`` is the mean over the profile's random draws and
        ``random_std`` their standard deviation. Every channel comes from the same forward passes.
        Default proportions: ``profile.curve_proportions``.
        """
        from .masking import masking_effects, reference_outputs

        proportions = proportions or self.profile.curve_proportions
        kinds = tuple(FUNCTIONS)
        model = self.model("target")
        base = {k: v.to(self.device) for k, v in self.states()[0].items()}
        aset = self.analysis_set()
        reference = reference_outputs(model, aset, kinds)
        ranked = {m: self.ranking(m) for m in methods if m != "random"}
        randoms = self.random_rankings() if "random" in methods else []

        def effect(filters):
            return masking_effects(model, base, filters, aset, kinds, channels, self.filter_index, reference)

        table: dict[str, dict] = {c: {} for c in channels}
        for p in proportions:
            mask = f"mask_{p * 100:g}pct"
            for c in channels:
                table[c][mask] = {}
            for d in kinds:
                found = {m: effect(r.top(d, p)) for m, r in ranked.items()}
                drawn = [effect(r.top(d, p)) for r in randoms]
                for c in channels:
                    per_input: dict[str, dict] = {}
                    for k in kinds:
                        row = {m: float(e[c][k].mean()) for m, e in found.items()}
                        if drawn:
                            draws = torch.stack([e[c][k].mean() for e in drawn])
                            row["random"] = float(draws.mean())
                            row["random_std"] = float(draws.std()) if len(draws) > 1 else 0.0
                        per_input[f"{k}_input"] = row
                    table[c][mask][f"{FUNCTIONS[d]}_filters"] = per_input
        return table

    def masking_table(self, proportions=None, channel: str = "gray") -> dict[str, dict]:
        """FAIG versus random filters: :meth:`method_masking` for one channel and the profile's
        ``mask_proportions``: ``{"mask_1pct": {"deblur_filters": {"blur_input": {"faig", "random",
        "random_std"}, ...}, ...}, ...}``."""
        return self.method_masking(proportions or self.profile.mask_proportions, (channel,), ("faig", "random"))[channel]

    @torch.no_grad()
    def _masked_rows(self, image: int, columns) -> dict[str, dict[str, torch.Tensor]]:
        """For each degraded input: input, target output, ``columns(kind)`` = ``{label: filters}`` masked, GT."""
        from .masking import masked

        model = self.model("target")
        base, _ = self.states()
        aset = self.analysis_set()
        out: dict[str, dict[str, torch.Tensor]] = {}
        for kind in FUNCTIONS:
            x = aset.lr[kind][image].unsqueeze(0).to(self.device)
            row = {"input": aset.lr[kind][image], "target output": model(x)[0].clamp(0, 1).cpu()}
            for label, filters in columns(kind).items():
                with masked(model, base, filters, self.filter_index):
                    row[label] = model(x)[0].clamp(0, 1).cpu()
            row["ground truth"] = aset.hr[image]
            out[kind] = row
        return out

    def example_outputs(self, proportion: float = 0.01, image: int = 0) -> dict[str, dict[str, torch.Tensor]]:
        """Images for a Fig. 2-style grid: for each degraded input, the input, the target's output and the
        outputs with the top ``proportion`` deblurring / denoising filters masked. Tensors ``(3, H, W)``."""
        scores = self.scores()
        return self._masked_rows(image, lambda kind: {f"{FUNCTIONS[d]} filters masked": scores.top(d, proportion)
                                                      for d in FUNCTIONS})

    def method_example_outputs(self, proportion: float = 0.01, image: int = 0) -> dict[str, dict[str, torch.Tensor]]:
        """Images for a Fig. 3-style grid: for the blurry (noisy) input, the outputs with the top ``proportion``
        deblurring (denoising) filters of each method of :data:`METHODS` masked. Tensors ``(3, H, W)``."""
        rankings = self.rankings()
        return self._masked_rows(image, lambda kind: {f"{METHODS[m]} masked": r.top(kind, proportion)
                                                      for m, r in rankings.items()})

    def psnr_table(self) -> dict[str, dict[str, float]]:
        """RGB PSNR (dB) of baseline and target on every analysis condition: ``{kind: {"baseline", "target"}}``."""
        aset = self.analysis_set()
        models = {"baseline": self.model("baseline"), "target": self.model("target")}
        return {kind: {name: round(evaluate_psnr(m, aset, (kind,), self.device, self.profile.scale), 3)
                       for name, m in models.items()} for kind in aset.lr}

    @torch.no_grad()
    def _checkpoint_psnr(self, checkpoint: Path, kinds) -> dict[str, float]:
        """``{kind: RGB PSNR (dB, 3 decimals)}`` of the model saved at ``checkpoint`` on the analysis inputs."""
        model = load_model(checkpoint).to(self.device).eval()
        aset = self.analysis_set()
        return {k: round(evaluate_psnr(model, aset, (k,), self.device, self.profile.scale), 3) for k in kinds}

    # ---- retraining (Sec. 5.2.2) and where the filters live (Sec. 5.2.3) ----------------------------------
    def retrained(self, filters: torch.Tensor | None, tag: str, task: str = "blind") -> TrainResult:
        """The baseline retrained with only ``filters`` (flat indices) free to change, or every parameter
        (``filters=None``, the upper bound); cached as ``<net>_retrain-<tag>.pth``. ``task``: ``"blind"`` -- the
        target's task (blur and noise each with ``p_blur`` / ``p_noise``) -- or one degradation alone on every
        sample, ``"blur"`` or ``"noise"`` (tag suffix ``-<task>-only``); the same batches of patches either way."""
        tasks = {"blind": {}, "blur": dict(p_blur=1.0, p_noise=0.0), "noise": dict(p_blur=0.0, p_noise=1.0)}
        if task not in tasks:
            raise ValueError(f"unknown retraining task {task!r}; use one of {list(tasks)}")
        profile = self.profile.with_(**tasks[task])
        tag = tag if task == "blind" else f"{tag}-{task}-only"
        trainable = None if filters is None else self.filter_index.masks(filters)
        return train_stage("retrain", profile=profile, network=self.spec, train_images=self.train_images(),
                           val_images=self._val_images(), out_dir=self.workdir, seed=self.seed,
                           init_state=self.states()[0], device=self.device, progress=self.progress,
                           data_label=str(self.train_data), trainable=trainable, tag=tag)

    def retraining_table(self, proportion: float | None = None, methods=tuple(METHODS)) -> dict[str, dict]:
        """Table 3: RGB PSNR (dB) on the blurry and noisy analysis inputs of the baseline retrained with only the
        top ``proportion`` (default ``profile.retrain_proportion``) deblurring or denoising filters of each
        selection method, all with one budget (``profile.retrain_iters``):

        ``{"upper_bound": {"blur_input": dB, "noise_input": dB}, "deblur_filters": {"faig": {...}, "ig": …},
        "denoise_filters": {...}, "baseline": {...}, "target": {...}}``. Selections that are the same set of
        filters (``|θ−θ̄|`` and random rank alike for both degradations) are trained once.
        """
        proportion = proportion or self.profile.retrain_proportion
        psnr_of: dict[Any, dict[str, float]] = {}

        def evaluate(filters, tag):
            key = None if filters is None else tuple(sorted(int(i) for i in filters))
            if key not in psnr_of:
                psnr = self._checkpoint_psnr(self.retrained(filters, tag).checkpoint, FUNCTIONS)
                psnr_of[key] = {f"{k}_input": v for k, v in psnr.items()}
            return psnr_of[key]

        table: dict[str, dict] = {"upper_bound": evaluate(None, "all")}
        for d, function in FUNCTIONS.items():
            table[f"{function}_filters"] = {
                m: evaluate(self.ranking(m).top(d, proportion), f"{m}-{function}-{proportion * 100:g}pct")
                for m in methods}
        reference = self.psnr_table()
        for which in ("baseline", "target"):
            table[which] = {f"{k}_input": reference[k][which] for k in FUNCTIONS}
        return table

    def single_task_retraining(self, degradations=("blur", "noise"), proportion: float | None = None,
                               methods=("faig", "random")) -> dict[str, dict]:
        """A diagnostic next to Table 3: the top ``proportion`` filters of degradation ``d`` of each method
        retrained on ``d`` alone (every sample blurred, or every sample noisy), the PSNR (dB) on the analysis
        inputs with ``d``: ``{"deblur_filters": {"faig": dB, "random": dB, "baseline": dB}, ...}``. On the blind
        task the noisy samples' larger errors can dominate what 1 % of the filters learn; here they cannot."""
        proportion = proportion or self.profile.retrain_proportion
        reference = self.psnr_table()
        table: dict[str, dict] = {}
        for d in degradations:
            function = FUNCTIONS[d]
            row = {}
            for m in methods:
                result = self.retrained(self.ranking(m).top(d, proportion), f"{m}-{function}-{proportion * 100:g}pct", d)
                row[m] = self._checkpoint_psnr(result.checkpoint, (d,))[d]
            row["baseline"] = reference[d]["baseline"]
            table[f"{function}_filters"] = row
        return table

    def depth_summary(self, proportion: float = 0.01) -> dict[str, float]:
        """Mean relative depth (first conv 0, last conv 1) of the top ``proportion`` FAIG deblurring and denoising
        filters, and of all filters (what a uniform random selection gives on average): the paper's claim is
        that deblurring filters sit more in the back of the network (Sec. 5.2.3)."""
        depth = self.filter_index.relative_depth()
        scores = self.scores()
        out = {f"{FUNCTIONS[d]}_filters": float(depth[scores.top(d, proportion)].mean()) for d in FUNCTIONS}
        out["all_filters"] = float(depth.mean())
        return out

    def completeness(self, kind: str = "blur", image: int = 0, steps=(1, 2, 5, 10, 20),
                     methods=("left", "trapezoid")) -> dict[str, list[dict[str, float]]]:
        """FAIG completeness on one analysis image: for each quadrature rule and N, the signed attributions'
        sum, the exact loss change L(target) − L(baseline) and their relative gap ``|delta| / |loss change|``."""
        from .attribution import faig

        base, target = self.states()
        base = {k: v.to(self.device) for k, v in base.items()}
        target = {k: v.to(self.device) for k, v in target.items()}
        aset = self.analysis_set()
        x = aset.lr[kind][image].unsqueeze(0).to(self.device)
        y = aset.hr[image].unsqueeze(0).to(self.device)
        model = self.architecture()
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

    def overlap_summary(self, scores: DiscriminativeFilters | None = None, proportion: float = 0.01) -> dict[str, float]:
        """Jaccard overlaps of top-``proportion`` sets: deblur vs denoise, with and without gradient elimination,
        and each set with vs without elimination."""
        scores = scores or self.scores()

        def jaccard(a, b):
            a, b = set(a.tolist()), set(b.tolist())
            return len(a & b) / len(a | b)

        with_e = {d: scores.top(d, proportion, eliminate=True) for d in ("blur", "noise")}
        without = {d: scores.top(d, proportion, eliminate=False) for d in ("blur", "noise")}
        return {"deblur vs denoise (with elimination)": jaccard(with_e["blur"], with_e["noise"]),
                "deblur vs denoise (without elimination)": jaccard(without["blur"], without["noise"]),
                "deblur: with vs without elimination": jaccard(with_e["blur"], without["blur"]),
                "denoise: with vs without elimination": jaccard(with_e["noise"], without["noise"])}


def experiments(profile: Profile | str = "cpu", seeds=None, archs=None, **parameters: Any) -> list[Experiment]:
    """One :class:`Experiment` per (network, seed), networks outermost: by default every network of the
    profile and the profile's ``seeds`` (independently trained pairs, for mean ± std over seeds)."""
    profile = get_profile(profile)
    seeds = tuple(profile.seeds if seeds is None else seeds)
    archs = tuple(s.label for s in profile.networks) if archs is None else tuple(archs)
    if not seeds or not archs:
        raise ValueError(f"need at least one seed and one network, got seeds={seeds}, archs={archs}")
    return [Experiment(profile=profile, seed=int(seed), arch=arch, **parameters) for arch in archs for seed in seeds]


def write_results(results: str | Path, profile: str, section: str, payload: Mapping[str, Any],
                  **provenance: Any) -> Path:
    """Write ``payload`` to ``<results>/<profile>/<section>.json`` (atomically), after the provenance
    (``seed``, ``device``, ``network``, ``data``, ...) and the git commit."""
    from .checkpoint import git_commit

    body = {"profile": profile, **provenance, "commit": git_commit(), **payload}
    return atomic_write_text(json.dumps(body, indent=2, sort_keys=False) + "\n",
                             Path(results) / profile / f"{section}.json")


def notebook_experiment(**parameters: Any) -> Experiment:
    """The section notebooks' common start: figure defaults for the book, and the :class:`Experiment` of
    the notebook's ``parameters`` cell (progress bars off: they would only clutter the rendered pages)."""
    _book_figures()
    return Experiment(progress=False, **parameters)


def notebook_experiments(**parameters: Any) -> list[Experiment]:
    """:func:`notebook_experiment` for notebooks over several seeds and networks (see :func:`experiments`)."""
    _book_figures()
    return experiments(progress=False, **parameters)


def _book_figures() -> None:
    import matplotlib

    matplotlib.rcParams["figure.dpi"] = 80


def edition_markdown(results: str | Path, profile: str) -> str:
    """A Markdown table saying which profile, device, data and commit produced each section's results
    (read from ``<results>/<profile>/*.json``), for the book's front page."""
    files = sorted(Path(results, profile).glob("*.json"))
    if not files:
        return f"*No results for profile `{profile}` yet: run `make book PROFILE={profile}`.*\n"
    lines = [f"This edition was produced with the `{profile}` profile:", "",
             "| section | device | network | seed | analysis data | commit |", "| --- | --- | --- | --- | --- | --- |"]
    for f in files:
        r = json.loads(f.read_text())
        data = Path(str(r.get("data", ""))).name or r.get("data", "")
        lines.append(f"| {f.stem} | {r.get('device', '?')} | {r.get('network', '?')} | {r.get('seed', '?')} | "
                     f"{data} | `{str(r.get('commit', '?'))[:12]}` |")
    return "\n".join(lines) + "\n"


"""One object per notebook run: profile + seed + data + device -> artefacts in a store, and result files.

Each section notebook builds a :class:`Workspace` from its parameters and asks it for what it needs
(``pair()``, ``scores()``, ...). Whatever is missing is produced and kept in the content-addressed
:class:`~faiglib.core.store.Store` under ``<out>/store/``: each entry's key hashes what it was computed from
(the image bytes, the keys of the entries it used, the settings that matter, the algorithm's version), so a
section runs on its own, a rerun reuses what is there, and a changed input never meets a stale artefact.
Headline numbers go to ``<results>/<profile>/<section>.json``.

The entries and what their keys hold:

* ``baseline``: network, seed, training images (file digests), baseline settings, training version;
* ``target``: the baseline's key, seed, training images, target settings (and the level ranges of a levels target);
* ``faig`` / ``ig``: the pair's keys, the analysis set's tensors (images, degradation and noise), N, rule,
  precision, the method's version; ``retrain``: the baseline's key, the selected filters, task and settings.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch

from faiglib.methods.faig import FAIG_VERSION, DiscriminativeFilters, discriminative_filters
from faiglib.methods.baselines import IG_VERSION, FilterRanking, abs_change_ranking, input_ig_ranking, random_filter_ranking
from faiglib.core.checkpoint import load_state, record_file
from faiglib.core.results import write_results
from faiglib.core.paths import quadrature
from faiglib.core.store import Store, digest, tensor_digest
from faiglib.core.devices import check_device
from faiglib.data.images import center_crop, check_analysis_size, resolve_images, source_files
from faiglib.data.degradations import DEGRADATIONS_VERSION, AnalysisSet, build_analysis_set
from faiglib.core.units import FilterIndex
from faiglib.models.loading import load_model
from faiglib.models.networks import build_network
from faiglib.profiles import Profile, get_profile
from faiglib.training.stages import (TRAINING_VERSION, TrainResult, degradation_of, evaluate_psnr, stage_settings,
                                     train_stage)

__all__ = ["Workspace", "FUNCTIONS", "SELECTION_METHODS", "workspaces"]

#: degradation -> the network function that removes it, as the paper names filter sets and JSON keys.
FUNCTIONS = {"blur": "deblur", "noise": "denoise"}

#: filter-selection methods compared in Table 2 (keys of :meth:`Workspace.rankings`) and their labels.
SELECTION_METHODS = {"faig": "FAIG", "ig": "IG", "abs_change": "|θ−θ̄|", "random": "random"}


@dataclass
class Workspace:
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
    #: baseline; everything derived from it has that target's key in its own.
    levels: bool = False
    #: The degradation of the analysis set (what FAIG, masking, ... are measured on), separate from the training
    #: recipe: ``None`` is the level the target was trained on (``profile.blur_sigma`` / ``noise_sigma``).
    analysis_blur_sigma: float | None = None
    analysis_noise_sigma: float | None = None
    #: True: only read the store (e.g. one someone else computed, or a read-only copy): an artefact that is not
    #: there is a :class:`~faiglib.core.store.ReadOnlyStoreError` naming the entry, never an hour of training.
    #: A store folder this process may not write is read this way whatever this says.
    read_only: bool = False
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.profile = get_profile(self.profile)
        self.spec = self.profile.network(self.arch)
        check_device(self.device)  # now, not when training starts
        for name in ("analysis_blur_sigma", "analysis_noise_sigma"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0
                                      or not math.isfinite(value)):
                raise ValueError(f"{name} must be a finite sigma > 0, or None for the training level; got {value!r}")
        self.data = self.data or self.profile.analysis_data
        self.train_data = self.train_data or self.profile.train_data
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int (it seeds the training and the analysis noise); "
                             f"got {self.seed!r}")
        if not self.train_data:
            raise ValueError(f"profile {self.profile.name!r} has no default training data: pass train_data "
                             f"(a folder of HR images, or several joined by ':')")
        self.out, self.results = Path(self.out), Path(self.results)

    # ---- the store and the keys of the pair --------------------------------------------------------------
    @cached_property
    def store(self) -> Store:
        """The artefact store under ``<out>/store``."""
        return Store(self.out / "store")

    def _train_digest(self) -> str:
        """Digest of the training images' bytes (file digests cached by size and mtime; decoded pixels for the
        bundled photos), in the order training reads them."""
        def compute() -> str:
            files = source_files(self.train_data)
            return tensor_digest(self.train_images()) if files is None else digest(self.store.file_digests(files))

        return self.memo("train_digest", compute)

    @property
    def recipe(self) -> Profile:
        """The profile that trains this workspace's network: :attr:`profile` with the network's own training
        fields (``NetSpec.training``, :meth:`~faiglib.profiles.Profile.training_for`). Everything else -- the
        analysis set, FAIG, masking -- follows :attr:`profile`."""
        return self.profile.training_for(self.spec)

    def _stage_parts(self, stage: str, profile: Profile | None = None) -> dict[str, Any]:
        # the network as it is built (label and constructor arguments), so that a NetSpec field that does not
        # change the network does not change the keys
        network = {"label": self.spec.label, "arch": self.spec.arch, "kwargs": self.spec.kwargs(self.profile.scale)}
        # training degrades its patches with data.degradations: a change there changes the weights too
        return {"version": TRAINING_VERSION, "degradations": DEGRADATIONS_VERSION, "network": network, "seed": self.seed,
                "train": self._train_digest(), "settings": stage_settings(stage, profile or self.recipe, self.device)}

    def baseline_parts(self) -> dict[str, Any]:
        """What the baseline's store key is made from."""
        return self._stage_parts("baseline")

    def target_parts(self) -> dict[str, Any]:
        """What the target's store key is made from (the baseline's key among them)."""
        parts = {**self._stage_parts("target"), "baseline": self.store.key("baseline", self.baseline_parts())}
        if self.levels:
            parts["ranges"] = {"blur": list(self.profile.levels_blur_range),
                               "noise": list(self.profile.levels_noise_range)}
        return parts

    def pair_keys(self) -> list[str]:
        """``[baseline key, target key]``: part of the key of everything computed from the pair."""
        return [self.store.key("baseline", self.baseline_parts()), self.store.key("target", self.target_parts())]

    @property
    def workdir(self) -> Path:
        """The target's store entry (it holds the target checkpoint); a place for a study's own files
        that depend on the pair and nothing else."""
        return self.store.path("target", self.target_parts())

    @property
    def degradation(self):
        """The analysis degradation: the training recipe's unless ``analysis_blur_sigma`` / ``analysis_noise_sigma``."""
        d = degradation_of(self.profile)
        return replace(d, blur_sigma=d.blur_sigma if self.analysis_blur_sigma is None else float(self.analysis_blur_sigma),
                       noise_sigma=d.noise_sigma if self.analysis_noise_sigma is None else float(self.analysis_noise_sigma))

    def analysis_digest(self) -> str:
        """Key of the analysis set: its HR images' bytes, degradation and noise seed (:meth:`AnalysisSet.key`)."""
        return self.memo("analysis_digest", lambda: self.analysis_set().key())

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per workspace and ``key`` (in memory only: inputs built from the workspace's own
        parameters, e.g. a study's degraded image set). Anything expensive belongs in :meth:`cached`."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def cached(self, kind: str, parts: Mapping[str, Any], compute: Callable[[], Any], save: Callable[[Any, Path], Any],
               load: Callable[[Path], Any], filename: str = "result.pt") -> Any:
        """The one cache-or-compute of faiglib: the store entry ``(kind, parts)``'s ``filename`` if it exists
        (loaded once per workspace), else ``compute()`` saved there. Concurrent runs compute it once."""
        path = self.store.path(kind, parts) / filename
        if str(path) not in self._cache:
            writable = not (self.read_only or self.store.read_only(kind, parts))
            with self.store.entry(kind, parts, write=writable) as folder:
                if (folder / filename).exists():
                    value = load(folder / filename)
                elif not writable:
                    raise self.store.missing(kind, parts, f"{kind} {filename}")
                else:
                    value = compute()
                    save(value, folder / filename)
                    record_file(folder / filename)  # a save that is not one of faiglib's atomic writes
            self._cache[str(path)] = value
        return self._cache[str(path)]

    # ---- data --------------------------------------------------------------------------------------------
    def analysis_images(self) -> list[tuple[str, torch.Tensor]]:
        """HR analysis images: the profile's crop and count applied, sides multiples of the scale."""
        def load() -> list[tuple[str, torch.Tensor]]:
            images = resolve_images(self.data, self.profile.scale)
            if self.profile.max_analysis_images:
                images = images[: self.profile.max_analysis_images]
            if self.profile.analysis_crop:
                images = [(n, center_crop(x, self.profile.analysis_crop, self.profile.scale)) for n, x in images]
            check_analysis_size(images, self.profile.max_analysis_pixels)  # whole-image FAIG of 12 MP would not fit
            return images

        return self.memo("analysis", load)

    def analysis_set(self) -> AnalysisSet:
        """Clean / blur / noise / blur+noise LR versions of the analysis images (seeded by ``seed``)."""
        return self.memo("analysis_set", lambda: build_analysis_set(self.analysis_images(), self.degradation, self.seed))

    def train_images(self) -> list[tuple[str, torch.Tensor]]:
        # as stored (uint8 / uint16): DIV2K-sized training sets fit in a few GB; patches become float on sampling
        return self.memo("train", lambda: resolve_images(self.train_data, self.profile.scale, raw=True))

    # ---- models ------------------------------------------------------------------------------------------
    def pair(self) -> tuple[TrainResult, TrainResult]:
        """Train (or load from the store) the baseline and the target model."""
        if "pair" not in self._cache:
            common = dict(profile=self.recipe, network=self.spec, train_images=self.train_images(),
                          val_images=self._val_images(), seed=self.seed, device=self.device, progress=self.progress,
                          data_label=str(self.train_data))
            with self._stage_entry("baseline", self.baseline_parts()) as folder:
                base = train_stage("baseline", out_dir=folder, **common)
            ranges = dict(blur_range=self.profile.levels_blur_range,
                          noise_range=self.profile.levels_noise_range) if self.levels else {}
            with self._stage_entry("target", self.target_parts()) as folder:
                target = train_stage("target", out_dir=folder, init_state=load_state(base.checkpoint)[0],
                                     **common, **ranges)
            self._cache["pair"] = (base, target)
        return self._cache["pair"]

    @contextmanager
    def _stage_entry(self, stage: str, parts: Mapping[str, Any], tag: str | None = None) -> Iterator[Path]:
        """The store entry of a training stage; read-only (see :attr:`read_only`), its finished checkpoint must
        be there, or the error names the entry instead of training."""
        writable = not (self.read_only or self.store.read_only(stage, parts))
        with self.store.entry(stage, parts, write=writable) as folder:
            name = f"{self.spec.label}_{stage}" + (f"-{tag}" if tag else "") + ".pth"
            if not writable and not (folder / name).exists():
                raise self.store.missing(stage, parts, f"the {self.spec.label} {stage} checkpoint {name}")
            yield folder

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
        """Per-image FAIG scores for blur and noise on the analysis set (stored per pair, analysis set, N, rule
        and precision). ``n_steps`` / ``method``: ``None`` is the profile's."""
        n_steps = self.profile.n_steps if n_steps is None else n_steps
        method = self.profile.method if method is None else method
        quadrature(n_steps, method)  # a bad N or rule fails here, before any training
        parts = {"version": FAIG_VERSION, "pair": self.pair_keys(), "analysis": self.analysis_digest(),
                 "n_steps": n_steps, "method": method, "precision": self.profile.precision}

        def compute() -> DiscriminativeFilters:
            base, target = self.states()
            result = discriminative_filters(self.architecture(), {k: v.to(self.device) for k, v in base.items()},
                                            {k: v.to(self.device) for k, v in target.items()},
                                            self._analysis_on_device(), n_steps=n_steps, method=method,
                                            internal_batch_size=self.profile.internal_batch_size,
                                            precision=self.profile.precision, progress=self.progress)
            result.per_image = {k: v.cpu() for k, v in result.per_image.items()}
            result.losses = {k: v.cpu() for k, v in result.losses.items()}
            result.deltas = {k: v.cpu() for k, v in result.deltas.items()}
            result.meta.update(profile=self.profile.name, seed=self.seed, network=self.spec.label,
                               data=str(self.data))
            return result

        return self.cached("faig", parts, compute, lambda r, path: r.save(path), DiscriminativeFilters.load)

    def _analysis_on_device(self) -> AnalysisSet:
        aset = self.analysis_set()
        if self.device == "cpu":
            return aset
        return AnalysisSet(aset.names, [x.to(self.device) for x in aset.hr],
                           {k: [x.to(self.device) for x in v] for k, v in aset.lr.items()}, aset.degradation, aset.seed)

    def ig_ranking(self) -> FilterRanking:
        """The paper's "IG" baseline (:func:`~faiglib.methods.baselines.input_ig_ranking`: input-space path from the
        clean to the degraded LR image on the target net) on the analysis set, with the profile's N; stored."""
        n_steps, method = self.profile.n_steps, self.profile.method
        parts = {"version": IG_VERSION, "target": self.pair_keys()[1], "analysis": self.analysis_digest(),
                 "n_steps": n_steps, "method": method}

        def compute() -> FilterRanking:
            _, target = self.states()
            aset = self._analysis_on_device()
            ranking = input_ig_ranking(self.architecture(), {k: v.to(self.device) for k, v in target.items()},
                                       aset.lr["clean"], {d: aset.lr[d] for d in FUNCTIONS},
                                       n_steps=n_steps, method=method)
            ranking.meta.update(profile=self.profile.name, seed=self.seed, network=self.spec.label,
                                data=str(self.data))
            return ranking

        return self.cached("ig", parts, compute, lambda r, path: r.save(path), FilterRanking.load)

    def random_rankings(self, draws: int | None = None) -> list[FilterRanking]:
        """``draws`` (default ``profile.random_draws``) independent random orders, seeded by the experiment's
        seed: draw ``r`` uses seed ``1000 · seed + r``. The effect of masking one random set varies a lot from
        draw to draw, so statistics use several."""
        draws = self.profile.random_draws if draws is None else draws
        if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
            raise ValueError(f"draws must be an integer >= 1, or None for the profile's random_draws; got {draws!r}")
        return [random_filter_ranking(self.filter_index, self.seed * 1000 + r, tuple(FUNCTIONS)) for r in range(draws)]

    def ranking(self, method: str):
        """The ranking of one selection method of :data:`SELECTION_METHODS`, with ``.top(degradation, proportion)``:
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
        raise ValueError(f"unknown selection method {method!r}; known: {list(SELECTION_METHODS)}")

    def rankings(self) -> dict[str, Any]:
        """``{method: ranking}`` for every method of :data:`SELECTION_METHODS` (see :meth:`ranking`)."""
        return {m: self.ranking(m) for m in SELECTION_METHODS}

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

    def psnr_table(self) -> dict[str, dict[str, float]]:
        """RGB PSNR (dB) of baseline and target on every analysis condition: ``{kind: {"baseline", "target"}}``."""
        aset = self.analysis_set()
        models = {"baseline": self.model("baseline"), "target": self.model("target")}
        return {kind: {name: round(evaluate_psnr(m, aset, (kind,), self.device, self.profile.scale), 3)
                       for name, m in models.items()} for kind in aset.lr}


def workspaces(profile: Profile | str = "cpu", seeds=None, archs=None, **parameters: Any) -> list[Workspace]:
    """One :class:`Workspace` per (network, seed), networks outermost: by default every network of the
    profile and the profile's ``seeds`` (independently trained pairs, for mean ± std over seeds)."""
    profile = get_profile(profile)
    seeds = tuple(profile.seeds if seeds is None else seeds)
    archs = tuple(s.label for s in profile.networks) if archs is None else tuple(archs)
    if not seeds or not archs:
        raise ValueError(f"need at least one seed and one network, got seeds={seeds}, archs={archs}")
    return [Workspace(profile=profile, seed=int(seed), arch=arch, **parameters) for arch in archs for seed in seeds]



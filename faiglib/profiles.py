"""Named experiment profiles: one frozen dataclass instead of a tree of YAML files.

* ``smoke`` -- seconds per notebook; for tests. Tiny nets, a few iterations: numbers mean nothing.
* ``cpu`` -- the default for ``make book`` on a 2-core machine: a small MSRResNet (32 features, 4 blocks),
  a few thousand iterations on scikit-image's bundled photos, FAIG with N = 20. Minutes per notebook.
  The target is fine-tuned with lr 5e-4 instead of the official 5e-5 (which has 100k iterations to work
  with): measured on this profile, lr 1e-4 for 3000 iterations taught the target to denoise but not to
  deblur (blurry-input PSNR 25.5 dB, below the baseline's 26.4 dB), 3e-4 gave 27.6 dB and 5e-4 28.8 dB.
  Table 1 (one branch vs two, ``table1_*``) is sized so that all of it -- both models x both settings x 3
  seeds = 12 trainings -- fits in about 15 minutes: width 24, a two-branch net of 3 DA blocks against
  the matched MSRResNet-24x5, 800 iterations of batch 16 on 48x48 HR patches. Measured single-threaded
  (``OMP_NUM_THREADS=1``) on the 2-core machine while other trainings ran: 89-95 s per one-branch and
  98-129 s per two-branch training, i.e. 15-20 minutes for all 12 (less on an idle machine).
  Retraining (Table 3) gets the target's budget, 3000 iterations: measured with 1000, even retraining every
  parameter ended below the baseline on blurry input (25.8 vs 26.4 dB) -- blind training learns to denoise
  first -- so no selection could show deblurring.
  ``train_precision="auto"`` trains in bf16 autocast where the CPU has native bfloat16 (AVX512-BF16 / AMX),
  fp32 elsewhere: measured 2.2x (MSRResNet-32x4) and 3.4x (64x16) training steps per second single-threaded on
  a loaded machine, 1.8x and 1.9x with two threads on an idle one (benchmarks/results-cpu.txt). The key of a
  bf16 stage holds the precision, so fp32 and bf16 weights never mix in the store; on a CPU without native bf16
  the same profile trains (slower) in fp32 and its numbers differ within the tolerance of
  tests/test_training.py's fp32-vs-bf16 test, not bit for bit. Table 1's short trainings stay fp32.
* ``gpu`` -- the paper's models at the scale one H200 affords in one ten-minute command
  (:mod:`faiglib.gpu.run`): a resident bf16 training loop of 30k + 8k iterations, FAIG/IG with N = 100 on
  whole Set14 images, Table 2 with 100 random draws.
* ``paper`` -- the paper's models (MSRResNet-64/16, SRCNN-style-64), N = 100, long training on a real data
  set (give ``train_data``, e.g. DIV2K or BSD200+T91). Meant for a GPU. Table 1 at width 64: 16 DA blocks
  against the matched MSRResNet-64x20, 100k iterations on 128x128 HR patches.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

__all__ = ["NET_TRAINING_FIELDS", "NetSpec", "Profile", "PROFILES", "get_profile"]


#: each architecture's own options of :class:`NetSpec` beyond width and depth (``None`` elsewhere), and how they
#: reach its constructor: ``kwargs(spec, scale)`` -> its keyword arguments (``num_feat`` and ``upscale`` added
#: for all). An architecture not listed takes ``num_feat`` and ``upscale`` alone.
ARCH_SPECS: dict[str, dict[str, Any]] = {
    "msrresnet": {"options": ("num_block", "global_residual"),
                  "kwargs": lambda spec, scale: {"num_block": 16 if spec.num_block is None else spec.num_block,
                                                 **({} if spec.global_residual else {"global_residual": False})}},
    "rcan": {"options": ("num_block", "num_group"),
             "kwargs": lambda spec, scale: {k: v for k, v in (("num_block", spec.num_block),
                                                              ("num_group", spec.num_group)) if v is not None}},
    # one width for SwinIR's tokens and its upsampler
    "swinir": {"options": ("depths", "num_heads", "window_size"),
               "kwargs": lambda spec, scale: {"embed_dim": spec.num_feat, **{
                   k: v for k, v in (("depths", None if spec.depths is None else list(spec.depths)),
                                     ("num_heads", spec.num_heads), ("window_size", spec.window_size))
                   if v is not None}}},
}

#: the label's suffix of each option, when set (``global_residual`` only when False): ``msrresnet-32x4-nogr``,
#: ``rcan-32x3-g2``, ``swinir-32-d2-h4-w8``. The CNNs' labels -- and so their store keys -- never show an unset one.
_LABEL_PARTS = (("num_block", lambda v: f"x{v}"), ("global_residual", lambda v: "" if v else "-nogr"),
                ("num_group", lambda v: f"-g{v}"), ("depths", lambda v: f"-d{'.'.join(map(str, v))}"),
                ("num_heads", lambda v: f"-h{v}"), ("window_size", lambda v: f"-w{v}"))


#: the :class:`Profile` fields a :class:`NetSpec` may set for its own network (``NetSpec.training``): those that
#: change the weights a training stage produces (:func:`faiglib.training.stages.stage_settings`), not the data.
NET_TRAINING_FIELDS = ("baseline_iters", "target_iters", "retrain_iters", "lr_baseline", "lr_target", "lr_retrain",
                       "warmup_iters", "batch_size", "ema_decay")


@dataclass(frozen=True)
class NetSpec:
    """An architecture of :mod:`faiglib.models.networks` and its size.

    ``num_feat`` is the width (SwinIR: the token width ``embed_dim``, also used for the upsampler);
    ``num_block`` the residual blocks (RCAN: RCABs per residual group). The other options belong to one
    architecture each (:data:`ARCH_SPECS`) -- ``global_residual`` (MSRResNet), ``num_group`` (RCAN), ``depths``,
    ``num_heads``, ``window_size`` (SwinIR) -- and reach the label and the network's kwargs only when set, so the
    labels (and store keys) of the CNNs are unchanged.
    """

    arch: str
    num_feat: int
    num_block: int | None = None  # MSRResNet, RCAN (per group)
    #: MSRResNet only: False drops the bilinear global skip (label ``...-nogr``). Only a False value reaches the
    #: network's kwargs and the label, so the labels (and cache keys) of the GR networks are unchanged.
    global_residual: bool = True
    num_group: int | None = None  # RCAN: residual groups (label ``-g<n>``)
    depths: tuple[int, ...] | None = None  # SwinIR: Swin blocks per residual group (label ``-d<d1>.<d2>...``)
    num_heads: int | None = None  # SwinIR: attention heads (label ``-h<n>``)
    window_size: int | None = None  # SwinIR: window side in tokens (label ``-w<n>``)
    #: this network's own training recipe: ``(field, value)`` pairs of :data:`NET_TRAINING_FIELDS` that replace
    #: the profile's for this network only (e.g. a window transformer's longer target stage), in
    #: :meth:`Profile.training_for`. Not in the label (it names the network, not its training); in the store keys
    #: through the stage settings. A dict is accepted and kept as sorted pairs.
    training: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.training, dict):
            object.__setattr__(self, "training", tuple(sorted(self.training.items())))
        elif isinstance(self.training, list):  # from JSON: [[field, value], ...]
            object.__setattr__(self, "training", tuple(tuple(pair) for pair in self.training))
        if not isinstance(self.training, tuple) or not all(isinstance(p, tuple) and len(p) == 2 for p in self.training):
            raise ValueError(f"NetSpec training must be (field, value) pairs or a dict, got {self.training!r}")
        names = [name for name, _ in self.training]
        unknown = sorted(set(names) - set(NET_TRAINING_FIELDS))
        if unknown or len(set(names)) != len(names):
            raise ValueError(f"NetSpec training may set each of {NET_TRAINING_FIELDS} once, got {names}")
        if not isinstance(self.arch, str) or not self.arch:
            raise ValueError(f"NetSpec arch must be a network name such as 'msrresnet', got {self.arch!r}")
        _int_at_least(f"NetSpec({self.arch!r}).num_feat", self.num_feat, 1)
        _int_at_least(f"NetSpec({self.arch!r}).num_block", self.num_block, 1, optional=True)
        if isinstance(self.depths, list):
            object.__setattr__(self, "depths", tuple(self.depths))
        own = ARCH_SPECS.get(self.arch, {}).get("options", ())
        for name, default in (("global_residual", True), ("num_group", None), ("depths", None), ("num_heads", None),
                              ("window_size", None)):
            value = getattr(self, name)
            if value == default:
                continue
            if name not in own:
                owner = next(a for a, spec in ARCH_SPECS.items() if name in spec["options"])
                remedy = "leave it True" if name == "global_residual" else "leave it None"
                raise ValueError(f"NetSpec {name} is a {owner} option; {self.arch!r} has none ({remedy})")
            if name == "global_residual":
                continue
            for v in (value if name == "depths" else (value,)):
                _int_at_least(f"NetSpec({self.arch!r}).{name}", v, 1)
            if name == "depths" and not value:
                raise ValueError(f"NetSpec depths must be a non-empty tuple of block counts, got {value!r}")

    def kwargs(self, scale: int) -> dict[str, Any]:
        """The keyword arguments of :func:`~faiglib.models.networks.build_network` for this network at ``scale``."""
        own = ARCH_SPECS.get(self.arch)
        return {"num_feat": self.num_feat, "upscale": scale, **(own["kwargs"](self, scale) if own else {})}

    @property
    def label(self) -> str:
        return f"{self.arch}-{self.num_feat}" + "".join(
            part(getattr(self, name)) for name, part in _LABEL_PARTS
            if getattr(self, name) is not None and not (name == "global_residual" and getattr(self, name)))


@dataclass(frozen=True)
class Profile:
    """Every knob of an experiment. Fields are plain values so that ``asdict`` is JSON and a cache key."""

    name: str
    networks: tuple[NetSpec, ...]
    # data: "embedded:train" / "embedded:analysis" (scikit-image photos) or folder(s) joined by os.pathsep
    train_data: str | None = "embedded:train"
    analysis_data: str = "embedded:analysis"
    analysis_crop: int | None = 256  # central HR crop of analysis images (None: whole images)
    max_analysis_images: int | None = None
    # whole-image FAIG costs ~ pixels x n_steps: larger analysis images are refused (None: no limit) with the
    # remedy of setting analysis_crop; 1024² holds every Set14 / BSD100 image at full size
    max_analysis_pixels: int | None = 1024 * 1024
    # degradations (paper Sec. 5.1 / official code)
    scale: int = 2
    resize: str = "bilinear"
    blur_sigma: float = 2.0
    noise_sigma: float = 0.1
    p_blur: float = 0.5
    p_noise: float = 0.5
    # training
    baseline_iters: int = 3000
    target_iters: int = 3000
    batch_size: int = 16
    hr_patch: int = 64
    lr_baseline: float = 2e-4
    lr_target: float = 5e-4
    ema_decay: float | None = None
    # linear warm-up of every stage's learning rate over its first iterations, then the cosine decay
    # (faiglib.training.stages.cosine_lr); 0: none. Part of a stage's key only when set.
    warmup_iters: int = 0
    # "fp32", "bf16" (bfloat16 autocast of the forward pass, float32 master weights and optimiser) or "auto"
    # (bf16 where the device computes it natively: faiglib.training.stages.bf16_supported). Part of a stage's
    # cache key only when it resolves to bf16. Speed: benchmarks/bench_training.py (results-cpu.txt).
    train_precision: str = "fp32"
    # "stages" (faiglib.training.stages.train_stage) or "resident" (faiglib.training.resident: data, sampling
    # and degradations on the device; the gpu runner). Part of a stage's key only when not "stages": the two
    # loops draw different random numbers, so their weights differ.
    trainer: str = "stages"
    val_every: int = 500
    checkpoint_every: int = 250
    # attribution and masking
    n_steps: int = 20
    method: str = "left"
    internal_batch_size: int | None = None
    precision: str = "fp32"  # "bf16": bfloat16 autocast inside FAIG (faster, ~1e-3 relative error)
    mask_proportions: tuple[float, ...] = (0.01, 0.03, 0.05, 0.1)
    random_draws: int = 5  # Workspace.random_rankings()' default number of random orders
    # the random yardstick of the masking studies: this many random selections per proportion, summarised by
    # their median and IQR (a mean of 5 draws moved FAIG/random at 1 % from 15.9x to 46.5x between two runs:
    # a random 1 % set that hits conv_first or conv_last dominates it); masking is forward passes only
    yardstick_draws: int = 32
    # the attention chapter raises FAIG's N (faiglib.studies.attention.N_STEPS_LADDER) until the median
    # completeness gap |sum FAIG - dL| / |dL| of each degradation is at most this (None: N stays n_steps)
    max_completeness_gap: float | None = 0.05
    # comparison of selection methods over independently trained pairs (paper Table 2, Fig. 3)
    seeds: tuple[int, ...] = (0, 1, 2)
    curve_proportions: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.05, 0.1, 0.2, 0.5)
    table_proportions: tuple[float, ...] = (0.01, 0.05)
    # retraining only the selected filters from the baseline (paper Sec. 5.2.2, Table 3)
    retrain_proportion: float = 0.01
    retrain_iters: int = 1000
    lr_retrain: float = 5e-4
    # degradation classification by overlap score (paper Sec. 4.3, 5.3, Eq. 8): per-image FAIG of validation
    # images (thresholds; the paper uses BSD100) and test images (accuracy; the paper: DIV2K validation), each
    # in its clean / blur / noise / blur+noise version. "embedded:validation" / "embedded:test": two disjoint
    # halves of scikit-image's bundled photos (faiglib.studies.classification); otherwise folder(s) as for data.
    classify_validation_data: str = "embedded:validation"
    classify_test_data: str = "embedded:test"
    classify_images: int | None = 24  # first images of each set, by name (None: all)
    classify_crop: int | None = 96  # central HR crop (None: whole images); per-image FAIG costs ~ pixels x N
    classify_proportion: float = 0.01  # p of both {filter^D} (Eq. 7) and {filter^x} (Eq. 6)
    classify_n_steps: int | None = None  # N of the per-image FAIG (None: n_steps)
    # beyond the paper, degradation levels: a second target is fine-tuned from the same baseline with every
    # blurred / noisy sample's sigma drawn uniformly from these ranges (still p_blur / p_noise), and the overlap
    # scores of test images are measured at each of the levels below (Workspace(levels=True))
    levels_blur_range: tuple[float, float] = (1.0, 3.0)
    levels_noise_range: tuple[float, float] = (0.05, 0.2)
    levels_blur: tuple[float, ...] = (1.0, 2.0, 3.0)
    levels_noise: tuple[float, ...] = (0.05, 0.1, 0.2)
    # one branch vs two at the same compute (paper Sec. 3, Table 1; faiglib.studies.table1): both models are trained on
    # the same batches, iterations and optimiser, for each seed of ``seeds``
    table1_feat: int = 24  # width of both restorers
    table1_blocks: int = 3  # DA blocks of the two-branch net; the SRResNet's count is matched (FLOPs, params)
    table1_iters: int = 800
    table1_batch_size: int = 16
    table1_hr_patch: int = 48
    table1_lr: float = 5e-4
    table1_blur_range: tuple[float, float] = (0.2, 2.0)  # Gaussian sigma drawn per image (DASR's x2 range)
    table1_noise_range: tuple[float, float] = (0.0, 25 / 255)  # noise sigma drawn per image (DASR: 0-25)
    table1_contrast_weight: float = 0.1  # weight of the two-branch model's contrastive loss next to L1
    # deep degradation semantics (faiglib.studies.semantics): extra networks trained by the same recipe, only
    # for that chapter (Workspace(arch=label) finds them; other chapters iterate over ``networks`` only)
    semantics_networks: tuple[NetSpec, ...] = ()
    # the scale study (faiglib.studies.scale): networks of other sizes trained by the same recipe, compared with
    # ``networks[0]`` (Workspace(arch=label) finds them; other chapters iterate over ``networks`` only)
    scale_networks: tuple[NetSpec, ...] = ()
    #: seeds of the scale study: one pair per network size and seed (a verdict needs three, measures.verdicts)
    scale_seeds: tuple[int, ...] = (0,)
    semantics_seeds: tuple[int, ...] = (0,)
    semantics_patches: int = 24  # LR patches per image (each in clean / blur / noise / blur+noise)
    semantics_patch: int = 32  # LR patch side
    semantics_images: int | None = 6  # first analysis images used for patches (None: all)
    semantics_pca: int = 32  # PCA components before CHI and t-SNE
    semantics_perplexity: float = 30.0
    # attention networks (faiglib.studies.attention): an RCAN-style and a SwinIR-style net trained by the same
    # recipe, only for that chapter (Workspace(arch=label) finds them, as the semantics networks)
    attention_networks: tuple[NetSpec, ...] = ()
    # independently trained pairs per attention network (and MSRResNet beside them) in the attention chapter
    attention_seeds: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        """Check every field (``with_`` comes here too): a bad value is a ``ValueError`` naming the field now,
        not a ``ZeroDivisionError`` or a silently different experiment hours later. Sequences become tuples."""
        from faiglib.core.paths import QUADRATURE_RULES
        from faiglib.methods.faig import PRECISIONS

        for f in fields(self):  # lists (e.g. from JSON or with_) become tuples: profiles stay hashable
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.networks, tuple) or not self.networks or \
                not all(isinstance(n, NetSpec) for n in self.networks):
            raise ValueError(f"networks must be a non-empty tuple of NetSpec, got {self.networks!r}")
        for name in ("semantics_networks", "scale_networks", "attention_networks"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(n, NetSpec) for n in value):
                raise ValueError(f"{name} must be a tuple of NetSpec (possibly empty), got {value!r}")
        for name in ("analysis_data", "classify_validation_data", "classify_test_data"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty string (a folder or 'embedded:…'), "
                                 f"got {getattr(self, name)!r}")
        if self.train_data is not None and (not isinstance(self.train_data, str) or not self.train_data):
            raise ValueError(f"train_data must be None or a non-empty string, got {self.train_data!r}")
        for name in ("scale", "baseline_iters", "target_iters", "batch_size", "hr_patch", "val_every",
                     "checkpoint_every", "n_steps", "random_draws", "retrain_iters", "table1_feat", "table1_blocks",
                     "table1_iters", "table1_batch_size", "table1_hr_patch", "yardstick_draws", "semantics_patches",
                     "semantics_patch", "semantics_pca"):
            _int_at_least(name, getattr(self, name), 1)
        _int_at_least("warmup_iters", self.warmup_iters, 0)
        for name in ("analysis_crop", "max_analysis_images", "max_analysis_pixels", "internal_batch_size",
                     "classify_images", "classify_crop", "classify_n_steps", "semantics_images"):
            _int_at_least(name, getattr(self, name), 1, optional=True)
        for name in ("hr_patch", "table1_hr_patch"):
            if getattr(self, name) % self.scale:
                raise ValueError(f"{name} must be a multiple of the scale {self.scale} (HR patches are "
                                 f"downsampled), got {getattr(self, name)}")
        for name in ("blur_sigma", "noise_sigma", "lr_baseline", "lr_target", "lr_retrain", "table1_lr"):
            _number(name, getattr(self, name), low=0.0, low_open=True)
        _number("table1_contrast_weight", self.table1_contrast_weight, low=0.0)
        for name in ("p_blur", "p_noise"):
            _number(name, getattr(self, name), low=0.0, high=1.0)
        if self.ema_decay is not None:  # 0 would silently mean "no EMA": None says that
            _number("ema_decay", self.ema_decay, low=0.0, high=1.0, low_open=True, high_open=True,
                    remedy="; use None for no EMA")
        if self.max_completeness_gap is not None:
            _number("max_completeness_gap", self.max_completeness_gap, low=0.0, low_open=True,
                    remedy="; use None to keep N at n_steps")
        for name in ("retrain_proportion", "classify_proportion"):
            _number(name, getattr(self, name), low=0.0, high=1.0, low_open=True)
        for name in ("mask_proportions", "curve_proportions", "table_proportions"):
            for v in _non_empty_tuple(name, getattr(self, name)):
                _number(name, v, low=0.0, high=1.0, low_open=True)
        for name in ("levels_blur", "levels_noise"):
            for v in _non_empty_tuple(name, getattr(self, name)):
                _number(name, v, low=0.0, low_open=True)
        for v in _non_empty_tuple("seeds", self.seeds):
            _int_at_least("seeds", v, 0)
        for v in _non_empty_tuple("semantics_seeds", self.semantics_seeds):
            _int_at_least("semantics_seeds", v, 0)
        for name in ("scale_seeds", "attention_seeds"):
            for v in _non_empty_tuple(name, getattr(self, name)):
                _int_at_least(name, v, 0)
        _number("semantics_perplexity", self.semantics_perplexity, low=0.0, low_open=True)
        for name, low_open in (("levels_blur_range", True), ("levels_noise_range", False),
                               ("table1_blur_range", True), ("table1_noise_range", False)):
            value = getattr(self, name)
            if not isinstance(value, tuple) or len(value) != 2:
                raise ValueError(f"{name} must be a (low, high) pair, got {value!r}")
            for v in value:
                _number(name, v, low=0.0, low_open=low_open)
            if not value[0] <= value[1]:
                raise ValueError(f"{name} must be (low, high) with low <= high, got {value!r}")
        for name, value, known in (("resize", self.resize, ("bilinear", "bicubic")),
                                   ("method", self.method, QUADRATURE_RULES),
                                   ("precision", self.precision, PRECISIONS),
                                   ("trainer", self.trainer, ("stages", "resident"))):
            if value not in known:
                raise ValueError(f"unknown {name} {value!r}; use one of {known}")

    def network(self, arch: str | None = None) -> NetSpec:
        """The profile's network for ``arch`` (default: the first one)."""
        if arch is None:
            return self.networks[0]
        for spec in self.networks:
            if arch in (spec.arch, spec.label):
                return spec
        for spec in self.semantics_networks + self.scale_networks + self.attention_networks:  # by label only:
            if arch == spec.label:                                       # ``arch`` alone names the networks above
                return spec
        known = [s.label for s in self.networks + self.semantics_networks + self.scale_networks
                 + self.attention_networks]
        raise ValueError(f"profile {self.name!r} has no network {arch!r}; it has {known}")

    def training_for(self, spec: NetSpec) -> "Profile":
        """The profile that trains ``spec``: this one with ``spec.training``'s fields replaced (itself if none)."""
        return self.with_(**dict(spec.training)) if spec.training else self

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["networks"] = [asdict(s) for s in self.networks]
        d["semantics_networks"] = [asdict(s) for s in self.semantics_networks]
        d["scale_networks"] = [asdict(s) for s in self.scale_networks]
        d["attention_networks"] = [asdict(s) for s in self.attention_networks]
        return d

    def with_(self, **changes: Any) -> "Profile":
        """A copy with some fields changed (``name`` is kept unless given)."""
        return replace(self, **changes)


def _int_at_least(name: str, value: Any, low: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}{' or None' if optional else ''}, got {value!r}")


def _number(name: str, value: Any, *, low: float | None = None, high: float | None = None, low_open: bool = False,
            high_open: bool = False, remedy: str = "") -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        interval = f"{'(' if low_open else '['}{'-inf' if low is None else f'{low:g}'}, " \
                   f"{'inf' if high is None else f'{high:g}'}{')' if high_open or high is None else ']'}"
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}{remedy}")


def _non_empty_tuple(name: str, value: Any) -> tuple:
    if not isinstance(value, tuple) or not value:
        raise ValueError(f"{name} must be a non-empty tuple, got {value!r}")
    return value


#: the SwinIR-style network's own training recipe in the cpu and dev profiles (NetSpec.training): four times the
#: CNNs' 3000 target iterations, the rest theirs. Measured on the cpu profile, seed 0 (one core of the 2-core AMD
#: EPYC, 79 min for the 12000 iterations): PSNR of target against baseline +1.32 dB on blurry input (26.77 vs
#: 25.45), +3.25 dB on noisy, +0.41 dB on clean; with 3000 iterations -0.98 dB on blurry (lr 5e-4), and -1.42 dB
#: at SwinIR's own lr 2e-4. A window transformer this small learns to deblur late: the validation PSNR (blur and
#: noise) rose from 24.1 dB at 1000 iterations to 26.1 at 4000 and 26.4 by 9000, flat after.
SWINIR_TRAINING = (("target_iters", 12000),)

PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", networks=(NetSpec("msrresnet", 8, 1), NetSpec("srcnn_style", 4)),
        analysis_crop=48, max_analysis_images=2, baseline_iters=12, target_iters=12, batch_size=2, hr_patch=32,
        lr_baseline=1e-3, lr_target=5e-4, val_every=6, checkpoint_every=4, n_steps=3, random_draws=2, yardstick_draws=4,
        # far from the smoke nets' median gaps (seeds 0, 1) at N = 3 (0.05-0.43) and 50 (0.003-0.027), so no
        # CPU's last bits flip which N a net gets: every one moves from 3 to 50
        max_completeness_gap=0.04,
        seeds=(0, 1),
        curve_proportions=(0.01, 0.05, 0.5), retrain_iters=8, retrain_proportion=0.05,
        classify_images=2, classify_crop=32, classify_proportion=0.05,
        table1_feat=8, table1_blocks=2, table1_iters=8, table1_batch_size=4, table1_hr_patch=32, table1_lr=1e-3,
        semantics_networks=(NetSpec("msrresnet", 8, 1, global_residual=False),), semantics_patches=4,
        semantics_patch=16, semantics_images=2, semantics_pca=8, semantics_perplexity=5.0,
        scale_networks=(NetSpec("msrresnet", 4, 1),), scale_seeds=(0, 1),
        attention_networks=(NetSpec("rcan", 16, 1, num_group=1),
                            NetSpec("swinir", 8, depths=(2,), num_heads=2, window_size=4)), attention_seeds=(0, 1)),
    "cpu": Profile(
        name="cpu", networks=(NetSpec("msrresnet", 32, 4), NetSpec("srcnn_style", 16)), train_precision="auto",
        baseline_iters=3000, target_iters=3000, batch_size=16, hr_patch=64, lr_baseline=2e-4, lr_target=5e-4,
        val_every=500, checkpoint_every=250, n_steps=20, retrain_iters=3000,
        semantics_networks=(NetSpec("msrresnet", 32, 4, global_residual=False),), semantics_seeds=(0, 1),
        scale_networks=(NetSpec("msrresnet", 16, 2),),
        # measured single-threaded, batch 16 of 32x32 LR patches, while other jobs ran (one run): MSRResNet-32x4
        # 0.23-0.27 s/step, RCAN-32x3-g2 0.28 s (~1.1x), SwinIR-32-d2-h4-w8 0.30-0.34 s (~1.3x); two Swin groups
        # (depths 2, 2) cost 0.46 s (~1.8x) and were left out to keep both pairs trainable in one afternoon.
        # The SwinIR-style target gets 12000 iterations (SWINIR_TRAINING): by the CNNs' 3000 it learned to denoise
        # but not to deblur (blurry input -0.98 dB against its baseline at lr 5e-4, -1.42 dB at SwinIR's 2e-4).
        attention_networks=(NetSpec("rcan", 32, 3, num_group=2),
                            NetSpec("swinir", 32, depths=(2,), num_heads=4, window_size=8, training=SWINIR_TRAINING))),
    "paper": Profile(
        name="paper", networks=(NetSpec("msrresnet", 64, 16), NetSpec("srcnn_style", 64)),
        train_data=None, analysis_crop=None, baseline_iters=200_000, target_iters=100_000, batch_size=16,
        hr_patch=128, lr_baseline=2e-4, lr_target=5e-5, ema_decay=0.999, train_precision="auto", val_every=5000,
        checkpoint_every=2000, n_steps=100, internal_batch_size=10, retrain_iters=100_000, lr_retrain=5e-5,
        classify_images=None, classify_crop=None,
        table1_feat=64, table1_blocks=16, table1_iters=100_000, table1_batch_size=16, table1_hr_patch=128,
        table1_lr=2e-4, semantics_networks=(NetSpec("msrresnet", 64, 16, global_residual=False),),
        semantics_images=None,
        # the published sizes: RCAN (10 groups of 20 RCABs, width 64) and the SwinIR-light body
        attention_networks=(NetSpec("rcan", 64, 20, num_group=10),
                            NetSpec("swinir", 60, depths=(6, 6, 6, 6), num_heads=6, window_size=8))),
    # The development edition (book/editions/dev, results/dev): the cpu recipe on real photographs, laid out as the
    # paper does -- train on BSD200 + T91 (291 images), find the filters on Set14 (central 256x256 HR crops, as
    # the cpu profile does, so FAIG and the masking yardstick stay minutes), thresholds of the classification on
    # BSD100, its accuracy on DIV2K validation crops. Training in bf16 autocast where the CPU has it natively
    # (2.2x steps per second for MSRResNet-32x4 on an AVX512-BF16 machine, benchmarks/results-cpu.txt). Paths are
    # relative to the repository root, with the research images beside the clone in ../shared/data (never
    # committed; see its PROVENANCE.md). ``scale_networks``: the scale study's smaller and larger MSRResNets;
    # 48x6, not 64x8: 64x8 trained at 1.6 it/s alone and 1.9 s/it on the shared 2-core machine, a pair of hours.
    # Training in fp32 on every machine: "auto" was bf16 on an AVX512-BF16 EPYC and fp32 elsewhere (emulated bf16
    # runs MSRResNet-48x6 at 0.06 it/s on an AVX2 EPYC), so the recipe -- and every store key -- depended on the
    # machine a session drew; the seeds of the scale study are computed over several sessions and machines.
    "dev": Profile(
        name="dev", networks=(NetSpec("msrresnet", 32, 4), NetSpec("srcnn_style", 16)),
        train_data=os.pathsep.join(["../shared/data/BSD200", "../shared/data/T91"]),
        analysis_data="../shared/data/Set14/HR", classify_validation_data="../shared/data/BSD100/HR",
        classify_test_data="../shared/data/DIV2K_valid/HR_crop256", train_precision="fp32",
        baseline_iters=3000, target_iters=3000, batch_size=16, hr_patch=64, lr_baseline=2e-4, lr_target=5e-4,
        val_every=500, checkpoint_every=250, n_steps=20, retrain_iters=3000, seeds=(0,),
        semantics_networks=(NetSpec("msrresnet", 32, 4, global_residual=False),), semantics_seeds=(0,),
        scale_networks=(NetSpec("msrresnet", 16, 2), NetSpec("msrresnet", 48, 6)), scale_seeds=(0, 1, 2),
        # the cpu profile's attention pairs (the attention chapter and LAM across architectures), on the dev data,
        # two seeds each: one is a value, not a verdict
        attention_networks=(NetSpec("rcan", 32, 3, num_group=2),
                            NetSpec("swinir", 32, depths=(2,), num_heads=4, window_size=8, training=SWINIR_TRAINING)),
        attention_seeds=(0, 1)),
    # One H200, one command of at most 10 minutes (faiglib.gpu.run, `make gpu-run`). Sized by the dry run
    # `python -m faiglib.gpu.run --dry-run` (FLOP counts x iterations / an assumed sustained throughput;
    # see that module: 453 s of 480 estimated): 30k + 8k iterations of batch 16 on 128x128 HR patches (the paper: 1M + 100k), FAIG and
    # IG with N = 100 on whole Set14 images, Table 2 / Fig. 3 and the masking chapter with 40 random draws. The target's lr is the baseline's
    # (2e-4, not the official 5e-5 made for 100k iterations): the cpu profile measured that a short fine-tune
    # with a small lr learns to denoise but not to deblur. Training runs in bf16 autocast (resident loop); FAIG
    # in bf16 too (~1e-3 relative error of the scores, see methods/faig.py).
    "gpu": Profile(
        name="gpu", networks=(NetSpec("msrresnet", 64, 16), NetSpec("srcnn_style", 64)),
        train_data=None, analysis_crop=None, baseline_iters=30_000, target_iters=8_000, batch_size=16,
        hr_patch=128, lr_baseline=2e-4, lr_target=2e-4, ema_decay=0.999, val_every=4000,
        checkpoint_every=4000, n_steps=100, internal_batch_size=10, precision="bf16", random_draws=40, yardstick_draws=40,
        train_precision="bf16", trainer="resident",
        retrain_iters=8_000, lr_retrain=2e-4, classify_images=None, classify_crop=192, classify_n_steps=50),
}


def get_profile(name: str | Profile) -> Profile:
    """Look a profile up by name (``smoke``, ``cpu``, ``gpu``, ``paper``); a :class:`Profile` is returned as is."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown profile {name!r}; known profiles: {sorted(PROFILES)}") from None

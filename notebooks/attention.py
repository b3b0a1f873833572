# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Attention networks
#
# **Overview.** The paper analysed only plain CNNs (SRCNN-style, SRResNet), whose units are $3 \times 3$ filters,
# and names networks with attention modules as its open question (Sec. 5.1 and the limitations, Sec. 5.5). Nothing
# in FAIG is specific to convolutions: for the straight path $\theta(\alpha) = \alpha\bar\theta + (1-\alpha)\theta$
# between the baseline $\bar\theta$ and the target $\theta$ it attributes the change of the loss
# $\mathcal{L}(\theta, x) = \lVert F(\theta, x) - x_{gt}\rVert_2^2$ to every weight,
#
# $$\mathrm{FAIG}_i(\theta, x) = (\theta_i - \bar\theta_i) \int_0^1 \frac{\partial \mathcal{L}(\theta(\alpha), x)}{\partial \theta_i}\,d\alpha,
# \qquad \sum_i \mathrm{FAIG}_i = \mathcal{L}(\theta, x) - \mathcal{L}(\bar\theta, x),$$
#
# and a unit $u$ scores $\sum_{i \in u} |\mathrm{FAIG}_i|$, averaged over images of one degradation minus the
# average over images of the other (gradient elimination, Eq. 7). Only the units change: a $3 \times 3$ conv
# keeps its $(out, in)$ filters, a $1 \times 1$ conv (RCAN's channel attention) its single weights, a Linear layer
# (SwinIR's $q/k/v$, output projection and MLP) one output row per unit, and each relative-position-bias table
# one unit per head. We train the blind pair of an RCAN-style and a SwinIR-style network by the MSRResNet
# recipe (same data, iterations, learning rates, seeds; where a network needs its own, `NetSpec.training` says
# so and the setup prints it) and ask the paper's question of them, for each independently trained pair: does a
# small set of units per degradation carry the deblurring and the denoising function?

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seeds = None  # independently trained pairs per network (also seed the random selections); None: attention_seeds
device = "cpu"  # "cuda" on a GPU
data = None  # folder of HR analysis images; None: the profile's default (scikit-image photos)
train_data = None  # folder(s) of HR training images, joined by ':'; None: the profile's default
out = "artifacts"  # where checkpoints, scores and masking tables are cached
results = "results"  # where headline numbers are written as JSON
channel = None  # "gray" (gradient maps of gray images, the paper) or "blue" (the official code); None: CHANNEL
proportions = None  # masked proportions of the units; None: PROPORTIONS (1 % and 5 %)

# %%
from faiglib.profiles import get_profile
from faiglib.report import plots
from faiglib.report.book import notebook_workspace, show_markdown, write_results
from faiglib.report import attention_tables as tables
from faiglib.report.tables import seed_summary_markdown
from faiglib.studies.attention import CHANNEL, PROPORTIONS, SEED_MEASURES, network_summary, over_seeds
from faiglib.studies.attention import small_set_verdict

p = get_profile(profile)
seeds = list(p.attention_seeds if seeds is None else seeds)
channel = CHANNEL if channel is None else channel
proportions = tuple(PROPORTIONS if proportions is None else proportions)
labels = [p.networks[0].label] + [s.label for s in p.attention_networks]
common = dict(profile=profile, device=device, data=data, train_data=train_data, out=out, results=results)
spaces = {(label, s): notebook_workspace(arch=label, seed=s, **common) for s in seeds for label in labels}
first = spaces[labels[0], seeds[0]]
print(f"networks {labels}, seeds {seeds}; {len(first.analysis_set())} analysis images; masked "
      f"{[f'{q:.0%}' for q in proportions]}; {p.yardstick_draws} random draws; FAIG N = {p.n_steps} ({p.method})")
for spec in p.attention_networks:
    if spec.training:
        print(f"{spec.label} trains by its own recipe: {dict(spec.training)} (the rest as the profile)")

# %% [markdown]
# ## Units beyond 3×3 filters
#
# `FilterIndex` enumerates the units of each network by the network's unit rules (`faiglib.core.units`); the
# attention networks declare theirs strictly, so a layer type without a rule would be an error, never silently
# left out. Biases and LayerNorm parameters are attributed by FAIG but are not units (as biases in the paper).
# One row per network: its units do not depend on the seed.

# %%
show_markdown(tables.units_markdown({label: spaces[label, seeds[0]].architecture() for label in labels}))

# %% [markdown]
# ## The pairs, FAIG and completeness
#
# `network_summary` trains (or loads) each pair, scores every unit with FAIG on the analysis images, and masks
# the top units and as many random ones. First what the pairs learned: RGB PSNR (dB) of baseline and target on the
# analysis images in each condition — a target that did not learn to deblur has no deblurring units to find — and
# FAIG's completeness gap $|\sum_i \mathrm{FAIG}_i - \Delta\mathcal{L}| / |\Delta\mathcal{L}|$ per image with the
# profile's quadrature (median and largest over the images). Where the median gap exceeds the profile's
# `max_completeness_gap` (5 %; smoke 4 %) at its N, `network_summary` raises N (50, 100, 200) until it does not,
# and everything below uses the scores at that N.

# %%
by_seed = {s: {label: network_summary(spaces[label, s], proportions, channel) for label in labels} for s in seeds}
summaries = {f"{label}, seed {s}": by_seed[s][label] for s in seeds for label in labels}
show_markdown(tables.pairs_markdown(summaries))

# %% [markdown]
# The gap at every N tried:

# %%
show_markdown(tables.completeness_markdown(summaries))

# %% [markdown]
# ## Masking the top units against random units
#
# The top 1 % / 5 % deblurring (denoising) units of the target get the baseline's values, and the change of the
# output on blurry (noisy) inputs is measured (MSE ×10³ of gradient maps). The yardstick is the median of
# `yardstick_draws` random selections of as many units, with its interquartile range; FAIG / median(random)
# comes with a 95 % bootstrap interval over the draws (it covers the yardstick's noise, not training's).

# %%
show_markdown(tables.masking_markdown(summaries))

# %% [markdown]
# ## Discriminativeness, both directions
#
# Specific sets change the *other* input little: on the noisy input, masking the deblurring set against masking
# the denoising set, and on the blurry input, masking the denoising set against masking the deblurring set.
# Both ratios are well below 1 when the sets are specific to their degradation.

# %%
show_markdown(tables.discriminativeness_markdown(summaries))

# %% [markdown]
# ## Where the units sit
#
# The share of the top-1 % units in plain convolutions, attention (channel attention's 1×1 convs; $q/k/v$,
# projection and bias-table heads) and transformer MLPs, against the share of all units — what a random set
# gives on average. Depth: the mean position of their layers (0 first, 1 last, in module order), against all
# units. A unit's score sums $|\mathrm{FAIG}|$ over its weights, so larger units have more terms: the mean
# number of weights of the selected units against all units shows how much that weighs.

# %%
fig = plots.unit_location_bars(summaries)

# %%
show_markdown(tables.locations_markdown(summaries))

# %% [markdown]
# ## Side by side: the answer to the paper's open question
#
# The rule (`small_set_verdict`): **effective** when, for both functions, the lower end of the 95 % interval of
# FAIG / median(random) at 1 % is above 1; **specific** when both discriminativeness ratios at 1 % are below 1.
# MSRResNet is the paper's network, trained by the same recipe and seeds.

# %%
show_markdown(tables.comparison_markdown(summaries))

# %% [markdown]
# ## Over seeds
#
# Each seed is an independently trained pair; the yardstick's interval above covers the random draws, not the
# training's own noise, so the spread over seeds is the one to read. Mean ± sample std and the per-seed values,
# then the rule's answer per seed.

# %%
seed_rows = over_seeds(by_seed)
show_markdown(seed_summary_markdown(seed_rows, {k: label for k, (label, _) in SEED_MEASURES.items()}))

# %%
show_markdown(tables.seed_answers_markdown(seed_rows))

# %% [markdown]
# ## Summary
#
# Per network, mean ± std over seeds (per-seed values in brackets): what fine-tuning gained on each degradation,
# the masking effects at 1 %, discriminativeness, the attention share of the top units, and the answer of the rule
# above for each seed.

# %% tags=["hide-input"]
for row in seed_rows:
    m = row["summary"]
    text = lambda key, unit="": (f"{m[key]['mean']:.3g}{unit} ± {m[key]['std']:.2g} "  # noqa: E731
                                 f"({', '.join(f'{v:.3g}' for v in m[key]['per_seed'])})")
    print(f"{row['network']} over seeds {row['seeds']}: the target gains {text('gain_blur_db', ' dB')} over the "
          f"baseline on blurry and {text('gain_noise_db', ' dB')} on noisy inputs; masking the top 1 % deblurring "
          f"units disturbs blurry inputs "
          f"{text('deblur_over_random_1pct', 'x')} as much as random units, the denoising units noisy inputs "
          f"{text('denoise_over_random_1pct', 'x')}; discriminativeness {text('noise_input_deblur_over_denoise')} "
          f"(noisy) and {text('blur_input_denoise_over_deblur')} (blurry). Top deblurring units in attention: "
          f"{text('attention_share_deblur')}. Answer per seed: {'; '.join(row['answers'])}.")
results_file = write_results(
    results, p.name, "attention",
    {"networks": labels, "seeds": seeds, "channel": channel, "proportions": list(proportions),
     "yardstick_draws": p.yardstick_draws,
     "training": {spec.label: dict(spec.training) for spec in p.attention_networks if spec.training},
     "verdicts": {key: small_set_verdict(s) for key, s in summaries.items()}, "over_seeds": seed_rows,
     "summaries": summaries},
    seed=", ".join(map(str, seeds)), device=device, network=", ".join(labels), data=str(first.data),
    train_data=str(first.train_data))

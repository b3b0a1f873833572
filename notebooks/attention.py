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
# recipe (same data, iterations, learning rates, seed) and ask the paper's question of them: does a small set of
# units per degradation carry the deblurring and the denoising function?

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0  # which trained pairs; also seeds the random selections
device = "cpu"  # "cuda" on a GPU
data = None  # folder of HR analysis images; None: the profile's default (scikit-image photos)
train_data = None  # folder(s) of HR training images, joined by ':'; None: the profile's default
out = "artifacts"  # where checkpoints, scores and masking tables are cached
results = "results"  # where headline numbers are written as JSON
channel = "gray"  # gradient maps of gray images (the paper) or "blue" (the official code)
proportions = (0.01, 0.05)  # masked proportions of the units

# %%
from faiglib.profiles import get_profile
from faiglib.report import plots
from faiglib.report.book import notebook_workspace, show_markdown
from faiglib.report import attention_tables as tables
from faiglib.studies.attention import network_summary, small_set_verdict

p = get_profile(profile)
labels = [p.networks[0].label] + [s.label for s in p.attention_networks]
common = dict(profile=profile, seed=seed, device=device, data=data, train_data=train_data, out=out, results=results)
spaces = {label: notebook_workspace(arch=label, **common) for label in labels}
print(f"networks {labels}, seed {seed}; {len(spaces[labels[0]].analysis_set())} analysis images; masked "
      f"{[f'{q:.0%}' for q in proportions]}; {p.yardstick_draws} random draws; FAIG N = {p.n_steps} ({p.method})")

# %% [markdown]
# ## Units beyond 3×3 filters
#
# `FilterIndex` enumerates the units of each network by the network's unit rules (`faiglib.core.units`); the
# attention networks declare theirs strictly, so a layer type without a rule would be an error, never silently
# left out. Biases and LayerNorm parameters are attributed by FAIG but are not units (as biases in the paper).

# %%
show_markdown(tables.units_markdown({label: ws.architecture() for label, ws in spaces.items()}))

# %% [markdown]
# ## The pairs, FAIG and completeness
#
# `network_summary` trains (or loads) each pair, scores every unit with FAIG on the analysis images, and masks
# the top units and as many random ones. First what the pairs learned: RGB PSNR (dB) of baseline and target on the
# analysis images in each condition — a target that did not learn to deblur has no deblurring units to find — and
# FAIG's completeness gap $|\sum_i \mathrm{FAIG}_i - \Delta\mathcal{L}| / |\Delta\mathcal{L}|$ per image with the
# profile's quadrature (median and largest over the images). Where the median gap exceeds the profile's
# `max_completeness_gap` (5 %; smoke 2 %) at its N, `network_summary` raises N (50, 100, 200) until it does not,
# and everything below uses the scores at that N.

# %%
summaries = {label: network_summary(ws, proportions, channel) for label, ws in spaces.items()}
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
# MSRResNet is the paper's network, trained by the same recipe and seed.

# %%
show_markdown(tables.comparison_markdown(summaries))

# %% [markdown]
# ## Summary
#
# Per network: what fine-tuning gained on each degradation, the masking effects at 1 % with the lower ends of their
# intervals, discriminativeness, the attention share of the top units, and the answer by the rule above.

# %% tags=["hide-input"]
verdicts = {label: small_set_verdict(s) for label, s in summaries.items()}
for label, v in verdicts.items():
    r = v["ratios"]
    loc = summaries[label]["locations"]
    psnr = summaries[label]["psnr"]
    print(f"{label}: the target gains {psnr['blur']['target'] - psnr['blur']['baseline']:+.2f} dB over the baseline on "
          f"blurry and {psnr['noise']['target'] - psnr['noise']['baseline']:+.2f} dB on noisy inputs (a function it "
          f"did not learn has no units to find); masking the top 1 % deblurring units disturbs blurry inputs {r['deblur_faig_over_random']:.3g}x "
          f"as much as random units (interval from {r['deblur_low']:.3g}), the denoising units noisy inputs "
          f"{r['denoise_faig_over_random']:.3g}x (from {r['denoise_low']:.3g}); discriminativeness "
          f"{r['noise_input_deblur_over_denoise']:.3g} (noisy) and {r['blur_input_denoise_over_deblur']:.3g} (blurry). "
          f"Top deblurring units in attention: {loc['deblur']['share']['attention']:.0%} (all units "
          f"{loc['deblur']['chance']['attention']:.0%}); denoising: {loc['denoise']['share']['attention']:.0%}. "
          f"Answer: {v['answer']}.")
results_file = spaces[labels[0]].write_results("attention", {
    "networks": labels, "channel": channel, "proportions": list(proportions), "yardstick_draws": p.yardstick_draws,
    "verdicts": verdicts,
    "summaries": summaries})

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
# # FAIG: attributing deblurring and denoising to filters
#
# **Overview.** Integrated gradients (paper Eq. 2) explain a prediction by integrating gradients along a
# path in *input* space. FAIG integrates along a path in *parameter* space instead, from the target
# $\theta$ to the baseline $\bar\theta$, $\gamma(\alpha) = \alpha\bar\theta + (1-\alpha)\theta$, and
# attributes the change of the restoration loss $\mathcal{L}(\theta, x) = \|F(\theta, x) - x^{gt}\|_2^2$
# (Eq. 3) to individual parameters (Eq. 6):
#
# $$\mathtt{FAIG}_i(\theta, x) \approx \frac{1}{N}\,[\theta - \bar\theta]_i \sum_{k}
#   \left[\frac{\partial \mathcal{L}(\gamma(\alpha), x)}{\partial \gamma(\alpha)}\right]_i,\quad \alpha = k/N .$$
#
# A filter (one 3×3 slice `W[out, in]`) scores the sum of $|\mathtt{FAIG}_i|$ over its nine weights.
# Averaging over a data set and subtracting the score of the same image under the *other* degradation
# gives the discriminative filters of Eq. 7:
#
# $$\mathtt{FAIG}^{\mathcal{D}}_i(\theta) = \frac{1}{|\mathcal{X}|}\Big(\sum_{x}|\mathtt{FAIG}_i(\theta, x^{\mathcal{D}})|
#   - \sum_{x}|\mathtt{FAIG}_i(\theta, x^{\sim\mathcal{D}})|\Big).$$
#
# We first check that the discretised integral is complete (Eq. 4), then rank all filters for blur and
# for noise and look at where the top 1 % live.

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0  # which trained pair (and noise draws)
device = "cpu"  # "cuda" on a GPU
data = None  # folder of HR analysis images; None: the profile's default (scikit-image photos)
train_data = None  # folder(s) of HR training images, joined by ':'; None: the profile's default
out = "artifacts"  # where checkpoints and scores are cached
results = "results"  # where headline numbers are written as JSON

# %%
from faiglib.report import plots
from faiglib.report.book import notebook_workspace
from faiglib.studies.attribution import completeness, overlap_summary

ws = notebook_workspace(profile=profile, seed=seed, device=device, data=data, train_data=train_data, out=out,
                          results=results)
print(f"{ws.spec.label}: {len(ws.filter_index)} filters in {len(ws.filter_index.layers)} conv layers; "
      f"N = {ws.profile.n_steps}, rule '{ws.profile.method}'")

# %% [markdown]
# ## Completeness: the attributions add up to the loss change
#
# By the fundamental theorem of calculus the signed FAIG values of *all* parameters sum to
# $\mathcal{L}(\theta, x) - \mathcal{L}(\bar\theta, x)$ (Eq. 4). With a finite N the sum misses by a
# discretisation error: first order in 1/N for the left rule the official code uses, second order for the
# trapezoid rule. `faiglib.faig` reports that gap as `delta`.

# %%
steps = (1, 2, 5, 10, 20) if ws.profile.name != "smoke" else (1, 2, 4)
gaps = completeness(ws, kind="blur", image=0, steps=steps)
for method, rows in gaps.items():
    print(method, [f"N={r['n_steps']}: {r['relative_gap']:.2e}" for r in rows])
fig = plots.completeness_curve(gaps)

# %% [markdown]
# ## Discriminative filters for blur and for noise (Eq. 7)
#
# `Workspace.scores()` runs FAIG on every analysis image, blurry and noisy, and keeps the per-image filter
# scores (cached). The figure shows, per conv layer, which share of its filters falls in the top 1 % for
# deblurring and for denoising.

# %%
scores = ws.scores()
top = {f"{fn} (top 1 %)": scores.top(d, 0.01) for d, fn in (("blur", "deblur"), ("noise", "denoise"))}
print(f"FAIG over {len(scores.image_names)} images x {len(scores.degradations)} degradations took "
      f"{scores.meta['seconds']:.0f} s")
fig = plots.filter_distribution(ws.filter_index, top, title=f"{ws.spec.label}: where the top-1 % filters are")

# %% [markdown]
# ## Are the two sets different, and does gradient elimination matter?
#
# If the network has separate machinery for the two degradations, the top deblurring and denoising sets
# should hardly overlap. Without the subtraction of Eq. 7 ("gradient elimination", Sec. 4.2) the sets
# pick up filters that matter for any restoration and overlap more.

# %%
overlaps = overlap_summary(ws, scores, proportion=0.01)
for key, value in overlaps.items():
    print(f"{key:>44s}: {value:.3f}")
results_file = ws.write_results("attribution", {
    "top1pct_overlap": overlaps,
    "completeness_relative_gap": {m: rows[-1]["relative_gap"] for m, rows in gaps.items()},
    "completeness_n_steps": steps[-1],
    "faig_seconds": scores.meta["seconds"]})

# %% [markdown]
# ## Summary
#
# In this notebook we have checked FAIG's completeness (the gap shrinks as N grows, faster with the
# trapezoid rule), ranked every filter of the target network for deblurring and for denoising with Eq. 7,
# and seen how the two top-1 % sets are spread over the layers and how little they overlap. The next
# chapter tests whether these few filters really carry the two functions.

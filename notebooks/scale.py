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
# # Scale: do the findings move toward the paper's with the size of the network? (beyond the paper)
#
# **Overview.** The paper's numbers come from an MSRResNet with 64 features and 16 residual blocks trained for
# 1M + 100k iterations; the book's profiles train smaller nets for a few thousand iterations, and several of the
# paper's effects come out weaker (see the scorecard). Is that the scale? Here the same recipe — same training
# images, iterations, learning rates and seeds — trains MSRResNets of several widths × depths (the profile's
# first network and its `scale_networks`), and every pair gets the measurements the chapters make on the main
# one:
#
# * FAIG / random at 1 %: the output change when the top 1 % deblurring (denoising) filters are masked on blurry
#   (noisy) input, over the median of the random yardstick's draws, with its 95 % bootstrap interval;
# * discriminativeness in both directions (masking the *other* function's set over masking the right one);
# * what the fine-tuning taught the target (PSNR gain over the baseline on blurry, noisy and clean input);
# * where the top filters sit (mean relative depth, 0 = `conv_first`, 1 = `conv_last`; Fig. 4's claim is that
#   the deblurring filters sit further back);
# * optionally, the blur / noise classification accuracy of Sec. 5.3;
# * optionally, Table 3's gain: the baseline retrained with only the top 1 % FAIG filters, minus the same with a
#   random 1 % (three retrainings per size; no upper bound).

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | dev | paper
seeds = None  # trained pairs of every size; None: the profile's scale_seeds
device = "cpu"  # "cuda" on a GPU
data = None  # folder of HR analysis images; None: the profile's default (scikit-image photos)
train_data = None  # folder(s) of HR training images, joined by ':'; None: the profile's default
out = "artifacts"  # where checkpoints and scores are cached
results = "results"  # where headline numbers are written as JSON
classify = True  # also the Sec. 5.3 classification accuracy of every size (a per-image FAIG of its images)
retrain = True  # also Table 3's FAIG − random retraining gain of every size (three retrainings each)

# %%
from faiglib.profiles import get_profile
from faiglib.report import plots
from faiglib.report.book import notebook_workspace, show_markdown
from faiglib.report.scorecard import size_claims_markdown, size_trend_markdown
from faiglib.report.tables import scale_rows_markdown, seed_summary_markdown
from faiglib.studies.scale import SEED_LABELS, paper_ratios, scale_archs, scale_study

archs = scale_archs(get_profile(profile))
seeds = list(get_profile(profile).scale_seeds if seeds is None else seeds)
seed_workspaces = [notebook_workspace(profile=profile, seed=s, arch=a, device=device, data=data, train_data=train_data,
                           out=out, results=results) for a in archs for s in seeds]
p = seed_workspaces[0].profile
print(f"{len(archs)} sizes: {', '.join(archs)}; seeds {seeds}; {p.baseline_iters} + {p.target_iters} iterations; "
      f"{len(seed_workspaces[0].analysis_set())} analysis images; {p.yardstick_draws} random draws")

# %% [markdown]
# ## The pairs
#
# `scale_study()` trains (or reads from the store) the baseline / target pair of every size and seed, computes
# FAIG on the analysis set, masks the top 1 % and the random draws, and measures PSNR, depth, (with `classify`)
# the classification accuracy and (with `retrain`) Table 3's retraining gain. The table lists each size's
# numbers -- over several seeds their means, and FAIG / random over the seeds with an interval that resamples
# every seed's random draws.

# %%
study = scale_study(seed_workspaces, classify=classify, retrain=retrain)
rows = study["rows"]
multi = len(seeds) > 1
show_markdown(scale_rows_markdown(rows, classify, retrain))
results_file = seed_workspaces[0].write_results("scale", {**study, "archs": archs, "paper_ratios": paper_ratios()})

# %% [markdown]
# ## Over seeds
#
# Each seed is an independently trained pair of every size. A claim gets a verdict only from three seeds or
# more (`faiglib.measures.verdicts.seed_verdict`, also on the scorecard): the paper's side in every seed (or the
# 95 % t interval of the mean) and at least half its size is *reproduced*, every seed on the other side
# *opposite*, anything else *not resolved*.

# %%
if multi:
    show_markdown(size_claims_markdown(study))
    show_markdown(seed_summary_markdown(rows, SEED_LABELS))
else:
    print(f"one seed ({seeds[0]}): no spread over seeds to show; set seeds to several to measure it")

# %% [markdown]
# ## Trends
#
# Each panel plots one finding against the parameter count (log axis). Left: FAIG / random with the
# yardstick's interval, and the paper's ratios (dashed; MSRResNet-64x16, 1M + 100k iterations). Second:
# discriminativeness (below 1: the sets are specific to their function). Third: what the fine-tuning taught.
# Fourth: the mean relative depth of the top filters. With `retrain`, right: Table 3's FAIG − random gain and
# the paper's (dashed).

# %%
fig = plots.scale_trends(study, paper_ratios())

# %% [markdown]
# ## Summary

# %% tags=["hide-input"]
small, large = rows[0], rows[-1]
def _where(difference):
    return "behind" if difference > 0 else "in front of" if difference < 0 else "at the same depth as"
def _moves(key):
    a, b = small[key]["ratio"], large[key]["ratio"]
    return f"{a:.3g}× → {b:.3g}× ({'up' if b > a else 'down'})"
show_markdown(
    f"Same data, recipe and {'seeds' if multi else 'seed'}, {len(rows)} MSRResNet sizes from {small['params']:,} to "
    f"{large['params']:,} "
    f"parameters ({small['network']} → {large['network']}). From the smallest to the largest: FAIG / random at "
    f"1 % on blurry input {_moves('deblur_over_random')}, on noisy input {_moves('denoise_over_random')} — the "
    f"paper reports {paper_ratios()['deblur_over_random']:.0f}× and {paper_ratios()['denoise_over_random']:.0f}×. "
    f"Discriminativeness on noisy input {small['noise_input_deblur_over_denoise']:.3g} → "
    f"{large['noise_input_deblur_over_denoise']:.3g}, on blurry input {small['blur_input_denoise_over_deblur']:.3g} → "
    f"{large['blur_input_denoise_over_deblur']:.3g}. The target's gain on blurry input "
    f"{small['gain_blur_db']:+.2f} → {large['gain_blur_db']:+.2f} dB."
    + (f" Means over seeds {seeds}. Whether Table 3's deblurring gain and Fig. 4's depth come with size is read "
       "off the verdicts over seeds, never off the sign of a mean:" if multi else
       f" The deblurring filters sit {_where(large['depth']['deblur_filters'] - large['depth']['denoise_filters'])} "
       f"the denoising ones in the largest net (mean relative depth {large['depth']['deblur_filters']:.2f} vs "
       f"{large['depth']['denoise_filters']:.2f})."
       + (f" Table 3's FAIG − random retraining gain on blurry input {small['retrain_gain_blur_db']:+.3f} → "
          f"{large['retrain_gain_blur_db']:+.3f} dB, on noisy input {small['retrain_gain_noise_db']:+.3f} → "
          f"{large['retrain_gain_noise_db']:+.3f} dB (paper "
          f"{large['retraining_gains']['deblur_filters/blur_input']['paper']:+.2f} / "
          f"{large['retraining_gains']['denoise_filters/noise_input']['paper']:+.2f} dB)." if retrain else "")
       + " One seed per size: a trend is a hint, not a measurement of its own spread; the intervals cover the "
       "random yardstick only."))
if multi:
    show_markdown(size_trend_markdown(study))

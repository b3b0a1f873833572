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
# # Masking the discovered filters (paper Sec. 5.2.1, Fig. 2)
#
# **Overview.** If FAIG's top deblurring filters really carry the deblurring function, putting the
# *baseline's* weights back into just those filters ("masking") should make the target network stop
# deblurring while it keeps denoising — and vice versa for the denoising filters. Randomly chosen filters
# of the same number should do little. We measure the change of the output by the MSE (×10³) between the
# image-gradient maps of the masked and the unmasked target outputs, computed on gray images (the paper's
# description; the official code used the blue channel by accident, available as `channel="blue"`).

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0  # which trained pair; also seeds the random selection
device = "cpu"  # "cuda" on a GPU
data = None  # folder of HR analysis images; None: the profile's default (scikit-image photos)
train_data = None  # folder(s) of HR training images, joined by ':'; None: the profile's default
out = "artifacts"  # where checkpoints and scores are cached
results = "results"  # where headline numbers are written as JSON
channel = "gray"  # "gray" (paper) or "blue" (official code)
interactive = False  # True in a live notebook: sliders for the proportion and the image

# %%
from IPython.display import display
from faiglib.report import plots
from faiglib.report.book import notebook_workspace, show_markdown
from faiglib.report.tables import masking_cells_markdown, masking_headline_markdown
from faiglib.measures.yardstick import yardstick_table
from faiglib.studies.masking import example_outputs, masking_ratios, yardstick_masking

ws = notebook_workspace(profile=profile, seed=seed, device=device, data=data, train_data=train_data, out=out,
                          results=results)
print(f"{ws.spec.label}, {len(ws.analysis_set())} analysis images, proportions {ws.profile.mask_proportions}, "
      f"{ws.profile.yardstick_draws} random draws")

# %% [markdown]
# ## FAIG versus random filters at 1 / 3 / 5 / 10 %
#
# `yardstick_masking()` masks the top filters of each set, and as many random ones, and evaluates
# the blurry and the noisy analysis inputs. One random set is a noisy yardstick: a random 1 % set that
# happens to hit `conv_first` or `conv_last` disturbs the output far more than one that does not, so a mean of
# a few draws swings with whether such a draw is among them. The yardstick is therefore the **median** of
# the profile's `yardstick_draws` independent draws, shown with its interquartile range (the error bars of
# the random curve), and FAIG's effect is FAIG / median(random) with a 95 % bootstrap interval
# (`faiglib.measures.yardstick.ratio_to_random`: the draws resampled 2000 times with a seeded generator; it covers the
# yardstick's noise, not that of training). Each panel is one (filter set, input) pair.

# %%
masked = yardstick_masking(ws, ws.profile.mask_proportions, (channel,), ("faig", "random"))
table, draws = masked["table"][channel], masked["draws"][channel]
yardstick = yardstick_table(table, draws, ("faig",), seed=ws.seed)
fig = plots.masking_curves(table)

# %%
show_markdown(masking_cells_markdown(table, yardstick))

# %% [markdown]
# ## What masking 1 % looks like (Fig. 2)
#
# Rows: a blurry and a noisy input. Columns: the LR input (enlarged), the target's output, the output with
# the top-1 % deblurring filters masked, with the top-1 % denoising filters masked, and the ground truth.
# Masking the deblurring filters should bring the blur back on the blurry input but leave the noisy input
# clean; masking the denoising filters should do the opposite.

# %%
fig = plots.masking_grid(example_outputs(ws, proportion=0.01, image=0))

# %% [markdown]
# In a live notebook, run it with `interactive = True` (or `papermill … -p interactive True`) to get sliders
# for the masked proportion (0.1–10 %) and the analysis image; the static book shows the 1 % strip above.

# %%
if interactive:
    from faiglib.report.widgets import masking_explorer

    display(masking_explorer(ws))  # noqa: F821 - IPython's display

# %% [markdown]
# ## Headline numbers at 1 %
#
# Two kinds of ratio. **FAIG / random**: how many times more masking the top-1 % FAIG filters of a function
# changes the output on the input that needs it than masking as many random filters (median of the draws,
# 95 % bootstrap interval). **Discriminativeness**, in both directions: on the noisy input, masking the
# *deblurring* set against masking the *denoising* set, and on the blurry input, masking the *denoising* set
# against masking the *deblurring* set. Specific sets make both small (well below 1).

# %%
ratios = masking_ratios(table["mask_1pct"])
one = yardstick["mask_1pct"]
show_markdown(masking_headline_markdown(ratios, one))
results_file = ws.write_results("masking", {**table, "yardstick": yardstick, "draws": draws, "ratios_1pct": ratios,
                                               "channel": channel, "n_images": len(ws.analysis_set()),
                                               "yardstick_draws": ws.profile.yardstick_draws})

# %% [markdown]
# ## Summary

# %% tags=["hide-input"]
blur_r, noise_r = one["deblur_filters"]["blur_input"]["faig_over_random"], one["denoise_filters"]["noise_input"]["faig_over_random"]
show_markdown(
    f"In this notebook we have masked the FAIG-discovered deblurring and denoising filters (1–10 %) of "
    f"{ws.spec.label} and {ws.profile.yardstick_draws} random sets of the same size each, and measured the "
    f"change of the output on blurry and noisy inputs. At 1 %, masking the deblurring filters changes the output "
    f"on blurry input {blur_r['ratio']:.3g}× as much as the median random set (95 % interval "
    f"{blur_r['low']:.3g}–{blur_r['high']:.3g}), and masking the denoising filters changes it on noisy input "
    f"{noise_r['ratio']:.3g}× as much ({noise_r['low']:.3g}–{noise_r['high']:.3g}). The sets are specific to "
    f"their function in both directions when both discriminativeness ratios are below 1: on noisy input, masking "
    f"the deblurring set does {ratios['noise_input_deblur_over_denoise_masking']:.3g}× what masking the "
    f"denoising set does; on blurry input, masking the denoising set does "
    f"{ratios['blur_input_denoise_over_deblur_masking']:.3g}× what masking the deblurring set does.")

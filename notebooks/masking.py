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
from IPython.display import Markdown, display
from faiglib.report import plots
from faiglib.report.book import notebook_workspace
from faiglib.report.tables import markdown_table
from faiglib.studies.claims import masking_ratios
from faiglib.studies.masking import example_outputs, masking_table

exp = notebook_workspace(profile=profile, seed=seed, device=device, data=data, train_data=train_data, out=out,
                          results=results)
print(f"{exp.spec.label}, {len(exp.analysis_set())} analysis images, proportions {exp.profile.mask_proportions}")

# %% [markdown]
# ## FAIG versus random filters at 1 / 3 / 5 / 10 %
#
# `masking_table()` masks the top filters of each set, and as many random ones, and evaluates
# the blurry and the noisy analysis inputs. One random set is a noisy yardstick (a draw that happens to hit
# a few sensitive filters matters much more than one that does not), so the random value is the mean over
# the profile's `random_draws` independent draws, with their standard deviation as error bar.
# Each panel is one (filter set, input) pair.

# %%
table = masking_table(exp, channel=channel)
fig = plots.masking_curves(table)

# %%
display(Markdown(markdown_table(
    ["masked", "filters", "input", "FAIG", "random (mean ± std)", "FAIG / random"],
    [[mask.removeprefix("mask_").replace("pct", " %"), filters.replace("_", " "), inp.replace("_", " "),
      f"{v['faig']:.4f}", f"{v['random']:.4f} ± {v['random_std']:.4f}", f"{v['faig'] / max(v['random'], 1e-12):.1f}"]
     for mask, entry in table.items() for filters, per_input in entry.items() for inp, v in per_input.items()])))

# %% [markdown]
# ## What masking 1 % looks like (Fig. 2)
#
# Rows: a blurry and a noisy input. Columns: the LR input (enlarged), the target's output, the output with
# the top-1 % deblurring filters masked, with the top-1 % denoising filters masked, and the ground truth.
# Masking the deblurring filters should bring the blur back on the blurry input but leave the noisy input
# clean; masking the denoising filters should do the opposite.

# %%
fig = plots.masking_grid(example_outputs(exp, proportion=0.01, image=0))

# %% [markdown]
# In a live notebook, run it with `interactive = True` (or `papermill … -p interactive True`) to get sliders
# for the masked proportion (0.1–10 %) and the analysis image; the static book shows the 1 % strip above.

# %%
if interactive:
    from faiglib.report.widgets import masking_explorer

    display(masking_explorer(exp))  # noqa: F821 - IPython's display

# %%
ratios = masking_ratios(table["mask_1pct"])
for key, value in ratios.items():
    print(f"{key}: {value:.3g}")
results_file = exp.write_results("masking", {**table, "ratios_1pct": ratios, "channel": channel,
                                               "n_images": len(exp.analysis_set())})

# %% [markdown]
# ## Summary
#
# In this notebook we have masked the FAIG-discovered deblurring and denoising filters (1–10 %) and random
# filters of the same number, measured the change of the output on blurry and noisy inputs, and looked at
# the 1 % case. The headline ratios above say how many times more the top-1 % FAIG filters disturb their
# own function than random ones, and how little masking the deblurring filters disturbs denoising.

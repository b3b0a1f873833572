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
# # Controllable restoration by interpolating the discovered filters (the slides)
#
# **Overview.** Masking (Sec. 5.2.1) puts the baseline's weights back into the discovered filters: the
# target loses one function. The slides ("Application — Controllable restoration") go further and
# *interpolate* only those filters between the two networks,
#
# $$W_f(\lambda) = \lambda\, W_f^{target} + (1 - \lambda)\, W_f^{baseline}$$
#
# for the top-1 % filters $f$ of one degradation (Eq. 7), all other weights staying at the target, so that
# $\lambda = 0$ is masking, $\lambda = 1$ the target, and $\lambda > 1$ extrapolates beyond it (the slides
# show $\lambda$ from 0.4 to 1.3). If the filters are discriminative, $\lambda$ on the deblurring filters
# should be a knob for the strength of deblurring that leaves denoising alone, and vice versa.
# We measure, for $\lambda \in [0, 1.5]$, the RGB PSNR against the ground truth and the gradient-map MSE
# (×10³, as in masking) against the target's own output.

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0  # which trained pair
device = "cpu"  # "cuda" on a GPU
data = None  # folder of HR analysis images; None: the profile's default (scikit-image photos)
train_data = None  # folder(s) of HR training images, joined by ':'; None: the profile's default
out = "artifacts"  # where checkpoints and scores are cached
results = "results"  # where headline numbers are written as JSON
proportion = 0.01  # top proportion of filters interpolated
interactive = False  # True in a live notebook: a λ slider

# %%
from IPython.display import display

from faiglib.report import plots
from faiglib.report.book import notebook_workspace, show_markdown
from faiglib.report.tables import control_markdown
from faiglib.studies.control import LAMBDAS, control_strip, control_summary, control_table

ws = notebook_workspace(profile=profile, seed=seed, device=device, data=data, train_data=train_data, out=out,
                          results=results)
print(f"{ws.spec.label}, seed {seed}, {len(ws.analysis_set())} analysis images; top {proportion:.0%} filters, "
      f"λ in {list(LAMBDAS)}")

# %% [markdown]
# ## PSNR and output change against λ
#
# `faiglib.studies.control.control_table` interpolates the deblurring filters and, separately, the denoising filters,
# and evaluates the blurry and the noisy analysis inputs at every λ (means over images). λ = 1 (dotted line)
# is the target; at λ = 0 the gradient-map MSE is the masking effect of Fig. 2.

# %%
table = control_table(ws, proportion=proportion, lambdas=LAMBDAS)
fig = plots.control_curves(table)

# %%
show_markdown("PSNR (dB) along λ\n\n" + control_markdown(table, LAMBDAS))

# %% [markdown]
# ## The strips: one image at several λ
#
# Top: a blurry input, with the deblurring filters interpolated; bottom: a noisy input, with the denoising
# filters interpolated. Left to right: the LR input, outputs for growing λ, the ground truth.

# %%
strip_lambdas = (0.0, 0.4, 0.8, 1.0, 1.2, 1.5)
fig = plots.image_row(control_strip(ws, "blur", "blur", proportion, strip_lambdas),
                      title="blurry input, deblurring filters interpolated")
fig = plots.image_row(control_strip(ws, "noise", "noise", proportion, strip_lambdas),
                      title="noisy input, denoising filters interpolated")

# %% [markdown]
# In a live notebook, run it with `interactive = True` (or `papermill … -p interactive True`) for a λ slider
# (0–1.5), the filter set, the input and the image; the static book shows the strips above.

# %%
if interactive:
    from faiglib.report.widgets import control_explorer

    display(control_explorer(ws, proportion=proportion))

# %%
summary = control_summary(table)
for key, row in summary.items():
    print(f"{key:>30s}: PSNR {row['psnr_lambda0']:.2f} dB at λ=0, {row['psnr_lambda1']:.2f} dB at λ=1; "
          f"best λ {row['best_lambda']:g}")
results_file = ws.write_results("control", {"proportion": proportion, "curves": table, "summary": summary,
                                             "n_images": len(ws.analysis_set())})

# %% [markdown]
# ## Summary
#
# In this notebook we have interpolated only the top-1 % deblurring or denoising filters between the baseline
# and the target, for λ from 0 (masked) through 1 (target) to 1.5. What λ controls here, computed:

# %% tags=["hide-input"]
def span(filters, inp):
    row = summary[f"{filters}/{inp}"]
    return f"{row['psnr_lambda0']:.2f} → {row['psnr_lambda1']:.2f} dB (best λ = {row['best_lambda']:g})"


show_markdown(
    f"- **Deblurring filters** ({ws.spec.label}, seed {seed}): blurry input {span('deblur_filters', 'blur_input')}; "
    f"noisy input {span('deblur_filters', 'noise_input')}.\n"
    f"- **Denoising filters**: noisy input {span('denoise_filters', 'noise_input')}; blurry input "
    f"{span('denoise_filters', 'blur_input')}.\n"
    f"- A discriminative filter set moves the PSNR of its own input from λ = 0 to λ = 1 much more than that of "
    f"the other input; a best λ above 1 means that extrapolating past the target restores its degradation "
    f"further. Profile `{ws.profile.name}` (the `smoke` profile's numbers mean nothing).")

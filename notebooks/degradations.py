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
# # Degradations: what the blind SR network has to undo
#
# **Overview.** The paper studies one-branch networks that super-resolve images carrying an *unknown*
# mix of blur and noise. This notebook shows the degradation model (paper Eq. 1) and the four analysis
# conditions every later chapter uses: clean, blurry, noisy and blurry+noisy low-resolution (LR) inputs.
#
# $$x = (x^{gt} \circledast k)\downarrow_r + n \tag{1}$$
#
# with an isotropic 21×21 Gaussian kernel $k$ (σ = 2) applied to the high-resolution (HR) image,
# ×2 bilinear downsampling $\downarrow_r$ (the resize the official code uses) and white Gaussian noise
# $n$ with σ = 0.1 on the [0, 1] scale.

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0  # seeds the noise draws (and, in later chapters, training)
device = "cpu"  # "cuda" on a GPU
data = None  # folder of HR analysis images; None: the profile's default (scikit-image photos)
train_data = None  # folder(s) of HR training images, joined by ':'; None: the profile's default
out = "artifacts"  # where checkpoints and scores are cached
results = "results"  # where headline numbers are written as JSON

# %%
from faiglib.report import plots
from faiglib.report.book import notebook_workspace

ws = notebook_workspace(profile=profile, seed=seed, device=device, data=data, train_data=train_data, out=out,
                          results=results)
print(ws.profile.name, ws.degradation)

# %% [markdown]
# ## The analysis set
#
# `Workspace.analysis_set()` loads the HR analysis images (mod-cropped to the scale and, for the small
# profiles, centre-cropped) and builds the four LR versions deterministically from the seed: image *i*
# draws its noise from a generator seeded by `(seed, i)`, so the noisy and blurry+noisy inputs share the
# same noise realisation.

# %%
aset = ws.analysis_set()
for name, hr in zip(aset.names, aset.hr):
    print(f"{name:>24s}  HR {tuple(hr.shape[-2:])} -> LR {tuple(aset.lr['clean'][aset.names.index(name)].shape[-2:])}")

# %%
fig = plots.degradation_grid(aset, images=range(min(2, len(aset))), crop=48)

# %% [markdown]
# ## How strong are the degradations?
#
# The PSNR between each LR condition upsampled back to HR (bilinear) and the ground truth shows how much
# each degradation costs before any network is involved.

# %%
from faiglib.measures.metrics import interpolation_psnr

costs = {kind: round(value, 2) for kind, value in interpolation_psnr(aset).items()}
print("mean PSNR (dB) of bilinear upsampling:", costs)
results_file = ws.write_results("degradations", {"bilinear_upsampling_psnr_db": costs, "n_images": len(aset)})

# %% [markdown]
# ## Summary
#
# In this notebook we have built the clean / blur / noise / blur+noise analysis conditions of Eq. 1 from
# the analysis images, seen what they look like and measured how much each costs in PSNR. The blur removes
# the fine texture; the noise adds high-frequency energy — two degradations a single network must learn to
# tell apart, which is what the next chapters probe.

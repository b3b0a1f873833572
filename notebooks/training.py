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
# # Training the baseline / target pair
#
# **Overview.** FAIG needs two networks that sit close together in parameter space (paper Sec. 4.1,
# "Baseline model"): a *baseline* $F(\bar\theta)$ that only super-resolves clean images, and a *target*
# $F(\theta)$ fine-tuned from it on inputs that are blurred and/or noisy (each with probability 0.5,
# independently). Everything the target can do and the baseline cannot — deblurring, denoising — must
# come from the change $\theta - \bar\theta$. This notebook trains (or loads from the cache) that pair and
# checks that the fine-tuning did teach the target to remove blur and noise.

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0  # seeds weight init, patch sampling and training degradations
device = "cpu"  # "cuda" on a GPU
data = None  # folder of HR analysis images; None: the profile's default (scikit-image photos)
train_data = None  # folder(s) of HR training images, joined by ':'; None: the profile's default
out = "artifacts"  # where checkpoints and scores are cached
results = "results"  # where headline numbers are written as JSON

# %%
from faiglib.report import plots
from faiglib.report.book import notebook_workspace, show_markdown
from faiglib.report.tables import markdown_table

ws = notebook_workspace(profile=profile, seed=seed, device=device, data=data, train_data=train_data, out=out,
                          results=results)
p = ws.profile
print(f"network {ws.spec.label}; baseline {p.baseline_iters} it (lr {p.lr_baseline:g}), "
      f"target {p.target_iters} it (lr {p.lr_target:g}); batch {p.batch_size}, HR patch {p.hr_patch}")

# %% [markdown]
# ## Train (or load) the pair
#
# `Workspace.pair()` trains the baseline on clean ×2 patches (L1 loss, Adam, cosine learning rate), then
# fine-tunes the target from it with random blur and noise. Checkpoints are written atomically with their
# metadata; an interrupted run resumes where it stopped, and a finished one is reused.

# %%
baseline_run, target_run = ws.pair()
print("baseline:", baseline_run.checkpoint.name, "| target:", target_run.checkpoint.name)
fig = plots.training_curves({"baseline": baseline_run.history, "target": target_run.history})

# %% [markdown]
# ## Does the target remove blur and noise, and the baseline not?
#
# PSNR (RGB, 2-pixel border cropped) of both networks on each analysis condition. The baseline should be
# best on clean inputs and poor on degraded ones; the target should win clearly on blur and noise.

# %%
table = ws.psnr_table()
show_markdown(markdown_table(["input", "baseline (dB)", "target (dB)"],
                                 [[kind, f"{row['baseline']:.2f}", f"{row['target']:.2f}"] for kind, row in table.items()]))
results_file = ws.write_results("training", {
    "psnr_db": table,
    "seconds": {"baseline": baseline_run.history.get("seconds"), "target": target_run.history.get("seconds")}})

# %% [markdown]
# ## Summary
#
# In this notebook we have trained the baseline/target pair FAIG needs and measured that the fine-tuning
# gave the target its deblurring and denoising ability (its PSNR gain on blurry and noisy inputs) while
# the two models stay one short fine-tuning apart in parameter space.

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
# # Your own network: a community checkpoint in, maps and filters out
#
# **Overview.** The other chapters explain the book's own pairs. This one shows the way in for *your*
# network: a checkpoint as BasicSR and the original repositories publish them — `{"params_ema": state_dict}`,
# no architecture recorded — is read by `faiglib.load_sr_model`, which finds the architecture and its sizes from
# the keys and shapes (MSRResNet / SRResNet, EDSR, RCAN, RRDBNet, SwinIR; `.pth` or `.safetensors`;
# `weights_only`). Then the `faiglib` command runs LAM, L2X and FAIG on it without any Python:
#
# ```bash
# faiglib units CHECKPOINT
# faiglib lam CHECKPOINT IMAGE --window Y X --out DIR
# faiglib faig BASELINE TARGET --data HR_FOLDER --out DIR
# ```
#
# To have a checkpoint to show, we save this book's trained MSRResNet pair in the community layout and forget
# that faiglib made it.

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0  # which trained pair
device = "cpu"  # "cuda" on a GPU
data = None  # folder of HR analysis images; None: the profile's default (scikit-image photos)
train_data = None  # folder(s) of HR training images, joined by ':'; None: the profile's default
out = "artifacts"  # where checkpoints and scores are cached
results = "results"  # where headline numbers are written as JSON
window_size = 16  # side of the output window (HR pixels)
example_image = 0  # the analysis image the commands explain

# %%
import json
from pathlib import Path

import torch
from IPython.display import Image as ShowImage, display

from faiglib import load_sr_model
from faiglib.core.checkpoint import save_community
from faiglib.data.images import save_image
from faiglib.models.loading import detect_architecture
from faiglib.report.book import faiglib_command as command, notebook_workspace, show_markdown
from faiglib.report.tables import lam_report_markdown, markdown_table
from faiglib.studies.lam import choose_windows, window_generator

ws = notebook_workspace(profile=profile, seed=seed, device=device, data=data, train_data=train_data, out=out,
                         results=results)
work = Path(out) / "your_network"
print(f"{ws.spec.label}, seed {seed}, x{ws.profile.scale}; files go to {work}")

# %% [markdown]
# ## A checkpoint without a recorded architecture
#
# `faiglib.core.checkpoint.save_community` writes the baseline and the target as `{"params_ema": state_dict}`;
# `faiglib.models.loading.detect_architecture` reads the architecture back from the keys and shapes, and
# `faiglib.load_sr_model` builds and loads it. The reloaded target must compute what the book's target computes.

# %%
paths = {which: save_community(work / f"{which}.pth", ws.model(which)) for which in ("baseline", "target")}
state = torch.load(paths["target"], map_location="cpu", weights_only=True)["params_ema"]
arch, sizes = detect_architecture(state)
book_target = ws.model("target")
on = next(book_target.parameters()).device
mine = load_sr_model(paths["target"]).to(on)
lr = ws.analysis_set().lr["blur"][example_image]
with torch.no_grad():
    difference = float((mine(lr[None].to(on)) - book_target(lr[None].to(on))).abs().max())
show_markdown(markdown_table(["file", "keys", "detected", "sizes", "scale", "largest output difference"],
                             [[paths["target"].name, len(state), arch, ", ".join(f"{k}={v}" for k, v in sizes.items()),
                               f"x{mine.scale}", f"{difference:.1g}"]]))


# %% [markdown]
# ## `faiglib units`: what FAIG will score
#
# Every layer's attribution units under the default rules: for a CNN, one unit per (output, input) channel pair of
# every convolution — the paper's filters.

# %%
units_text = command("units", paths["target"])
print(units_text)

# %% [markdown]
# ## `faiglib lam`: which input pixels the target uses
#
# The blurry LR version of one analysis image is saved as a PNG; the window is the LAM chapter's first for this
# image. The command writes the reference demo's panels (`lam.png`) and the numbers (`lam.json`).

# %%
image_path = save_image(lr, work / "lr_blur.png")
window = choose_windows(ws.analysis_set().hr[example_image], 3, window_size, window_generator(seed, example_image))[0]
command("lam", paths["target"], image_path, "--window", *window, "--size", window_size, "--out", work / "lam")
lam_report = json.loads((work / "lam" / "lam.json").read_text())
display(ShowImage(filename=str(work / "lam" / "lam.png"), width=900))
show_markdown(lam_report_markdown(lam_report))

# %% [markdown]
# ## `faiglib faig`: the filters that deblur
#
# FAIG between the two checkpoints on the profile's analysis images (HR, central crops as in the book), blurry
# against noisy input (Eq. 7). The command ranks every unit (`faig_blur.csv`) and checks the top 1 % the way the
# masking chapter does: the output change when they are set back to the baseline's weights, against the median
# of seeded random selections of as many units.

# %%
crop = ws.profile.analysis_crop
faig_args = ["faig", paths["baseline"], paths["target"], "--data", ws.data or ws.profile.analysis_data,
             "--degradation", "blur", "--n-steps", ws.profile.n_steps, "--blur-sigma", ws.profile.blur_sigma,
             "--noise-sigma", ws.profile.noise_sigma, "--seed", seed, "--out", work / "faig"]
command(*faig_args, *(["--crop", crop] if crop else []))
faig_report = json.loads((work / "faig" / "faig.json").read_text())
ranked = (work / "faig" / "faig_blur.csv").read_text().splitlines()
show_markdown(markdown_table(ranked[0].split(","), [row.split(",") for row in ranked[1:6]]))
masking = faig_report["masking"]
ratio = masking["ratio_to_random_median"]
print(f"{faig_report['units']} units on {len(faig_report['images'])} images (N = {faig_report['n_steps']}); "
      f"masking the top 1 % ({masking['units']} units) changes the deblurred output "
      f"{'x%.3g' % ratio if ratio is not None else '(no random change)'} the median of "
      f"{len(masking['random_draws'])} random selections")

# %%
results_file = ws.write_results("your_network", {
    "checkpoint_layout": "params_ema", "detected": {"arch": arch, "sizes": sizes}, "output_difference": difference,
    "units": faig_report["units"], "lam": {k: lam_report[k] for k in ("window", "window_size", "diffusion_index",
                                                                       "relative_completeness_gap", "context")},
    "faig": {"degradation": faig_report["degradation"], "n_steps": faig_report["n_steps"],
             "images": faig_report["images"], "masking": masking}})

# %% [markdown]
# ## Summary
#
# In this notebook we have saved the book's pair as a community checkpoint, read it back with the architecture
# found from its keys, and run the `faiglib` command on it. Computed:

# %% tags=["hide-input"]
show_markdown("\n".join([
    f"- `load_sr_model` detected **{arch}** ({', '.join(f'{k}={v}' for k, v in sizes.items())}, x{mine.scale}); the "
    f"reloaded target's output differs from the book's by at most {difference:.1g}.",
    f"- `faiglib lam`: DI {lam_report['diffusion_index']:.3g} for the window at {tuple(lam_report['window'])} on "
    f"blurry input, completeness gap {lam_report['relative_completeness_gap']:.2%}.",
    f"- `faiglib faig`: masking the top 1 % of {faig_report['units']} units changes the output "
    + (f"{ratio:.3g}x the median random selection." if ratio is not None else "while random selections change nothing."),
    "- The same commands take checkpoints of MSRResNet, EDSR, RCAN and RRDBNet with BasicSR's key names and of "
    "SwinIR with its own (the layouts `tests/test_community.py` checks).",
    f"- Profile `{ws.profile.name}` (the `smoke` profile's numbers mean nothing). All numbers: "
    f"`results/{ws.profile.name}/your_network.json`."]))

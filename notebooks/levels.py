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
# # Does the overlap score track the strength of the degradation? (beyond the paper)
#
# **Overview.** The paper's classifier (Sec. 4.3, 5.3) thresholds the overlap score
#
# $$\mathrm{OS}(x, D) = \frac{|\{\text{filter}^{D}\} \cap \{\text{filter}^{x}\}|}{|\{\text{filter}^{x}\}|}
# \qquad \text{(Eq. 8)}$$
#
# between the top-$p$ FAIG filters of one input (Eq. 6) and the discriminative filters of degradation $D$
# (Eq. 7), for networks trained and tested at a single blur ($\sigma = 2$) and noise ($\sigma = 0.1$) level.
# Blind SR networks meet a range of levels. Here a second target is fine-tuned from the *same* baseline with
# every blurred sample's $\sigma$ drawn uniformly from a range and every noisy sample's noise $\sigma$ from
# another (each still applied with p = 0.5), and the test images are degraded at several levels of each.
# If the discovered filters are really where the network removes $D$, the overlap should grow with the
# strength of $D$: a clean input (level 0) should overlap least, the strongest degradation most.
#
# $\{\text{filter}^{D}\}$ comes from the analysis images at the middle levels ($\sigma = 2$, noise 0.1), and the
# thresholds $T^{D}$ are chosen on the validation images at those levels, by the rule of the classification
# notebook (`faiglib.measures.overlap.choose_threshold`).

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seeds = None  # list of seeds (independently trained pairs); None: the profile's seeds
arch = None  # network; None: the profile's first (MSRResNet)
device = "cpu"  # "cuda" on a GPU
data = None  # folder of HR analysis images ({filter^D}); None: the profile's default
train_data = None  # folder(s) of HR training images, joined by ':'; None: the profile's default
validation_data = None  # folder of HR images for the thresholds; None: the profile's
test_data = None  # folder of HR images degraded at every level; None: the profile's
out = "artifacts"  # where checkpoints and scores are cached
results = "results"  # where headline numbers are written as JSON

# %%

from faiglib.measures.statistics import mean_std
from faiglib.profiles import get_profile
from faiglib.report import plots
from faiglib.report.book import notebook_workspaces, show_markdown, write_results
from faiglib.report.tables import rows_markdown, tracking_markdown
from faiglib.studies.classification import classify
from faiglib.studies.levels import level_overlaps, level_psnr, tracking_summary

common = dict(profile=profile, seeds=seeds, archs=[arch or get_profile(profile).networks[0].label], device=device,
              data=data, train_data=train_data, out=out, results=results)
seed_workspaces = notebook_workspaces(levels=True, **common)
fixed = notebook_workspaces(**common)  # the paper's single-level targets of the same baselines, for reference
p = seed_workspaces[0].profile
print(f"{seed_workspaces[0].spec.label}, seeds {[e.seed for e in seed_workspaces]}; levels target trained on blur sigma "
      f"{p.levels_blur_range}, noise sigma {p.levels_noise_range}; test levels: blur {list(p.levels_blur)}, "
      f"noise {list(p.levels_noise)}; test images: {test_data or p.classify_test_data}")

# %% [markdown]
# ## Is every level restored?
#
# The overlap score only means something where the network does remove the degradation. `level_psnr` gives
# the RGB PSNR of the test images at every level for the baseline, the single-level target and the levels
# target (mean ± std over seeds).

# %%
psnr = {name: mean_std([level_psnr(e, which, test_data) for e in group])
        for name, group, which in (("baseline", seed_workspaces, "baseline"), ("single-level target", fixed, "target"),
                                   ("levels target", seed_workspaces, "target"))}
kinds = list(psnr["baseline"])
show_markdown("PSNR (dB) on the test images\n\n" + rows_markdown(
    {k: {name: psnr[name][k] for name in psnr} for k in kinds}, {name: name for name in psnr}, digits=4))

# %% [markdown]
# ## Overlap score against strength
#
# `level_overlaps` computes the per-image FAIG of every test input at every level (cached) and its overlap
# with the deblurring and denoising sets. Solid lines: OS with the filters of the degradation on the axis;
# dotted: OS of the same inputs with the other degradation's filters, which should stay flat.

# %%
thresholds = {e.seed: classify(e, validation=validation_data, test=test_data) for e in seed_workspaces}
levels = {e.seed: level_overlaps(e, thresholds[e.seed]["thresholds"], test=test_data) for e in seed_workspaces}
fig = plots.overlap_levels(list(levels.values()))

# %% [markdown]
# Mean overlap and the fraction of test images flagged ($\mathrm{OS} \ge T^{D}$) at each level, mean ± std over
# seeds. A clean input should be flagged for neither; an input with blur only should be flagged for blur alone.

# %%
per_kind = mean_std([{k: {"os_blur": r["mean_overlap"]["blur"][k], "os_noise": r["mean_overlap"]["noise"][k],
                          "flag_blur": r["detected"]["blur"][k], "flag_noise": r["detected"]["noise"][k]}
                      for k in r["kinds"]} for r in levels.values()])
show_markdown(rows_markdown(per_kind, {"os_blur": "OS(x, blur)", "os_noise": "OS(x, noise)",
                                          "flag_blur": "flagged blur", "flag_noise": "flagged noise"}))

# %% [markdown]
# ## Does the overlap track the strength?
#
# Per seed: the mean OS(x, D) over the levels of $D$ (clean first), whether it rises at every step, and
# Spearman's rank correlation between level and OS over all (image, level) pairs.

# %%
show_markdown(tracking_markdown(levels))
rho, rises = tracking_summary(levels)

# %%
payload = {
    "network": seed_workspaces[0].spec.label, "seeds": [e.seed for e in seed_workspaces],
    "train_ranges": {"blur": list(p.levels_blur_range), "noise": list(p.levels_noise_range)},
    "test_levels": {"blur": list(p.levels_blur), "noise": list(p.levels_noise)},
    "psnr": psnr, "per_level": per_kind, "spearman": rho, "seeds_rising_at_every_step": rises,
    "accuracy_at_the_middle_levels": mean_std([r["accuracy"] for r in thresholds.values()]),
    "per_seed": {str(s): {"thresholds": thresholds[s]["thresholds"], "tracking": r["tracking"],
                          "overlaps": r["overlaps"]} for s, r in levels.items()},
}
results_file = write_results(results, p.name, "levels", payload, seed=", ".join(str(e.seed) for e in seed_workspaces),
                             device=device, network=seed_workspaces[0].spec.label, data=str(seed_workspaces[0].data),
                             validation_data=str(validation_data or p.classify_validation_data),
                             test_data=str(test_data or p.classify_test_data), train_data=str(seed_workspaces[0].train_data))

# %% [markdown]
# ## Summary
#
# A target fine-tuned on a range of blur and noise levels was analysed with the filters found at the middle
# levels; the test images were degraded at several levels of each. The measured answer:

# %% tags=["hide-input"]
acc = payload["accuracy_at_the_middle_levels"]
show_markdown("\n".join(
    f"- **{d}**: the mean OS(x, {d}) rises at every step from clean to the strongest level in {rises[d]} of "
    f"{len(levels)} seeds; Spearman ρ(level, OS) = **{rho[d]['mean']:.2f} ± {rho[d]['std']:.2f}**; flagged as "
    f"{d} (OS ≥ $T^{{{d}}}$): "
    + ", ".join(f"{k} {per_kind[k]['flag_' + d]['mean']:.0%}" for k in per_kind if k == 'clean' or k.startswith(d))
    + "." for d in ("blur", "noise"))
    + f"\n- At the middle levels the levels target is classified with accuracy blur {acc['blur']['mean']:.1%}, "
    f"noise {acc['noise']['mean']:.1%} (mean over seeds; the paper's single-level networks: 96 % and 98 %).\n"
    f"- Profile `{p.name}`: the `smoke` profile's numbers mean nothing (tiny nets, a few iterations).")

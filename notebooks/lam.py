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
# # Pixels: which input pixels does the network use? (LAM)
#
# **Overview.** FAIG asks which *filters* carry a function; the slides' first level of interpretation asks which
# *input pixels* an output depends on. Local Attribution Maps (LAM, Gu & Dong; slides and seed 003) attribute a
# feature of one output window — its gradient magnitude $D$ summed over a 16×16 window — to the LR input, by an
# integrated gradient along a path from a blurred copy of the input (no high frequencies, so no edges to explain)
# to the input itself, blurring less and less:
#
# $$\mathrm{LAM}_i = \int_0^1 \frac{\partial D(F(\gamma(\alpha)))}{\partial \gamma_i(\alpha)}
#   \frac{\partial \gamma_i(\alpha)}{\partial \alpha}\, d\alpha, \qquad
#   \gamma(\alpha) = \omega(\sigma - \alpha\sigma) \otimes x ,$$
#
# summed with `fold` steps (the reference demo's convention: σ = 1.2, 50 steps, a 9×9 Gaussian). By completeness
# the map sums to $D(F(x)) - D(F(\gamma(0)))$ up to the error of the Riemann sum. How spread out a map is gets
# one number, the **diffusion index** $DI = (1 - \mathrm{Gini}(|\sum_c \mathrm{LAM}| / \max)) \cdot 100$: small when
# a few pixels carry the attribution, large when many do (it is computed over the whole LR image, so its scale
# depends on the image size; compare values on the same images only).
#
# Here we ask of our pair: the target was fine-tuned to remove blur and noise. Undoing a blur means gathering
# information that the blur spread over neighbouring pixels, so **does the target use more input pixels (diffuse
# more) than the baseline on blurry input?** And on noisy input, where averaging over neighbours removes noise?
# Windows are chosen on the ground truth by a seeded rule (high gradient energy: edges and texture, which is what
# LAM explains), the same windows for both networks and every input kind, so the comparison is paired.

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0  # which trained pair
device = "cpu"  # "cuda" on a GPU
data = None  # folder of HR analysis images; None: the profile's default (scikit-image photos)
train_data = None  # folder(s) of HR training images, joined by ':'; None: the profile's default
out = "artifacts"  # where checkpoints and scores are cached
results = "results"  # where headline numbers are written as JSON
n_windows = 3  # windows per analysis image
n_images = None  # analysis images used; None: all of them
window_size = 16  # side of the output window (HR pixels)
sigma = 1.2  # blur of the baseline input
fold = 50  # path steps
example_image = 0  # the analysis image of the pictures
architectures = True  # also the attention networks (profile.attention_networks) whose pairs are already trained

# %%

from faiglib.report import plots
from faiglib.report.book import notebook_workspace, show_markdown
from faiglib.methods.receptive_field import receptive_radius
from faiglib.report.tables import architecture_diffusion_markdown, diffusion_comparison_markdown, rows_markdown
from faiglib.studies.lam import (architecture_verdict, compare_architectures, compare_diffusion, diffusion_answer,
                                 lam_examples, stored_architectures, stored_diffusion_study)

ws = notebook_workspace(profile=profile, seed=seed, device=device, data=data, train_data=train_data, out=out,
                         results=results)
print(f"{ws.spec.label}, seed {seed}, x{ws.profile.scale}; {len(ws.analysis_set())} analysis images; "
      f"LAM: {window_size}x{window_size} windows, sigma {sigma}, {fold} steps")

# %% [markdown]
# ## One window, two networks
#
# `faiglib.studies.lam.lam_examples` runs `faiglib.methods.lam.lam` for the baseline and for the target on the
# blurry version of one analysis image, on the first window the seeded rule picks. Left to right, as the reference
# demo draws them: the SR output with the window (red), the signed map summed over the colour channels
# (red: more of this pixel raises $D$, blue: lowers it), $|\mathrm{LAM}|$ over the LR input enlarged bicubically to
# the output size, and a kernel-density view of $|\mathrm{LAM}|$.

# %%
examples = lam_examples(ws, image=example_image, kind="blur", window_size=window_size, n_windows=n_windows,
                        sigma=sigma, fold=fold)
fig = plots.lam_panels(examples, zoom=min(8 * window_size, *examples["target"][0].output.shape[-2:]))
for which, (res, _) in examples.items():
    print(f"{which:>8s}: window (y, x) = {res.window}, DI {res.diffusion_index:.2f}, D(F(x)) {res.objective:.3f}, "
          f"D(F(x0)) {res.baseline_objective:.3f}, sum of the map {res.total:.3f} "
          f"(relative completeness gap {res.relative_completeness_gap:.1%})")

# %% [markdown]
# ## Diffusion index per input kind
#
# `faiglib.studies.lam.diffusion_study` repeats this for every analysis image, `n_windows` windows each, on the
# clean, blurry and noisy inputs, for both networks (mean ± std over images × windows; dots: single windows).
# `stored_diffusion_study` keeps each network's study in the store (`tools/fill_store.py lam` fills it in the
# background), so a re-render reads it.

# %%
study = stored_diffusion_study(ws, kinds=("clean", "blur", "noise"), n_windows=n_windows, n_images=n_images,
                               window_size=window_size, sigma=sigma, fold=fold)
fig = plots.diffusion_bars(study["summary"])
by_kind = {f"{kind} input": {m: study["summary"][m][kind] for m in study["summary"]} for kind in study["settings"]["kinds"]}
show_markdown(rows_markdown(by_kind, {"baseline": "DI baseline", "target": "DI target"}))
gaps = sorted((g, m, k, i) for m, per in study["completeness"].items() for k, values in per.items()
              for i, g in enumerate(values))
median_gap, (worst_gap, *worst) = gaps[len(gaps) // 2][0], gaps[-1]
worst_change = study["objective_change"][worst[0]][worst[1]][worst[2]]
print(f"{study['settings']['n_images']} images x {n_windows} windows; relative completeness gap: median "
      f"{median_gap:.1%}, largest {worst_gap:.1%} ({worst[0]}, {worst[1]} input, where D changes by only "
      f"{worst_change:+.3f} along the path)")

# %% [markdown]
# ## Does the target diffuse more than the baseline?
#
# `faiglib.studies.lam.compare_diffusion` pairs the two networks on the same image, window and input kind and
# reports the differences $DI_{target} - DI_{baseline}$; a difference counts as resolved when its mean is more than
# twice its standard error.

# %%
comparison = compare_diffusion(study)
show_markdown(diffusion_comparison_markdown(comparison))
for kind, c in comparison.items():
    print(f"{kind:>6s} input: DI target - baseline = {c['difference']['mean']:+.2f} ± {c['difference']['std']:.2f} "
          f"over {c['n']} windows -> {c['verdict']}")

# %% [markdown]
# ## Across architectures: do attention networks use more pixels?
#
# The LAM paper's headline: networks with attention or larger receptive fields (RCAN's channel attention, SwinIR's
# self-attention) use a wider range of input pixels — a higher DI — than plain CNNs. Our RCAN- and SwinIR-style
# pairs (the attention chapter trains them; `architectures = True` uses those already in the store, nothing is
# trained here) are measured by `faiglib.studies.lam.stored_diffusion_study` on the same seeded windows, images
# and input kinds as MSRResNet above; `faiglib.studies.lam.compare_architectures` pairs each with MSRResNet window
# by window.
# The receptive radius is measured (`faiglib.methods.receptive_field.receptive_radius`: the support of one output
# pixel's gradient; "whole image" for networks where it reaches every border, e.g. through global pooling).
# Picture: the targets' maps of the first window on blurry input, one row per network.

# %%
arch_ws, not_stored = stored_architectures(ws, [s.label for s in ws.profile.attention_networks]
                                           if architectures else [])
arch_studies = {ws.spec.label: study, **{
    label: stored_diffusion_study(other, kinds=study["settings"]["kinds"], n_windows=n_windows, n_images=n_images,
                                  window_size=window_size, sigma=sigma, fold=fold) for label, other in arch_ws.items()}}
largest = max(max(lr.shape[-2:]) for lr in ws.analysis_set().lr["clean"])
radii = {label: receptive_radius(other.model("target"), max_size=largest)
         for label, other in {ws.spec.label: ws, **arch_ws}.items()}
arch_comparison = compare_architectures(arch_studies, ws.spec.label)
if arch_ws:
    arch_examples = {f"{label} target": lam_examples(other, image=example_image, kind="blur",
                                                     window_size=window_size, n_windows=n_windows, sigma=sigma,
                                                     fold=fold)["target"]
                     for label, other in {ws.spec.label: ws, **arch_ws}.items()}
    fig = plots.lam_panels(arch_examples, zoom=min(8 * window_size, *examples["target"][0].output.shape[-2:]))
    show_markdown(architecture_diffusion_markdown(arch_studies, arch_comparison, radii, ws.spec.label))
    arch_answer = architecture_verdict(arch_comparison)
else:
    arch_answer = "not measured"
print(f"networks measured: {', '.join(arch_studies)}; not trained yet (make section S=attention): "
      f"{', '.join(not_stored) or 'none'}; the LAM paper's ordering (target, all inputs): {arch_answer}")

# %%
results_file = ws.write_results("lam", {
    "settings": study["settings"], "windows": study["windows"], "diffusion_index": study["di"],
    "summary": study["summary"], "comparison": comparison, "relative_completeness_gap": study["completeness"],
    "objective_change": study["objective_change"], "median_relative_completeness_gap": median_gap,
    "max_relative_completeness_gap": worst_gap,
    "example": {which: res.as_dict() for which, (res, _) in examples.items()},
    "architectures": {"networks": list(arch_studies), "not_trained": not_stored, "receptive_radius": radii,
                      "diffusion_index": {label: st["di"] for label, st in arch_studies.items()},
                      "summary": {label: st["summary"] for label, st in arch_studies.items()},
                      "comparison_with": ws.spec.label, "comparison": arch_comparison,
                      "lam_paper_ordering": arch_answer}})

# %% [markdown]
# ## Summary
#
# In this notebook we have computed local attribution maps of the baseline and the target for windows with edges
# and texture, on clean, blurry and noisy inputs, and compared how many input pixels each network uses through
# the diffusion index. Computed:

# %% tags=["hide-input"]
def line(kind):
    c = comparison[kind]
    b, t = study["summary"]["baseline"][kind], study["summary"]["target"][kind]
    return (f"- **{kind} input**: DI baseline {b['mean']:.2f} ± {b['std']:.2f}, target {t['mean']:.2f} ± "
            f"{t['std']:.2f}; paired difference {c['difference']['mean']:+.2f} ± {c['difference']['std']:.2f} "
            f"over {c['n']} windows: **{c['verdict']}**.")


show_markdown("\n".join([line(k) for k in comparison] + [
    f"- Does the target ({ws.spec.label}, seed {seed}) diffuse more than the baseline on blurry input? "
    f"**{diffusion_answer(comparison['blur'])}**.",
    f"- Completeness with {fold} steps: the maps sum to $D(F(x)) - D(F(x_0))$ within {median_gap:.1%} for the "
    f"median window and {worst_gap:.1%} at worst, a window where $D$ changes by only {worst_change:+.3f} along the "
    f"path (the relative gap divides by that change).",
    f"- The LAM paper's headline, that networks with attention or larger receptive fields use more input pixels "
    f"(a higher DI than {ws.spec.label}'s target on every input kind): **{arch_answer}** at this scale"
    + "".join(f"; {label}, blurry input: {c['target']['blur']['difference']['mean']:+.2f} "
              f"({c['target']['blur']['verdict'].replace(label, 'it')})"
              for label, c in arch_comparison.items() if "blur" in c["target"])
    + (f". Not trained yet, so not measured: {', '.join(not_stored)} (`make section S=attention`)." if not_stored
       else "."),
    f"- Profile `{ws.profile.name}` (the `smoke` profile's numbers mean nothing). All numbers: "
    f"`results/{ws.profile.name}/lam.json`."]))

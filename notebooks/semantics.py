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
# # Features: where do degradation semantics appear?
#
# **Overview.** The slides' middle question ("Discovering 'Semantics' in Super-Resolution Networks", Liu et
# al.) is about *features*: in a classification network deep features cluster by object category; in an SR
# network, they report, deep features cluster by the **degradation** of the input, regardless of image
# content. For networks trained with an MSE-type loss this appears only **with a global residual (GR)** — the
# bilinear skip from the input to the output — and degrees of one degradation separate more the more they differ.
#
# We test this on our pairs. Many $32 \times 32$ LR patches are cut from the analysis images, each in its clean,
# blurry, noisy and blurry+noisy version (the same content in all four). Their activations at every depth
# (first conv, each residual block, the last hidden conv `conv_hr`) are reduced with PCA, drawn with t-SNE and
# scored with the **Calinski–Harabasz index** (CHI: between-cluster over within-cluster dispersion, each per
# degree of freedom; larger is better separated), once with the degradation as the label and once with the
# source image (content) as the label. Networks: the baseline (trained on clean inputs only) and the target
# (fine-tuned on blur and noise) of MSRResNet with GR, and the same pair trained by the same recipe without GR.

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seeds = None  # list of seeds (independently trained pairs); None: the profile's semantics_seeds
device = "cpu"  # "cuda" on a GPU
data = None  # folder of HR analysis images; None: the profile's default (scikit-image photos)
train_data = None  # folder(s) of HR training images, joined by ':'; None: the profile's default
out = "artifacts"  # where checkpoints and scores are cached
results = "results"  # where headline numbers are written as JSON
proportion = 0.01  # top proportion of FAIG filters compared with the CHI rise

# %%

from faiglib.profiles import get_profile
from faiglib.report import plots
from faiglib.report.book import notebook_workspaces, show_markdown, write_results
from faiglib.report.tables import rows_markdown
from faiglib.studies.semantics import (analysis_patches, chi_by_degree, chi_by_depth, depth_layers,
                                       faig_comparison, semantics_findings, tsne_maps, variant_label)

p = get_profile(profile)
seeds = list(p.semantics_seeds if seeds is None else seeds)
gr_arch = p.networks[0].label
nogr_archs = [s.label for s in p.semantics_networks]
common = dict(profile=profile, seeds=seeds, device=device, data=data, train_data=train_data, out=out, results=results)
variants = {}
for arch in [gr_arch] + nogr_archs:
    wss = notebook_workspaces(archs=[arch], **common)
    variants[variant_label(wss[0])] = wss
ws0 = variants["with GR"][0]
patches = analysis_patches(ws0)
layers = depth_layers(ws0.model("target"))
print(f"networks {[w[0].spec.label for w in variants.values()]}, seeds {seeds}; {len(patches)} LR patches "
      f"({p.semantics_patches} per image x {len(set(patches.image))} images x {len(patches.conditions)} conditions "
      f"{list(patches.conditions)}), {p.semantics_patch}x{p.semantics_patch}; PCA to {p.semantics_pca}; "
      f"depths {layers}")

# %% [markdown]
# ## The networks compared
#
# `Workspace.psnr_table`: RGB PSNR (dB) of each network on the analysis images in each condition, mean ± std over
# seeds — the networks without GR are trained by exactly the same recipe, so this shows what dropping the skip
# costs in restoration before we look inside.

# %%
from faiglib.measures.statistics import mean_std

psnr = {f"{which}, {variant}": mean_std([{kind: row[which] for kind, row in ws.psnr_table().items()} for ws in wss])
        for variant, wss in variants.items() for which in ("baseline", "target")}
show_markdown(rows_markdown(psnr, {c: c for c in patches.conditions}, first="network",
                               digits=4))

# %% [markdown]
# ## t-SNE pictures per depth
#
# `faiglib.studies.semantics.tsne_maps` (seed 0 of each network): colour = degradation condition, marker = source
# image. Colour clusters mean degradation semantics; marker clusters mean the features still encode content.

# %%
shown = [layers[0], layers[len(layers) // 2], layers[-2], layers[-1]]
shown = list(dict.fromkeys(shown))
maps = {f"{which}, {variant}": tsne_maps(wss[0], which, shown, patches)
        for variant, wss in variants.items() for which in ("baseline", "target")}
fig = plots.tsne_grid(maps)

# %% [markdown]
# ## CHI against depth
#
# `faiglib.studies.semantics.chi_by_depth`: CHI of the PCA-reduced features at every depth, with the degradation
# as the label (left) and with the image as the label (right), mean ± std over seeds.

# %%
depth = chi_by_depth(variants)
fig = plots.chi_depth_curves(depth)
columns = {f"{variant}/{which}": f"{which}, {variant}" for variant in depth for which in depth[variant]}
for labelling in ("degradation", "image"):
    rows = {layer: {c: depth[c.split("/")[0]][c.split("/")[1]][layer][labelling] for c in columns} for layer in layers}
    show_markdown(f"**CHI, label = {labelling}** (mean ± std over seeds {seeds})\n\n"
                     + rows_markdown(rows, columns, first="depth"))

# %% [markdown]
# ## CHI by degradation degree
#
# `faiglib.studies.semantics.chi_by_degree` on the target **trained on one level** (σ = 2, noise 0.1), seed 0,
# with GR: the same patches blurred with σ ∈ {1, 2, 3} or with noise σ ∈ {0.05, 0.1, 0.2}, each degradation
# alone; CHI among all three degrees and for each pair. The slides expect degrees that differ more (1 vs 3) to
# separate more than neighbours.

# %%
degree = chi_by_degree(ws0, "target")
fig = plots.chi_degree_curves(degree)
last = layers[-1]
for kind, subsets in degree.items():
    print(f"{kind:>6s} at {last}: " + ", ".join(f"{s} {v[last]:.3g}" for s, v in subsets.items()))

# %% [markdown]
# ## FAIG's discriminative filters and the depth where CHI rises
#
# `faiglib.studies.semantics.faig_comparison`: the top filters of FAIG (Eq. 7) for blur and for noise, counted per
# depth (a filter of `body.i` counts for block `i`; the tail convs for `conv_hr`), against the target's
# degradation CHI (seed 0, with GR). Do the filters sit where the degradation clusters form? CHI grows
# geometrically with depth, so "where it rises" is the depth with the largest factor over the previous one
# (the largest absolute increase is reported too; it falls on the deepest layers).

# %%
chi_target = {layer: depth["with GR"]["target"][layer]["degradation"]["values"][0] for layer in layers}
comparison = faig_comparison(ws0, chi_target, proportion)
fig = plots.faig_depth_bars(comparison)
for function in ("deblur", "denoise"):
    c = comparison[function]
    print(f"{function:>8s}: most top filters in {c['mode_layer']}; {c['share_at_rise']:.0%} at the CHI rise "
          f"({comparison['rise_layer']}), {c['share_at_or_after_rise']:.0%} at or after it")

# %%
deepest, findings = semantics_findings(depth, degree, layers, {"blur": p.levels_blur, "noise": p.levels_noise},
                                       without_gr=bool(nogr_archs))
for key, value in findings.items():
    shown_value = ({k: round(v, 3) for k, v in value.items()} if isinstance(value, dict)
                   else round(value, 3) if isinstance(value, float) else value)
    print(f"{key}: {shown_value}")
results_file = write_results(results, p.name, "semantics", {
    "networks": {v: wss[0].spec.label for v, wss in variants.items()}, "seeds": seeds, "layers": layers,
    "patches": {"per_image": p.semantics_patches, "side": p.semantics_patch, "images": len(set(patches.image)),
                "conditions": list(patches.conditions), "pca": p.semantics_pca},
    "psnr_db": psnr, "chi_by_depth": depth, "deepest": deepest, "chi_by_degree": {"model": "single-level target, with GR, seed "
                                                                f"{ws0.seed}", **degree},
    "faig_comparison": comparison, "findings": findings},
    seed=", ".join(str(s) for s in seeds), device=device,
    network=", ".join(w[0].spec.label for w in variants.values()), data=str(ws0.data))

# %% [markdown]
# ## Summary
#
# We have measured how well the features of the GR and no-GR pairs separate the four degradation conditions
# and the source images, at every depth; the answer, computed:

# %% tags=["hide-input"]
def chi(variant, which, key="degradation"):
    return f"{deepest[f'{variant}/{which}'][key]:.3g}"


lines = [f"- **Depth** ({gr_arch}, seeds {seeds}, at `{last}`): CHI by degradation {chi('with GR', 'target')} for "
         f"the target with GR vs {chi('with GR', 'target', 'image')} by image; at the first conv "
         f"{deepest['with GR/target']['first_layer']:.3g}. The degradation label "
         f"{'separates the deep features better than the image label' if findings['gr_target_degradation_beats_image_at_last'] else 'does not separate the deep features better than the image label'}"
         f", and it {'rises' if findings['gr_target_rises_with_depth'] else 'does not rise'} from the first conv to `{last}`."]
if nogr_archs:
    ratio = findings["gr_target_over_nogr_target_at_last"]
    lines.append(f"- **Global residual**: without GR the target's CHI by degradation at `{last}` is "
                 f"{chi('without GR', 'target')} (with GR: {ratio:.2g}× that); "
                 f"baselines: {chi('with GR', 'baseline')} with GR, {chi('without GR', 'baseline')} without. "
                 f"The slides' finding (MSE-trained nets need GR for degradation semantics) "
                 f"{'holds' if ratio > 1 else 'does not hold'} here in this measure.")
if nogr_archs:
    lines.append("- **Restoration** (PSNR on the analysis images, target): "
                 + ", ".join(f"{kind} {psnr['target, with GR'][kind]['mean']:.2f} dB with GR vs "
                             f"{psnr['target, without GR'][kind]['mean']:.2f} dB without" for kind in patches.conditions)
                 + ".")
far = findings["degree_far_over_near"]
lines.append(f"- **Degrees** (single-level target with GR): at `{last}` the most different pair of blur degrees "
             f"separates {far['blur']:.2g}× as well as the better of the two neighbouring pairs, of noise degrees "
             f"{far['noise']:.2g}×"
             f" ({'as' if min(far.values()) > 1 else 'not entirely as'} the slides expect).")
lines.append(f"- **FAIG**: the target's degradation CHI grows by the largest factor at `{comparison['rise_layer']}` "
             f"(largest absolute increase at `{comparison['rise_layer_absolute']}`); the "
             f"top {proportion:.0%} deblurring filters are mostly in `{comparison['deblur']['mode_layer']}`, the "
             f"denoising ones in `{comparison['denoise']['mode_layer']}` "
             f"({comparison['deblur']['share_at_or_after_rise']:.0%} / {comparison['denoise']['share_at_or_after_rise']:.0%}"
             f" at or after the rise). Profile `{p.name}` (the `smoke` profile's numbers mean nothing).")
show_markdown("\n".join(lines))

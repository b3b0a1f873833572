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
# # L2X: positive and negative evidence in one pass
#
# **Overview.** LAM (previous chapter) explains a window of the SR output by an integrated gradient along a path
# of `fold` blurred inputs: `fold` forward and backward passes. L2X (Yu & Yang, seed 004) asks for the same kind of
# map in *one* pass: DeepLIFT's rescale rule with the Gaussian-blurred LR image $\bar x$ as the reference. Every
# elementwise nonlinearity $t = f(s)$ passes back the multiplier $\Delta t / \Delta s$ (not its derivative),
# linear layers their weights, and the map is $R = m \odot (x - \bar x)$, which sums exactly to the change of the
# objective (*summation-to-delta*, seed Eq. 1):
#
# $$\sum_i R_i = D(F(x)) - D(F(\bar x)), \qquad R = R^+ + R^-,\quad R^+ = \max(R, 0),\ R^- = \min(R, 0).$$
#
# $D$ is LAM's objective (the gradient magnitude of the output summed over a 16×16 window), so every map of this
# chapter explains the same number. $R^+$ marks input pixels whose difference from the blurred reference *raises*
# $D$ (positive evidence for the window's edges), $R^-$ those that *lower* it. The rescale rule is captum's
# `DeepLift`; faiglib adds the objective wrapper, the blurred reference, the check that every activation module
# runs once, and the split (see `faiglib.methods.l2x`).
#
# **Remove-and-replace** (seed Sec. 4.2) judges a map: replace the $k\,\%$ of LR pixels it ranks first and
# measure the fraction of the window's detail removed, $f(k) = (D(F(x)) - D(F(x_k)))/D(F(x))$; the area under $f$
# over $k \in [0, 100]$ is one number per map. (Dividing by $D(F(x)) - D(F(x_{100}))$ instead would make every
# curve end at 1, but that difference is small on some windows, and a few such windows would dominate the mean.)
# The removed pixels take the **per-channel mean** of the LR image, as in the seed: a removed pixel loses all its
# content. The blurred reference $\bar x$ as the replacement is kept beside it: removed pixels then keep their low
# frequencies. A measure that judges maps must tell a map from the same map shuffled within its crop; which of the
# two does so better is measured below, per order (it differs between profiles), and each order is read under it.
# Five maps are compared on the same windows: L2X, LAM, gradient × input, integrated gradients on the straight line
# from $\bar x$ (`ig_steps` steps), and a seeded random map (the floor).
# Finally **CKA** (seed Sec. 4.3) compares the layers of two networks: baseline vs target, and MSRResNet vs the same
# network trained without its global skip.

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | paper
seed = 0  # which trained pair
device = "cpu"  # "cuda" on a GPU
data = None  # folder of HR analysis images; None: the profile's default (scikit-image photos)
train_data = None  # folder(s) of HR training images, joined by ':'; None: the profile's default
out = "artifacts"  # where checkpoints and scores are cached
results = "results"  # where headline numbers are written as JSON
n_windows = 3  # windows per analysis image (the LAM chapter's seeded rule)
n_images = None  # analysis images used; None: all of them
window_size = 16  # side of the output window (HR pixels)
sigma = 1.2  # blur of the reference input
fold = 50  # LAM path steps
ig_steps = 50  # IG steps (Gauss-Legendre)
example_image = 0  # the analysis image of the pictures
cka_patch = 24  # side of the LR patches CKA is computed on
cka_per_image = 8  # patch positions per analysis image (x 3 input kinds)

# %%
from faiglib.measures.remove_replace import ORDERS
from faiglib.report import l2x_plots
from faiglib.report.book import notebook_workspace, show_markdown
from faiglib.report import l2x_tables as tables
from faiglib.report.l2x_tables import relative_gap_text as gap
from faiglib.studies.l2x import (attribution_cka, cka_patches, cka_study, cost_ratios, l2x_examples,
                                  l2x_where_valid, ordering_by_auc, paired_differences, remove_replace_study,
                                  separating_replacement, separation_from_permutation)

common = dict(profile=profile, seed=seed, device=device, data=data, train_data=train_data, out=out, results=results)
ws = notebook_workspace(**common)
nogr_label = ws.profile.semantics_networks[0].label
nogr = notebook_workspace(arch=nogr_label, **common)
print(f"{ws.spec.label} and {nogr_label}, seed {seed}, x{ws.profile.scale}; {len(ws.analysis_set())} analysis "
      f"images; {window_size}x{window_size} windows, reference blur sigma {sigma}")

# %% [markdown]
# ## One window, blurry and noisy input
#
# `faiglib.studies.l2x.l2x_examples` runs `faiglib.methods.l2x.rescale_attribution` for the target on the first
# window of one analysis image, once on its blurry and once on its noisy version. Each map is computed on the LR
# crop the window can see (its footprint plus the receptive field, checked against the whole image). Left to
# right: the input crop with the window's footprint (green), the signed map $\sum_c R$, its positive and its
# negative part (red: raises $D$, blue: lowers it).

# %%
examples = l2x_examples(ws, image=example_image, kinds=("blur", "noise"), window_size=window_size,
                        n_windows=n_windows, sigma=sigma)
fig = l2x_plots.l2x_panels(examples)
show_markdown(tables.examples_markdown(examples))

# %% [markdown]
# ## Remove-and-replace: five maps on the same windows
#
# `faiglib.studies.l2x.remove_replace_study` computes the five maps for every analysis image × `n_windows` windows,
# on blurry and on noisy input, for the baseline and the target, and the curves $f(k)$ in three orders: by
# $|R|$, by $R$ (most positive first) and by $-R$ (most negative first), for both replacements, and the same
# curves for every map with its pixels permuted within the crop. Curves (per-channel mean replacement): mean ± std
# over windows and input kinds (target); at 100 % every curve reaches $(D(F(x)) - D(F(x_{100})))/D(F(x))$. Higher is
# better in the first two orders; in the negative order, lower (the pixels removed first are the ones that held
# $D$ down).

# %%
study = remove_replace_study(ws, kinds=("blur", "noise"), n_windows=n_windows, n_images=n_images,
                             window_size=window_size, sigma=sigma, fold=fold, ig_steps=ig_steps)
fig = l2x_plots.remove_replace_curves(study, "target")
methods = study["settings"]["methods"]
models = study["settings"]["models"]
show_markdown(tables.auc_markdown(study["summary"], models, methods))
show_markdown("Replaced by the blurred reference instead:\n\n"
              + tables.auc_markdown(study["by_replacement"]["blur"]["summary"], models, methods))
n_cases = len(study["summary"]["target"]["l2x"]["absolute"]["values"])
print(f"{n_cases} windows x inputs per network; completeness (relative |Σ map − ΔD| / |ΔD|, mean): "
      + ", ".join(f"{m} {gap(g['mean'])}" for m, g in study["relative_gap"].items()))

# %% [markdown]
# ## Can the measure tell a map from its permutation?
#
# A measure that judges maps must at least tell a map from the same values at random positions of its crop.
# `faiglib.studies.l2x.separation_from_permutation` pairs each map's AUC with its permuted map's on the same window:
# mean difference ± standard error (order by $|R|$) and $z$ = mean / standard error in each order, for each
# replacement (in the order by $R^-$ the sign is turned, so positive $z$ always means the map beats its
# permutation). The random map is its own control: its $z$ should be small. `faiglib.studies.l2x.separating_replacement`
# then says, per order, which replacement separates the four real maps from their permutations better (median $z$
# over maps and networks).

# %%
separation = {rep: {o: separation_from_permutation(sub, o) for o in ORDERS}
              for rep, sub in study["by_replacement"].items()}
separating = {o: separating_replacement(separation, o) for o in ORDERS}
show_markdown(tables.separation_markdown(separation, models, methods) + "\n\n"
              + tables.separating_markdown(separating))

# %% [markdown]
# ## Ordering of the methods
#
# `faiglib.studies.l2x.ordering_by_auc` sorts the methods by mean AUC per replacement, network and order (best
# first) and says whether neighbours are separated (means further apart than the larger standard deviation). An
# ordering counts only under a replacement that tells maps from their permutations (the table above); the summary
# reads each order under the replacement that does so better.

# %%
orderings = {rep: {which: {o: ordering_by_auc(sub["summary"][which], o) for o in ORDERS}
                   for which in study["settings"]["models"]}
             for rep, sub in study["by_replacement"].items()}
show_markdown(tables.orderings_markdown(orderings))

# %% [markdown]
# The spread over windows is mostly the windows' own (how much detail the blurred reference takes away), shared
# by all methods. `faiglib.studies.l2x.paired_differences` compares L2X with each method *on the same window*:
# mean ± std of the AUC differences, positive where L2X is better, resolved when the mean exceeds twice its
# standard error and 0.001.

# %%
paired = {o: paired_differences(study, "l2x", o) for o in ORDERS}
show_markdown(tables.paired_markdown(paired))

# %% [markdown]
# ## What each method costs
#
# Images passed forward and backward through the network per window (a batch of $B$ counts $B$; counted by a hook
# on the network, `faiglib.measures.costs.count_passes`), and the wall time per window on this machine. L2X runs
# $[x, \bar x]$ once forward for the objective values and once forward and backward inside captum; LAM runs the
# whole image twice (its objective values) plus `fold` path steps on the crop; IG `ig_steps` steps plus captum's
# two-image completeness check.

# %%
costs = study["costs"]
show_markdown(tables.costs_markdown(costs, methods))

# %% [markdown]
# ## CKA between layers
#
# `faiglib.studies.l2x.cka_study` computes linear CKA (unbiased HSIC averaged over minibatches,
# `faiglib.measures.cka`) between the activations of every layer of two networks on the same LR patches (clean,
# blurry and noisy, seeded positions): the baseline against the target of the pair, and the target of MSRResNet
# against the target of the same network trained without the global skip (`nogr`), and against the targets of the
# attention networks of the attention chapter (RCAN- and SwinIR-style; their layers have other names, so only the
# heat map and the last layers compare). The seed applies CKA to L2X
# attribution matrices across models; here it compares the representations themselves.

# %%
batches = cka_patches(ws, patch=cka_patch, per_image=cka_per_image, seed=seed)
# the attention networks of the profile (the attention chapter's pairs), target against MSRResNet's target
attention = {spec.label: notebook_workspace(profile=profile, seed=seed, arch=spec.label, device=device,
                                            train_data=train_data, out=out, results=results)
             for spec in ws.profile.attention_networks}
cka = cka_study({"baseline vs target": (ws.model("baseline"), ws.model("target")),
                 "MSRResNet vs nogr (targets)": (ws.model("target"), nogr.model("target")),
                 **{f"MSRResNet vs {label} (targets)": (ws.model("target"), other.model("target"))
                    for label, other in attention.items()}}, batches)
fig = l2x_plots.cka_heatmaps(cka, {"baseline vs target": ("baseline", "target"),
                                   "MSRResNet vs nogr (targets)": (ws.spec.label, nogr_label),
                                   **{f"MSRResNet vs {label} (targets)": (ws.spec.label, label)
                                      for label in attention}})
show_markdown(tables.layer_cka_markdown(cka))
print(f"{cka['baseline vs target']['samples']} patches of {cka_patch}x{cka_patch} LR pixels in "
      f"{cka['baseline vs target']['batches']} minibatches")

# %% [markdown]
# ## L2X on the attention networks, where it is valid
#
# captum's rescale rule is checked for ReLU-like nonlinearities; softmax, LayerNorm and GELU have none, and a
# channel attention multiplies two branches of the network, which the rule treats as linear.
# `faiglib.studies.l2x.l2x_where_valid` therefore runs L2X on each attention network's target only where
# `rescale_attribution` accepts it (known modules and a map that sums to the objective's change within 1 %), and
# otherwise says why and uses the IG map from the same blurred reference instead, with its steps raised (200, then
# 800) until its completeness gap is at most 5 %. Same first window as above.

# %%
validity = l2x_where_valid({ws.spec.label: ws, **attention}, image=example_image, kinds=("blur", "noise"),
                           window_size=window_size, n_windows=n_windows, sigma=sigma, ig_steps=ig_steps)
show_markdown(tables.validity_markdown(validity))

# %% [markdown]
# ## CKA between the networks' L2X maps (the seed's use)
#
# The seed compares *attributions* rather than activations: `faiglib.studies.l2x.attribution_cka` computes the
# positive part of the L2X map of every window and input kind above for four networks — baseline and target with
# the global skip, baseline and target without it — and the linear CKA between the networks over those samples
# (one map per sample, on the LR grid).

# %%
networks = {"baseline": ws.model("baseline"), "target": ws.model("target"),
            "nogr baseline": nogr.model("baseline"), "nogr target": nogr.model("target")}
acka = attribution_cka(ws, networks, kinds=("blur", "noise"), n_windows=n_windows, n_images=n_images,
                       window_size=window_size, sigma=sigma)
fig = l2x_plots.cka_heatmaps({f"CKA of positive L2X maps ({acka['samples']} windows x inputs)":
                              {"matrix": acka["matrix"], "layers_a": acka["names"], "layers_b": acka["names"]}})
show_markdown(tables.attribution_cka_markdown(acka))

# %%
results_file = ws.write_results("l2x", {
    "settings": study["settings"], "windows": study["windows"], "percents": study["percents"],
    "auc": study["auc"], "auc_summary": study["summary"], "orderings": orderings, "separating_replacement": separating,
    "paired_with_l2x": paired,
    "replacement": study["settings"]["replacement"],
    "by_replacement": {rep: {"auc": sub["auc"], "permuted_auc": sub["permuted_auc"], "auc_summary": sub["summary"],
                             "reference": sub["settings"]["reference"]}
                       for rep, sub in study["by_replacement"].items()},
    "separation_from_permutation": separation,
    "objectives": study["objectives"], "costs": costs,
    "relative_completeness_gap": study["relative_gap"],
    "examples": {kind: res.as_dict() for kind, (res, _) in examples.items()},
    "cka": cka, "attribution_cka": acka, "nogr_network": nogr_label, "l2x_where_valid": validity})

# %% [markdown]
# ## Summary
#
# In this notebook we have computed L2X maps (one forward and one backward pass of the input and its blurred
# reference) with their positive and negative parts, judged them and four other maps by remove-and-replace on the
# same windows, counted what each costs, and compared layers of networks by CKA. Computed:

# %% tags=["hide-input"]
def order_line(which, o):
    rep = separating[o]["replacement"]  # the replacement that tells maps apart better in this order
    r = orderings[rep][which][o]
    s = study["by_replacement"][rep]["summary"][which]
    parts = [f"{m} {s[m][o]['mean']:.3f} ± {s[m][o]['std']:.3f}" for m in r["methods"]]
    return f"- **{which}, order by {o}** ({rep} replacement): " + ", ".join(parts) + " (best first)."


lam_cost = cost_ratios(costs)
gap_l2x = study["relative_gap"]["l2x"]


def paired_line(which, o):
    per = paired[o][which]
    parts = [f"{m} {c['difference']['mean']:+.3f} ± {c['difference']['std']:.3f} ({c['verdict']})"
             for m, c in per.items()]
    return f"- **L2X paired with each method, {which}, order by {o}** (+: L2X better): " + "; ".join(parts) + "."
show_markdown("\n".join(
    [order_line(w, o) for w in study["settings"]["models"] for o in ORDERS] + [
        f"- {n_cases} windows x inputs per network; mean ± std over them; each order read under the replacement "
        f"that tells maps from their permutations better."] + [
        "- Map against its permutation (z = mean difference / standard error; median over the four maps and both "
        "networks): " + "; ".join(f"order by {o}: " + ", ".join(f"{rep} {z:.1f}" for rep, z in c["median_z"].items())
                                  + f" ({c['replacement']} better)" for o, c in separating.items()) + "."] + [
        paired_line(w, o) for w in study["settings"]["models"] for o in ORDERS] + [
        f"- Summation-to-delta: L2X maps sum to $D(F(x)) - D(F(\\bar x))$ within a relative {gap(gap_l2x['mean'])} "
        f"(mean over windows; float32 rounding); IG ({ig_steps} Gauss-Legendre steps) within "
        f"{gap(study['relative_gap']['ig_blur']['mean'])}, LAM ({fold} steps) within "
        f"{gap(study['relative_gap']['lam']['mean'])}.",
        f"- Cost: L2X needs {costs['l2x']['backward']['mean']:.0f} backward images per window, LAM "
        f"{costs['lam']['backward']['mean']:.0f} ({lam_cost['backward']:.0f}x) and IG {costs['ig_blur']['backward']['mean']:.0f} "
        f"(wall ratio {lam_cost['wall']:.0f}x in this run).",
        "- CKA, same-named layers, baseline vs target: "
        + ", ".join(f"{v:.2f}" for v in cka["baseline vs target"]["diagonal"])
        + "; MSRResNet vs nogr: " + ", ".join(f"{v:.2f}" for v in cka["MSRResNet vs nogr (targets)"]["diagonal"]) + ".",
        f"- CKA of positive L2X maps: baseline vs target {acka['matrix'][0][1]:.2f}, target vs nogr target "
        f"{acka['matrix'][1][3]:.2f}, nogr baseline vs nogr target {acka['matrix'][2][3]:.2f} "
        f"({acka['samples']} windows x inputs).",
        "- L2X on the attention networks: "
        + "; ".join(f"{r['network']} ({r['kind']}) "
                    + ("L2X, gap " + gap(r["relative_gap"]) if r["method"] == "l2x"
                       else f"refused, IG instead ({r['ig_steps']} steps, completeness gap {gap(r['relative_gap'])})")
                    for r in validity if r["network"] != ws.spec.label) + ".",
        "- Not reproduced: the seed's ten architectures (EDSR ... SwinIR) and its Urban100/Manga109 PSNR/SSIM curves "
        "under removal; its CKA between the attributions of ten different architectures. "
        "The attention chapter's RCAN- and SwinIR-style networks enter the layer CKA above and the validity table; "
        "their maps are not compared by remove-and-replace.",
        f"- Profile `{ws.profile.name}` (the `smoke` profile's numbers mean nothing). All numbers: "
        f"`results/{ws.profile.name}/l2x.json`."]))

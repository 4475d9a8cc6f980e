# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study X — quality is a property of the data set
# Many subsets of equal size and balance, random or chosen by pixel-RMSD rules, trained
# with several models. If a subset's quality is intrinsic, its Z-scored error under one
# model predicts its error under another (high R^2). Everything here is read from the
# sweep's records (`x_subsets`, `x_train`).

# %% tags=["parameters"]
run_dir: str = "../runs/default"  # a sweep's run directory
out_dir: str = ""  # where the headline CSV goes; empty: nowhere
n_boot: int = 1000  # bootstrap resamples for the R^2 intervals
quiet: bool = False  # no progress bars (set by the sweep)

# %% [markdown]
# ## Verdict

# %%
from IPython.display import Markdown

from xfactor_lib import plots, sweep
from xfactor_lib.studies import x

everything, manifest = x.load(run_dir)
recs = x.paper_records(everything)  # the paper's design: random and selected subsets
headline = x.headline_table(recs, n_boot=n_boot)
Markdown(x.verdict(everything, headline=headline, note=sweep.read_note(run_dir, x.STAGES)))

# %% [markdown]
# ## Headline numbers
# Mean R^2 over model pairs (GNB excluded) with bootstrap 95% CI; KS test of the pooled
# random Z against N(0, 1); share of the variance of log error explained by model and n,
# pooled and per model (`variance_by_n`).

# %%
x.save_table(headline, out_dir, "10_study_x_headline.csv")
headline.round(3)

# %% [markdown]
# ## Fig. 2 — error against n (log-log), random and selected subsets

# %%
plots.error_vs_size(recs)

# %% [markdown]
# ## Fig. 3 — Z-score CDFs against the standard normal

# %%
plots.zscore_cdfs(recs)

# %% [markdown]
# ## Fig. 4 — Z against Z for model pairs (+ / − mark the selection direction)

# %%
plots.zscore_scatter(recs)

# %% [markdown]
# ## Fig. 5 — overlap between subsets of one n (% shared images)

# %%
plots.overlap_heatmaps(manifest)

# %% [markdown]
# ## Fig. 6 — R^2 between models: all, selected and random subsets

# %%
plots.r2_heatmaps(recs)

# %% [markdown]
# ## Optimized subsets (SPEC 5) — chosen for a training-free objective, Z beside random and selected
# `coverage` (facility location on pixel similarity) and `a_max` (greedy A_0) choose `n` per
# class from the whole class or from the selected grid's candidates. Mean Z of error
# against the random subsets of the same n and model (below 0: better than the average
# random subset); `every_model` says whether that holds for every model but GNB.

# %%
optimized = x.optimized_table(everything)
x.save_table(optimized, out_dir, "10_study_x_optimized.csv")
plots.study_x.optimized_z(optimized)

# %%
optimized.round(3)

# %% [markdown]
# ## Fig. 7 — per class: Spearman rho between models of per-class accuracy
# Computed within each n and averaged over n (pooled over n, every pair would correlate
# merely because accuracy grows with n).

# %%
plots.class_spearman_heatmaps(recs)

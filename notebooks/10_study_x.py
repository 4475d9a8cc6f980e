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

# %%
from pathlib import Path

from xfactor_lib import plots, records, stats, sweep

recs = sweep.collect(run_dir, "x_train")
manifest = sweep.collect(run_dir, "x_subsets")
recs["z"] = stats.zscores(recs)
recs.groupby(["model", "size", "kind"]).size().unstack("kind")

# %% [markdown]
# ## Headline numbers
# Mean R^2 over model pairs (GNB excluded) with bootstrap 95% CI; KS test of the pooled
# random Z against N(0, 1); share of the variance of log error explained by model and size.

# %%
headline = stats.headline_table(recs, n_boot=n_boot)
if out_dir:
    records.atomic_write(Path(out_dir) / "10_study_x_headline.csv", lambda p: headline.to_csv(p, index=False))
headline

# %% [markdown]
# ## Fig. 2 — error against size (log-log), random and selected subsets

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
# ## Fig. 5 — overlap between subsets of one size (% shared images)

# %%
plots.overlap_heatmaps(manifest)

# %% [markdown]
# ## Fig. 6 — R^2 between models: all, selected and random subsets

# %%
plots.r2_heatmaps(recs)

# %% [markdown]
# ## Fig. 7 — per class: Spearman rho between models of per-class accuracy

# %%
plots.class_spearman_heatmaps(recs)

# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study A — diversity explains performance
# Subsets of varied size and class balance, ResNet-18 trained on each; LCR diversity
# (A, R, G and the per-class alpha, rho, gamma at q = 0, 1, inf) against class balance
# and size as explanations of balanced accuracy. Read from the `a_subsets` and `a_train`
# records.

# %% tags=["parameters"]
run_dir: str = "../runs/default"  # a sweep's run directory
out_dir: str = ""  # where the regression tables go as CSV; empty: nowhere
targets: list = ["bacc", "acc", "auc_macro"]  # performance columns regressed
clustermap_size: int = 128  # subset size shown in Fig. 2
quiet: bool = False  # no progress bars (set by the sweep)

# %%
from pathlib import Path

from xfactor_lib import lcr, plots, records, regression, sweep

recs = sweep.collect(run_dir, "a_train")
manifest = sweep.collect(run_dir, "a_subsets")
recs.groupby(["dataset", "size"]).agg(subsets=("subset_id", "count"), bacc=("bacc", "mean"),
                                      cb_1=("CB_1", "mean"), A_0=("A_0", "mean"))

# %% [markdown]
# ## Fig. 2 — similarity of one subset (clustered; colour bar = class)

# %%
plots.study_a.subset_clustermap(manifest, size=clustermap_size)

# %% [markdown]
# ## Fig. 3 — class balance and performance against size, performance against A_0 / K

# %%
plots.study_a.balance_and_performance(recs)

# %% [markdown]
# ## Regression tables — adjusted R^2 of OLS on log features (+ log systematic features)
# Every single feature, pair, triple and named group; top 10 of each, per target.

# %%
results = regression.fit_targets(recs, targets)
top = regression.top_tables(results, k=10)
if out_dir:
    records.atomic_write(Path(out_dir) / "20_study_a_top10.csv", lambda p: top.to_csv(p, index=False))
top[top["target"] == "bacc"].set_index(["kind", "rank"]).drop(columns=["target", "features"]).round(3)

# %% [markdown]
# ## Fig. 4 — top singles, pairs, triples and groups (BACC)

# %%
plots.study_a.top_regressions(results["bacc"])

# %% [markdown]
# ## Fig. 5 — R^2 between features (clustered)

# %%
plots.study_a.feature_r2_clustermap(regression.feature_r2_matrix(recs, lcr.FEATURE_NAMES))

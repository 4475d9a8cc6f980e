# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study A — diversity explains performance
# Subsets of varied size and class balance, a model trained on each (the verdict says
# which); LCR diversity (A, R, G and the per-class alpha, rho, gamma at q = 0, 1, inf)
# against class balance and size as explanations of balanced accuracy. Read from the
# `a_subsets` and `a_train` records.

# %% tags=["parameters"]
run_dir: str = "../runs/default"  # a sweep's run directory
out_dir: str = ""  # where the regression tables go as CSV; empty: nowhere
targets: list = ["bacc", "acc", "auc_macro"]  # performance columns regressed
clustermap_size: int = 128  # subset size shown in Fig. 2
quiet: bool = False  # no progress bars (set by the sweep)

# %% [markdown]
# ## Verdict

# %%
from IPython.display import Markdown

from xfactor_lib import plots, regression, sweep
from xfactor_lib.studies import a

recs, manifest = a.load(run_dir)
results = a.fit_regressions(recs, targets)
Markdown(a.verdict(recs, results=results, note=sweep.read_note(run_dir, a.STAGES)))

# %% [markdown]
# ## The subsets: how many per (dataset, size), mean BACC, class balance and A_0

# %%
a.overview(recs)

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
# Every single feature, pair, triple and named group; top 10 of each (BACC; the CSV holds
# every target).

# %%
a.save_table(regression.top_tables(results, k=10), out_dir, "20_study_a_top10.csv")
a.top_table(results, target="bacc")

# %% [markdown]
# ## Fig. 4 — top singles, pairs, triples and groups (BACC)

# %%
plots.study_a.top_regressions(results["bacc"])

# %% [markdown]
# ## Fig. 5 — R^2 between features (clustered)

# %%
plots.study_a.feature_r2_clustermap(recs)

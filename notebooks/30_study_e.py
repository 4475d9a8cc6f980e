# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study E — EVA coreset selection
# Coresets chosen from one surrogate run by EVA (variance of the error score in an early
# and a late window) and by Random, Forgetting, Entropy, EL2N, AUM and CCS; test accuracy
# of a model trained on each, mean +/- sd over seeds, against the full-pool reference.
# Read from the `e_surrogate` and `e_coreset` records.

# %% tags=["parameters"]
run_dir: str = "../runs/default"  # a sweep's run directory
out_dir: str = ""  # where Table 1 goes as CSV; empty: nowhere
metric: str = "acc"  # acc | bacc | auc_macro
quiet: bool = False  # no progress bars (set by the sweep)

# %%
from pathlib import Path

from xfactor_lib import eva, plots, records, sweep

recs = sweep.collect(run_dir, "e_coreset")
windows = sweep.collect(run_dir, "e_surrogate")
surrogates = windows.drop_duplicates("cell_id")[["dataset", "seed", "model", "n_pool", "n_val", "surrogate_epochs",
                                                  "surrogate_train_acc", "surrogate_test_acc", "best_early",
                                                  "best_late", "window", "record_mode"]]
surrogates

# %% [markdown]
# ## Table 1 — test accuracy (%) by method and coreset rate, mean +/- sd over seeds

# %%
table = plots.study_e.coreset_table(recs, metric=metric)
if out_dir:
    records.atomic_write(Path(out_dir) / "30_study_e_table1.csv", lambda p: table.to_csv(p))
    summary = eva.coreset_summary(recs, metric=metric)
    records.atomic_write(Path(out_dir) / "30_study_e_summary.csv", lambda p: summary.to_csv(p, index=False))
table

# %%
plots.study_e.accuracy_vs_rate(recs, metric=metric)

# %% [markdown]
# ## Ablations (Figs. 3-4) — variance or mean of S, one window or two

# %%
plots.study_e.ablation_plot(recs, metric=metric)

# %% [markdown]
# ## Window combinations (Fig. 5) — validation accuracy of the EVA coreset per window pair

# %%
plots.study_e.window_curves(windows, window=int(windows["window"].iloc[0]))

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
# and a late window), by Random, Forgetting, Entropy, EL2N, AUM and CCS, and by the
# training-free methods of SPEC 5 (Coverage on pixels or on the reference encoder's
# embedding, Coverage (clean), A₀-max, k-Center: no surrogate run), against class-balanced
# Random (the fair reference of class-budgeted methods) and the low-budget anchors when
# present; test accuracy of a model trained on each, mean ± sd over seeds, against the
# full-pool reference. The verdict answers each paper's claim from paired t-tests over the
# seeds, Holm-corrected within each claim. Read from the `e_surrogate` and `e_coreset` records.

# %% tags=["parameters"]
run_dir: str = "../runs/default"  # a sweep's run directory
out_dir: str = ""  # where Table 1 goes as CSV; empty: nowhere
metric: str = "acc"  # acc | bacc | auc_macro
quiet: bool = False  # no progress bars (set by the sweep)

# %%
from IPython.display import Markdown

from xfactor_lib import plots, records, sweep
from xfactor_lib.studies import e

recs, windows = e.load(run_dir)
Markdown(e.verdict(recs, windows, note=sweep.read_note(run_dir, e.STAGES), metric=metric))

# %% [markdown]
# ## Surrogate runs and the windows (EVA) and cutoffs (CCS) chosen on validation at each rate

# %%
e.surrogate_table(windows)

# %% [markdown]
# ## Table 1 — test accuracy (%) by method and coreset rate, mean ± sd over seeds

# %%
summary = e.add_family(e.coreset_summary(recs, metric=metric))
table = e.coreset_table(summary, digits=1)
records.save_table(table.reset_index(), out_dir, "30_study_e_table1.csv")
records.save_table(summary, out_dir, "30_study_e_summary.csv")
records.save_table(e.claims(recs, metric=metric), out_dir, "30_study_e_claims.csv")  # the verdict's paired tests
table

# %%
plots.study_e.accuracy_by_family(summary, e.paired_differences(recs, metric=metric), metric=metric)

# %% [markdown]
# ## Ablations (Figs. 3-4) — variance or mean of S, one window or two

# %%
has_ablations = summary["method"].isin(plots.study_e.ABLATIONS).any()
if not has_ablations:
    print(f"This run has none of the ablation methods {', '.join(plots.study_e.ABLATIONS)}: no ablation figure.")
plots.study_e.ablation_plot(summary, metric=metric) if has_ablations else None

# %% [markdown]
# ## Window combinations (Fig. 5) — validation accuracy of the EVA coreset per window pair and rate

# %%
plots.study_e.window_curves(e.window_summary(windows), window=int(windows["window"].iloc[0]))

# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study Q — what makes a training set good, measured before training
# Every study X and study A subset of the run, measured without training against a
# reference sample of its training split (coverage, LCR diversity, Vendi, label ambiguity,
# typicality; pixel and embedding kernels), and its measured quality (X: mean Z over the
# non-GNB models; A: BACC). Can the measures predict the quality out of sample? Everything
# is read from the sweep's `q_measures` records.

# %% tags=["parameters"]
run_dir: str = "../runs/default"  # a sweep's run directory
out_dir: str = ""  # where the tables go; empty: nowhere
n_boot: int = 1000  # bootstrap resamples for the R^2 intervals
quiet: bool = False  # no progress bars (set by the sweep)

# %% [markdown]
# ## Verdict

# %%
from IPython.display import Markdown

from xfactor_lib import plots, sweep
from xfactor_lib.studies import q

recs = q.load(run_dir)
cv = q.cv_table(recs, n_boot=n_boot)
Markdown(q.verdict(recs, cv=cv, note=sweep.read_note(run_dir, q.STAGES)))

# %% [markdown]
# ## Out-of-sample R^2 by measure family, size and row set
# Nested grouped 5-fold (subsets drawn from the same candidates stay in one fold): the
# transform (none / logit of proportions and log of other positive measures), screening and
# penalty of ridge and of PLS are chosen by a grouped inner 8-fold on the training part only;
# the prediction averages each family's 5 best configurations, then the two families. `kinds`: all design subsets,
# or random subsets alone; `ceiling`: split-half reliability of the target over models; `ceiling_test`: its
# reliability over the two halves of the test sample; `ceiling_both`: the share of its variance shared by models
# and test halves alike (what a measure of the training split can reach at most). 95 % bootstrap CI over groups.
# The figure shows `kinds = all`.

# %%
q.save_table(cv, out_dir, "40_study_q_cv.csv")
plots.study_q.r2_by_family(cv)

# %%
cv.round(3)

# %% [markdown]
# ## Predicted against measured quality (out of fold, all measures)

# %%
pred = q.cv_predictions(recs)
plots.study_q.predicted_vs_measured(pred)

# %%
plots.study_q.predicted_vs_measured(pred, study="a")

# %% [markdown]
# ## The best single measures per size

# %%
single = q.single_table(recs)
q.save_table(single, out_dir, "40_study_q_single.csv")
single.groupby(["study", "dataset", "size"]).head(5).round(3)

# %% [markdown]
# ## Coverage against diversity (study X; colour: mean Z)

# %%
plots.study_q.coverage_vs_diversity(recs)

# %% [markdown]
# ## What the headline predictor leans on
# Mean over the outer folds of each measure's normalized importance (|standardized
# coefficient| of ridge / PLS, or the trees' importance; 0 when screened out), with the
# share of folds that used it and its correlation `r` with the target.

# %%
importance = q.importance_table(recs)
q.save_table(importance, out_dir, "40_study_q_importance.csv")
importance.groupby(["study", "dataset", "size", "kinds"]).head(5).round(3)

# %% [markdown]
# Signed weights of the headline predictor fitted on each whole cell (the one the quality report
# and the explorer use): coefficients on transformed, standardized measures, averaged over its ensemble.

# %%
weights = q.weights_table(recs)
plots.study_q.predictor_weights(weights)

# %% [markdown]
# ## Study A: gain in adjusted R^2 over size + class balance, and transfer between datasets

# %%
q.a_gain(recs).groupby("dataset").head(8).round(3)

# %% [markdown]
# Transfer: the headline predictor fitted on one dataset (choices by grouped inner CV there),
# scoring the other's subsets of the same n; measures standardized within each dataset.

# %%
transfer = q.transfer_table(recs)
q.save_table(transfer, out_dir, "40_study_q_transfer.csv")
transfer.round(3)

# %% [markdown]
# ## Optimized subsets beside random and selected ones
# Study X subsets chosen by training-free quality (`kind = optimized`, when the run made
# them): their mean Z against the random and rule-selected subsets of the same n.

# %%
plots.study_q.z_by_kind(recs)

# %%
q.kind_table(recs).round(3)

# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Quality report — your own training data, measured before training
# Study Q's training-free measures (SPEC 5) on any dataset: per class coverage and
# diversity, near-duplicate pairs, the reference images a subset covers worst, and — for a
# subset you name, or a random one — its measures placed among random subsets of the same
# class counts, and (given a run with `q_measures` records) the study X predictor's
# estimate of its quality. Runs on a CPU in minutes for MNIST-size data.

# %% tags=["parameters"]
dataset: str = "digits"  # npz:<path>, folder:<path>, or any name load_dataset accepts
subset: str = ""  # indices file (.npy / .txt / .csv) or "3,17,42,..."; empty: a random draw
subset_n: int = 10  # images per class of the random draw (when subset is empty)
seed: int = 0  # the random draw and the reference
per_class: int = 1000  # reference images per class
probe_per_class: int = 200  # reference images per class for the labelled measures
embedding: str = ""  # .npy (N, d) embeddings of the training split (optional)
n_random: int = 30  # random subsets the subset's measures are compared with
top: int = 12  # near-duplicate pairs and least-covered images shown
run_dir: str = ""  # a sweep run with q_measures records: the predictor's estimate
out_dir: str = ""  # where the tables go; empty: nowhere

# %%
import numpy as np
from IPython.display import Markdown

from xfactor_lib import plots
from xfactor_lib.studies import q, q_report, q_verdict

rd = q_report.report_data(dataset, per_class=per_class, probe_per_class=probe_per_class, seed=seed, embedding=embedding)
idx = q_report.report_subset(rd, subset, n=subset_n, seed=seed)
print(f"{dataset}: {rd.y.size:,} training images, {rd.reference.K} classes; reference {rd.reference.y.size:,} images")
print(f"subset: {idx.size} images; tau_data = {rd.reference.tau:.3f}")

# %%
table = q_report.report_measures(rd, idx, n_random=n_random, seed=seed)
estimate = q_report.report_prediction(run_dir, table)
counts = np.bincount(rd.y[idx], minlength=rd.reference.K)
Markdown(q_verdict.verdict(table, dataset=dataset, pool=rd.y.size, counts=counts, n_random=n_random, estimate=estimate))

# %% [markdown]
# ## Per class: coverage and diversity of the subset
# `cov_fl` facility-location coverage of the class's reference images (1 = every one has
# an identical subset image), `cov_rmsd` their mean RMSD to the nearest subset image,
# `vendi_*` the effective number of distinct images (Vendi score of order 1, 2, inf),
# `ambiguity` the share of subset images whose nearest reference images mostly carry
# another label, `typ_own` the mean RMSD to the class mean.

# %%
classes = q_report.report_classes(rd, idx)
q.save_table(classes, out_dir, "quality_report_classes.csv")
classes.round(3)

# %% [markdown]
# ## Near-duplicate pairs within classes (reference sample)

# %%
pairs = q_report.report_duplicates(rd, top=top)
plots.study_q.image_pairs(rd.X, pairs, top=top)

# %%
pairs.round(4)

# %% [markdown]
# ## The reference images the subset covers worst

# %%
worst = q_report.report_least_covered(rd, idx, top=top)
plots.study_q.least_covered(rd.X, worst)

# %% [markdown]
# ## The subset's measures among random subsets of the same class counts
# Percentile 50 is a typical random subset; far from 50 in either direction is unusual.
# `percentile_lo`..`percentile_hi` is its 95 % interval from the `n_random` draws: where it
# covers 50 the subset is indistinguishable from random on that measure.

# %%
q.save_table(table, out_dir, "quality_report_measures.csv")
plots.study_q.measure_percentiles(table)

# %%
table.round(4)

# %% [markdown]
# ## Predicted quality

# %%
Markdown(q_report.prediction_text(estimate, table, classes=classes))

# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 — Data summary
# Class counts and pixel statistics of every data set the sweep's `data` stage described
# (read from its records).

# %% tags=["parameters"]
run_dir: str = "../runs/default"  # a sweep's run directory
out_dir: str = ""  # where tables are written beside the HTML; empty: nowhere
quiet: bool = False  # no progress bars (set by the sweep)

# %%

from IPython.display import Markdown

from xfactor_lib import records, sweep
from xfactor_lib.data import stats as data_stats

stats = sweep.collect(run_dir, "data")
Markdown(data_stats.verdict(stats, sweep.read_note(run_dir, "data")))

# %%
data_stats.class_count_table(stats)

# %%
overall = data_stats.overview(stats)
overall

# %%
records.save_table(overall, out_dir, "data_overview.csv")

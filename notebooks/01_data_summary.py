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
from pathlib import Path

from xfactor_lib import records, sweep

stats = sweep.collect(run_dir, "data")
counts = stats[stats["label"] != "all"].pivot_table(index=["dataset", "split"], columns="label", values="count",
                                                    aggfunc="first")
counts

# %%
overall = stats[stats["label"] == "all"][["dataset", "split", "count", "mean", "std", "frac_zero"]]
overall

# %%
if out_dir:
    records.atomic_write(Path(out_dir) / "data_overview.csv", lambda p: overall.to_csv(p, index=False))

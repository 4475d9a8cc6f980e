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
# # Explore subsets
# Pick a study, data set, size, kind, rule, direction, `m` and subset to see its images
# per class (for a selected subset: the kept and the discarded candidates side by side),
# its class means, its Z-score per model, its LCR features (study A), its study Q measures
# beside its Z with a scatter of every subset (predicted vs measured quality, or Z under
# one model vs another: click a point to open that subset), and how it differs from a
# second subset. Reads the records of a run directory; opens on the default run
# (`make run`), or on a small demo run when that has no subsets yet.

# %% tags=["parameters"]
run_dir: str = "../runs/default"  # a run directory (relative to notebooks/); a demo run is used when it has no subsets
demo_dir: str = "../runs/demo"  # where the demo run is written when needed
per_class: int = 10  # images shown per class in each grid

# %%
from xfactor_lib.explore import SubsetExplorer, run_or_demo

explorer = SubsetExplorer(run_or_demo(run_dir, demo_dir=demo_dir), per_class=per_class)
explorer

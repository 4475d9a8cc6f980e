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
# its class means, its Z-score per model, its LCR features (study A) and how it differs
# from a second subset. Reads the records of a run directory; opens on the default run
# (`make run`), or on a small demo run when that has no subsets yet.

# %% tags=["parameters"]
run_dir: str = "../runs/default"  # a run directory (relative to notebooks/); a demo run is used when it has no subsets
demo_dir: str = "../runs/demo"  # where the demo run is written when needed
per_class: int = 10  # images shown per class in each grid

# %%
from pathlib import Path

from xfactor_lib import demo, sweep, widgets

run = Path(run_dir)
has_subsets = run.is_dir() and any(sweep.cell_dirs(run, s) for s in widgets.SUBSET_STAGES)
if not has_subsets:
    print(f"{run} holds no subset manifests (run `make run` first); "
          f"showing a demo run written to {demo_dir} instead")
    run = demo.write_demo_run(demo_dir)

# %%
explorer = widgets.SubsetExplorer(run, per_class=per_class)
explorer

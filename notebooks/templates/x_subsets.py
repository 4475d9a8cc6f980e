# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study X — subsets of one size
# Random class-balanced subsets and the selected grid (4 rules x 2 directions x m x
# repeats) for one data set and one size `n` (images per class). Writes the manifest as
# this cell's records.

# %% tags=["parameters"]
dataset: str = "mnist"  # any name load_dataset accepts
size: int = 30  # n: images per class
n_random: int = 20  # random subsets (Z-scores are taken against these)
ms: list = [10, 100]  # m grid: extra candidates per class
strategies: list = ["uniqueness", "global_mean", "other_mean", "own_mean"]  # selection rules
directions: list = ["+", "-"]  # selection directions
repeats: int = 1  # subsets per (strategy, direction, m)
seed: int = 0  # seeds every random draw
scale: str = "quick"  # smoke | quick | paper (set by the sweep)
run_dir: str = ""  # set by the sweep
out_dir: str = ""  # set by the sweep
quiet: bool = False  # no progress bars (set by the sweep)

# %%
from xfactor_lib import data, records, selection

train = data.load_dataset(dataset, "train")
manifest = selection.study_x_manifest(train.images, train.labels, size, n_random=n_random, ms=ms,
                                      strategies=strategies, directions=directions, repeats=repeats,
                                      seed=seed, dataset=dataset)
manifest.groupby(["kind", "strategy", "direction"]).size().rename("subsets").to_frame()

# %%
selection.skipped_table(manifest)

# %%
if out_dir:
    records.write_records(manifest.assign(scale=scale), out_dir)

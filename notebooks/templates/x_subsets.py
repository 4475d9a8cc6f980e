# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study X — subsets of `n` images per class
# Random class-balanced subsets, the selected grid (4 rules x 2 directions x m x
# repeats) and the optimized subsets (chosen by a training-free objective — `coverage`,
# `a_max` — from the whole class and from the selected grid's candidates) for one data set
# and one `n`. Writes the manifest as this cell's records.

# %% tags=["parameters"]
dataset: str = "mnist"  # any name load_dataset accepts
n: int = 30  # images per class
n_random: int = 20  # random subsets (Z-scores are taken against these)
ms: list = [10, 100]  # m grid: extra candidates per class
strategies: list = ["uniqueness", "global_mean", "other_mean", "own_mean"]  # selection rules
directions: list = ["+", "-"]  # selection directions
repeats: int = 1  # subsets per (strategy, direction, m)
optimizers: list = ["coverage", "a_max"]  # training-free objectives of the optimized subsets ([]: none)
optimized_sources: list = ["class", "candidates"]  # chosen from the whole class / the selected grid's candidates
seed: int = 0  # seeds every random draw
scale: str = "quick"  # smoke | quick | paper (set by the sweep)
run_dir: str = ""  # set by the sweep
out_dir: str = ""  # set by the sweep
quiet: bool = False  # no progress bars (set by the sweep)

# %%
from xfactor_lib.studies import x

manifest, skipped = x.make_subsets(
    dataset,
    n,
    n_random=n_random,
    ms=ms,
    strategies=strategies,
    directions=directions,
    repeats=repeats,
    seed=seed,
    scale=scale,
    optimizers=optimizers,
    optimized_sources=optimized_sources,
)
x.subset_counts(manifest)

# %% [markdown]
# Selected combinations left out (`n + m` above a class's size):

# %%
skipped

# %%
x.save(manifest, out_dir)

# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study A — subsets of `size` images across the class-balance range
# Class-count vectors of total `size` covering class balance CB_1 from one dominant class
# to perfect balance (uniform and Dirichlet draws), binned into `n_bins` equal CB_1 bins
# over [1, K], `per_bin` kept per bin; images within a class at random.

# %% tags=["parameters"]
dataset: str = "mnist"  # any name load_dataset accepts
size: int = 256  # total images per subset
n_bins: int = 25  # CB_1 bins over [1, K]
per_bin: int = 4  # subsets kept per bin
seed: int = 0  # seeds every random draw
scale: str = "quick"  # set by the sweep
run_dir: str = ""  # set by the sweep
out_dir: str = ""  # set by the sweep
quiet: bool = False  # no progress bars (set by the sweep)

# %%
from xfactor_lib import plots
from xfactor_lib.studies import a

manifest = a.make_subsets(dataset, size, n_bins=n_bins, per_bin=per_bin, seed=seed, scale=scale)
a.subset_table(manifest)

# %%
plots.study_a.balance_histogram(manifest)

# %%
a.save(manifest, out_dir)

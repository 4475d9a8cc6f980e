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
# # 00 — Data
# One split of one data set: class counts, random images per class, class mean images
# (over the full split) and pixel statistics. Runs as a sweep cell (it writes
# `records.parquet` when `out_dir` is set) or on its own.

# %% tags=["parameters"]
dataset: str = "mnist"  # any name load_dataset accepts (mnist, digits, organamnist, npz:<path>, folder:<path>)
split: str = "train"  # train | val | test
root: str = ""  # data root searched first; empty: the default search order
per_class: int = 8  # images per class in the grid
seed: int = 0  # which random images are shown
scale: str = "quick"  # smoke | quick | paper (set by the sweep)
run_dir: str = ""  # set by the sweep
out_dir: str = ""  # set by the sweep: where records.parquet goes
quiet: bool = False  # set by the sweep

# %%
from xfactor_lib import data, plots, records, similarity

ds = data.load_dataset(dataset, split, root or None)
print(f"{ds.name} / {ds.split}: {ds.N} images of shape {ds.shape}, {ds.K} classes")

# %%
plots.data.class_counts(ds)

# %%
plots.data.sample_grid(ds, per_class, seed=seed)

# %%
means = similarity.class_means(ds.X(), ds.labels, K=ds.K)
plots.data.class_mean_images(means, ds.shape, ds.classes)

# %%
stats = data.pixel_stats(ds).assign(scale=scale)
stats

# %%
if out_dir:
    records.write_records(stats, out_dir)

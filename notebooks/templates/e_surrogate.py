# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study E — surrogate run and window search
# Trains the surrogate on the pool while recording, for every sample and epoch, the error
# score S, correctness, logit margin and the final softmax (one run serves EVA and every
# baseline) and embeds the pool with study Q's reference encoder, trained on the pool alone
# (the kernel of the training-free `coverage_emb`). Then, **for each rate**, scores every EVA window combination,
# and every CCS cutoff beta in {0, 0.1, ..., 0.5}, by the **validation** accuracy of a model
# trained on the coreset it selects (the test split is never read for a choice; the
# candidates train with seed 10,000 + seed, outside the evaluation seeds). Writes
# `dynamics.npz`, `pool.npz`, `embed.npz` (+ the cached encoder) and the window table with
# the chosen beta per rate.

# %% tags=["parameters"]
dataset: str = "mnist"  # any name load_dataset accepts
seed: int = 0  # surrogate seed (and pool / validation draw)
arch: str = "resnet18"  # the surrogate's architecture
pool_size: int = 0  # images the surrogate trains on, class-balanced (0: all but validation)
val_size: int = 1000  # validation images carved from train (ignored when use_val_split)
use_val_split: bool = False  # use the data set's own val split (MedMNIST)
train_config: dict = {}  # TrainConfig fields of the surrogate (SPEC 3: SGD, Nesterov 0.9, lr 0.1 cosine)
record_mode: str = "train"  # train: score the training pass | eval: separate no-grad pass
window: int = 10  # epochs per EVA window
step: int = 10  # grid step of the window starts
rates: list = [0.02, 0.05, 0.1, 0.2, 0.3]  # window starts are searched at each of these rates
eva_variant: str = "sum"  # sum: the paper's Eq. 6 | released: the authors' code
search_arch: str = "resnet18"  # model trained on each candidate coreset
search_config: dict = {}  # its TrainConfig fields
full_epochs: int = 0  # step budget of each candidate: this many epochs of the whole pool (0: search_config as is)
test_sample: int = 0  # surrogate test accuracy on this many test images (0: all)
encoder_per_class: int = 1000  # reference encoder: pool images per class it trains on (0: all)
encoder_epochs: int = 3  # reference encoder: epochs (Adam, lr 1e-3, batch 128)
device: str = "auto"  # auto | cpu | cuda
scale: str = "quick"  # set by the sweep
run_dir: str = ""  # set by the sweep
out_dir: str = ""  # set by the sweep
quiet: bool = False  # no progress bars (set by the sweep)

# %%
from xfactor_lib import data, plots, records
from xfactor_lib.studies import e

train, test = data.load_train_test(dataset, test_sample=test_sample)
run = e.run_surrogate(train, test, params=locals(), out_dir=out_dir, device=device, progress=not quiet)
print(run.summary)

# %%
plots.study_e.error_score_curves(run.dynamics)

# %%
plots.study_e.window_curves(e.window_summary(run.windows.table.assign(dataset=dataset)), window=window)

# %%
if out_dir:
    records.write_records(run.records, out_dir)
run.records

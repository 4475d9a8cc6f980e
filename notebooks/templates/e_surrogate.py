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
# baseline). Then scores every EVA window combination by the **validation** accuracy of a
# model trained on the coreset it selects. Writes `dynamics.npz`, `pool.npz` and the
# window table (records).

# %% tags=["parameters"]
dataset: str = "mnist"  # any name load_dataset accepts
seed: int = 0  # surrogate seed (and pool / validation draw)
model: str = "resnet18"  # surrogate architecture
pool_size: int = 0  # images the surrogate trains on, class-balanced (0: all but validation)
val_size: int = 1000  # validation images carved from train (ignored when use_val_split)
use_val_split: bool = False  # use the data set's own val split (MedMNIST)
train_config: dict = {}  # TrainConfig fields of the surrogate; empty: the paper's protocol
record_mode: str = "train"  # train: score the training pass | eval: separate no-grad pass
window: int = 10  # K: epochs per window
step: int = 10  # grid step of the window starts
search_rate: float = 0.1  # coreset rate used to score window combinations
search_arch: str = "resnet18"  # model trained on each candidate coreset
search_config: dict = {}  # its TrainConfig fields
test_sample: int = 0  # surrogate test accuracy on this many test images (0: all)
device: str = "auto"  # auto | cpu | cuda
scale: str = "quick"  # set by the sweep
run_dir: str = ""  # set by the sweep
out_dir: str = ""  # set by the sweep
quiet: bool = False  # no progress bars (set by the sweep)

# %%
from pathlib import Path

from xfactor_lib import coreset, data, plots, records, training

train, test = data.load_train_test(dataset, test_sample=test_sample)
val = data.load_dataset(dataset, "val") if use_val_split else None
pool, val_idx = coreset.split_pool(train, pool_size=pool_size, val_size=0 if val else val_size, seed=seed, val=val)
X_val, y_val = (val.images, val.labels) if val else (train.images[val_idx], train.labels[val_idx])
config = training.TrainConfig.from_dict(train_config)
print(f"pool {len(pool)} images, validation {len(y_val)}, surrogate {model}, {config}")

# %%
dyn, info, surrogate = coreset.train_surrogate(train, pool, model=model, config=config, device=device, seed=seed,
                                               mode=record_mode, progress=not quiet)
surrogate_test = training.evaluate(surrogate, test.images, test.labels, K=train.K, device=device)
print(f"surrogate: {info['epochs']} epochs, train acc {info['train_acc']:.3f}, test acc {surrogate_test['acc']:.4f}")
if out_dir:
    dyn.save(Path(out_dir) / "dynamics.npz")
    records.write_npz(Path(out_dir) / "pool.npz", pool=pool, val=val_idx if val_idx is not None else [])

# %%
plots.study_e.error_score_curves(dyn)

# %%
windows = coreset.search_windows(dyn, train, pool, X_val, y_val, rate=search_rate, window=window, step=step,
                                 arch=search_arch, config=training.TrainConfig.from_dict(search_config),
                                 device=device, seed=seed)
best_early, best_late = windows.attrs["best"]
print(f"best windows on validation: early {best_early}, late {best_late}")
plots.study_e.window_curves(windows.assign(dataset=dataset, rate=search_rate))

# %%
recs = windows.assign(dataset=dataset, seed=seed, model=model, scale=scale, window=window, step=step,
                      search_rate=search_rate, search_arch=search_arch, best_early=best_early, best_late=best_late,
                      surrogate_epochs=info["epochs"], surrogate_train_acc=info["train_acc"],
                      surrogate_test_acc=surrogate_test["acc"], surrogate_seconds=info["seconds"],
                      n_pool=len(pool), n_val=len(y_val), record_mode=record_mode,
                      cell_id=Path(out_dir).name if out_dir else "")
if out_dir:
    records.write_records(recs, out_dir)
recs

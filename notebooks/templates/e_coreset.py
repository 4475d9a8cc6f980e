# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study E — coresets of a group of methods
# Selects coresets from the surrogate's recorded dynamics (`e_surrogate` stage) with each
# method of `methods` at each rate (training-free methods — coverage, coverage_emb, coverage_clean,
# a_max, k_center — read the pool's images, labels and embedding instead; window methods
# use the window starts chosen on validation at that rate); trains `arch` on each with
# each seed for the full-pool run's number of optimizer steps, and scores it on the test
# split. `"full"` trains on the whole pool (the reference, once per seed whatever
# the rates).

# %% tags=["parameters"]
dataset: str = "mnist"  # must match an e_surrogate cell
surrogate_seed: int = 0  # which surrogate run
methods: list = ["eva"]  # full and/or coresets.METHODS names: random | eva | ccs | ... | coverage | a_max | k_center
rates: list = [0.02, 0.05, 0.1, 0.2, 0.3]  # coreset fractions of the pool (each searched by e_surrogate)
seeds: list = [0, 1, 2]  # training seeds (also the draw of random / CCS coresets)
arch: str = "resnet18"  # model trained on the coresets
train_config: dict = {}  # its TrainConfig fields (SPEC 3: the surrogate's recipe)
full_epochs: int = 0  # step budget of every coreset: this many epochs of the whole pool (0: train_config as is)
eva_variant: str = "sum"  # sum: the paper's Eq. 6 | released: the authors' code
el2n_epoch: int = 20  # EL2N: the early epoch whose error score ranks samples
test_sample: int = 0  # evaluate on this many test images, class-balanced (0: all)
device: str = "auto"  # auto | cpu | cuda
scale: str = "quick"  # set by the sweep
run_dir: str = ""  # set by the sweep: where the e_surrogate cell is
out_dir: str = ""  # set by the sweep
quiet: bool = False  # no progress bars (set by the sweep)

# %%
from xfactor_lib import data, records
from xfactor_lib.studies import e

surrogate = e.load_surrogate(run_dir, dataset=dataset, seed=surrogate_seed)
train, test = data.load_train_test(dataset, test_sample=test_sample)
config = e.coreset_config(train_config, n_pool=len(surrogate.pool), full_epochs=full_epochs)
print(
    f"{', '.join(methods)}: pool {len(surrogate.pool)}, windows {surrogate.windows} (window {surrogate.window}), "
    f"arch {arch}, {config.steps} optimizer steps per coreset"
)

# %%
recs = e.evaluate_coresets(
    surrogate,
    train,
    test,
    methods=methods,
    rates=rates,
    seeds=seeds,
    arch=arch,
    config=config,
    eva_variant=eva_variant,
    el2n_epoch=el2n_epoch,
    device=device,
    quiet=quiet,
    extra={
        "dataset": dataset,
        "surrogate_seed": surrogate_seed,
        "scale": scale,
        "test_sample": test_sample,
        "full_epochs": full_epochs,
    },
)
e.coreset_summary(recs)

# %%
if out_dir:
    records.write_records(recs, out_dir)

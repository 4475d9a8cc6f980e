# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study E — coresets of one method
# Selects coresets from the surrogate's recorded dynamics (`e_surrogate` stage) with one
# method at each rate, trains `arch` on each with each seed, and scores it on the test
# split. `method="full"` trains on the whole pool (the reference).

# %% tags=["parameters"]
dataset: str = "mnist"  # must match an e_surrogate cell
surrogate_seed: int = 0  # which surrogate run
method: str = "eva"  # random | forgetting | entropy | el2n | aum | ccs | eva | var_s | exp_s | var_d | exp_d | full
rates: list = [0.02, 0.05, 0.1, 0.2, 0.3]  # coreset fractions of the pool
seeds: list = [0, 1, 2]  # training seeds (also the draw of random / CCS coresets)
arch: str = "resnet18"  # model trained on the coresets
train_config: dict = {}  # its TrainConfig fields; empty: the paper's protocol
el2n_epoch: int = 20  # EL2N: the early epoch whose error score ranks samples
test_sample: int = 0  # evaluate on this many test images, class-balanced (0: all)
device: str = "auto"  # auto | cpu | cuda
scale: str = "quick"  # set by the sweep
run_dir: str = ""  # set by the sweep: where the e_surrogate cell is
out_dir: str = ""  # set by the sweep
quiet: bool = False  # no progress bars (set by the sweep)

# %%
from pathlib import Path

import numpy as np

from xfactor_lib import coreset, data, eva, records, sweep, training

surr = sweep.collect(run_dir, "e_surrogate", dataset=dataset, seed=surrogate_seed).iloc[0]
cell = Path(run_dir) / surr["cell_id"]
dyn = eva.Dynamics.load(cell / "dynamics.npz")
pool = np.load(cell / "pool.npz")["pool"]
train, test = data.load_train_test(dataset, test_sample=test_sample)
print(f"{method}: pool {len(pool)}, windows early {surr['best_early']} / late {surr['best_late']} "
      f"(K={surr['window']}), arch {arch}")

# %%
recs = coreset.evaluate_coresets(dyn, train, pool, test, methods=[method], rates=rates, seeds=seeds, arch=arch,
                                 early_start=int(surr["best_early"]), late_start=int(surr["best_late"]),
                                 window=int(surr["window"]), config=training.TrainConfig.from_dict(train_config),
                                 el2n_epoch=el2n_epoch, device=device, quiet=quiet,
                                 extra={"dataset": dataset, "surrogate_seed": surrogate_seed, "scale": scale,
                                        "test_sample": test_sample})
eva.coreset_summary(recs)

# %%
if out_dir:
    records.write_records(recs, out_dir)

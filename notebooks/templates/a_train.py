# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study A — train on every subset of one size, and measure its diversity
# For each subset of the `a_subsets` stage: train `model` (ResNet-18 in the paper), score
# ACC, balanced ACC and one-vs-rest AUC on the test split, and compute the 27 LCR
# diversity features (Z = exp(-RMSD), species = images, subcommunities = classes) and the
# 3 systematic features.

# %% tags=["parameters"]
dataset: str = "mnist"  # must match an a_subsets cell
size: int = 256  # total images per subset
model: str = "resnet18"  # any name of xfactor_lib.models (the paper: resnet18)
seed: int = 0  # training seed
train_config: dict = {}  # TrainConfig fields; empty: study X's protocol
test_sample: int = 0  # evaluate on this many test images, class-balanced (0: all)
pretrained: str = "auto"  # auto | true | false
device: str = "auto"  # auto | cpu | cuda
scale: str = "quick"  # set by the sweep
run_dir: str = ""  # set by the sweep
out_dir: str = ""  # set by the sweep
quiet: bool = False  # no progress bars (set by the sweep)

# %%
from xfactor_lib import data, lcr, records, sweep, training

manifest = sweep.collect(run_dir, "a_subsets", dataset=dataset, size=size)
train, test = data.load_train_test(dataset, test_sample=test_sample)
config = training.TrainConfig.from_dict(train_config)
print(f"{len(manifest)} subsets of {size} images; {model}; {config}")

# %%
recs = training.fit_subsets(manifest, train, test, model=model, config=config, device=device, seed=seed,
                            quiet=quiet, row_hook=lcr.subset_features,
                            pretrained=pretrained,
                            extra={"scale": scale, "test_sample": test_sample})
recs[["subset_id", "cb_1", "A_0", "A_1", "G_1", "bacc", "auc_macro"]].round(3)

# %%
if out_dir:
    records.write_records(recs, out_dir)

# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study X — one model on every subset of one size
# Trains `model` on each subset the `x_subsets` stage wrote for (`dataset`, `size`) and
# scores it on the test split (or a fixed class-balanced sample of it).

# %% tags=["parameters"]
dataset: str = "mnist"  # any name load_dataset accepts
size: int = 30  # n: images per class (must match an x_subsets cell)
model: str = "rf"  # gnb | rf | svc | mlp-1..5 | resnet18 | resnet34
seed: int = 0  # training seed
train_config: dict = {}  # TrainConfig fields for neural nets; empty: the paper's protocol
test_sample: int = 0  # evaluate on this many test images, class-balanced (0: the whole split)
width: int = 512  # MLP width
pretrained: str = "auto"  # auto | true | false: ImageNet weights for ResNets when cached
device: str = "auto"  # auto | cpu | cuda
scale: str = "quick"  # smoke | quick | paper (set by the sweep)
run_dir: str = ""  # set by the sweep: where the x_subsets records are
out_dir: str = ""  # set by the sweep
quiet: bool = False  # no progress bars (set by the sweep)

# %%
from xfactor_lib import data, plots, records, sweep, training

manifest = sweep.collect(run_dir, "x_subsets", dataset=dataset, size=size)
train, test = data.load_train_test(dataset, test_sample=test_sample)
config = training.TrainConfig.from_dict(train_config)
print(f"{len(manifest)} subsets of n={size} per class; model {model}; config {config}")

# %%
recs = training.fit_subsets(manifest, train, test, model=model, config=config, device=device, seed=seed,
                            width=width, pretrained=pretrained, quiet=quiet,
                            extra={"scale": scale, "test_sample": test_sample})
recs.groupby(["kind", "strategy", "direction"])["error"].describe()

# %%
if out_dir:
    records.write_records(recs, out_dir)

# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study X — one model on every subset of `n` images per class
# Trains `model` on each subset the `x_subsets` stage wrote for (`dataset`, `n`) and
# scores it on the test split (or a fixed class-balanced sample of it).

# %% tags=["parameters"]
dataset: str = "mnist"  # any name load_dataset accepts
n: int = 30  # images per class (must match an x_subsets cell)
model: str = "rf"  # gnb | rf | svc | mlp-1..5 | resnet18 | resnet34
seed: int = 0  # training seed
train_config: dict = {}  # TrainConfig fields for neural nets; empty: the paper's protocol
test_sample: int = 0  # evaluate on this many test images, class-balanced (0: the whole split)
width: int = 512  # MLP width
pretrained: str = "auto"  # auto | true | false: ImageNet weights for ResNets when available
device: str = "auto"  # auto | cpu | cuda
batch_models: str = "auto"  # nets trained together as one stack: auto (by memory on CUDA, 1 on CPU) | 1 | G
amp: bool = False  # bf16 autocast of stacked nets on CUDA (recorded)
n_jobs: str = "auto"  # processes for scikit-learn fits: auto | 1 | k
max_random: int = 0  # train only the first max_random random subsets (0: all), e.g. for a slow net
scale: str = "quick"  # smoke | quick | paper (set by the sweep)
run_dir: str = ""  # set by the sweep: where the x_subsets records are
out_dir: str = ""  # set by the sweep
quiet: bool = False  # no progress bars (set by the sweep)

# %%
from xfactor_lib.studies import x

manifest = x.load_subsets(run_dir, dataset=dataset, n=n)
if max_random:  # the other kinds stay; Z is then taken against these random subsets
    manifest = manifest[(manifest["kind"] != "random") | (manifest.groupby("kind").cumcount() < max_random)]
recs = x.train(
    manifest,
    model=model,
    seed=seed,
    train_config=train_config,
    test_sample=test_sample,
    width=width,
    pretrained=pretrained,
    device=device,
    batch_models=batch_models,
    amp=amp,
    n_jobs=n_jobs,
    scale=scale,
    quiet=quiet,
)
x.error_table(recs)

# %%
x.save(recs, out_dir)

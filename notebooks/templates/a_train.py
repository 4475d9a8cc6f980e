# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study A — train on every subset of `size` images, and measure its diversity
# For each subset of the `a_subsets` stage: train `model`, score ACC, balanced ACC and
# one-vs-rest AUC on the test split, and compute the 27 LCR diversity features
# (Z = exp(-RMSD), species = images, subcommunities = classes) and the 3 systematic features.

# %% tags=["parameters"]
dataset: str = "mnist"  # must match an a_subsets cell
size: int = 256  # total images per subset
model: str = "resnet18"  # any name of xfactor_lib.models (the paper: resnet18)
seed: int = 0  # training seed
train_config: dict = {}  # TrainConfig fields; empty: study X's protocol
test_sample: int = 0  # evaluate on this many test images, class-balanced (0: all)
pretrained: str = "auto"  # auto | true | false
device: str = "auto"  # auto | cpu | cuda
batch_models: str = "auto"  # nets trained together as one stack: auto (by memory on CUDA, 1 on CPU) | 1 | G
amp: bool = False  # bf16 autocast of stacked nets on CUDA (recorded)
n_jobs: str = "auto"  # processes for scikit-learn fits: auto | 1 | k
scale: str = "quick"  # set by the sweep
run_dir: str = ""  # set by the sweep
out_dir: str = ""  # set by the sweep
quiet: bool = False  # no progress bars (set by the sweep)

# %%
from xfactor_lib.studies import a

manifest = a.load_subsets(run_dir, dataset=dataset, size=size)
recs = a.train(
    manifest,
    model=model,
    seed=seed,
    train_config=train_config,
    test_sample=test_sample,
    pretrained=pretrained,
    device=device,
    batch_models=batch_models,
    amp=amp,
    n_jobs=n_jobs,
    scale=scale,
    quiet=quiet,
)
a.feature_table(recs)

# %%
a.save(recs, out_dir)

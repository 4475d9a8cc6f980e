# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Study Q — training-free measures of every subset of `dataset`
# Draws the reference sample of the training split, trains (or loads) the reference
# encoder, measures every study X and study A subset of the run against the reference and
# joins each subset's target (X: mean Z over the non-GNB models; A: BACC, ACC, AUC).

# %% tags=["parameters"]
dataset: str = "mnist"  # any name load_dataset accepts (must have x_subsets or a_subsets cells)
per_class: int = 2000  # reference images per class (0: all)
probe_per_class: int = 200  # reference images per class for the labelled measures (0: all)
seed: int = 0  # reference draw and encoder seed
encoder_per_class: int = 1000  # images per class the reference encoder trains on (0: all)
encoder_epochs: int = 3  # encoder epochs (0: no embedding measures)
device: str = "auto"  # auto | cpu | cuda (the encoder)
scale: str = "quick"  # set by the sweep
run_dir: str = ""  # set by the sweep: where the study X / A records are
out_dir: str = ""  # set by the sweep (the encoder is cached here)
quiet: bool = False  # no progress bars (set by the sweep)

# %%
from xfactor_lib.studies import q

recs, info = q.measure_dataset(
    run_dir,
    dataset,
    per_class=per_class,
    probe_per_class=probe_per_class,
    seed=seed,
    encoder_per_class=encoder_per_class,
    encoder_epochs=encoder_epochs,
    cache_dir=out_dir,
    device=device,
    scale=scale,
    quiet=quiet,
)
print(info)
q.overview(recs)

# %%
q.save(recs, out_dir)

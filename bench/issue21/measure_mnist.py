import time

from xfactor_lib.studies import q

t0 = time.time()
recs, info = q.measure_dataset(
    "runs/q21_mnist",
    "mnist",
    per_class=2000,
    probe_per_class=200,
    seed=0,
    encoder_per_class=500,
    encoder_epochs=2,
    cache_dir="/work/scratch-21/mnist_enc",
    scale="quick",
    quiet=True,
)
recs.to_parquet("/work/scratch-21/mnist_q.parquet")
print(info, time.time() - t0)

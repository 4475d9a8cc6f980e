"""Low-budget coresets at study E's quick protocol: training-free methods against the anchors (issue 20).

Carves study E's pool and validation split (:func:`xfactor_lib.studies.e.carve`), embeds the
pool with the reference encoder trained on the pool (:func:`~xfactor_lib.studies.e.pool_embedding`,
cached under ``--cache``), then for every method x rate x seed selects a coreset of the pool,
trains study E's coreset trainer on it (MLP-1, the SGD recipe, the full-pool run's step
budget) and scores it on the validation split (for choices) and the test sample (to report).

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python bench/bench_low_budget.py --dataset mnist \\
        --pool-seed 0 --out /tmp/mnist.csv [--methods random random_balanced typiclust ...]

``--dataset digits`` uses a pool of 1,000 and 300 validation images (the split has 1,347).
Method names are :data:`xfactor_lib.coresets.METHODS` entries or the variants of
:data:`VARIANTS` (``kc:`` kernel coverage settings under trial).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from xfactor_lib import coresets, data, training
from xfactor_lib.coresets.coverage_kernel import kernel_coverage_select
from xfactor_lib.studies import e

RECIPE = {
    "optimizer": "sgd",
    "momentum": 0.9,
    "nesterov": True,
    "weight_decay": 0.0005,
    "lr_schedule": [[1, 0.1]],
    "schedule": "cosine",
    "batch_size": 256,
}
PROTOCOL = {"mnist": dict(pool_size=2000, val_size=1000), "digits": dict(pool_size=1000, val_size=300)}


def _balanced_random(X, y, E, rate, seed):
    M = coresets.coreset_size(y.size, rate)
    from xfactor_lib.coresets import greedy

    budgets = greedy.class_budgets(y, M)
    rng = np.random.default_rng(seed)
    return np.sort(
        np.concatenate([rng.choice(np.flatnonzero(y == k), b, replace=False) for k, b in enumerate(budgets)])
    )


def _kc(space: str, scale: float, clean: bool, typical: float = 0.0):
    def pick(X, y, E, rate, seed):
        return kernel_coverage_select(
            None if space == "emb" else X,
            y,
            rate=rate,
            embed=None if space == "pix" else E,
            joint=space == "joint",
            scale=scale,
            clean=clean,
            typical=typical,
            seed=seed,
        )

    return pick


VARIANTS = {"random_balanced": _balanced_random}
for _space in ("pix", "emb", "joint"):
    for _scale in (0.5, 1.0, 2.0, 4.0):
        for _clean in (False, True):
            VARIANTS[f"kc:{_space}:{_scale:g}{':clean' if _clean else ''}"] = _kc(_space, _scale, _clean)
            for _typ in (0.5, 1.0, 2.0):
                VARIANTS[f"kc:{_space}:{_scale:g}{':clean' if _clean else ''}:t{_typ:g}"] = _kc(
                    _space, _scale, _clean, _typ
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--pool-seed", type=int, default=0)
    ap.add_argument("--methods", nargs="+", default=["random", "random_balanced", "coverage", "coverage_clean"])
    ap.add_argument("--rates", nargs="+", type=float, default=[0.02, 0.05, 0.1])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--cache", default="/tmp/xfactor-bench-low-budget")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    train, test = data.load_train_test(args.dataset, test_sample=2000)
    pool, _, X_val, y_val = e.carve(
        train, dataset=args.dataset, use_val_split=False, seed=args.pool_seed, **PROTOCOL[args.dataset]
    )
    cache = Path(args.cache) / f"{args.dataset}-{args.pool_seed}"
    E, info = e.pool_embedding(train, pool, out_dir=cache, per_class=1000, epochs=10, seed=args.pool_seed, device="cpu")
    print(
        f"{args.dataset}: pool {len(pool)}, val {len(y_val)}, encoder held-out acc {info.heldout_acc:.3f}", flush=True
    )
    config = e.coreset_config(RECIPE, n_pool=len(pool), full_epochs=10)
    X, y = train.images[pool], train.labels[pool]
    rows = []
    for method in args.methods:
        for rate in args.rates:
            for seed in args.seeds:
                t = time.perf_counter()
                if method in VARIANTS:
                    idx = VARIANTS[method](X, y, E, rate, seed)
                else:
                    idx = coresets.select(method, rate=rate, X=X, y=y, embed=E, seed=seed)
                took = time.perf_counter() - t
                row = {
                    "dataset": args.dataset,
                    "pool_seed": args.pool_seed,
                    "method": method,
                    "rate": rate,
                    "seed": seed,
                    "n": len(idx),
                    "select_s": took,
                }
                fitted, _ = training.fit_model(
                    "mlp-1", X[idx], y[idx], K=train.K, config=config, device="cpu", seed=seed
                )
                for split, (Xe, ye) in {"val": (X_val, y_val), "test": (test.images, test.labels)}.items():
                    row[f"{split}_acc"] = training.evaluate(fitted, Xe, ye, K=train.K, device="cpu")["acc"]
                rows.append(row)
                print(row, flush=True)
    out = pd.DataFrame(rows)
    out.to_csv(args.out, index=False)
    table = out.groupby(["method", "rate"])[["val_acc", "test_acc"]].agg(["mean", "std"]).round(4)
    print(table.to_string())


if __name__ == "__main__":
    main()

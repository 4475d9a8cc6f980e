"""Synthetic study-X records shared by the stats and plot tests."""

import numpy as np
import pandas as pd

MODELS = ("gnb", "rf", "svc", "mlp-1")


def make_records(
    *,
    n_random=10,
    n_selected=6,
    sizes=(10, 30),
    models=MODELS,
    shared=1.0,
    noise=0.3,
    K=3,
    seeds=(0,),
    seed=0,
    strategies=("own_mean",),
):
    """Synthetic study-X records: error = base(model, size) * exp(0.05 (shared q_s + noise)).

    ``q_s`` is a latent subset quality shared by all models (spread 1 for random subsets,
    3 for selected ones); with ``shared=0`` the models see independent noise only.
    Per-class accuracy follows a class-level quality ``q_s + e_k`` in the same way.
    Selected subset i uses ``strategies[i % len(strategies)]``.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for size in sizes:
        for kind, count in (("random", n_random), ("selected", n_selected)):
            for i in range(count):
                q = rng.normal() * (1.0 if kind == "random" else 3.0)
                qk = q + rng.normal(size=K)
                selected = kind == "selected"
                for j, model in enumerate(models):
                    base = 0.5 / (1 + j) * size**-0.3
                    for s in seeds:
                        err = base * np.exp(0.05 * (shared * q + noise * rng.normal()))
                        acc = 1 - base * np.exp(0.05 * (shared * qk + noise * rng.normal(size=K)))
                        row = {
                            "study": "x",
                            "dataset": "mnist",
                            "size": size,
                            "kind": kind,
                            "strategy": (strategies[i % len(strategies)] if selected else "none"),
                            "direction": ("+" if i % 2 == 0 else "-") if selected else "none",
                            "m": 10 if selected else 0,
                            "repeat": i,
                            "seed": s,
                            "subset_id": f"x-{size}-{kind}-{i}",
                            "model": model,
                            "error": err,
                            "bacc": 1 - err,
                        }
                        row.update({f"acc_class_{k}": acc[k] for k in range(K)})
                        rows.append(row)
    return pd.DataFrame(rows)

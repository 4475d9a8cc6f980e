"""Synthetic study-X records shared by the stats and plot tests."""

import numpy as np
import pandas as pd

MODELS = ("gnb", "rf", "svc", "mlp-1")


def make_records(
    *,
    n_random=10,
    n_selected=6,
    ns=(10, 30),
    models=MODELS,
    shared=1.0,
    noise=0.3,
    K=3,
    seeds=(0,),
    seed=0,
    strategies=("own_mean",),
):
    """Synthetic study-X records: error = base(model, n) * exp(0.05 (shared q_s + noise)).

    ``q_s`` is a latent subset quality shared by all models (spread 1 for random subsets,
    3 for selected ones); with ``shared=0`` the models see independent noise only.
    Per-class accuracy follows a class-level quality ``q_s + e_k`` in the same way.
    Selected subset i uses ``strategies[i % len(strategies)]``. ``n`` is images per class,
    ``size = n * K`` the subset's total, as in the study X records.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for n in ns:
        for kind, count in (("random", n_random), ("selected", n_selected)):
            for i in range(count):
                q = rng.normal() * (1.0 if kind == "random" else 3.0)
                qk = q + rng.normal(size=K)
                selected = kind == "selected"
                for j, model in enumerate(models):
                    base = 0.5 / (1 + j) * n**-0.3
                    for s in seeds:
                        err = base * np.exp(0.05 * (shared * q + noise * rng.normal()))
                        acc = 1 - base * np.exp(0.05 * (shared * qk + noise * rng.normal(size=K)))
                        row = {
                            "study": "x",
                            "dataset": "mnist",
                            "n": n,
                            "size": n * K,
                            "kind": kind,
                            "strategy": (strategies[i % len(strategies)] if selected else "none"),
                            "direction": ("+" if i % 2 == 0 else "-") if selected else "none",
                            "m": 10 if selected else 0,
                            "repeat": i,
                            "seed": s,
                            "subset_id": f"x-{n}-{kind}-{i}",
                            "model": model,
                            "error": err,
                            "bacc": 1 - err,
                        }
                        row.update({f"acc_class_{k}": acc[k] for k in range(K)})
                        rows.append(row)
    return pd.DataFrame(rows)


def hand_zscores(records, value="error"):
    """Z via a plain loop over cells (independent of stats.zscores)."""
    z = pd.Series(np.nan, index=records.index)
    for _, cell in records.groupby(["dataset", "n", "model"]):
        base = cell.loc[cell["kind"] == "random", value].to_numpy()
        z[cell.index] = (cell[value] - base.mean()) / base.std(ddof=1)
    return z


def make_a_records(*, datasets=("digits", "mnist"), sizes=(64, 128, 256), per_size=12, noise=0.01, seed=0):
    """Synthetic study-A records: BACC = 0.1 log(A_0) + noise; the other features are noise.

    Every row has the 27 diversity features (positive), ``pixels, channels, classes``, the
    design columns and the columns a verdict reads (``model, scale, device, ...``).
    """
    from xfactor_lib.diversity import FEATURE_NAMES

    rng = np.random.default_rng(seed)
    rows = []
    for d, dataset in enumerate(datasets):
        for size in sizes:
            for i in range(per_size):
                row = {name: float(np.exp(rng.normal())) for name in FEATURE_NAMES}
                row.update(size=size, CB_1=float(rng.uniform(1, 10)), A_0=float(size * rng.uniform(0.2, 1)))
                row.update(
                    subset_id=f"a-{dataset}-{size}-{i}",
                    study="a",
                    dataset=dataset,
                    kind="balance",
                    cb_bin=i,
                    model="mlp-1",
                    scale="quick",
                    device="cpu",
                    pretrained=False,
                    test_sample=0,
                    n_test=100,
                    pixels=64 * (1 + 11 * d),
                    channels=1,
                    classes=10,
                )
                row["bacc"] = 0.1 * np.log(row["A_0"]) + noise * rng.normal()
                rows.append(row)
    return pd.DataFrame(rows)

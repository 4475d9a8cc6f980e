"""Issue 21, session 3: how much of the random-subset target is the test split's own luck?

SVC and RF (scikit-learn defaults) are trained on each random subset of a run's study X cell and
scored on the two halves of a test sample (up to 2,000 images) and on up to 20,000 training
images outside the subset. If the halves disagree, or the models' own error outside the subset
explains little of the target, no measure of the training split can explain much more.

    PYTHONPATH=. .venv/bin/python bench/issue21c/test_luck.py runs/q21_digits_s3 digits 30
"""

from __future__ import annotations

import glob
import sys

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.svm import SVC

from xfactor_lib import data


def _z(a: np.ndarray) -> np.ndarray:
    return (a - a.mean()) / a.std()


def _r(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def main(run: str, dataset: str, n: float) -> None:
    recs = pd.read_parquet(glob.glob(f"{run}/q_measures--{dataset}-*/records.parquet")[0])
    recs = recs[(recs["study"] == "x") & (recs["n"] == n) & (recs["kind"] == "random")]
    manifest = pd.concat([pd.read_parquet(f) for f in glob.glob(f"{run}/x_subsets--*/records.parquet")])
    recs = recs.merge(manifest[["subset_id", "indices"]], on="subset_id")
    train, test = data.load_dataset(dataset, "train"), data.load_dataset(dataset, "test")
    X, y = train.images.reshape(len(train.labels), -1) / 255.0, train.labels
    rng = np.random.default_rng(0)
    pick = rng.permutation(len(test.labels))[:2000]
    T, ty = test.images.reshape(len(test.labels), -1)[pick] / 255.0, test.labels[pick]
    even = np.arange(ty.size) % 2 == 0
    pool = rng.permutation(len(y))[:20000]
    errors = []  # per subset: per model (test even, test odd, test, outside)
    for idx in recs["indices"]:
        idx = np.asarray(idx)
        rest = pool[~np.isin(pool, idx)]
        row = []
        for est in (SVC(), RandomForestClassifier(random_state=0, n_jobs=2)):
            est.fit(X[idx], y[idx])
            wt, wr = est.predict(T) != ty, est.predict(X[rest]) != y[rest]
            row += [wt[even].mean(), wt[~even].mean(), wt.mean(), wr.mean()]
        errors.append(row)
    e = np.asarray(errors)
    half_a, half_b = (_z(e[:, 0]) + _z(e[:, 4])) / 2, (_z(e[:, 1]) + _z(e[:, 5])) / 2
    full, outside = (_z(e[:, 2]) + _z(e[:, 6])) / 2, (_z(e[:, 3]) + _z(e[:, 7])) / 2
    r_half = _r(half_a, half_b)
    print(f"{dataset} n = {n:g}: {len(recs)} random subsets, {ty.size} test images")
    print(f"  test halves (SVC + RF mean Z): r = {r_half:.2f}, Spearman-Brown {2 * r_half / (1 + r_half):.2f}")
    print(f"  the same models outside the subset vs on the test sample: r = {_r(full, outside):.2f}")
    r2 = _r(outside, recs["z_mean"]) ** 2
    print(f"  the suite's target (mean Z) vs the models outside the subset: R^2 = {r2:.2f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))

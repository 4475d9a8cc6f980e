"""Issue 21, session 3: study Q's headline predictor on MNIST (the default run) and digits (the
holdout design), the transfer between them and what the predictor leans on.

    make run
    .venv/bin/python -m xfactor_lib sweep configs/study_q_holdout.yaml --name q21_digits_s3
    PYTHONPATH=. .venv/bin/python bench/issue21c/tables.py
"""

from __future__ import annotations

import glob

import pandas as pd

from xfactor_lib import sweep
from xfactor_lib.studies.q import cv, design

COLUMNS = ["n", "kinds", "r2", "lo", "hi", "ceiling", "ceiling_test", "ceiling_both", "subsets", "groups"]


def _study_x(run: str, dataset: str) -> pd.DataFrame:
    """Study X's q_measures records of a run, the targets recomputed from its x_train records (a run
    measured before the per-model half-test columns existed gets them)."""
    recs = pd.read_parquet(glob.glob(f"{run}/q_measures--{dataset}-*/records.parquet")[0])
    targets = design.x_targets(sweep.collect(run, "x_train", dataset=dataset))
    recs = recs[recs["study"] == "x"].drop(columns=[c for c in targets.columns if c != "subset_id"], errors="ignore")
    return recs.merge(targets, on="subset_id", how="left")


def main() -> None:
    mnist = _study_x("runs/default", "mnist")
    digits = _study_x("runs/q21_digits_s3", "digits")
    for name, recs in (("MNIST", mnist), ("digits", digits)):
        print(name)
        print(cv.cv_table(recs, n_boot=1000)[COLUMNS].round(3).to_string())
    both = pd.concat([mnist, digits], ignore_index=True)
    print("transfer")
    print(cv.transfer_table(both)[["n", "kinds", "train", "test", "r2", "ceiling"]].round(3).to_string())
    imp = cv.importance_table(both, top=5)
    for (dataset, n, kinds), part in imp.groupby(["dataset", "n", "kinds"]):
        lean = "; ".join(f"{r.measure} {r.importance:.2f} (r {r.r:+.2f})" for r in part.itertuples())
        print(f"{dataset} n = {n:g} {kinds}: {lean}")


if __name__ == "__main__":
    main()

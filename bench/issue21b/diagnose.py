"""Issue 21b: where the out-of-fold error of the headline predictor sits (one run's records).

usage: python bench/issue21b/diagnose.py RUN_DIR [N]
"""

import sys
import time
from collections import Counter

import pandas as pd

from xfactor_lib.studies import q
from xfactor_lib.studies.q import cv as qcv

pd.set_option("display.width", 200)
run = sys.argv[1]
n_sel = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
recs = q.load(run)
recs = recs[recs["study"] == "x"]
for key, part, target in qcv.cells(recs, kinds=("all",)):
    if part["n"].iloc[0] != n_sel:
        continue
    t0 = time.time()
    res = qcv._run(part, "all", target, folds=5, n_boot=0, seed=0)
    print(key, "r2", round(res.r2, 3), "seconds", round(time.time() - t0, 1))
    d = part[["subset_id", "kind", "strategy", "direction", "m", "group"]].assign(
        measured=res.measured, predicted=res.predicted, fold=res.fold
    )
    d["err2"] = (d["measured"] - d["predicted"]) ** 2
    sst = ((d["measured"] - d["measured"].mean()) ** 2).sum()
    print("SSE share by kind/m:")
    by_kind = d.groupby(["kind", "m"]).agg(
        rows=("err2", "size"), sse=("err2", "sum"), mean_t=("measured", "mean"), mean_p=("predicted", "mean")
    )
    print(by_kind.assign(share_sst=by_kind["sse"] / sst).round(3))
    print("SSE by fold:")
    by_fold = d.groupby("fold").agg(
        rows=("err2", "size"), sse=("err2", "sum"), selected=("kind", lambda k: (k != "random").sum())
    )
    print(by_fold.assign(share_sst=by_fold["sse"] / sst).round(3))
    print("choices:", Counter(res.choices))
    print(d[d["kind"] != "random"].sort_values("err2", ascending=False).head(16).round(2).to_string())
    top = d.sort_values("err2", ascending=False).head(8)
    print(top.round(2).to_string())
    print("importance:\n", res.importance.head(8).round(3).to_string())

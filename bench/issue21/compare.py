"""Before/after figures of issue 21 on one run's q_measures records.

before: the old predictor (fixed-penalty ridge, predictor.cross_validated) on the old measures
(no q_probe_), kinds all / random; after: the nested predictor (q.cv_table) on all measures and
on the old measures only; ceiling; importance; single measures on random subsets.
usage: python compare.py RUN_DIR [RUN_DIR2]  (two runs: also the transfer table)
"""

import sys
import time

import pandas as pd

from xfactor_lib.quality import predictor
from xfactor_lib.studies import q
from xfactor_lib.studies.q import cv as q_nested

pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 30)
from xfactor_lib import sweep


def load(run):
    """q_measures records with the targets recomputed from the run's final x_train records."""
    if ":" in run:  # run_dir:records.parquet (measures computed outside the sweep)
        run, path = run.split(":")
        recs = pd.read_parquet(path)
    else:
        recs = q.load(run)
    t = q.x_targets(sweep.collect(run, "x_train"))
    drop = [c for c in recs.columns if c in ("z_mean", "z_models") or c.startswith("zm_")]
    return recs.drop(columns=drop).merge(t, on="subset_id", how="left")


frames = [load(r) for r in sys.argv[1:]]
recs = pd.concat(frames, ignore_index=True)
rows = []
for (_study, dataset, _size, kind), part, target in q_nested.cells(recs, study="x"):
    old = [c for c in q.measure_columns(part) if not c.startswith("q_probe_") and part[c].std() > 0]
    for fam, cols in (("all", old), ("pixel", [c for c in old if "emb" not in c])):
        res = predictor.cross_validated(part, cols, target, groups=part["group"].to_numpy(), n_boot=2)
        rows.append({"dataset": dataset, "n": part["n"].iloc[0], "kinds": kind, "what": f"before:{fam}", "r2": res.r2})
before = pd.DataFrame(rows)
t0 = time.time()
after = q.cv_table(recs[recs["study"] == "x"], families=("all", "pixel", "probe"), n_boot=300)
print("cv_table seconds", round(time.time() - t0, 1))
old_only = recs.drop(columns=[c for c in recs.columns if c.startswith("q_probe_")])
after_old = q.cv_table(old_only[old_only["study"] == "x"], families=("all",), n_boot=0)
a = after.assign(what="after:" + after["family"])[["dataset", "n", "kinds", "what", "r2", "lo", "hi", "ceiling"]]
b = after_old.assign(what="after:all, no probes")[["dataset", "n", "kinds", "what", "r2"]]
table = pd.concat([before, b, a], ignore_index=True)
print(table.pivot_table(index=["dataset", "kinds", "what"], columns="n", values="r2").round(2).to_string())
print(
    after[["dataset", "n", "kinds", "family", "r2", "lo", "hi", "ceiling", "subsets", "groups", "chosen"]]
    .round(2)
    .to_string()
)
half = after[(after["family"] == "all") & (after["kinds"] == "random")]
print("random: r2 / ceiling:", (half["r2"] / half["ceiling"]).round(2).tolist())
imp = q.importance_table(recs[recs["study"] == "x"], top=6)
print(imp.round(3).to_string())
single = q.single_table(recs[(recs["study"] == "x") & (recs["kind"] == "random")])
print(single.groupby(["dataset", "size"]).head(6)[["dataset", "n", "measure", "r", "r2"]].round(3).to_string())
if len(frames) > 1:
    print(q.transfer_table(recs[recs["study"] == "x"]).round(3).to_string())

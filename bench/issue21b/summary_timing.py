"""Issue 21b: seconds (wall, and CPU of this process: the machine is shared) of the four predictor
calls of notebooks/40_study_q.py, in its order.

usage: python bench/issue21b/summary_timing.py RUN_DIR
(run with PYTHONPATH at the checkout to time, e.g. a `git archive` of main for the baseline)
"""

import sys
import time

import xfactor_lib
from xfactor_lib.studies import q

recs = q.load(sys.argv[1])
print(xfactor_lib.__file__)
total = cpu = 0.0
for name, call in (
    ("cv_table", lambda: q.cv_table(recs, n_boot=1000)),
    ("cv_predictions", lambda: q.cv_predictions(recs)),
    ("importance_table", lambda: q.importance_table(recs)),
    ("transfer_table", lambda: q.transfer_table(recs)),
):
    t0, c0 = time.perf_counter(), time.process_time()
    out = call()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    total += dt
    cpu += dc
    print(f"{name:18s} {dt:6.1f} s wall {dc:6.1f} s cpu ({len(out)} rows)")
print(f"{'total':18s} {total:6.1f} s wall {cpu:6.1f} s cpu")

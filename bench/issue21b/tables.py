"""Issue 21b: the headline (family all) out-of-sample R^2 per n, all subsets and random alone,
beside the ceilings, as q.cv_table computes them; and the seconds it took.

usage: python bench/issue21b/tables.py RUN_DIR [N_BOOT]
(run with PYTHONPATH at a checkout of the code to compare, e.g. a `git archive` of main)
"""

import sys
import time

import pandas as pd

import xfactor_lib
from xfactor_lib.studies import q

pd.set_option("display.width", 200)
run = sys.argv[1]
n_boot = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
recs = q.load(run)
t0 = time.time()
cv = q.cv_table(recs[recs["study"] == "x"], families=("all",), kinds=("all", "random"), n_boot=n_boot)
print(xfactor_lib.__file__, run, f"cv_table {time.time() - t0:.1f} s")
cols = ["dataset", "kinds", "n", "r2", "lo", "hi", "ceiling", "subsets", "groups", "chosen"]
print(cv[cols].round(2).to_string(index=False))

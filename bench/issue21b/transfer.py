"""Issue 21b: the transfer table (fit on one dataset's study X cell, score the other's) and what
the headline predictor leans on, for two runs' q_measures records.

usage: python bench/issue21b/transfer.py RUN_DIR RUN_DIR2
"""

import sys

import pandas as pd

from xfactor_lib.studies import q

pd.set_option("display.width", 200)
recs = pd.concat([q.load(r) for r in sys.argv[1:3]], ignore_index=True)
x = recs[recs["study"] == "x"]
print(q.transfer_table(x)[["n", "kinds", "train", "test", "r2", "ceiling", "subsets"]].round(2).to_string(index=False))
imp = q.importance_table(x, top=3)
print(imp[["dataset", "n", "kinds", "measure", "importance", "selected", "r"]].round(2).to_string(index=False))

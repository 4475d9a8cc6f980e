"""Issue 21, session 3: does a vote's correlation with study X's mean Z over random subsets grow
with the number of reference images it is scored on?

    PYTHONPATH=. .venv/bin/python bench/issue21c/probe_size.py runs/default mnist --sizes 200 600 2000

For each random subset of the run's study X cells (n = 10 and 30), the kernel ridge classifier
(scale tau_data, penalty 1) and the 1-NN vote are scored on the first P reference images per
class (a seeded draw, the subset's own images left out); printed: their correlation with mean Z.
"""

from __future__ import annotations

import argparse
import glob

import numpy as np
import pandas as pd

from xfactor_lib import data, quality, similarity
from xfactor_lib.quality import probes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("dataset")
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 600, 2000])
    ap.add_argument("--per-class", type=int, default=2000, help="reference images per class (0: all)")
    args = ap.parse_args()
    recs = pd.read_parquet(glob.glob(f"{args.run}/q_measures--{args.dataset}-*/records.parquet")[0])
    manifest = pd.concat([pd.read_parquet(f) for f in glob.glob(f"{args.run}/x_subsets--*/records.parquet")])
    recs = recs[recs["study"] == "x"].merge(manifest[["subset_id", "indices"]], on="subset_id")
    train = data.load_dataset(args.dataset, "train")
    ref = quality.make_reference(train.images, train.labels, per_class=args.per_class, probe_per_class=0, seed=0)
    K = ref.K
    for n in (10, 30):
        cell = recs[(recs["n"] == n) & (recs["kind"] == "random")]
        values = {P: [] for P in args.sizes}
        for idx in cell["indices"]:
            idx = np.asarray(idx)
            S, ys = train.images[idx], train.labels[idx]
            Dss = similarity.pairwise_rmsd(S)
            D = np.vstack([block for _, block in similarity.iter_rmsd_blocks(S, ref.X)])
            inside = np.isin(ref.index, idx)
            for P in args.sizes:
                keep = np.concatenate([np.flatnonzero(ref.y == k)[:P] for k in range(K)])
                keep = keep[~inside[keep]]
                wrong, _ = probes.krr_vote(Dss, D[:, keep], ys, ref.y[keep], scale=ref.tau, K=K)
                nn = probes.knn_vote(D[:, keep], ys, ref.y[keep], k=1, K=K)
                values[P].append((wrong.mean(), nn.mean()))
        for P, v in values.items():
            v = np.asarray(v)
            r = [np.corrcoef(v[:, j], cell["z_mean"])[0, 1] for j in range(2)]
            print(f"n = {n}, {P} per class: kernel ridge r = {r[0]:+.2f}, 1-NN r = {r[1]:+.2f} ({len(cell)} subsets)")


if __name__ == "__main__":
    main()

"""Coverage selection (greedy facility location per class) on MNIST's training split.

1. ``coverage`` at rate 10 % of all 60,000 images on pixels (tau = tau_data): wall time and
   peak resident memory (goal: under a minute on 2 cores, bounded memory).
2. Lazy vs naive dense greedy (every gain recomputed at every step) on one class sample the
   naive version can hold, same picks, printed as a ratio.

    .venv/bin/python bench/bench_greedy.py [--rate 0.1] [--naive-n 2000]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from xfactor_lib import similarity
from xfactor_lib.coresets import greedy
from xfactor_lib.data import load_dataset


def naive_facility_location(sim: np.ndarray, k: int) -> np.ndarray:
    served = np.zeros(sim.shape[0])
    picked = np.zeros(sim.shape[1], dtype=bool)
    picks = []
    for _ in range(k):
        gains = np.maximum(sim - served[:, None], 0).sum(axis=0)
        gains[picked] = -np.inf
        c = int(np.argmax(gains))
        picks.append(c)
        picked[c] = True
        np.maximum(served, sim[:, c], out=served)
    return np.asarray(picks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--naive-n", type=int, default=2000, help="class sample for the lazy vs naive comparison")
    args = ap.parse_args()
    train = load_dataset("mnist", "train")
    X, y = train.images, train.labels

    t = time.perf_counter()
    idx = greedy.coverage_select(X, y, rate=args.rate)
    full = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"coverage, rate {args.rate}: {idx.size} of {y.size} images in {full:.1f} s, peak RSS {peak:.2f} GiB")

    members = np.flatnonzero(y == 0)[: args.naive_n]
    tau = similarity.tau_data(X, y)
    sim = np.exp(-similarity.pairwise_rmsd(X[members]) / tau).astype(np.float32)
    k = max(1, round(args.rate * members.size))
    t = time.perf_counter()
    lazy, _ = greedy.lazy_facility_location(sim, k)
    t_lazy = time.perf_counter() - t
    t = time.perf_counter()
    naive = naive_facility_location(sim, k)
    t_naive = time.perf_counter() - t
    assert lazy.tolist() == naive.tolist(), "lazy and naive greedy disagree"
    print(f"one class, {members.size} images, k = {k}: lazy {t_lazy:.3f} s, naive dense {t_naive:.2f} s (same picks)")
    print(f"lazy greedy speed-up: {t_naive / t_lazy:.0f}x")


if __name__ == "__main__":
    main()

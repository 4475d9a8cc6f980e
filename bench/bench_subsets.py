"""Benchmark: the 2,000 selected MNIST subsets of study X, against the paper's 161 minutes.

Images per class n in {10, 30, 100, 300, 1000}, m in {6, ..., 1000}, 4 rules x 2 directions x 5
repeats on the real MNIST training split (no combination skips: the smallest class has
5,421 images). Prints the time per size, the total, and the ratio to the paper's 161
minutes (paper hardware: a 96-core Threadripper; here whatever runs this). Then, in the
same process, the incremental uniqueness rule against a naive one that recomputes the
distances of all remaining pairs at every removal, on one class with n + m = 200.

    python bench/bench_subsets.py [--ns 10 30 ...] [--repeats 5] [--naive-n 100] [--naive-m 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xfactor_lib import subsets
from xfactor_lib.data import load_dataset
from xfactor_lib.similarity import pairwise_rmsd

PAPER_MINUTES = 161.0


def load_mnist_train() -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 1, 28, 28) and labels (N,) of the MNIST training split (no download)."""
    ds = load_dataset("mnist", "train", download=False)
    return ds.images, ds.labels


def naive_uniqueness(Xc: np.ndarray, n: int, direction: str) -> np.ndarray:
    """The rule as written: recompute all remaining pairs' RMSD before every removal."""
    alive = np.arange(len(Xc))
    sign = 1.0 if direction == "+" else -1.0
    while alive.size > n:
        W = sign * pairwise_rmsd(Xc[alive])
        np.fill_diagonal(W, np.inf)
        flat = int(W.argmin())  # row-major first minimum: the lexicographically first pair
        i, j = divmod(flat, alive.size)
        second = []
        for a, b in ((i, j), (j, i)):
            row = W[a].copy()
            row[b] = np.inf
            second.append(row.min())
        drop = i if second[0] < second[1] else j
        alive = np.delete(alive, drop)
    return alive


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ns", type=int, nargs="+", default=list(subsets.NS), help="images per class")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--naive-n", type=int, default=100)
    ap.add_argument("--naive-m", type=int, default=100)
    args = ap.parse_args()

    X, y = load_mnist_train()
    print(f"MNIST train: {X.shape}, smallest class {np.bincount(y).min()}")
    total, count, skipped = 0.0, 0, 0
    for n in args.ns:
        t = time.perf_counter()
        manifest = subsets.selected_subsets(X, y, n, repeats=args.repeats, seed=0)
        dt = time.perf_counter() - t
        total += dt
        count += len(manifest)
        skipped += len(subsets.skipped_subsets(y, n, repeats=args.repeats, seed=0))
        print(f"n = {n:5d}: {len(manifest):4d} subsets in {dt:7.2f} s")
    print(
        f"selected subsets: {count} (skipped {skipped}) in {total:.1f} s = {total / 60:.2f} min; "
        f"paper {PAPER_MINUTES:.0f} min; ratio paper / here = {PAPER_MINUTES * 60 / total:.0f}x"
    )

    cands = subsets.candidate_indices(y, args.naive_n, args.naive_m, 0, seed=0)[0]
    Xc = X[cands]
    for direction in subsets.DIRECTIONS:
        t = time.perf_counter()
        fast = subsets.keep_indices(Xc, args.naive_n, "uniqueness", direction)
        t_fast = time.perf_counter() - t
        t = time.perf_counter()
        slow = naive_uniqueness(Xc, args.naive_n, direction)
        t_slow = time.perf_counter() - t
        same = np.array_equal(fast, slow)
        print(
            f"uniqueness {direction} on n + m = {len(Xc)}: incremental {t_fast * 1e3:.1f} ms, "
            f"naive recompute {t_slow * 1e3:.1f} ms, ratio {t_slow / t_fast:.0f}x, same result: {same}"
        )
        if not same:
            raise SystemExit("incremental and naive uniqueness disagree")


if __name__ == "__main__":
    main()

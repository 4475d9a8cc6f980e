"""Study Q measures of many subsets at once (``quality.measures_table``) on MNIST.

500 random class-balanced subsets of 100 images per class (1,000 images each) against a
reference of 2,000 images per class (20,000; probe 200 per class), pixel measures: wall time
of ``measures_table`` (goal: under a minute on this 2-core machine), and the naive loop
(``quality.measures`` one subset at a time: every distance block against the reference
recomputed per subset), timed on a few subsets and extrapolated, printed as a ratio.

    .venv/bin/python bench/bench_quality.py [--subsets 500] [--n 100] [--naive 3]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from xfactor_lib import quality
from xfactor_lib.data import load_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subsets", type=int, default=500)
    ap.add_argument("--n", type=int, default=100, help="images per class of each subset")
    ap.add_argument("--per-class", type=int, default=2000, help="reference images per class")
    ap.add_argument("--naive", type=int, default=3, help="subsets timed with the one-at-a-time loop")
    args = ap.parse_args()

    train = load_dataset("mnist", "train")
    X, y = train.images, train.labels
    t0 = time.perf_counter()
    ref = quality.make_reference(X, y, per_class=args.per_class, seed=0)
    t_ref = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    members = [np.flatnonzero(y == k) for k in range(10)]
    sets = [
        np.sort(np.concatenate([rng.choice(m, args.n, replace=False) for m in members])) for _ in range(args.subsets)
    ]

    t0 = time.perf_counter()
    table = quality.measures_table(sets, X, y, reference=ref)
    t_table = time.perf_counter() - t0

    t0 = time.perf_counter()
    naive = [quality.measures(X[idx], y[idx], reference=ref, index=idx) for idx in sets[: args.naive]]
    t_naive = (time.perf_counter() - t0) / args.naive * args.subsets
    for i, one in enumerate(naive):  # the batched rows are the one-at-a-time values
        np.testing.assert_allclose([table.iloc[i][k] for k in one], list(one.values()), rtol=1e-10)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"reference: {ref.y.size:,} images, probe {ref.probe.size:,}, tau_data {ref.tau:.4f} ({t_ref:.1f} s)")
    print(f"measures_table: {args.subsets} subsets x {args.n * 10} images, {table.shape[1] - 1} measures: "
          f"{t_table:.1f} s ({1000 * t_table / args.subsets:.0f} ms per subset)")  # fmt: skip
    print(f"naive loop (measures per subset, {args.naive} timed, extrapolated): {t_naive:.0f} s")
    print(f"speed-up: {t_naive / t_table:.1f}x; peak resident memory {peak:,.0f} MiB")


if __name__ == "__main__":
    main()

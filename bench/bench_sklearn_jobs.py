"""scikit-learn fits of many subsets in one process vs in joblib worker processes, same process.

36 class-balanced random MNIST subsets of n images per class, RF and SVC, scored on a fixed
class-balanced sample of the test split, with ``fit_subsets(n_jobs=1)`` and
``fit_subsets(n_jobs=J)`` (J = the CPU cores by default). Prints both wall times, the ratio,
and whether the records agree (they must: the same fits in other processes). The last line
is ``sklearn jobs speed-up: <ratio>x`` for RF.

    python bench/bench_sklearn_jobs.py            # ~1-2 minutes on 2 cores
    python bench/bench_sklearn_jobs.py --n 300 --jobs 8
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main(argv: list[str] | None = None) -> None:
    import pandas as pd

    from xfactor_lib import data, training

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=int, default=36, help="subsets (36)")
    p.add_argument("--n", type=int, default=100, help="images per class of each subset (100)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (the CPU cores)")
    p.add_argument("--test-sample", type=int, default=2000, help="test images scored per subset (2000)")
    a = p.parse_args(argv)
    train, test = data.load_train_test("mnist", test_sample=a.test_sample)
    manifest = pd.DataFrame(
        {
            "subset_id": [f"s{i}" for i in range(a.members)],
            "dataset": "mnist",
            "n": a.n,
            "indices": [data.balanced_sample(train.labels, 10 * a.n, seed=i) for i in range(a.members)],
        }
    )
    ratio = {}
    for model in ("rf", "svc"):
        secs, recs = {}, {}
        for jobs in (1, a.jobs):
            t0 = time.perf_counter()
            recs[jobs] = training.fit_subsets(manifest, train, test, model=model, quiet=True, n_jobs=jobs)
            secs[jobs] = time.perf_counter() - t0
        same = np.array_equal(recs[1]["acc"].to_numpy(), recs[a.jobs]["acc"].to_numpy())
        ratio[model] = secs[1] / secs[a.jobs]
        print(
            f"{model}: {a.members} subsets of n = {a.n} per class, {len(test.labels):,} test images: "
            f"1 process {secs[1]:.1f} s, {a.jobs} processes {secs[a.jobs]:.1f} s, ratio {ratio[model]:.2f}x; "
            f"records {'identical' if same else 'DIFFER'}"
        )
    print(f"sklearn jobs speed-up: {ratio['rf']:.2f}x")


if __name__ == "__main__":
    main()

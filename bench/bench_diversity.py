"""Benchmark: LCR features (xfactor_lib.diversity) against greylock's per-pair similarity function.

(a) ``--n N`` (default 1024) MNIST training images: all 27 features with
    :func:`xfactor_lib.diversity.features` (similarity build included) against greylock with
    ``SimilarityFromFunction`` (its per-pair ``exp(-RMSD)`` callable), timed in this process
    on the same images; prints both times, the speed ratio and the largest relative
    difference of the 27 features. ``--greylock-n M`` times greylock on the first M images
    only and extrapolates its time to N by ``(N / M)**2`` (the number of pairs); the output
    says so.
(b) ``--full``: all 27 features for the 60,000 MNIST training images, in a child process
    for a clean peak: wall time and peak resident memory (``ru_maxrss`` of the child), with
    the 5-minute / 4 GB budget and greylock's time extrapolated from (a) by ``N**2``.

Run: ``.venv/bin/python bench/bench_diversity.py --n 1024 --full``
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xfactor_lib import diversity  # noqa: E402
from xfactor_lib.data import load_dataset  # noqa: E402


def _mnist(n: int | None):
    ds = load_dataset("mnist", "train", download=False)
    if n is None:
        return ds.images, ds.labels
    return ds.images[:n], ds.labels[:n]


def greylock_features(X: np.ndarray, y: np.ndarray) -> dict:
    """The 27 features from greylock, Z by its per-pair callable (SimilarityFromFunction)."""
    from greylock import Metacommunity
    from greylock.similarity import SimilarityFromFunction

    Xf = X.reshape(len(X), -1).astype(np.float64) / 255.0

    def similarity(a: np.ndarray, b: np.ndarray) -> float:
        return math.exp(-math.sqrt(np.mean((a - b) ** 2)))

    classes = np.unique(y)
    counts = pd.DataFrame((y[:, None] == classes[None, :]).astype(float), columns=classes.tolist())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta = Metacommunity(counts, SimilarityFromFunction(similarity, Xf, chunk_size=100))
        table = meta.to_dataframe(list(diversity.DEFAULT_QS))
    return diversity.features_from_table(table, np.bincount(np.searchsorted(classes, y)))


def bench_small(n: int, greylock_n: int | None) -> float:
    X, y = _mnist(n)
    t0 = time.perf_counter()
    ours = diversity.features(X, y, device="cpu")
    t_ours = time.perf_counter() - t0

    m = n if greylock_n is None else min(greylock_n, n)
    t0 = time.perf_counter()
    theirs = greylock_features(X[:m], y[:m])
    t_grey = time.perf_counter() - t0
    note = "measured"
    if m < n:
        t_grey *= (n / m) ** 2
        note = f"extrapolated from N={m} by (N/{m})^2"
        check = diversity.features(X[:m], y[:m], device="cpu")
    else:
        check = ours
    rel = max(abs(check[k] - theirs[k]) / abs(theirs[k]) for k in diversity.FEATURE_NAMES)
    print(f"(a) N={n} MNIST images, 27 features (similarity build included)")
    print(f"    ours (numpy, cpu)               {t_ours:9.3f} s")
    print(f"    greylock SimilarityFromFunction {t_grey:9.3f} s ({note})")
    print(f"    speed ratio greylock/ours       {t_grey / t_ours:9.1f} x")
    print(f"    max relative difference of the 27 features vs greylock (N={m}): {rel:.2e}")
    return t_grey / n**2


def _child_full() -> None:
    X, y = _mnist(None)
    t0 = time.perf_counter()
    f = diversity.features(X, y, device="cpu")
    dt = time.perf_counter() - t0
    print(json.dumps({"seconds": dt, "N": int(len(X)), "features": f}))


def bench_full(grey_per_pair: float | None) -> None:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, __file__, "--child-full"], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        print(res.stderr)
        raise SystemExit(f"full run failed (exit {res.returncode})")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB -> GiB
    N = out["N"]
    print(f"(b) full MNIST training split, N={N}, all 27 features")
    print(f"    features() time                 {out['seconds']:9.1f} s (child wall incl. load {wall:.1f} s)")
    print(f"    peak resident memory (child)    {peak_gib:9.2f} GiB")
    print(f"    budget ratio time / 300 s       {out['seconds'] / 300:9.2f}")
    print(f"    budget ratio memory / 4 GiB     {peak_gib / 4:9.2f}")
    if grey_per_pair is not None:
        est = grey_per_pair * N**2
        print(f"    greylock (extrapolated by N^2 from (a)) ~{est / 3600:.1f} h: ratio ~{est / out['seconds']:.0f} x")
    print("    " + ", ".join(f"{k}={v:.6g}" for k, v in out["features"].items()))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1024, help="images for the greylock comparison (a)")
    ap.add_argument(
        "--greylock-n", type=int, default=None, help="time greylock on this many images and extrapolate by N^2"
    )
    ap.add_argument("--full", action="store_true", help="also (b): all 60,000 MNIST training images")
    ap.add_argument("--skip-small", action="store_true", help="skip (a)")
    ap.add_argument("--child-full", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_full:
        _child_full()
        return
    per_pair = None if args.skip_small else bench_small(args.n, args.greylock_n)
    if args.full:
        bench_full(per_pair)


if __name__ == "__main__":
    main()

"""Selection time of the training-free methods and the anchors on a 20,000-image MNIST pool (issue 20).

A class-balanced sample of N MNIST training images, a budget of M images (rate M / N), each
method label-aware and label-free, on pixels; with ``--encoder DIR`` (a cached reference
encoder, e.g. from bench_low_budget.py) also on its embedding. Wall time and peak resident memory.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python bench/bench_anchor_speed.py [--n 20000] [--budget 200]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from xfactor_lib import coresets, data

#: Methods that read ``embed`` (timed on it too when ``--encoder`` is given).
EMBEDDING_METHODS = ("coverage_emb", "typiclust", "probcover")


def _embed(folder: str, X: np.ndarray) -> np.ndarray:
    """``X`` embedded by the encoder cached in ``folder`` (timed: a CLI pays it once)."""
    import json
    from pathlib import Path

    import torch

    from xfactor_lib.models import make_model
    from xfactor_lib.quality import encoder

    meta = json.loads((Path(folder) / "encoder.json").read_text())
    model, _ = make_model("cnn", C=meta["C"], H=meta["H"], W=meta["W"], K=meta["K"], seed=0)
    model.load_state_dict(torch.load(Path(folder) / "encoder.pt", map_location="cpu", weights_only=True))
    t = time.perf_counter()
    E = encoder.embed(model, X, device="cpu")
    print(f"embedding {E.shape} in {time.perf_counter() - t:.1f} s wall", flush=True)
    return E


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--methods", nargs="+", default=["coverage", "coverage_clean", "typiclust", "probcover"])
    ap.add_argument("--encoder", default="", help="folder of a cached reference encoder (encoder.pt / .json)")
    ap.add_argument("--label-free", choices=["both", "no", "only"], default="both")
    args = ap.parse_args()
    train = data.load_dataset("mnist", "train")
    idx = data.balanced_sample(train.labels, args.n, seed=0)
    X, y = train.images[idx], train.labels[idx]
    E = None
    if args.encoder:
        E = _embed(args.encoder, X)
    rate = args.budget / args.n
    frees = {"both": (False, True), "no": (False,), "only": (True,)}[args.label_free]
    for method in args.methods:
        for unlabeled in frees:
            for space, emb in (("pixels", None), ("embedding", E)):
                if space == "embedding" and E is None:
                    continue
                if emb is not None and method not in EMBEDDING_METHODS or emb is None and method == "coverage_emb":
                    continue
                t, c = time.perf_counter(), time.process_time()
                sel = coresets.select(method, rate=rate, X=X, y=y, embed=emb, unlabeled=unlabeled)
                took, cpu = time.perf_counter() - t, time.process_time() - c
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
                print(
                    f"{method:16s} {'label-free' if unlabeled else 'labels':10s} {space:9s} N={args.n} M={sel.size}: "
                    f"{took:6.1f} s wall, {cpu:6.1f} s CPU, peak RSS {peak:.2f} GiB",
                    flush=True,
                )


if __name__ == "__main__":
    main()

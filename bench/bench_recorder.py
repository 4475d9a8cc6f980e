"""Overhead of recording training dynamics: ResNet-18 training with and without the recorder.

Trains ``models.make_model("resnet18", C=1, H=28, W=28, K=10)`` with ``training.fit_torch``
on N MNIST training images (synthetic 28x28 images when MNIST is not on disk) for a few
epochs, alternating runs without and with an :class:`xfactor_lib.dynamics.DynamicsRecorder`
(same seed, same batches) so drifts in machine load hit both. The recorder's time
includes its one host copy of the results (``recorder.dynamics()``). Prints the median
wall and CPU seconds of each, their ratios, and the recorder's own time on the same
batches without a model; the target is a ratio <= 1.15.

    python bench/bench_recorder.py                      # 1,000 images, 3 epochs, 3 pairs
    python bench/bench_recorder.py --mode eval --n 2000 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    from xfactor_lib import data

    try:
        ds = data.load_dataset("mnist", "train", download=False)
        idx = data.balanced_sample(ds.labels, n, seed=seed)
        return ds.images[idx], ds.labels[idx], "mnist"
    except (data.DataNotFoundError, OSError):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 10, n)
        X = rng.integers(0, 256, size=(n, 1, 28, 28), dtype=np.uint8)
        return X, y, "synthetic"


def _run(
    X: np.ndarray, y: np.ndarray, *, epochs: int, device: str, record: str | None, batch_size: int
) -> tuple[float, float]:
    import torch

    from xfactor_lib import models, training
    from xfactor_lib.dynamics import DynamicsRecorder

    model, _ = models.make_model("resnet18", C=1, H=28, W=28, K=10, seed=0, pretrained=False)
    config = training.TrainConfig(batch_size=batch_size, min_epochs=epochs, max_epochs=epochs)
    callbacks = []
    if record == "train":
        callbacks = [DynamicsRecorder(len(y), T=epochs)]
    elif record == "eval":
        callbacks = [DynamicsRecorder(len(y), T=epochs, mode="eval", X=X, y=y, batch_size=1000)]
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0, c0 = time.perf_counter(), time.process_time()
    training.fit_torch(model, X, y, config=config, device=device, seed=0, callbacks=callbacks)
    for cb in callbacks:
        cb.dynamics()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t0, time.process_time() - c0


def _recorder_alone(N: int, *, epochs: int, device: str, batch_size: int, K: int = 10) -> float:
    """Seconds the recorder itself takes for a run's batches (random logits, no model)."""
    import torch

    from xfactor_lib.dynamics import DynamicsRecorder

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(N, K, generator=gen).to(device)
    y = torch.randint(0, K, (N,), generator=gen).to(device)
    rec = DynamicsRecorder(N, T=epochs)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for epoch in range(epochs):
        perm = torch.randperm(N, generator=gen).to(device)
        for start in range(0, N, batch_size):
            idx = perm[start : start + batch_size]
            rec.on_batch(epoch, idx, logits[idx], y[idx])
    rec.dynamics()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> float:
    from xfactor_lib.training import resolve_device

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="training images")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=3, help="(without, with) pairs, alternating order")
    ap.add_argument("--mode", choices=("train", "eval"), default="train", help="recorder mode")
    ap.add_argument("--batch-size", type=int, default=200)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)

    device = resolve_device(args.device)
    X, y, source = _images(args.n, seed=0)
    print(
        f"ResNet-18, {args.n} {source} images, {args.epochs} epochs, batch {args.batch_size}, "
        f"device {device}, recorder mode {args.mode}"
    )
    _run(X[:400], y[:400], epochs=1, device=device, record=args.mode, batch_size=args.batch_size)  # warm-up
    wall: dict[str, list[float]] = {"base": [], "rec": []}
    cpu: dict[str, list[float]] = {"base": [], "rec": []}
    for i in range(args.pairs):
        order = ("base", "rec") if i % 2 == 0 else ("rec", "base")
        for which in order:
            w, c = _run(
                X,
                y,
                epochs=args.epochs,
                device=device,
                record=None if which == "base" else args.mode,
                batch_size=args.batch_size,
            )
            wall[which].append(w)
            cpu[which].append(c)
            print(f"  pair {i}: {'without' if which == 'base' else 'with   '} recorder {w:8.2f} s wall, {c:8.2f} s CPU")
    b, r = statistics.median(wall["base"]), statistics.median(wall["rec"])
    ratio = r / b
    pair_ratios = [x / y_ for x, y_ in zip(wall["rec"], wall["base"])]
    cpu_ratio = statistics.median(cpu["rec"]) / statistics.median(cpu["base"])
    print(f"median wall time without recorder: {b:.2f} s; with recorder: {r:.2f} s; ratio {ratio:.3f}")
    print(
        f"per-pair wall ratios: {', '.join(f'{x:.3f}' for x in pair_ratios)}; "
        f"median {statistics.median(pair_ratios):.3f}"
    )
    print(f"median CPU-time ratio (less sensitive to other load on a shared machine): {cpu_ratio:.3f}")
    print(f"fastest-run ratio (each side's least disturbed run): {min(wall['rec']) / min(wall['base']):.3f}")
    if args.mode == "train":
        alone = statistics.median(
            _recorder_alone(args.n, epochs=args.epochs, device=device, batch_size=args.batch_size) for _ in range(5)
        )
        print(
            f"recorder alone on the same batches: {alone * 1000:.1f} ms "
            f"= {100 * alone / b:.2f} % of the median training time"
        )
    print(f"ratio {ratio:.3f}: {'within' if ratio <= 1.15 else 'ABOVE'} the 1.15 target")
    return ratio


if __name__ == "__main__":
    main()

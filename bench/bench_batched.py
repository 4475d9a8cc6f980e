"""Stacked (batched) vs one-by-one training of many small subsets, in the same process.

Two cases, each 36 class-balanced random MNIST subsets trained with ``training.fit_subsets``
on the quick protocol (Adam, lr 1e-3, a fixed number of epochs) and scored on a fixed
class-balanced sample of the test split:

- MLP-3 on subsets of n = 100 per class (1,000 images; batch 200);
- ResNet-18 (random init) on subsets of n = 10 per class (100 images; the paper's batch 200).

Each case runs ``batch_models=1`` (one by one) and ``batch_models=G`` (stacks of G members),
same seeds and epochs, and prints wall seconds (training + scoring), training seconds,
throughput in subset-epochs per second, the speed-up, and the largest metric difference
between the two runs. A third run, one by one with torch's per-tensor optimizer loop instead
of the fused kernel (the code before issue 15), shows what the fused optimizer gives every
one-by-one cell. From the ResNet-18 figures it projects the paper's study X ResNet-18
grid (500 subsets at each n in {10, 30, 100, 300, 1000}, at least 50 epochs each, scored on
the 10,000 test images) against the paper's 244 min on two RTX 6000 Ada GPUs: cost per
image-epoch of training and per test image of scoring, times the grid's images (a lower
bound, as the stop rule often runs past 50 epochs). The last line is
``batched speed-up: <ratio>x`` for the MLP case.

    OMP_NUM_THREADS=1 python bench/bench_batched.py   # a few minutes on a shared 2-core CPU
    python bench/bench_batched.py --mlp-epochs 20 --resnet-epochs 3 --resnet-group 36 --device cuda

The default trains fewer epochs than the quick run (MLP-3: 5 instead of 20; ResNet-18: 1
instead of 10) to stay short; ``--repeats 3`` alternates the two modes and takes medians.
On a machine shared with other jobs use one thread: two OpenMP threads on two busy cores
wait on each other and the figures become meaningless.
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np

PAPER_MIN = 244.0
PAPER_NS = (10, 30, 100, 300, 1000)


def _manifest(labels: np.ndarray, n: int, members: int):
    import pandas as pd

    from xfactor_lib import data

    return pd.DataFrame(
        {
            "subset_id": [f"s{i}" for i in range(members)],
            "dataset": "mnist",
            "n": n,
            "indices": [data.balanced_sample(labels, 10 * n, seed=i) for i in range(members)],
        }
    )


def _run(
    train, test, manifest, *, model: str, epochs: int, group: int | str, device: str, fused: bool = True
) -> tuple[float, object]:
    import torch

    from xfactor_lib import training

    make = training.make_optimizer
    training.make_optimizer = functools.partial(make, fused=fused)  # fit_torch looks it up per call

    cfg = training.TrainConfig(lr_schedule=((1, 1e-3),), min_epochs=epochs, max_epochs=epochs, batch_size=200)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    try:
        recs = training.fit_subsets(
            manifest, train, test, model=model, config=cfg, device=device, quiet=True, pretrained=False,
            batch_models=group,
        )  # fmt: skip
    finally:
        training.make_optimizer = make
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t0, recs


def _case(
    train, test, *, model: str, n: int, members: int, epochs: int, group: int | str, device: str, repeats: int
) -> dict:
    """One-by-one and stacked runs alternated ``repeats`` times (load drifts hit both); medians."""
    manifest = _manifest(train.labels, n, members)
    _run(train, test, manifest.iloc[:2], model=model, epochs=1, group=1, device=device)  # warm-up
    _run(train, test, manifest.iloc[:2], model=model, epochs=1, group=2, device=device)
    runs: dict[str, list] = {"one": [], "stk": [], "loop": []}
    for r in range(repeats):
        for key in ("one", "stk", "loop") if r % 2 == 0 else ("loop", "stk", "one"):
            G = group if key == "stk" else 1
            runs[key].append(
                _run(train, test, manifest, model=model, epochs=epochs, group=G, device=device, fused=key != "loop")
            )
    (one_s, one), (stk_s, stk), (loop_s, _) = (
        sorted(runs[k], key=lambda t: t[0])[(repeats - 1) // 2] for k in ("one", "stk", "loop")
    )
    work = members * epochs
    out = {
        "one_s": one_s,
        "stk_s": stk_s,
        "one_train": float(one["seconds"].sum()),
        "stk_train": float(stk["seconds"].sum()),
        "G": int(stk["stack_size"].max()),
        "ratio": one_s / stk_s,
        "loop_s": loop_s,
        "diff": float(np.nanmax(np.abs(one["acc"].to_numpy() - stk["acc"].to_numpy()))),
        "image_epochs": work * 10 * n,
        "scored": members * len(test.labels),
    }
    print(
        f"{model}: {members} subsets of n = {n} per class, {epochs} epochs, "
        f"scored on {len(test.labels):,} test images (median of {repeats})\n"
        f"  one by one : {one_s:7.1f} s wall ({out['one_train']:.1f} s training), "
        f"{work / one_s:6.2f} subset-epochs/s\n"
        f"  G = {out['G']:<7} : {stk_s:7.1f} s wall ({out['stk_train']:.1f} s training), "
        f"{work / stk_s:6.2f} subset-epochs/s\n"
        f"  ratio {out['ratio']:.2f}x; largest |acc difference| {out['diff']:.4f}\n"
        f"  one by one, optimizer loop (before issue 15): {loop_s:7.1f} s wall; the fused optimizer "
        f"gives one by one {loop_s / one_s:.2f}x"
    )
    return out


def _project(res: dict, *, scored_per_subset: int = 10_000, epochs: int = 50) -> None:
    """The paper's ResNet-18 grid from per-image costs of the stacked run (lower bound: 50 epochs)."""
    for label, train_s, wall_s in (
        ("one by one", res["one_train"], res["one_s"]),
        (f"G = {res['G']}", res["stk_train"], res["stk_s"]),
    ):
        per_image_epoch = train_s / res["image_epochs"]
        per_scored = max(wall_s - train_s, 0.0) / res["scored"]
        images = sum(500 * 10 * n for n in PAPER_NS)
        minutes = (images * epochs * per_image_epoch + 2500 * scored_per_subset * per_scored) / 60
        print(
            f"  paper's ResNet-18 grid (2,500 subsets, >= {epochs} epochs), {label}: >= {minutes:,.0f} min "
            f"({minutes / PAPER_MIN:.1f}x the paper's {PAPER_MIN:.0f} min)"
        )


def main(argv: list[str] | None = None) -> None:
    from xfactor_lib import data, training

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=int, default=36, help="subsets per case (36)")
    p.add_argument("--mlp-epochs", type=int, default=5, help="MLP-3 epochs (5; the quick run trains 20)")
    p.add_argument("--resnet-epochs", type=int, default=1, help="ResNet-18 epochs (1; the quick run trains 10)")
    p.add_argument("--group", type=int, default=36, help="members per MLP stack (36: all subsets at once)")
    p.add_argument("--resnet-group", type=int, default=6, help="members per ResNet-18 stack (6)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--test-sample", type=int, default=200, help="test images scored per subset (200)")
    p.add_argument("--repeats", type=int, default=1, help="alternated runs of each mode; medians (1)")
    p.add_argument("--mlp", default="mlp-3", help="the MLP of the MLP case (mlp-3)")
    p.add_argument("--skip-resnet", action="store_true")
    a = p.parse_args(argv)
    train, test = data.load_train_test("mnist", test_sample=a.test_sample)
    print(f"device {a.device}, {training.cpu_threads()} torch threads")
    if not a.skip_resnet:
        res = _case(
            train, test, model="resnet18", n=10, members=a.members, epochs=a.resnet_epochs, group=a.resnet_group,
            device=a.device, repeats=a.repeats,
        )  # fmt: skip
        _project(res)
    mlp = _case(
        train, test, model=a.mlp, n=100, members=a.members, epochs=a.mlp_epochs, group=a.group, device=a.device,
        repeats=a.repeats,
    )  # fmt: skip
    print(f"batched speed-up: {mlp['ratio']:.2f}x")


if __name__ == "__main__":
    main()

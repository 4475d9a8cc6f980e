"""Seeded class-balanced samples and train / validation splits of a label vector."""

from __future__ import annotations

import numpy as np

__all__ = ["balanced_sample", "train_val_split"]


def balanced_sample(y: np.ndarray, n: int, *, seed: int) -> np.ndarray:
    """Sorted indices of a class-balanced sample of ``n`` items (as equal as possible).

    Classes with too few items give all they have; the rest is spread over the others.
    """
    y = np.asarray(y)
    if n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    quota = np.zeros(len(classes), dtype=int)
    left = n
    open_ = counts > 0
    while left > 0 and open_.any():  # water-filling: equal shares, capped by class size
        share = max(left // int(open_.sum()), 1)
        for i in np.flatnonzero(open_):
            take = min(share, counts[i] - quota[i], left)
            quota[i] += take
            left -= take
            if quota[i] == counts[i]:
                open_[i] = False
            if left == 0:
                break
    picks = [rng.choice(np.flatnonzero(y == c), size=q, replace=False) for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(picks)).astype(np.int64)


def train_val_split(y: np.ndarray, val_size: int | float, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of a training split's indices into (train, val), both sorted.

    ``val_size`` is a count or a fraction of ``len(y)``. Used where a data set has no
    validation split (MNIST, digits): choices are made on it, never on the test split.
    """
    y = np.asarray(y)
    n_val = int(round(val_size * len(y))) if isinstance(val_size, float) else int(val_size)
    if not 0 < n_val < len(y):
        raise ValueError(f"val_size must leave both parts non-empty; got {val_size} of {len(y)} items")
    val = balanced_sample(y, n_val, seed=seed) if n_val < len(y) else np.arange(len(y))
    mask = np.ones(len(y), dtype=bool)
    mask[val] = False
    return np.flatnonzero(mask).astype(np.int64), val

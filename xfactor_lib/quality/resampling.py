"""Grouped resampling for study Q's predictor: folds and bootstrap draws that never split a
group of subsets sharing candidates, and the noise ceiling of a target measured by several
models (split-half reliability, Spearman-Brown corrected).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

__all__ = ["group_folds", "group_bootstrap", "noise_ceiling"]


def group_folds(groups: Any, folds: int, *, seed: int = 0) -> np.ndarray:
    """Fold of each row: groups dealt to ``folds`` folds in a seeded order, sizes balanced.

    Parameters
    ----------
    groups : array-like, shape (n,)
    folds : int
        At most the number of groups.
    seed : int

    Returns
    -------
    ndarray, shape (n,), int64
        Fold ids in ``[0, folds)``; rows of a group share one.
    """
    uniq, inv = np.unique(np.asarray(groups), return_inverse=True)
    if folds > uniq.size:
        raise ValueError(f"{folds} folds need at least as many groups, got {uniq.size}")
    order = np.random.default_rng(seed).permutation(uniq.size)
    sizes = np.bincount(inv, minlength=uniq.size)
    load = np.zeros(folds, dtype=np.int64)
    of_group = np.empty(uniq.size, dtype=np.int64)
    for gi in order[np.argsort(-sizes[order], kind="stable")]:  # largest groups first, ties in seeded order
        f = int(np.argmin(load))
        of_group[gi] = f
        load[f] += sizes[gi]
    return of_group[inv]


def group_bootstrap(groups: Any, n_boot: int, *, seed: int = 0) -> list[np.ndarray]:
    """Bootstrap resamples of rows that draw whole groups with replacement.

    Returns
    -------
    list of ndarray
        ``n_boot`` arrays of row positions: every drawn group contributes all its rows (once
        per draw), so no resample splits a group.
    """
    uniq, inv = np.unique(np.asarray(groups), return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(uniq.size)]
    rng = np.random.default_rng(seed)
    return [np.concatenate([members[g] for g in rng.integers(0, uniq.size, uniq.size)]) for _ in range(n_boot)]


def noise_ceiling(Z: Any, *, max_splits: int = 64, seed: int = 0) -> float:
    """Split-half reliability of a target that is a mean over models.

    The models are split into two halves (sizes ``M // 2`` and the rest); the correlation r of
    the two half-means over subsets is Spearman-Brown corrected, ``2 r / (1 + r)``, and
    averaged over the distinct splits (all of them, or ``max_splits`` seeded ones).

    Parameters
    ----------
    Z : array-like, shape (n_subsets, n_models)
        Per-model scores (e.g. Z-scored errors); rows with a NaN are dropped.

    Returns
    -------
    float
        NaN with fewer than 2 models or 3 subsets.
    """
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2:
        raise ValueError(f"Z must have shape (n_subsets, n_models), got {Z.shape}")
    Z = Z[np.isfinite(Z).all(axis=1)]
    n, M = Z.shape
    if M < 2 or n < 3:
        return float("nan")
    half = M // 2
    # each split once: the first model always in the second half when halves are equal
    splits = [c for c in itertools.combinations(range(M), half) if not (2 * half == M and 0 in c)]
    if len(splits) > max_splits:
        pick = np.random.default_rng(seed).choice(len(splits), max_splits, replace=False)
        splits = [splits[i] for i in np.sort(pick)]
    values = []
    for a in splits:
        b = [m for m in range(M) if m not in a]
        ha, hb = Z[:, list(a)].mean(axis=1), Z[:, b].mean(axis=1)
        if ha.std() == 0 or hb.std() == 0:
            continue
        r = float(np.corrcoef(ha, hb)[0, 1])
        values.append(2 * r / (1 + r) if r > -1 else float("nan"))
    return float(np.mean(values)) if values else float("nan")


# --------------------------------------------------------------------------- fitted pieces

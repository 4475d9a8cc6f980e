"""Grouped resampling for study Q's predictor: folds and bootstrap draws that never split a
group of subsets sharing candidates, and the noise ceiling of a target measured by several
models (split-half reliability, Spearman-Brown corrected).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

__all__ = ["group_folds", "group_bootstrap", "noise_ceiling", "two_facet_ceiling"]


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
    values = []
    for a, b in _model_splits(M, max_splits, seed):
        ha, hb = Z[:, a].mean(axis=1), Z[:, b].mean(axis=1)
        if ha.std() == 0 or hb.std() == 0:
            continue
        r = float(np.corrcoef(ha, hb)[0, 1])
        values.append(2 * r / (1 + r) if r > -1 else float("nan"))
    return float(np.mean(values)) if values else float("nan")


def _model_splits(M: int, max_splits: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """Distinct splits of M models into halves (sizes ``M // 2`` and the rest), or ``max_splits``
    seeded ones; with equal halves each split once (model 0 always in the second half)."""
    half = M // 2
    splits = [c for c in itertools.combinations(range(M), half) if not (2 * half == M and 0 in c)]
    if len(splits) > max_splits:
        pick = np.random.default_rng(seed).choice(len(splits), max_splits, replace=False)
        splits = [splits[i] for i in np.sort(pick)]
    return [(list(a), [m for m in range(M) if m not in a]) for a in splits]


def two_facet_ceiling(Z: Any, Z_even: Any, Z_odd: Any, *, max_splits: int = 64, seed: int = 0) -> float:
    """Share of a target's variance that is the subsets' own, shared by models **and** test images.

    The target is a mean over M models of scores on one test sample. :func:`noise_ceiling` splits
    the models and counts the test sample's luck, which all models share, as signal; splitting
    the test sample alone counts each model's own noise (e.g. its seed) as signal. With every
    model scored on two halves of the test sample (``Z_even``, ``Z_odd``), three correlations
    over subsets, averaged over model splits A | B, pin the additive components
    ``score(m, h) = s + u_m + v_h + e_mh``: the model halves on the whole test sample
    ``r_m = (1 + b) / (1 + 2a + b + 2c)``, the test halves with every model
    ``r_t = (1 + a) / (1 + a + 2b + 2c)`` and the crossed halves (A on one test half, B on the
    other) ``r_x = 1 / (1 + 2a + 2b + 4c)``, where ``a, b, c`` are the model, test and
    interaction variances of the full target relative to ``var(s)``. The result is the
    generalizability coefficient ``1 / (1 + a + b + c)``: what a measure that sees neither the
    models nor the test split can explain at most.

    Parameters
    ----------
    Z, Z_even, Z_odd : array-like, shape (n_subsets, n_models)
        Per-model scores on the whole test sample and on its two halves; rows with a NaN
        anywhere are dropped.

    Returns
    -------
    float
        In [0, 1]; NaN with fewer than 2 models or 3 subsets, or a correlation at or below 0.
    """
    Zs = [np.asarray(a, dtype=np.float64) for a in (Z, Z_even, Z_odd)]
    if any(a.ndim != 2 or a.shape != Zs[0].shape for a in Zs):
        raise ValueError(f"Z, Z_even and Z_odd must share a shape (n_subsets, n_models), got {[a.shape for a in Zs]}")
    keep = np.all([np.isfinite(a).all(axis=1) for a in Zs], axis=0)
    Z, Ze, Zo = (a[keep] for a in Zs)
    n, M = Z.shape
    if M < 2 or n < 3:
        return float("nan")

    def r(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else float("nan")

    rm, rx = [], []
    for A, B in _model_splits(M, max_splits, seed):
        rm.append(r(Z[:, A].mean(axis=1), Z[:, B].mean(axis=1)))
        rx.append(r(Ze[:, A].mean(axis=1), Zo[:, B].mean(axis=1)))
        rx.append(r(Zo[:, A].mean(axis=1), Ze[:, B].mean(axis=1)))
    r_m, r_x, r_t = float(np.mean(rm)), float(np.mean(rx)), r(Ze.mean(axis=1), Zo.mean(axis=1))
    if not min(r_m, r_x, r_t) > 0:
        return float("nan")
    lhs = np.array([[2.0, 2.0, 4.0], [2 * r_m, r_m - 1, 2 * r_m], [r_t - 1, 2 * r_t, 2 * r_t]])
    a, b, c = np.linalg.solve(lhs, [1 / r_x - 1, 1 - r_m, 1 - r_t])
    return float(np.clip(1.0 / (1.0 + a + b + c), 0.0, 1.0))


# --------------------------------------------------------------------------- fitted pieces

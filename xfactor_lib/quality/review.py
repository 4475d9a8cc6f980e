"""What the quality report shows beside the measures: near-duplicate pairs and the least
covered reference images of a subset (streamed, never an N x N matrix)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import _validation as v
from .. import similarity
from .measurement import Reference

__all__ = ["near_duplicates", "least_covered"]


def near_duplicates(X: Any, y: Any, *, top: int = 20, block_size: int | None = None) -> pd.DataFrame:
    """The closest pairs of distinct images within each class (pixel RMSD), streamed.

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W) or (N, D)
        E.g. a reference sample (cost ``sum_k N_k^2``; never more than one block in memory).
    y : ndarray, shape (N,), int
    top : int
        Pairs returned (the closest overall).
    block_size : int, optional
        Rows per block.

    Returns
    -------
    DataFrame
        Columns ``i, j, class, rmsd`` (positions in ``X``, ``i < j``), ascending ``rmsd``
        then ``i, j``.
    """
    V = v.check_images(X)
    y, K = v.check_labels(y, V.shape[0])
    top = v.check_int(top, "top", low=1)
    best = pd.DataFrame({"i": [], "j": [], "class": [], "rmsd": []})
    for k in range(K):
        members = np.flatnonzero(y == k)
        for rows, block in similarity.iter_rmsd_blocks(V[members], block_size=block_size):
            r = np.arange(rows.start, rows.stop)
            mask = np.arange(block.shape[1])[None, :] <= r[:, None]  # each pair once, never i == j
            block[mask] = np.inf
            flat = np.argsort(block, axis=None, kind="stable")[:top]
            ii, jj = np.unravel_index(flat, block.shape)
            keep = np.isfinite(block[ii, jj])
            found = pd.DataFrame(
                {"i": members[r[ii[keep]]], "j": members[jj[keep]], "class": k, "rmsd": block[ii[keep], jj[keep]]}
            )
            best = pd.concat([best, found], ignore_index=True) if len(best) else found
            best = best.sort_values(["rmsd", "i", "j"], kind="stable").head(top)
    return best.astype({"i": np.int64, "j": np.int64, "class": np.int64}).reset_index(drop=True)


def least_covered(X: Any, y: Any, *, reference: Reference, top: int = 16) -> pd.DataFrame:
    """The reference images farthest from every subset image of their class.

    Parameters
    ----------
    X : ndarray, shape (n_total, C, H, W) or (n_total, D)
        The subset's images (same kind as the reference's).
    y : ndarray, shape (n_total,), int
    reference : Reference
    top : int

    Returns
    -------
    DataFrame
        Columns ``ref_row`` (row of the reference), ``index`` (its training-split index),
        ``class``, ``rmsd`` (to the nearest subset image of its class; ``inf`` when the
        subset lacks the class), descending ``rmsd``.
    """
    V = v.check_images(X)
    y, _ = v.check_labels(y, V.shape[0], K=reference.K)
    top = v.check_int(top, "top", low=1)
    nearest = np.full(reference.y.size, np.inf)
    for k in np.unique(y):
        rk = np.flatnonzero(reference.y == k)
        nearest[rk] = similarity.pairwise_rmsd(reference.X[rk], V[y == k]).min(axis=1)
    order = np.lexsort((np.arange(nearest.size), -nearest))[:top]
    return pd.DataFrame(
        {"ref_row": order, "index": reference.index[order], "class": reference.y[order], "rmsd": nearest[order]}
    )

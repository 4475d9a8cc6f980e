"""Embeddings and nearest neighbours: the one row normaliser and the one kNN label vote.

Every cosine in the library (the embedding similarity of LCR, ``coverage_emb``, study Q's
embedding measures) is taken between rows normalised by :func:`unit_rows`, and every
"do an image's nearest neighbours share its label?" question (``coverage_clean``'s
label agreement, study Q's label ambiguity) is answered by :func:`label_vote`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["unit_rows", "nearest", "label_vote"]


def unit_rows(E: Any, what: str = "E") -> np.ndarray:
    """Rows of an embedding scaled to unit norm, as float64.

    Parameters
    ----------
    E : array-like, shape (N, d), numeric
    what : str
        The argument's name in error messages.

    Returns
    -------
    ndarray, shape (N, d), float64, every row of norm 1

    Raises
    ------
    TypeError
        ``E`` is not numeric (or is boolean).
    ValueError
        ``E`` is not 2-D with N, d >= 1, has a non-finite entry, or has an all-zero row (a
        cosine needs a direction); the message counts the rows and names the first.
    """
    E = np.asarray(E)
    if E.dtype == bool or not (np.issubdtype(E.dtype, np.floating) or np.issubdtype(E.dtype, np.integer)):
        raise TypeError(f"{what} must be a numeric array of embeddings, got dtype {E.dtype}")
    if E.ndim != 2 or E.shape[0] == 0 or E.shape[1] == 0:
        raise ValueError(f"{what} must be embeddings of shape (N, d) with N, d >= 1, got shape {E.shape}")
    U = E.astype(np.float64)
    if not np.isfinite(U).all():
        raise ValueError(f"{what} has non-finite entries (NaN or inf); drop or repair those rows")
    norms = np.linalg.norm(U, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(f"{what} has {zero.size} all-zero row(s), first at row {zero[0]}; a cosine needs a direction")
    return U / norms[:, None]


def nearest(D: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` smallest entries of each row of ``D``, ties to the lower index.

    Parameters
    ----------
    D : ndarray, shape (B, M), distances (``inf`` marks a column a row may not pick)
    k : int, 1 <= k <= M

    Returns
    -------
    ndarray, shape (B, k), int64, nearest first
    """
    if k >= D.shape[1]:
        return np.argsort(D, axis=1, kind="stable")[:, :k].astype(np.int64)
    # O(M) per row: a partition, then the stable sort only for rows with a tie at the k-th
    # value (where the partition may have taken a higher column than a tied lower one)
    near = np.argpartition(D, k - 1, axis=1)[:, :k]
    dist = np.take_along_axis(D, near, axis=1)
    tied = np.flatnonzero((D <= dist.max(axis=1, keepdims=True)).sum(axis=1) > k)
    if tied.size:
        near[tied] = np.argsort(D[tied], axis=1, kind="stable")[:, :k]
        dist[tied] = np.take_along_axis(D[tied], near[tied], axis=1)
    order = np.lexsort((near, dist), axis=1)
    return np.take_along_axis(near, order, axis=1).astype(np.int64)


def label_vote(neighbour_labels: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Do an image's k nearest neighbours vote for its own label?

    The rule (SPEC 5, label ambiguity): an image is *ambiguous* when its neighbours are
    **mostly of another class**, i.e. fewer than half share its label. A tie (exactly half
    of an even k) is therefore *not* ambiguous: the neighbours are not mostly of another class.

    Parameters
    ----------
    neighbour_labels : ndarray, shape (B, k), int
        Labels of each image's k nearest neighbours (:func:`nearest`).
    y : ndarray, shape (B,), int
        The images' own labels.

    Returns
    -------
    ndarray, shape (B,), bool
        True where at least half of the k neighbours share the label (``2 * agree >= k``);
        ``~label_vote(...)`` is the ambiguity.
    """
    neighbour_labels = np.asarray(neighbour_labels)
    agree = (neighbour_labels == np.asarray(y)[:, None]).sum(axis=1)
    return 2 * agree >= neighbour_labels.shape[1]

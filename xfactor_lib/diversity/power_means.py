"""Weighted power means and Hill numbers, as greylock defines them (LCR's arithmetic).

Kept apart from :mod:`xfactor_lib.diversity` as greylock keeps its ``powermean`` module: the
means are general, the diversity maths is built on them. ``|1 - q| <= 1e-8`` is ``q = 1``
(greylock: ``numpy.isclose(1 - q, 0)``), and ``q = inf`` is the exact minimum.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["GEOMETRIC_TOL", "hill_number", "power_mean", "viewpoints"]

GEOMETRIC_TOL = 1e-8  # greylock: numpy.isclose(1 - q, 0) -> |1 - q| <= 1e-8 is q = 1


def viewpoints(viewpoint: Any) -> list[float]:
    """Viewpoints ``q >= 0`` (``inf`` allowed) as a list of floats, from one number or a sequence."""
    if isinstance(viewpoint, (str, bytes)):
        raise TypeError(f"viewpoint must be a number >= 0 or a sequence of them, got {viewpoint!r}")
    items = list(np.ravel(np.asarray(viewpoint, dtype=object))) if np.ndim(viewpoint) else [viewpoint]
    qs = []
    for q in items:
        if isinstance(q, (bool, np.bool_)) or not isinstance(q, numbers.Real):
            raise TypeError(f"viewpoint q must be a real number >= 0 (or inf), got {q!r}")
        qf = float(q)
        if math.isnan(qf) or qf < 0:
            raise ValueError(f"viewpoint q must be >= 0 (inf allowed), got {qf}")
        qs.append(qf)
    if not qs:
        raise ValueError("viewpoint is empty; pass a number >= 0 or a non-empty list of them")
    return qs


def power_mean(order: float, weights: np.ndarray, items: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Weighted power means down axis 0, as greylock defines them.

    Parameters
    ----------
    order : float
        ``1 - q``; ``|order| <= 1e-8`` is the geometric mean, ``-inf`` the minimum.
    weights, items : ndarray, shape (S,) or (S, K)
    mask : ndarray of bool, same shape, optional
        Entries that take part (default ``weights != 0``); a column with none is an error.

    Returns
    -------
    ndarray, shape () or (K,)

    Notes
    -----
    With all participating items positive the mean is computed in the log domain, scaled by
    the extreme item, so large ``|order|`` neither overflows nor underflows. Otherwise the
    direct formula is used, reproducing greylock's results for zero or negative items
    (a zero item with negative order gives 0; a negative item with a fractional order NaN).
    """
    weights = np.asarray(weights, dtype=np.float64)
    items = np.asarray(items, dtype=np.float64)
    if weights.shape != items.shape:
        raise ValueError(f"weights {weights.shape} and items {items.shape} must have the same shape")
    mask = weights != 0 if mask is None else np.asarray(mask, dtype=bool)
    if not mask.any(axis=0).all():
        raise ValueError("every column needs at least one item with non-zero weight")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        if order == -math.inf:
            return np.min(items, axis=0, where=mask, initial=math.inf)
        if order == math.inf:
            return np.max(items, axis=0, where=mask, initial=-math.inf)
        w = np.where(mask, weights, 0.0)
        kept = items[mask]
        if (kept > 0).all() and np.isfinite(kept).all():
            L = np.log(np.where(mask, items, 1.0))
            if abs(order) <= GEOMETRIC_TOL:
                return np.exp(np.sum(w * L, axis=0))
            if order > 0:
                ref = np.max(L, axis=0, where=mask, initial=-math.inf)
            else:
                ref = np.min(L, axis=0, where=mask, initial=math.inf)
            s = np.sum(w * np.exp(np.where(mask, order * (L - ref), -math.inf)), axis=0)
            return np.exp(ref + np.log(s) / order)
        if abs(order) <= GEOMETRIC_TOL:
            return np.prod(np.power(items, weights, where=mask, out=np.ones_like(items)), axis=0, where=mask)
        terms = np.power(items, order, where=mask, out=np.zeros_like(items)) * w
        return np.power(np.sum(terms, axis=0, where=mask), 1.0 / order)


def hill_number(p: Any, q: float) -> float | np.ndarray:
    """Hill number (effective number) of a distribution ``p`` at viewpoint ``q``.

    Parameters
    ----------
    p : array_like, shape (K,) or (..., K)
        Non-negative weights (counts or proportions; normalized here), one distribution per
        row along the last axis.
    q : float
        ``>= 0``; ``0`` counts the non-zero entries, ``1`` is ``exp(Shannon entropy)``,
        ``inf`` is ``1 / max(p)``.

    Returns
    -------
    float for ``p`` of shape (K,), else ndarray of shape (...)
    """
    if np.ndim(q) != 0:
        raise TypeError(f"q must be one number >= 0 (or inf), got {q!r}")
    (qf,) = viewpoints(q)
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 0 or p.shape[-1] == 0 or not np.isfinite(p).all() or (p < 0).any():
        raise ValueError(f"p must be a non-empty array of finite weights >= 0, got shape {p.shape}")
    totals = p.sum(axis=-1, keepdims=True)
    if (totals <= 0).any():
        raise ValueError("every distribution in p needs a positive total (an all-zero row has no Hill number)")
    columns = (p / totals).reshape(-1, p.shape[-1]).T  # (K, number of distributions)
    out = 1.0 / power_mean(qf - 1.0, columns, columns)
    return float(out[0]) if p.ndim == 1 else out.reshape(p.shape[:-1])

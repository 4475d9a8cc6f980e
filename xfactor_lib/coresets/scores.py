"""Per-sample scores of every dynamics-based coreset method (EVA, its ablations, baselines).

Kept apart from :mod:`xfactor_lib.coresets` (which turns a score into a coreset and holds
the one dispatcher) so each file reads at once: this one is the maths of SPEC 3, one
function per score, each a vector of shape (N,) from one recorded surrogate run
(:class:`~xfactor_lib.dynamics.Dynamics`). Which end a coreset keeps is stated per
function and registered in :data:`xfactor_lib.coresets.METHODS`.

A window of ``window`` epochs starting at ``start`` is the columns
``S[:, start:start + window]`` (epochs start .. start + window - 1, 0-based); in a dual
window the early one must end before the late one starts. Window starts are keyword-only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import xlogy

from .._validation import check_choice, check_int
from ..dynamics import Dynamics

__all__ = [
    "window_variance",
    "window_mean",
    "eva_scores",
    "var_single",
    "exp_single",
    "var_dual",
    "exp_dual",
    "random_scores",
    "forgetting_scores",
    "entropy_scores",
    "el2n_scores",
    "aum_scores",
    "EVA_VARIANTS",
]

#: ``"sum"``: the paper's Eq. 6; ``"released"``: the authors' code (see :func:`eva_scores`).
EVA_VARIANTS = ("sum", "released")


def _matrix(a: Any, name: str, dtype: Any = np.float64) -> np.ndarray:
    if isinstance(a, Dynamics):
        a = a.S
    a = np.asarray(a, dtype=dtype)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty (N, T) array (samples x epochs), got shape {a.shape}")
    return a


def _window(S: Any, start: Any, window: Any, what: str = "window") -> np.ndarray:
    """The columns ``S[:, start:start + window]``, checked to fit and to hold no NaN."""
    S = _matrix(S, "S")
    T = S.shape[1]
    window = check_int(window, "window (epochs)", low=1)
    start = check_int(start, f"{what} start (0-based epoch)", low=0)
    if start + window > T:
        raise ValueError(
            f"{what} [{start}, {start + window - 1}] does not fit in the T={T} recorded epochs "
            f"(0..{T - 1}); choose a start <= {T - window} or a shorter window"
        )
    cols = S[:, start : start + window]
    bad = ~np.isfinite(cols)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise ValueError(
            f"S has {int(bad.sum())} NaN or inf value(s) in the {what} [{start}, {start + window - 1}] "
            f"({rows.size} sample(s), first row {rows[0]}), e.g. from unrecorded epochs; record every "
            "sample every epoch or drop those samples"
        )
    return cols


def _dual(S: Any, early_start: Any, late_start: Any, window: Any) -> tuple[np.ndarray, np.ndarray]:
    early = _window(S, early_start, window, "early window")
    late = _window(S, late_start, window, "late window")
    if early_start + window > late_start:
        raise ValueError(
            f"the windows overlap or are out of order: early [{early_start}, {early_start + window - 1}], "
            f"late [{late_start}, {late_start + window - 1}]; the late window must start at or after "
            f"early_start + window = {early_start + window}"
        )
    return early, late


def window_variance(S: Any, *, start: int, window: int = 10) -> np.ndarray:
    """Population variance (1/window) of each sample's scores in one window.

    Parameters
    ----------
    S : ndarray, shape (N, T), or Dynamics
    start : int
        First epoch (0-based column) of the window.
    window : int
        Epochs in the window; columns ``start .. start + window - 1``.

    Returns
    -------
    ndarray, shape (N,), float64
    """
    return _window(S, start, window).var(axis=1)


def window_mean(S: Any, *, start: int, window: int = 10) -> np.ndarray:
    """Mean of each sample's scores in one window; shapes as :func:`window_variance`."""
    return _window(S, start, window).mean(axis=1)


def eva_scores(S: Any, *, early_start: int, late_start: int, window: int = 10, variant: str = "sum") -> np.ndarray:
    """EVA score: error-score variance in an early plus a late window. Keep the **highest**.

    Parameters
    ----------
    S : ndarray, shape (N, T), or Dynamics
        Error scores, column t = epoch t (0-based). NaN or inf inside a window is an error.
    early_start, late_start : int
        First epochs of the two windows; the early window must end before the late starts.
    window : int
        Epochs per window (the paper's 10).
    variant : {"sum", "released"}
        ``"sum"`` (paper Eq. 6): ``V_early + V_late``. ``"released"`` (the authors' code):
        each window's variance vector divided by its sum over samples, then the two
        averaged; a window whose variances are all zero contributes zero.

    Returns
    -------
    ndarray, shape (N,), float64
    """
    check_choice(variant, "variant", EVA_VARIANTS)
    early, late = _dual(S, early_start, late_start, window)
    v_early, v_late = early.var(axis=1), late.var(axis=1)
    if variant == "sum":
        return v_early + v_late
    e_sum, l_sum = v_early.sum(), v_late.sum()
    return ((v_early / e_sum if e_sum > 0 else 0 * v_early) + (v_late / l_sum if l_sum > 0 else 0 * v_late)) / 2.0


def var_single(S: Any, *, start: int, window: int = 10) -> np.ndarray:
    """VAR-S ablation: variance of S in one window, shape (N,). Keep the **highest**."""
    return window_variance(S, start=start, window=window)


def exp_single(S: Any, *, start: int, window: int = 10) -> np.ndarray:
    """EXP-S ablation: mean (expectation) of S in one window, shape (N,). Keep the **highest**."""
    return window_mean(S, start=start, window=window)


def var_dual(S: Any, *, early_start: int, late_start: int, window: int = 10) -> np.ndarray:
    """VAR-D ablation: V_early + V_late, shape (N,) (EVA's ``"sum"`` variant). Keep the **highest**."""
    return eva_scores(S, early_start=early_start, late_start=late_start, window=window)


def exp_dual(S: Any, *, early_start: int, late_start: int, window: int = 10) -> np.ndarray:
    """EXP-D ablation: mean of S over both windows (2 x window epochs), shape (N,). Keep the **highest**."""
    early, late = _dual(S, early_start, late_start, window)
    return (early.mean(axis=1) + late.mean(axis=1)) / 2.0


def random_scores(N: int, *, seed: int) -> np.ndarray:
    """Uniform [0, 1) draws from ``seed``, shape (N,); keeping the **highest** M is a uniform draw."""
    return np.random.default_rng(seed).random(check_int(N, "N", low=1))


def forgetting_scores(correct: Any) -> np.ndarray:
    """Forgetting events (Toneva et al. 2019). Keep the **highest** (most forgotten).

    Parameters
    ----------
    correct : ndarray, shape (N, T), bool
        Per-epoch correctness (column t = epoch t).

    Returns
    -------
    ndarray, shape (N,), int64
        Number of t with ``correct[:, t]`` and not ``correct[:, t + 1]``; a sample never
        correct in any epoch scores T + 1, above every possible count (at most T // 2),
        so never-learned samples rank as the most forgotten.
    """
    c = _matrix(correct, "correct", dtype=bool)
    flips = (c[:, :-1] & ~c[:, 1:]).sum(axis=1).astype(np.int64)
    flips[~c.any(axis=1)] = c.shape[1] + 1
    return flips


def entropy_scores(probs: Any) -> np.ndarray:
    """Prediction entropy ``-sum_k p_k log p_k`` (nats) of the final surrogate. Keep the **highest**.

    Parameters
    ----------
    probs : ndarray, shape (N, K)
        Softmax outputs (rows non-negative, summing to 1).

    Returns
    -------
    ndarray, shape (N,), float64; the maximum ``log K`` is reached by uniform rows
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probs must have shape (N, K) with K >= 2, got {p.shape}")
    if np.isnan(p).any():
        raise ValueError("probs contain NaN (samples missing from the final epoch); record every sample")
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("probs rows must be non-negative and sum to 1 (a softmax, not logits)")
    return -xlogy(p, p).sum(axis=1)


def el2n_scores(S_or_list: Any, *, epoch: int = 20) -> np.ndarray:
    """EL2N (Paul et al. 2021): the error score at one early epoch. Keep the **highest**.

    Parameters
    ----------
    S_or_list : ndarray (N, T), Dynamics, or a list of them
        Error scores of one surrogate run, or of several runs (e.g. seeds), averaged
        sample-wise.
    epoch : int
        0-based column of ``S`` (default 20, the spec's EL2N epoch).

    Returns
    -------
    ndarray, shape (N,), float64
    """
    runs = list(S_or_list) if isinstance(S_or_list, (list, tuple)) else [S_or_list]
    if not runs:
        raise ValueError("el2n_scores needs at least one run of S")
    mats = [_matrix(r, "S") for r in runs]
    N = mats[0].shape[0]
    for i, m in enumerate(mats):
        if m.shape[0] != N:
            raise ValueError(f"every run must score the same N={N} samples; run {i} has {m.shape[0]}")
        check_int(epoch, f"epoch (run {i} has T={m.shape[1]} epochs: 0..{m.shape[1] - 1})", low=0, high=m.shape[1] - 1)
    return np.mean([_window(m, epoch, 1, "EL2N epoch")[:, 0] for m in mats], axis=0)


def aum_scores(margin: Any) -> np.ndarray:
    """Area under the margin (Pleiss et al. 2020): the mean margin over epochs, shape (N,).

    Keep the **lowest** (the hardest). ``margin`` is (N, T): target logit minus the largest
    other logit per epoch.
    """
    return _matrix(margin, "margin").mean(axis=1)

"""The fair baselines of SPEC 5: CCS on its authors' probability margin, class-balanced Random.

Belongs to the ``coresets/`` package in the new layout (beside ``coresets.py`` and
``coreset_scores.py``); the methods are registered in :mod:`xfactor_lib.coresets`.

- :func:`ccs_scores`: the CCS authors' difficulty score (Zheng et al., ICLR 2023, released
  ``generate_importance_score.py``, key ``accumulated_margin``): per epoch the margin of the
  softmax **probabilities** ``p_y - max_{k != y} p_k``, accumulated over epochs (here
  averaged, which ranks and bins the samples identically when every epoch is recorded).
  Low is hard: their ``mislabel_mask`` sorts it ascending and drops the first
  ``mis_ratio x N``, and their stratified sampling visits the 50 strata smallest-first
  (:func:`xfactor_lib.coresets.ccs_select`). AUM keeps the logit margin.
- :func:`random_balanced_select`: uniform random within classes under the class budgets of
  the training-free methods (M = ceil(rate x N) split evenly over the classes, the
  remainder to the largest: :func:`xfactor_lib.greedy.class_budgets`), the fair reference
  for every class-budgeted method.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validation import check_int, check_labels, check_rate
from ..dynamics import Dynamics
from . import greedy

__all__ = ["CCS_BETAS", "ccs_scores", "ccs_default_beta", "ccs_select", "allocate", "random_balanced_select"]

#: The hard cutoffs beta searched per rate on validation (SPEC 5: {0, 0.1, ..., 0.5}).
CCS_BETAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def ccs_scores(prob_margin: Any) -> np.ndarray:
    """CCS difficulty: the probability margin ``p_y - max_{k != y} p_k`` averaged over epochs.

    Keep by :func:`~xfactor_lib.coresets.ccs_select` with ``hard_is_low=True`` (low margin
    is hard: drop the lowest ``beta x N``, then stratify the rest).

    Parameters
    ----------
    prob_margin : ndarray, shape (N, T), or Dynamics
        Per-epoch probability margins (``Dynamics.prob_margin``), each in [-1, 1].

    Returns
    -------
    ndarray, shape (N,), float64, in [-1, 1]
    """
    if isinstance(prob_margin, Dynamics):
        if prob_margin.prob_margin is None:
            raise ValueError(
                "this surrogate run has no probability margins (recorded before CCS used them); "
                "rerun the e_surrogate stage to record Dynamics.prob_margin"
            )
        prob_margin = prob_margin.prob_margin
    m = np.asarray(prob_margin, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] == 0:
        raise ValueError(f"prob_margin must be a non-empty (N, T) array (samples x epochs), got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError(
            f"prob_margin has {int((~np.isfinite(m)).sum())} NaN or inf value(s), e.g. from unrecorded "
            "epochs; record every sample every epoch"
        )
    if (np.abs(m) > 1 + 1e-6).any():
        raise ValueError("prob_margin must lie in [-1, 1] (a margin of softmax probabilities, not of logits)")
    return m.mean(axis=1)


def random_balanced_select(y: Any, *, rate: float, seed: int, K: int | None = None) -> np.ndarray:
    """Class-balanced random coreset: uniform draws within each class under the class budgets.

    Parameters
    ----------
    y : ndarray, shape (N,), int
    rate : float in (0, 1]
        M = ceil(rate x N) (as :func:`xfactor_lib.coresets.coreset_size`), split over the
        classes by :func:`xfactor_lib.greedy.class_budgets`.
    seed : int
    K : int, optional
        Number of classes (default ``y.max() + 1``).

    Returns
    -------
    ndarray, shape (M,), int64, sorted
    """
    y, K = check_labels(y, K=K)
    rate = check_rate(rate)
    seed = check_int(seed, "seed", low=0)
    M = max(1, int(math.ceil(round(rate * y.size, 9))))  # coresets.coreset_size, which imports this module
    budget = greedy.class_budgets(y, M, K=K)
    by_class = np.lexsort((np.random.default_rng(seed).random(y.size), y))  # random order within each class
    sorted_y = y[by_class]
    first = np.searchsorted(sorted_y, sorted_y, side="left")
    rank = np.arange(y.size) - first
    return np.sort(by_class[rank < budget[sorted_y]]).astype(np.int64)


def ccs_default_beta(rate: float) -> float:
    """Hard cutoff beta used when none is given: 0 for rate >= 0.5, 0.1 for 0.2 <= rate < 0.5, else 0.3.

    Modelled on the CCS authors' CIFAR-10 settings (their released command uses beta = 0.3
    at 90 % pruning, smaller cutoffs at lower pruning); a project choice, since the EVA
    paper does not state its beta. Pass ``beta`` to override.
    """
    rate = check_rate(rate)
    return 0.0 if rate >= 0.5 else 0.1 if rate >= 0.2 else 0.3


def ccs_select(
    scores: Any, M: int, *, beta: float, n_bins: int = 50, seed: int, hard_is_low: bool = True
) -> np.ndarray:
    """Coverage-centric coreset selection (Zheng et al. 2023).

    Drops the hardest ``floor(beta x N)`` samples, splits the remaining score range into
    ``n_bins`` equal-width bins (the maximum falls in the last bin), then visits the bins
    from the smallest to the largest count, giving each ``min(count, budget left // bins
    left)`` random samples, so the unused share of small bins spills over to the rest.

    Parameters
    ----------
    scores : ndarray, shape (N,)
        Difficulty score, e.g. AUM.
    M : int
        Coreset size; at most ``N - floor(beta x N)``.
    beta : float in [0, 1)
        Fraction of all N samples dropped as too hard (likely mislabelled).
    n_bins : int
    seed : int
    hard_is_low : bool
        True when low scores are hard (AUM); False when high ones are (forgetting, EL2N).
        Among equal scores the lower index is dropped first.

    Returns
    -------
    ndarray, shape (M,), int64, sorted
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"scores must be a non-empty vector (N,), got shape {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite for CCS binning (got NaN or inf)")
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be a fraction in [0, 1), got {beta!r}")
    n_bins = check_int(n_bins, "n_bins", low=1)
    N = s.size
    n_drop = int(np.floor(beta * N + 1e-9))
    if isinstance(M, bool) or not isinstance(M, (int, np.integer)) or not 1 <= M <= N - n_drop:
        raise ValueError(
            f"M must be an int in 1..{N - n_drop} (N={N} minus the {n_drop} hardest "
            f"dropped by beta={beta}); got {M!r}; lower beta or the rate"
        )
    order = np.lexsort((np.arange(N), s if hard_is_low else -s))
    keep = np.sort(order[n_drop:])
    ks = s[keep]
    lo, hi = ks.min(), ks.max()
    width = (hi - lo) / n_bins
    bins = np.minimum(((ks - lo) / width).astype(np.int64), n_bins - 1) if width > 0 else np.zeros(ks.size, np.int64)
    counts = np.bincount(bins, minlength=n_bins)
    budgets = allocate(counts, int(M))
    rng = np.random.default_rng(seed)
    by_bin = np.lexsort((rng.random(ks.size), bins))  # random order within each bin
    sorted_bins = bins[by_bin]
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(ks.size) - first[sorted_bins]
    return np.sort(keep[by_bin[rank < budgets[sorted_bins]]]).astype(np.int64)


def allocate(counts: np.ndarray, M: int) -> np.ndarray:
    """Per-bin budgets: bins smallest first, each min(count, left // bins left)."""
    budgets = np.zeros_like(counts)
    left = M
    order = np.argsort(counts, kind="stable")
    for i, b in enumerate(order):
        take = min(int(counts[b]), left // (len(order) - i))
        budgets[b] = take
        left -= take
    return budgets

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

__all__ = ["CCS_BETAS", "ccs_scores", "random_balanced_select"]

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

"""The six baselines of the EVA paper, and one dispatcher over every selection method.

All scores come from one recorded surrogate run (:class:`xfactor_lib.eva.Dynamics`), are
vectors of shape (N,), and a coreset keeps M = ceil(rate x N) samples from one end
(:func:`xfactor_lib.eva.select_top`, ties to the lower index):

| method | score per sample | keeps |
| --- | --- | --- |
| ``random`` (:func:`random_scores`) | uniform [0, 1) draws from ``seed`` | highest |
| ``forgetting`` (:func:`forgetting_scores`) | correct -> incorrect flips between consecutive epochs; never learned = T + 1 | highest (most forgotten) |
| ``entropy`` (:func:`entropy_scores`) | prediction entropy (nats) of the final softmax | highest |
| ``el2n`` (:func:`el2n_scores`) | S at one early epoch (default 20), averaged over surrogate runs | highest |
| ``aum`` (:func:`aum_scores`) | mean over epochs of target logit minus largest other logit | **lowest** (hardest) |
| ``ccs`` (:func:`ccs_select`) | AUM; drop the hardest beta x N (lowest AUM), then stratified sampling over 50 equal-width bins | coverage (all bins) |

EVA and its ablations (``eva``, ``var_s``, ``exp_s``, ``var_d``, ``exp_d``) live in
:mod:`xfactor_lib.eva`; :func:`select` dispatches to all eleven by name.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy.special import xlogy

from . import eva
from .eva import Dynamics, coreset_size, select_top

__all__ = [
    "METHODS",
    "KEEPS",
    "random_scores",
    "forgetting_scores",
    "entropy_scores",
    "el2n_scores",
    "aum_scores",
    "ccs_select",
    "ccs_default_beta",
    "select",
]

#: Which end of each method's score a coreset keeps (CCS keeps a stratified sample).
KEEPS = {
    "random": "highest",
    "forgetting": "highest",
    "entropy": "highest",
    "el2n": "highest",
    "aum": "lowest",
    "ccs": "stratified",
    **eva.SCORE_KEEPS,
}
METHODS = ("random", "forgetting", "entropy", "el2n", "aum", "ccs", "eva", "var_s", "exp_s", "var_d", "exp_d")


def _matrix(a: Any, name: str, dtype=np.float64) -> np.ndarray:
    a = np.asarray(a, dtype=dtype)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty (N, T) array (samples x epochs), got shape {a.shape}")
    return a


def random_scores(N: int, seed: int) -> np.ndarray:
    """Uniform random scores; keeping the highest M is a uniform random coreset.

    Parameters
    ----------
    N : int
    seed : int

    Returns
    -------
    ndarray, shape (N,), float64 in [0, 1)
    """
    if not isinstance(N, (int, np.integer)) or N < 1:
        raise ValueError(f"N must be a positive int, got {N!r}")
    return np.random.default_rng(seed).random(int(N))


def forgetting_scores(correct: np.ndarray) -> np.ndarray:
    """Forgetting events (Toneva et al. 2019). Keep the highest (most forgotten).

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
    T = c.shape[1]
    flips = (c[:, :-1] & ~c[:, 1:]).sum(axis=1).astype(np.int64)
    flips[~c.any(axis=1)] = T + 1
    return flips


def entropy_scores(probs: np.ndarray) -> np.ndarray:
    """Prediction entropy ``-sum_k p_k log p_k`` (nats) of the final surrogate. Keep the highest.

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


def el2n_scores(S_or_list: Any, epoch: int = 20) -> np.ndarray:
    """EL2N (Paul et al. 2021): the error score at one early epoch. Keep the highest.

    Parameters
    ----------
    S_or_list : ndarray (N, T), Dynamics, or a list of them
        Error scores of one surrogate run, or of several runs (e.g. seeds), which are
        averaged sample-wise.
    epoch : int
        0-based column of ``S`` (default 20, as the spec's EL2N epoch).

    Returns
    -------
    ndarray, shape (N,), float64
    """
    runs = list(S_or_list) if isinstance(S_or_list, (list, tuple)) else [S_or_list]
    if not runs:
        raise ValueError("el2n_scores needs at least one run of S")
    mats = [_matrix(r.S if isinstance(r, Dynamics) else r, "S") for r in runs]
    N = mats[0].shape[0]
    for i, m in enumerate(mats):
        if m.shape[0] != N:
            raise ValueError(f"every run must score the same N={N} samples; run {i} has {m.shape[0]}")
        if not isinstance(epoch, (int, np.integer)) or not 0 <= epoch < m.shape[1]:
            raise ValueError(f"epoch must be an int in 0..{m.shape[1] - 1} (run {i} has T={m.shape[1]} "
                             f"epochs), got {epoch!r}")
    return np.mean([m[:, epoch] for m in mats], axis=0)


def aum_scores(margin: np.ndarray) -> np.ndarray:
    """Area under the margin (Pleiss et al. 2020). Keep the **lowest** (the hardest).

    Parameters
    ----------
    margin : ndarray, shape (N, T)
        Per-epoch target logit minus the largest other logit.

    Returns
    -------
    ndarray, shape (N,), float64: the mean margin over epochs
    """
    return _matrix(margin, "margin").mean(axis=1)


def ccs_default_beta(rate: float) -> float:
    """Hard cutoff beta used when none is given: 0 for rate >= 0.5, 0.1 for 0.2 <= rate < 0.5, else 0.3.

    Modelled on the CCS authors' CIFAR-10 settings (their released command uses beta = 0.3
    at 90 % pruning, smaller cutoffs at lower pruning); a project choice, since the EVA
    paper does not state its beta. Pass ``beta`` to override.
    """
    if rate >= 0.5:
        return 0.0
    if rate >= 0.2:
        return 0.1
    return 0.3


def ccs_select(scores: np.ndarray, M: int, *, beta: float, n_bins: int = 50, seed: int,
               hard_is_low: bool = True) -> np.ndarray:
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
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int, got {n_bins!r}")
    N = s.size
    n_drop = int(np.floor(beta * N + 1e-9))
    if not isinstance(M, (int, np.integer)) or not 1 <= M <= N - n_drop:
        raise ValueError(f"M must be an int in 1..{N - n_drop} (N={N} minus the {n_drop} hardest "
                         f"dropped by beta={beta}); got {M!r}; lower beta or the rate")
    hard_key = s if hard_is_low else -s
    order = np.lexsort((np.arange(N), hard_key))
    keep = np.sort(order[n_drop:])
    ks = s[keep]
    lo, hi = ks.min(), ks.max()
    width = (hi - lo) / n_bins
    if width > 0:
        bins = np.minimum(((ks - lo) / width).astype(np.int64), n_bins - 1)
    else:
        bins = np.zeros(ks.size, dtype=np.int64)
    counts = np.bincount(bins, minlength=n_bins)
    budgets = _allocate(counts, int(M))
    rng = np.random.default_rng(seed)
    by_bin = np.lexsort((rng.random(ks.size), bins))  # random order within each bin
    sorted_bins = bins[by_bin]
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(ks.size) - first[sorted_bins]
    chosen = keep[by_bin[rank < budgets[sorted_bins]]]
    return np.sort(chosen).astype(np.int64)


def _allocate(counts: np.ndarray, M: int) -> np.ndarray:
    """Per-bin budgets: bins smallest first, each min(count, left // bins left)."""
    budgets = np.zeros_like(counts)
    left = M
    order = np.argsort(counts, kind="stable")
    for i, b in enumerate(order):
        take = min(int(counts[b]), left // (len(order) - i))
        budgets[b] = take
        left -= take
    return budgets


_OPTIONS = {
    "random": (),
    "forgetting": (),
    "entropy": (),
    "el2n": ("epoch",),
    "aum": (),
    "ccs": ("beta", "n_bins"),
    "eva": ("early_start", "late_start", "window", "variant"),
    "var_s": ("start", "window"),
    "exp_s": ("start", "window"),
    "var_d": ("early_start", "late_start", "window"),
    "exp_d": ("early_start", "late_start", "window"),
}
_REQUIRED = {
    "eva": ("early_start", "late_start"),
    "var_s": ("start",),
    "exp_s": ("start",),
    "var_d": ("early_start", "late_start"),
    "exp_d": ("early_start", "late_start"),
}


def select(method: str, dynamics: Dynamics | Sequence[Dynamics], rate: float, *, seed: int = 0,
           **opts: Any) -> np.ndarray:
    """Coreset indices by any method, from recorded surrogate dynamics.

    Parameters
    ----------
    method : str
        One of ``random, forgetting, entropy, el2n, aum, ccs, eva, var_s, exp_s, var_d,
        exp_d`` (see the module table for what each keeps).
    dynamics : Dynamics or list of Dynamics
        One surrogate run; ``el2n`` also takes several (averaged), other methods one.
    rate : float in (0, 1]
        Coreset fraction; M = ceil(rate x N).
    seed : int
        For ``random`` and the sampling inside ``ccs``.
    **opts
        ``el2n``: ``epoch`` (20). ``ccs``: ``beta`` (default :func:`ccs_default_beta`),
        ``n_bins`` (50). ``eva``: ``early_start``, ``late_start``, ``window`` (10),
        ``variant`` ("sum"). ``var_s``/``exp_s``: ``start``, ``window``.
        ``var_d``/``exp_d``: ``early_start``, ``late_start``, ``window``.

    Returns
    -------
    ndarray, shape (M,), int64, sorted
    """
    if method not in _OPTIONS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    bad = set(opts) - set(_OPTIONS[method])
    if bad:
        raise ValueError(f"method {method!r} takes options {list(_OPTIONS[method]) or 'none'}; "
                         f"got unexpected {sorted(bad)}")
    missing = [k for k in _REQUIRED.get(method, ()) if k not in opts]
    if missing:
        raise ValueError(f"method {method!r} needs {missing} (window start epochs, chosen by "
                         "eva.window_search on the validation split)")
    runs = list(dynamics) if isinstance(dynamics, (list, tuple)) else [dynamics]
    if not runs or not all(isinstance(r, Dynamics) for r in runs):
        raise ValueError("dynamics must be a Dynamics (or, for el2n, a list of them)")
    if len(runs) > 1 and method != "el2n":
        raise ValueError(f"only el2n averages several surrogate runs; pass one Dynamics for {method!r}")
    d = runs[0]
    if method == "random":
        return select_top(random_scores(d.N, seed), rate, keep="highest")
    if method == "forgetting":
        return select_top(forgetting_scores(d.correct), rate, keep="highest")
    if method == "entropy":
        return select_top(entropy_scores(d.probs), rate, keep="highest")
    if method == "el2n":
        return select_top(el2n_scores(runs, **opts), rate, keep="highest")
    if method == "aum":
        return select_top(aum_scores(d.margin), rate, keep="lowest")
    if method == "ccs":
        beta = opts.get("beta", ccs_default_beta(rate))
        return ccs_select(aum_scores(d.margin), coreset_size(d.N, rate), beta=beta,
                          n_bins=opts.get("n_bins", 50), seed=seed, hard_is_low=True)
    fn = {"eva": eva.eva_scores, "var_s": eva.var_single, "exp_s": eva.exp_single,
          "var_d": eva.var_dual, "exp_d": eva.exp_dual}[method]
    return select_top(fn(d.S, **opts), rate, keep="highest")

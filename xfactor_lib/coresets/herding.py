"""Kernel herding within each class: a coreset whose kernel mean matches the class's (``herding``).

Greedy minimisation of the maximum mean discrepancy between the picks and their class
(Welling, ICML 2009; Chen, Welling & Smola, UAI 2010), on the pixel kernel of ``coverage``,
``k(a, b) = exp(-RMSD(a, b) / tau)`` with ``tau = scale x tau_data``: pick ``t + 1`` is

    argmax_x  mu(x) - (1 / (t + 1)) sum_{s in S_t} k(x, s),     mu(x) = mean_{c in class} k(x, c)

among the class's images not yet picked (ties to the lower index). Where facility location
(``coverage``) rewards serving every image by its nearest pick, herding rewards a set whose
*average* kernel matches the class's, so its picks spread in proportion to the class's
density; study Q's class-conditional MMD (:mod:`xfactor_lib.quality.probes`) is the quantity
it lowers. On study E's low-budget protocol (2-10 % of a 2,000-image MNIST pool, 1,000 of
digits) it beat ``coverage_wide`` and both anchors (TypiClust, ProbCover) at 2 and 5 % on
MNIST and matched or beat them on digits (``docs/benchmarks.md``, ``bench/bench_low_budget.py``).

Label-free (``unlabeled=True``) the pool is one class. ``mu`` is taken over a seeded sample of
at most ``max_clients`` (2,048) images of the class; the kernel is computed in row blocks, never
``N x N``: memory ``block x max_clients``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validation as v
from .. import similarity
from . import anchors

__all__ = ["HERDING_SCALE", "herding_select", "kernel_herding"]

#: Kernel width in units of ``tau_data`` (1: the data's own scale, as ``coverage``).
HERDING_SCALE = 1.0


def kernel_herding(mu: np.ndarray, kernel_to: Any, k: int) -> np.ndarray:
    """Greedy kernel herding given the kernel mean of every candidate.

    Parameters
    ----------
    mu : ndarray, shape (n,)
        ``mu[x]``: mean kernel between candidate ``x`` and the distribution to match.
    kernel_to : callable
        ``kernel_to(j) -> ndarray, shape (n,)``: the kernel between every candidate and candidate ``j``.
    k : int
        Picks, ``0 <= k <= n``.

    Returns
    -------
    ndarray, shape (k,), int64
        Candidates in the order picked.
    """
    mu = np.asarray(mu, dtype=np.float64)
    k = v.check_int(k, "k", low=0, high=mu.size)
    pulled = np.zeros(mu.size, dtype=np.float64)  # sum of the kernel to the picks so far
    free = np.ones(mu.size, dtype=bool)
    picks = []
    for t in range(k):
        score = np.where(free, mu - pulled / (t + 1), -np.inf)
        j = int(np.argmax(score))  # ties to the lower index
        picks.append(j)
        free[j] = False
        pulled += kernel_to(j)
    return np.asarray(picks, dtype=np.int64)


def herding_select(
    X: Any,
    y: Any = None,
    *,
    rate: float | None = None,
    n: int | None = None,
    tau: float | None = None,
    scale: float = HERDING_SCALE,
    unlabeled: bool = False,
    max_clients: int = 2048,
    block_size: int = 1024,
    seed: int = 0,
    K: int | None = None,
) -> np.ndarray:
    """Kernel herding per class under class budgets (module notes).

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W) or (N, D)
        Images, uint8 or float in [0, 1] (pixel RMSD).
    y : ndarray, shape (N,), int, optional
        Labels (class budgets, :func:`xfactor_lib.coresets.greedy.class_budgets`); not read
        with ``unlabeled=True``.
    rate, n
        Fraction of all images (``M = ceil(rate x N)``, class-balanced) or images per class.
    tau : float, optional
        Kernel scale; default ``scale x`` :func:`xfactor_lib.similarity.tau_data` of the groups.
    scale : float > 0
    unlabeled : bool
        The whole pool as one class, labels never read.
    max_clients : int
        Images per class the kernel mean ``mu`` is taken over (a seeded sample of larger
        classes: ``mu`` is a mean, and 2,048 draws estimate it to about 1 % of its spread).
    block_size : int
        Rows of the kernel computed at once.
    seed : int
        The client sample.
    K : int, optional

    Returns
    -------
    ndarray, shape (M,), int64, sorted
    """
    F = v.check_images(X)
    groups, budgets = anchors.group_budgets(y, F.shape[0], rate, n, unlabeled, K)
    max_clients = v.check_int(max_clients, "max_clients", low=1)
    block_size = v.check_int(block_size, "block_size", low=1)
    scale = v.check_positive(scale, "scale")
    tau = v.check_positive(scale * similarity.tau_data(F, groups, seed=seed) if tau is None else tau, "tau")
    rng = np.random.default_rng(seed)
    chosen = []
    for g in np.flatnonzero(budgets):
        members = np.flatnonzero(groups == g)
        clients = members if members.size <= max_clients else np.sort(rng.choice(members, max_clients, replace=False))
        mu = np.empty(members.size, dtype=np.float64)
        for rows, block in similarity.iter_rmsd_blocks(F[members], F[clients], block_size=block_size):
            mu[rows] = np.exp(-block / tau).mean(axis=1)

        def kernel_to(j: int, members: np.ndarray = members) -> np.ndarray:
            return np.exp(-similarity.pairwise_rmsd(F[members], F[members[j : j + 1]])[:, 0] / tau)

        chosen.append(members[kernel_herding(mu, kernel_to, int(budgets[g]))])
    return np.sort(np.concatenate(chosen)).astype(np.int64)

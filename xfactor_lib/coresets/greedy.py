"""Training-free subset selection by greedy maximisation of a set objective (SPEC 5).

Three objectives, each with class-balanced budgets (:func:`class_budgets`):

- **coverage** — facility location per class: ``f_k(S) = sum_{x in clients_k} max_{s in S}
  sim(x, s)`` with ``sim = exp(-RMSD / tau)`` on pixels (``tau`` default :func:`xfactor_lib.similarity.tau_data`) or the
  cosine of embeddings clipped to [0, 1]. Monotone submodular, so greedy is within
  ``1 - 1/e`` of the optimum; :func:`lazy_facility_location` is the lazy (Minoux) greedy,
  which gives exactly the plain greedy's picks (ties to the lower index) with far fewer
  gain evaluations.
- **a_max** — greedy maximisation of the Alpha paper's ``A_q`` (q = 0 by default), its
  proposal taken literally. With one-hot counts the nested power means of ``A_q`` collapse
  (every image has weight ``1 / N_S``): ``A_q(S) = M_{1-q}(N_S / s_i : i in S)`` with
  ``s_i = sum_{k in S} Z_ik``, so ``A_0 = sum_i 1 / s_i``. A pick is the image (of a class
  with budget left) whose addition gives the largest ``A_q``.
- **k_center** — farthest-first traversal per class (DeepCore's k-center greedy): each pick is
  the image farthest from its nearest picked image; the first is seeded at random.
- **coverage_clean** (this project's, issue 14) — ``coverage`` whose *candidates* are only the
  images whose ``neighbours`` nearest images (:func:`label_agreement`) mostly share their
  label; every image of the class is still a client to be covered. Picks representatives of
  each class's clean core instead of look-alikes of another class.

Memory: coverage holds one ``(clients, candidates)`` float32 block per class — at most
``max_clients`` rows (a seeded sample of the class when it is larger; all of MNIST's classes
fit the default); k-center keeps one distance vector; a_max one ``(picked, N)`` block.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _validation as v
from .. import similarity

__all__ = [
    "a_max_select",
    "alpha_q",
    "class_budgets",
    "coverage_select",
    "facility_location_per_group",
    "k_center_select",
    "label_agreement",
    "lazy_facility_location",
]


def class_budgets(y: Any, M: int, *, K: int | None = None) -> np.ndarray:
    """Images to pick per class: ``M`` split evenly, the remainder to the largest classes.

    Parameters
    ----------
    y : ndarray, shape (N,), int
    M : int
        Total budget, ``1 <= M <= N``.
    K : int, optional
        Number of classes (default ``y.max() + 1``).

    Returns
    -------
    ndarray, shape (K,), int64
        Sums to ``M``; a class never gets more than it has (its share goes to the largest
        classes with room, ties to the lower class).
    """
    y, K = v.check_labels(y, K=K)
    M = v.check_int(M, "M", low=1, high=y.size)
    counts = np.bincount(y, minlength=K)
    budget = np.zeros(K, dtype=np.int64)
    present = np.flatnonzero(counts)
    left = M
    order = present[np.lexsort((present, -counts[present]))]  # largest first, ties to the lower class
    while left:
        room = order[budget[order] < counts[order]]
        share, extra = divmod(left, room.size)
        add = np.minimum(counts[room] - budget[room], share + (np.arange(room.size) < extra))
        budget[room] += add
        left -= int(add.sum())
    return budget


def lazy_facility_location(sim: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy facility location on a dense similarity block (lazy evaluation).

    Parameters
    ----------
    sim : ndarray, shape (n_clients, n_candidates), values >= 0
        ``sim[x, c]``: how well candidate ``c`` serves client ``x``.
    k : int
        Candidates to pick, ``0 <= k <= n_candidates``.

    Returns
    -------
    picks : ndarray, shape (k,), int64
        Candidate columns in the order picked; each maximises the gain
        ``sum_x max(0, sim[x, c] - served[x])``, ties to the lower column.
    values : ndarray, shape (k,), float64
        ``f(S)`` after each pick, ``f(S) = sum_x max_{c in S} sim[x, c]``.
    """
    sim = np.asarray(sim)
    if sim.ndim != 2:
        raise ValueError(f"sim must be a (clients, candidates) matrix, got shape {sim.shape}")
    k = v.check_int(k, "k", low=0, high=sim.shape[1])
    served = np.zeros(sim.shape[0], dtype=np.float64)
    gains = sim.sum(axis=0, dtype=np.float64)
    heap = [(-float(g), int(c), 0) for c, g in enumerate(gains)]
    heapq.heapify(heap)
    picks, values, total = [], [], 0.0
    for step in range(k):
        while True:
            neg, c, fresh = heapq.heappop(heap)
            if fresh == step + 1 or step == 0:  # evaluated against the current S: it is the max
                break
            gain = float(np.maximum(sim[:, c] - served, 0.0).sum(dtype=np.float64))
            heapq.heappush(heap, (-gain, c, step + 1))
        gain = -neg
        np.maximum(served, sim[:, c], out=served)
        total += gain
        picks.append(c)
        values.append(total)
    return np.asarray(picks, dtype=np.int64), np.asarray(values, dtype=np.float64)


def _class_similarity(
    V: np.ndarray, members: np.ndarray, clients: np.ndarray, tau: float | None, E: np.ndarray | None
) -> np.ndarray:
    """``(clients, members)`` similarities, Fortran-ordered: each candidate's column is contiguous,
    which is what the lazy greedy re-reads (about 2x faster than strided columns)."""
    if E is not None:
        return np.clip(E[members] @ E[clients].T, 0.0, 1.0).astype(np.float32).T
    out = np.empty((members.size, clients.size), dtype=np.float32)
    for rows, block in similarity.iter_rmsd_blocks(V[members], V[clients], block_size=1024):
        out[rows] = similarity.similarity_from_rmsd(block, tau=tau)
    return out.T


def _prepare(
    X: Any, y: Any, rate: float | None, n: int | None, K: int | None
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    V = None if X is None else v.check_images(X)
    y, K = v.check_labels(y, None if V is None else V.shape[0], K=K)
    if (rate is None) == (n is None):
        raise ValueError("give exactly one of rate= (a fraction of all images) or n= (images per class)")
    if rate is not None:
        budgets = class_budgets(y, math.ceil(round(v.check_rate(rate) * y.size, 9)), K=K)
    else:
        n = v.check_int(n, "n", low=1)
        counts = np.bincount(y, minlength=K)
        if (counts < n).any():
            raise ValueError(
                f"n = {n} images per class but class {int(np.argmax(counts < n))} has only {int(counts[counts < n][0])}"
            )
        budgets = np.full(K, n, dtype=np.int64)
    return V, y, budgets


def _inputs(X: Any, y: Any, rate: float | None, n: int | None, K: int | None, embed: Any) -> tuple:
    """:func:`_prepare` plus the unit-norm embedding; images or an embedding must be given."""
    V, y, budgets = _prepare(X, y, rate, n, K)
    E = _embedding(embed, y.size)
    if E is None and V is None:
        raise ValueError("give the images X or an embedding embed=")
    return V, y, budgets, E


def _embedding(embed: Any, N: int) -> np.ndarray | None:
    if embed is None:
        return None
    E = similarity.unit_rows(embed, "embed")
    if E.shape[0] != N:
        raise ValueError(f"embed must have shape ({N}, d), one row per image, got {E.shape}")
    return E


def coverage_select(
    X: Any,
    y: Any,
    *,
    rate: float | None = None,
    n: int | None = None,
    embed: Any = None,
    tau: float | None = None,
    max_clients: int = 8192,
    drop_ambiguous: bool = False,
    neighbours: int = 10,
    vote_labels: Any = None,
    seed: int = 0,
    K: int | None = None,
) -> np.ndarray:
    """Greedy facility location per class (``coverage``; ``coverage_clean`` with ``drop_ambiguous``).

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W) or (N, D), or None
        Candidate images, uint8 or float in [0, 1] (None when ``embed`` is given).
    y : ndarray, shape (N,), int
    rate : float, optional
        Fraction of all images (class-balanced budgets, :func:`class_budgets`).
    n : int, optional
        Images per class instead of ``rate``.
    embed : ndarray, shape (N, d), optional
        Use the cosine of these embeddings (clipped to [0, 1]) instead of pixel RMSD.
    tau : float, optional
        Pixel kernel ``exp(-RMSD / tau)``; default :func:`xfactor_lib.similarity.tau_data`.
    max_clients : int
        Clients per class (the images to be covered); a seeded sample of larger classes.
    drop_ambiguous : bool
        Pick only among images whose ``neighbours`` nearest images mostly share their label
        (:func:`label_agreement`, same kernel); a class with fewer such images than its
        budget picks among all its images. Every image stays a client.
    neighbours : int
        Neighbourhood size for ``drop_ambiguous``.
    vote_labels : ndarray, shape (N,), int, optional
        What the neighbour vote of ``drop_ambiguous`` compares (default ``y``; the
        label-free variant passes k-means cluster ids).
    seed : int
        The client sample (only when a class exceeds ``max_clients``).

    Returns
    -------
    ndarray, shape (M,), int64, sorted
    """
    V, y, budgets, E = _inputs(X, y, rate, n, K, embed)
    if E is None and tau is None:
        tau = similarity.tau_data(V, y, seed=seed)
    max_clients = v.check_int(max_clients, "max_clients", low=1)
    vote = y if vote_labels is None else vote_labels
    clean = label_agreement(V if E is None else None, vote, embed=E, neighbours=neighbours) if drop_ambiguous else None
    return facility_location_per_group(
        y, budgets, lambda clients, cand: _class_similarity(V, cand, clients, tau, E),
        candidates=clean, max_clients=max_clients, seed=seed,
    )  # fmt: skip


def facility_location_per_group(
    groups: np.ndarray,
    budgets: np.ndarray,
    similarity_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    candidates: np.ndarray | None = None,
    max_clients: int = 8192,
    seed: int = 0,
) -> np.ndarray:
    """Greedy facility location within each group under its budget: the one loop of every coverage method.

    Parameters
    ----------
    groups : ndarray, shape (N,), int
        Class labels, or one group (label-free).
    budgets : ndarray, shape (K,), int
        Images to pick in each group.
    similarity_of : callable
        ``similarity_of(clients, cand)`` -> ndarray, shape (len(clients), len(cand)), values
        >= 0: how well each candidate serves each client (pool indices in, Fortran order best).
    candidates : ndarray, shape (N,), bool, optional
        Images allowed as picks (e.g. label-consistent ones); a group with fewer allowed
        images than its budget picks among all its images. Every image stays a client.
    max_clients : int
        Clients per group: a seeded sample of larger groups.
    seed : int

    Returns
    -------
    ndarray, shape (sum(budgets),), int64, sorted
    """
    rng = np.random.default_rng(seed)
    chosen = []
    for k in np.flatnonzero(budgets):
        members = np.flatnonzero(groups == k)
        clients = members if members.size <= max_clients else np.sort(rng.choice(members, max_clients, replace=False))
        cand = members
        if candidates is not None and candidates[members].sum() >= budgets[k]:
            cand = members[candidates[members]]
        picks, _ = lazy_facility_location(similarity_of(clients, cand), int(budgets[k]))
        chosen.append(cand[picks])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def label_agreement(X: Any, y: Any, *, embed: Any = None, neighbours: int = 10, block_size: int = 512) -> np.ndarray:
    """Which images' nearest neighbours mostly share their label (not label-ambiguous).

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W) or (N, D), or None
        Images (pixel RMSD); None when ``embed`` is given.
    y : ndarray, shape (N,), int
    embed : ndarray, shape (N, d), optional
        Use ``1 - cosine`` of the embedding rows as the distance instead.
    neighbours : int
        The ``k`` nearest other images (at most ``N - 1``); ties to the lower index.
    block_size : int
        Rows per block: memory ``block_size x N``.

    Returns
    -------
    ndarray, shape (N,), bool
        True where at least half of the ``k`` nearest images have the image's label
        (:func:`xfactor_lib.similarity.label_vote`: the one vote and tie rule; study Q's
        label ambiguity is the share of False).
    """
    E = _embedding(embed, np.shape(y)[0]) if embed is not None else None
    V = None if E is not None else v.check_images(X)
    y, _ = v.check_labels(y, None if V is None else V.shape[0])
    k = v.check_int(neighbours, "neighbours", low=1, high=max(1, y.size - 1))
    out = np.empty(y.size, dtype=bool)
    if E is not None:
        starts = range(0, y.size, block_size)
        blocks = ((sl, 1.0 - E[sl] @ E.T) for sl in (slice(s, min(s + block_size, y.size)) for s in starts))
    else:
        blocks = similarity.iter_rmsd_blocks(V, V, block_size=block_size)  # V prepared once, not per block
    for rows, D in blocks:
        D[np.arange(D.shape[0]), np.arange(rows.start, rows.stop)] = np.inf  # not its own neighbour
        out[rows] = similarity.label_vote(y[similarity.nearest(D, k)], y[rows])
    return out


def k_center_select(
    X: Any,
    y: Any,
    *,
    rate: float | None = None,
    n: int | None = None,
    embed: Any = None,
    seed: int = 0,
    K: int | None = None,
) -> np.ndarray:
    """Farthest-first traversal per class (``k_center``): each pick is the image farthest
    from the picked ones (ties to the lower index); the first pick is a seeded random image.

    Parameters as :func:`coverage_select` (distances are pixel RMSD, or ``1 - cosine`` of
    ``embed``).

    Returns
    -------
    ndarray, shape (M,), int64, sorted
    """
    V, y, budgets, E = _inputs(X, y, rate, n, K, embed)
    rng = np.random.default_rng(seed)
    chosen = []
    for k in np.flatnonzero(budgets):
        members = np.flatnonzero(y == k)
        first = int(rng.integers(members.size))
        picks = [first]
        dist = _distances(V, E, members, first)
        for _ in range(int(budgets[k]) - 1):
            dist[picks[-1]] = -np.inf
            c = int(np.argmax(dist))
            picks.append(c)
            np.minimum(dist, _distances(V, E, members, c), out=dist)
        chosen.append(members[np.asarray(picks)])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def _distances(V: np.ndarray, E: np.ndarray | None, members: np.ndarray, c: int) -> np.ndarray:
    if E is not None:
        return 1.0 - E[members] @ E[members[c]]
    return similarity.pairwise_rmsd(V[members], V[members[c]][None])[:, 0]


def alpha_q(s: Any, q: float = 0.0) -> float:
    """``A_q`` of a one-hot image set from ``s_i = sum_{k in S, y_k = y_i} Z_ik`` (module notes).

    Parameters
    ----------
    s : ndarray, shape (N_S,), > 0
        Each image's similarity sum over the images *of its own class* (itself included).
    q : float >= 0 (``inf`` allowed)

    Returns
    -------
    float
        ``M_{1-q}`` of ``N_S / s_i`` with equal weights: greylock's raw metacommunity alpha.
    """
    s = np.asarray(s, dtype=np.float64)
    ratio = s.size / s
    if q == math.inf:
        return float(ratio.min())
    if abs(1.0 - q) <= 1e-8:
        return float(np.exp(np.log(ratio).mean()))
    return float(np.mean(ratio ** (1.0 - q)) ** (1.0 / (1.0 - q)))


def _term(s: np.ndarray, q: float) -> np.ndarray:
    """Each image's additive share of ``A_q`` (``s^(q-1)``, ``log s``, or ``s`` for the max)."""
    if q == math.inf:
        return s
    if abs(1.0 - q) <= 1e-8:
        return np.log(s)
    return s ** (q - 1.0)


def _alpha_from_total(total: np.ndarray, n: int, q: float) -> np.ndarray:
    """``A_q`` from the combined terms of ``n`` images (sum, or the max for ``q = inf``)."""
    if q == math.inf:
        return n / total
    if abs(1.0 - q) <= 1e-8:
        return n * np.exp(-total / n)
    return (total / n**q) ** (1.0 / (1.0 - q))


def a_max_select(
    X: Any,
    y: Any,
    *,
    rate: float | None = None,
    n: int | None = None,
    q: float = 0.0,
    tau: float = 1.0,
    K: int | None = None,
    return_values: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Greedy maximisation of ``A_q`` under class budgets (``a_max``).

    Each step adds, among images of classes with budget left, the one whose addition gives
    the largest ``A_q`` (ties to the lower index); the similarity is the study-A
    ``exp(-RMSD / tau)`` (``tau = 1``, the paper's). Raw alpha sees only similarities within
    a class, so a candidate changes the terms of its own class alone: one step costs
    ``sum_k |S_k| x |candidates_k|``.

    Parameters
    ----------
    X, y, rate, n, K
        As :func:`coverage_select`.
    q : float
        Viewpoint (``0``: the Alpha paper's ``A_0``).
    tau : float
        Similarity scale.
    return_values : bool
        Also return ``A_q`` after each pick.

    Returns
    -------
    ndarray, shape (M,), int64, sorted (and the values, shape (M,), in pick order)
    """
    V, y, budgets = _prepare(X, y, rate, n, K)
    if V is None:
        raise ValueError("a_max scores pixel similarities: give the images X")
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not q >= 0:
        raise ValueError(f"q must be a number >= 0, got {q!r}")
    members = [np.flatnonzero(y == k) for k in range(budgets.size)]
    left = budgets.copy()
    rows = [np.empty((int(b), m.size)) for b, m in zip(budgets, members)]  # per class: Z of each pick to the class
    picks: list[list[int]] = [[] for _ in members]  # per class: local positions of the picks
    s = [np.ones(m.size) for m in members]  # s of each image if it were picked now (1 = itself)
    order, values = [], []
    for t in range(int(budgets.sum())):
        terms = [_term(s[k][picks[k]], q) for k in range(len(members))]
        best_score, best = -np.inf, None
        for k in np.flatnonzero(left):
            open_ = np.ones(members[k].size, dtype=bool)
            open_[picks[k]] = False
            cand = np.flatnonzero(open_)
            other = [terms[j] for j in range(len(members)) if j != k and terms[j].size]
            mine = _term(s[k][picks[k]][:, None] + rows[k][: len(picks[k]), cand], q) if picks[k] else None
            new = _term(s[k][cand], q)[None]
            parts = [new] if mine is None else [mine, new]
            if q == math.inf:
                total = np.max(np.vstack(parts), axis=0)
                if other:
                    total = np.maximum(total, max(o.max() for o in other))
            else:
                total = np.sum(np.vstack(parts), axis=0) + sum(o.sum() for o in other)
            score = _alpha_from_total(total, t + 1, q)
            i = int(np.argmax(score))
            if score[i] > best_score or (score[i] == best_score and members[k][cand[i]] < members[best[0]][best[1]]):
                best_score, best = score[i], (int(k), int(cand[i]))
        k, c = best
        R = similarity.pairwise_rmsd(V[members[k]], V[members[k][c]][None])[:, 0]
        z = similarity.similarity_from_rmsd(R, tau=tau)
        z[c] = 1.0
        s[k] = s[k] + z
        s[k][c] -= 1.0  # its own s already counted itself
        rows[k][len(picks[k])] = z
        picks[k].append(c)
        left[k] -= 1
        order.append(int(members[k][c]))
        values.append(best_score)
    chosen = np.sort(np.asarray(order, dtype=np.int64))
    return (chosen, np.asarray(values, dtype=np.float64)) if return_values else chosen

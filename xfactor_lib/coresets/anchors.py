"""The low-budget anchors TypiClust and ProbCover (SPEC 5, "Baselines that quality-driven selection must beat").

Belongs to the package ``coresets/`` in the new layout (``coresets/anchors.py``); registered in
:mod:`xfactor_lib.coresets` as ``typiclust`` and ``probcover``. Both read images ``X`` (pixel
RMSD, the distance of ``coverage``) or an embedding ``embed`` (Euclidean distance of the
unit-norm rows, ``sqrt(2 - 2 cos)``: a monotone function of the cosine of ``coverage_emb``,
and the authors' own distance on their L2-normalised features). Each has a label-aware form
(class budgets, :func:`xfactor_lib.greedy.class_budgets`, as ``coverage``) and a label-free
one (``unlabeled=True``: the whole pool, labels never read; for choosing what to annotate).

- **TypiClust** (Hacohen et al., ICML 2022; followed from their released
  ``deep-al/pycls/al/typiclust.py``): k-means into as many clusters as the budget (at most
  500; scikit-learn ``KMeans`` up to 50 clusters, ``MiniBatchKMeans`` with batches of 5,000
  above, as theirs), clusters of at most 5 images dropped, the rest visited round-robin from
  the largest; each visit picks the cluster's most typical image not yet picked, typicality
  ``1 / (mean Euclidean distance to its k nearest other images of the cluster + 1e-5)`` with
  ``k = min(20, cluster size // 2)``, recomputed among the cluster's remaining images (theirs).
  Label-aware: the same within each class, with the class budget. Departures: when every
  cluster is that small (tiny classes) all are kept; a cluster emptied by earlier visits is
  skipped; a one-image cluster gives that image.
- **ProbCover** (Yehuda et al., NeurIPS 2022; released ``deep-al/pycls/al/prob_cover.py``):
  the directed graph ``x -> x'`` iff ``dist(x, x') < delta`` (sparse; every image is in its
  own ball), then greedy max coverage: pick the image whose ball holds the most uncovered
  images (ties to the lower index, their ``argmax``), mark them covered. ``delta`` is the
  largest radius at which at least ``purity`` (0.95) of the balls are pure: all images in the
  ball share the centre's label (label-aware) or k-means cluster id (label-free, their
  heuristic, with as many clusters as classes). It is computed exactly (:func:`purity_radius`)
  rather than on their grid of radii. Label-aware: the balls are cut to the image's class and
  each class is covered with its budget. Departure: once everything is covered their code
  would re-pick image 0; here the remaining picks go to the uncovered-free images of largest
  ball (ties to the lower index).

Memory: no ``N x N`` matrix; distances come in row blocks (``block_size`` x N), the radius
graph is sparse (CSR), k-means is scikit-learn's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import _validation as v
from . import greedy

__all__ = [
    "features",
    "knn_distances",
    "typicality",
    "kmeans_labels",
    "purity_radius",
    "radius_graph",
    "max_coverage",
    "typiclust_select",
    "probcover_select",
    "coreset_budget",
    "group_budgets",
]

#: TypiClust's released constants.
MIN_CLUSTER_SIZE, MAX_CLUSTERS, TYPICALITY_K = 5, 500, 20
_BLOCK = 1024


# --------------------------------------------------------------------------- representation
def features(X: Any = None, *, embed: Any = None) -> np.ndarray:
    """Rows whose Euclidean distance is the kernel's distance.

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W) or (N, D), optional
        Images (uint8 or float in [0, 1]); rows are scaled by ``1 / sqrt(D)`` so that the
        Euclidean distance is the pixel RMSD.
    embed : ndarray, shape (N, d), optional
        Used instead of ``X`` when given: rows scaled to unit norm.

    Returns
    -------
    ndarray, shape (N, D) or (N, d), float32
    """
    if embed is not None:
        E = np.asarray(embed, dtype=np.float64)
        if E.ndim != 2 or E.shape[0] == 0:
            raise ValueError(f"embed must have shape (N, d) with N >= 1, got {E.shape}")
        norms = np.linalg.norm(E, axis=1, keepdims=True)
        if not np.isfinite(E).all() or (norms == 0).any():
            raise ValueError("embed has non-finite or all-zero rows; the cosine distance is undefined there")
        return (E / norms).astype(np.float32)
    if X is None:
        raise ValueError("give the images X or an embedding embed=")
    F = v.as_float(X, dtype=np.float32)
    F /= np.float32(math.sqrt(F.shape[1]))
    return F


def _sq_norms(F: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", F, F, dtype=np.float64).astype(np.float32)


def _block_distances(A: np.ndarray, nA: np.ndarray, B: np.ndarray, nB: np.ndarray) -> np.ndarray:
    """Euclidean distances ``(len(A), len(B))`` of one block, float32, >= 0."""
    D2 = A @ B.T
    D2 *= -2.0
    D2 += nA[:, None]
    D2 += nB[None, :]
    np.maximum(D2, 0.0, out=D2)
    return np.sqrt(D2, out=D2)


def knn_distances(F: Any, k: int, *, block_size: int = _BLOCK) -> np.ndarray:
    """Distances to the ``k`` nearest *other* rows, ascending, computed in row blocks.

    Parameters
    ----------
    F : ndarray, shape (N, d)
        Rows from :func:`features`.
    k : int
        ``1 <= k <= N - 1``.
    block_size : int
        Rows per block: memory ``block_size x N``.

    Returns
    -------
    ndarray, shape (N, k), float32
    """
    F = np.ascontiguousarray(F, dtype=np.float32)
    N = F.shape[0]
    k = v.check_int(k, "k", low=1, high=max(1, N - 1))
    if N < 2:
        raise ValueError("nearest neighbours need at least 2 rows")
    norms = _sq_norms(F)
    out = np.empty((N, k), dtype=np.float32)
    for start in range(0, N, block_size):
        stop = min(start + block_size, N)
        D = _block_distances(F[start:stop], norms[start:stop], F, norms)
        D[np.arange(stop - start), np.arange(start, stop)] = np.inf  # not its own neighbour
        out[start:stop] = np.sort(np.partition(D, k - 1, axis=1)[:, :k], axis=1)
    return out


def typicality(F: Any, k: int = TYPICALITY_K) -> np.ndarray:
    """TypiClust's typicality ``1 / (mean distance to the k nearest other rows + 1e-5)``.

    Parameters
    ----------
    F : ndarray, shape (N, d), N >= 2
    k : int
        Neighbours, capped at ``N - 1``.

    Returns
    -------
    ndarray, shape (N,), float64
    """
    F = np.asarray(F, dtype=np.float32)
    d = knn_distances(F, min(v.check_int(k, "k", low=1), F.shape[0] - 1))
    return 1.0 / (d.mean(axis=1, dtype=np.float64) + 1e-5)


def kmeans_labels(F: Any, n_clusters: int, *, seed: int = 0) -> np.ndarray:
    """k-means cluster ids as TypiClust runs it: ``KMeans`` up to 50 clusters, else
    ``MiniBatchKMeans`` (batches of 5,000); seeded.

    Parameters
    ----------
    F : ndarray, shape (N, d)
    n_clusters : int, ``1 <= n_clusters <= N``

    Returns
    -------
    ndarray, shape (N,), int64
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    F = np.asarray(F, dtype=np.float32)
    n_clusters = v.check_int(n_clusters, "n_clusters", low=1, high=F.shape[0])
    if n_clusters == 1:
        return np.zeros(F.shape[0], dtype=np.int64)
    if n_clusters <= 50:
        km = KMeans(n_clusters=n_clusters, n_init=1, random_state=seed)
    else:
        km = MiniBatchKMeans(n_clusters=n_clusters, batch_size=5000, n_init=1, random_state=seed)
    return km.fit_predict(F).astype(np.int64)


# --------------------------------------------------------------------------- budgets
def coreset_budget(N: int, rate: float) -> int:
    """``M = ceil(rate x N)`` (as :func:`xfactor_lib.coresets.coreset_size`)."""
    return max(1, int(math.ceil(round(v.check_rate(rate) * v.check_int(N, "N", low=1), 9))))


def group_budgets(y: Any, N: int, rate: float | None, n: int | None, unlabeled: bool, K: int | None) -> tuple:
    """Groups (labels, or one group when unlabeled) and the images to pick per group."""
    if (rate is None) == (n is None):
        raise ValueError("give exactly one of rate= (a fraction of all images) or n= (images per class)")
    if unlabeled:
        if n is not None:
            raise ValueError("n= (images per class) needs labels; give rate= with unlabeled=True")
        return np.zeros(N, dtype=np.int64), np.array([coreset_budget(N, rate)], dtype=np.int64)
    if y is None:
        raise ValueError("labels y are needed for class budgets; pass y= or unlabeled=True")
    y, K = v.check_labels(y, N, K=K)
    if rate is not None:
        return y, greedy.class_budgets(y, coreset_budget(N, rate), K=K)
    n = v.check_int(n, "n", low=1)
    counts = np.bincount(y, minlength=K)
    if (counts < n).any():
        bad = int(np.argmax(counts < n))
        raise ValueError(f"n = {n} images per class but class {bad} has only {int(counts[bad])}")
    return y, np.full(K, n, dtype=np.int64)


def _rows(X: Any, y: Any, embed: Any) -> np.ndarray:
    F = features(X, embed=embed)
    if y is not None and np.shape(y)[0] != F.shape[0]:
        raise ValueError(f"y has {np.shape(y)[0]} labels but there are {F.shape[0]} images")
    return F


# --------------------------------------------------------------------------- TypiClust
def _typiclust_group(F: np.ndarray, budget: int, *, seed: int, neighbours: int) -> np.ndarray:
    """TypiClust picks (positions in ``F``) with ``budget`` clusters in one group."""
    n_clusters = min(budget, MAX_CLUSTERS, F.shape[0])
    labels = kmeans_labels(F, n_clusters, seed=seed)
    ids, sizes = np.unique(labels, return_counts=True)
    keep = sizes > MIN_CLUSTER_SIZE
    if keep.any():
        ids, sizes = ids[keep], sizes[keep]
    order = ids[np.lexsort((ids, -sizes))]  # largest first, ties to the lower id
    members = {int(c): np.flatnonzero(labels == c) for c in order}
    picks: list[int] = []
    visit = 0
    while len(picks) < budget:
        live = [c for c in order if members[int(c)].size]
        if not live:  # every kept cluster used up: the dropped small clusters' images remain
            rest = np.setdiff1d(np.arange(F.shape[0]), picks)
            picks += rest[: budget - len(picks)].tolist()
            break
        c = int(live[visit % len(live)])
        idx = members[c]
        if idx.size == 1:
            best = 0
        else:
            best = int(np.argmax(typicality(F[idx], min(neighbours, idx.size // 2) or 1)))
        picks.append(int(idx[best]))
        members[c] = np.delete(idx, best)
        visit += 1
    return np.asarray(picks, dtype=np.int64)


def typiclust_select(
    X: Any = None,
    y: Any = None,
    *,
    rate: float | None = None,
    n: int | None = None,
    embed: Any = None,
    unlabeled: bool = False,
    neighbours: int = TYPICALITY_K,
    seed: int = 0,
    K: int | None = None,
) -> np.ndarray:
    """TypiClust (module notes): the most typical image of each of ``budget`` k-means clusters.

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W) or (N, D), optional
        Images (pixel RMSD); ignored when ``embed`` is given.
    y : ndarray, shape (N,), int, optional
        Labels (class budgets); not read with ``unlabeled=True``.
    rate : float, optional
        Fraction of all N images, ``M = ceil(rate x N)``.
    n : int, optional
        Images per class instead of ``rate`` (label-aware only).
    embed : ndarray, shape (N, d), optional
        Cluster and measure typicality on the unit-norm rows of this embedding.
    unlabeled : bool
        Cluster the whole pool into M clusters (label-free).
    neighbours : int
        Typicality's k (20, theirs), capped at half the cluster.
    seed : int
        k-means seed.
    K : int, optional
        Number of classes (default ``y.max() + 1``).

    Returns
    -------
    ndarray, shape (M,), int64, sorted
    """
    F = _rows(X, y, embed)
    groups, budgets = group_budgets(y, F.shape[0], rate, n, unlabeled, K)
    neighbours = v.check_int(neighbours, "neighbours", low=1)
    chosen = []
    for k in np.flatnonzero(budgets):
        members = np.flatnonzero(groups == k)
        chosen.append(members[_typiclust_group(F[members], int(budgets[k]), seed=seed, neighbours=neighbours)])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


# --------------------------------------------------------------------------- ProbCover
def purity_radius(
    F: Any, labels: Any, *, purity: float = 0.95, sample: int = 5000, seed: int = 0, block_size: int = _BLOCK
) -> float:
    """The largest ``delta`` at which at least ``purity`` of the balls ``{x' : d(x, x') < delta}`` are pure.

    A ball is pure when every image in it has its centre's label: exactly when ``delta <=
    r_x``, the distance from ``x`` to the nearest image of another label. So the share of pure
    balls at ``delta`` is the share of ``r_x >= delta``, and the answer is an order statistic
    of ``r``: ``r_(m)`` (ascending, 1-based) with ``m = N - ceil(purity x N) + 1``.

    Parameters
    ----------
    F : ndarray, shape (N, d)
        Rows from :func:`features`.
    labels : ndarray, shape (N,), int
        Class labels, or cluster ids (label-free).
    purity : float in (0, 1]
    sample : int
        Centres ``x`` the share is measured over: a seeded sample of this many when N is
        larger (the distances still reach all N images); 0 for all.
    seed : int
    block_size : int

    Returns
    -------
    float
        ``delta``; ``inf`` when a single label holds every image (every ball is pure).
    """
    F = np.ascontiguousarray(F, dtype=np.float32)
    labels, _ = v.check_labels(labels, F.shape[0], what="labels")
    if not 0 < purity <= 1:
        raise ValueError(f"purity must be in (0, 1], got {purity!r}")
    sample = v.check_int(sample, "sample", low=0)
    centres = np.arange(F.shape[0])
    if sample and F.shape[0] > sample:
        centres = np.sort(np.random.default_rng(seed).choice(F.shape[0], sample, replace=False))
    norms = _sq_norms(F)
    r = np.empty(centres.size, dtype=np.float64)
    for start in range(0, centres.size, block_size):
        rows = centres[start : start + block_size]
        D = _block_distances(F[rows], norms[rows], F, norms)
        D[labels[rows][:, None] == labels[None, :]] = np.inf
        r[start : start + rows.size] = D.min(axis=1)
    r.sort()
    m = r.size - math.ceil(round(purity * r.size, 9)) + 1
    return float(r[m - 1])


def radius_graph(F: Any, delta: float, *, groups: Any = None, block_size: int = _BLOCK) -> sp.csr_matrix:
    """Sparse ball graph: ``G[x, x'] = True`` iff ``d(x, x') < delta`` (and, with ``groups``,
    ``x`` and ``x'`` are in the same group); the diagonal is always set.

    Parameters
    ----------
    F : ndarray, shape (N, d)
    delta : float > 0
    groups : ndarray, shape (N,), int, optional
        Only pairs within a group are tested (label-aware ProbCover: the class).
    block_size : int

    Returns
    -------
    scipy.sparse.csr_matrix, shape (N, N), bool (symmetric)
    """
    F = np.ascontiguousarray(F, dtype=np.float32)
    N = F.shape[0]
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta!r}")
    groups = np.zeros(N, dtype=np.int64) if groups is None else v.check_labels(groups, N, what="groups")[0]
    norms = _sq_norms(F)
    rows_all, cols_all = [np.arange(N)], [np.arange(N)]
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        for start in range(0, members.size, block_size):
            rows = members[start : start + block_size]
            D = _block_distances(F[rows], norms[rows], F[members], norms[members])
            i, j = np.nonzero(D < delta)
            rows_all.append(rows[i])
            cols_all.append(members[j])
    r, c = np.concatenate(rows_all), np.concatenate(cols_all)
    G = sp.csr_matrix((np.ones(r.size, dtype=bool), (r, c)), shape=(N, N))
    G.sum_duplicates()  # the diagonal appears twice
    G.data[:] = True
    return G


def max_coverage(G: Any, budget: int) -> np.ndarray:
    """ProbCover's greedy: each pick is the row whose ball holds the most uncovered images.

    Parameters
    ----------
    G : scipy.sparse matrix, shape (N, N), bool, symmetric
        :func:`radius_graph`.
    budget : int, ``0 <= budget <= N``

    Returns
    -------
    ndarray, shape (budget,), int64
        Rows in the order picked, ties to the lower index; once every image is covered the
        rest go to the unpicked rows of largest ball.
    """
    G = sp.csr_matrix(G, dtype=bool)
    N = G.shape[0]
    budget = v.check_int(budget, "budget", low=0, high=N)
    degree = np.diff(G.indptr).astype(np.int64)  # uncovered images in each ball
    full = degree.copy()
    covered = np.zeros(N, dtype=bool)
    picked = np.zeros(N, dtype=bool)
    picks = []
    for _ in range(budget):
        gain = np.where(picked, -1, degree)
        c = int(np.argmax(gain))
        if gain[c] <= 0:
            rest = np.flatnonzero(~picked)
            c = int(rest[np.lexsort((rest, -full[rest]))[0]])
        picks.append(c)
        picked[c] = True
        ball = G.indices[G.indptr[c] : G.indptr[c + 1]]
        new = ball[~covered[ball]]
        if new.size:
            covered[new] = True
            # the graph is symmetric: the balls holding a newly covered image are its own ball's rows
            hit = np.concatenate([G.indices[G.indptr[j] : G.indptr[j + 1]] for j in new])
            degree -= np.bincount(hit, minlength=N)
    return np.asarray(picks, dtype=np.int64)


def probcover_select(
    X: Any = None,
    y: Any = None,
    *,
    rate: float | None = None,
    n: int | None = None,
    embed: Any = None,
    unlabeled: bool = False,
    purity: float = 0.95,
    delta: float | None = None,
    n_clusters: int = 10,
    seed: int = 0,
    K: int | None = None,
) -> np.ndarray:
    """ProbCover (module notes): greedy max coverage of ``delta``-balls.

    Parameters
    ----------
    X, y, rate, n, embed, unlabeled, K
        As :func:`typiclust_select`.
    purity : float
        ``delta`` is the largest radius with at least this share of pure balls
        (:func:`purity_radius`, by labels, or by k-means ids when ``unlabeled``).
    delta : float, optional
        Use this radius instead.
    n_clusters : int
        k-means clusters for the label-free purity (the classes one expects; their
        heuristic uses the true number of classes).
    seed : int
        k-means seed and the purity sample on pools above 5,000 images.

    Returns
    -------
    ndarray, shape (M,), int64, sorted
    """
    F = _rows(X, y, embed)
    groups, budgets = group_budgets(y, F.shape[0], rate, n, unlabeled, K)
    if delta is None:
        if unlabeled:
            pure_by = kmeans_labels(F, min(v.check_int(n_clusters, "n_clusters", low=1), F.shape[0]), seed=seed)
        else:
            pure_by = groups
        delta = purity_radius(F, pure_by, purity=purity, seed=seed)
    if not delta > 0:
        raise ValueError(
            f"the purity radius is {delta}: identical images carry different labels; pass delta= explicitly"
        )
    if math.isinf(delta):
        delta = float(np.finfo(np.float32).max)
    G = radius_graph(F, delta, groups=groups)
    chosen = []
    for k in np.flatnonzero(budgets):
        members = np.flatnonzero(groups == k)
        chosen.append(members[max_coverage(G[members][:, members], int(budgets[k]))])
    return np.sort(np.concatenate(chosen)).astype(np.int64)

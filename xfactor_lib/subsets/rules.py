"""How subsets choose their images: the study X selection rules and the study A count vectors.

Pure functions of arrays (no manifests, no ids: those are :mod:`xfactor_lib.subsets`), so
each one is pinned by a brute-force reference in ``tests/test_subsets.py``. Kept apart from
the manifests so that either module reads at once (together they passed 700 lines).

Selection rules (SPEC 1 "Strategies"), within one class of ``n + m`` candidates:

- ``uniqueness``  + : while more than ``n`` remain, take the remaining pair with the
  smallest RMSD; for each of the two, its RMSD to the nearest remaining image other than
  its partner (its second-nearest neighbour); discard the one whose distance is smaller.
  - : the mirror (largest pair; second-furthest; discard the larger).
- ``global_mean``: mean RMSD to all class means; + keeps the ``n`` largest, - the smallest.
- ``other_mean``: max RMSD to the other classes' means; + keeps the largest, - the smallest.
- ``own_mean``: RMSD to the own class mean; + keeps the smallest, - the largest.

Ties always favour the lower index (into the candidates, which are sorted by their index
in the split, so: the lower training-split index). For scores the lower index is kept; for
uniqueness the pair is the lexicographically first one among equal distances, and when
the two second-neighbour distances are equal the higher index of the pair is discarded.
When only two candidates remain (``n = 1``) neither has a second neighbour: the higher
index is discarded. RMSD and class means come from :mod:`xfactor_lib.similarity`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import as_float, check_choice, check_images, check_int
from ..similarity import pairwise_rmsd, rmsd_to_images

__all__ = [
    "STRATEGIES",
    "DIRECTIONS",
    "keep_indices",
    "keep_uniqueness",
    "keep_by_score",
    "check_means",
    "draw_class_counts",
]

STRATEGIES = ("uniqueness", "global_mean", "other_mean", "own_mean")
DIRECTIONS = ("+", "-")


def check_means(class_means: Any, D: int) -> np.ndarray:
    """``class_means`` as float pixels ``(K, D)`` in [0, 1] (uint8 grey levels are divided by 255)."""
    if class_means is None:
        raise ValueError("the mean strategies need class_means, shape (K, D); see similarity.class_means")
    mu = as_float(class_means, "class_means")
    if np.ndim(class_means) != 2 or mu.shape[1] != D:
        raise ValueError(f"class_means must have shape (K, D) with D = {D}, got {np.shape(class_means)}")
    return mu


# --------------------------------------------------------------------------- study X
def keep_uniqueness(dist: np.ndarray, n: int, direction: str, *, overwrite: bool = False) -> np.ndarray:
    """Sorted indices of the ``n`` candidates uniqueness selection keeps.

    Parameters
    ----------
    dist : ndarray, shape (M, M)
        Symmetric RMSD matrix of the candidates.
    n : int
        Candidates to keep, ``1 <= n <= M``.
    direction : {"+", "-"}
    overwrite : bool
        Use ``dist`` as the work matrix (its contents are destroyed) instead of a copy.

    Returns
    -------
    ndarray, shape (n,), int64

    Notes
    -----
    The "-" rule is the "+" rule on ``-dist`` (the largest distance is the smallest negated
    one, ties included), so one loop serves both. The work matrix ``W`` holds the
    distances with ``+inf`` on the diagonal and in the column of every removed point, so a
    row's minimum is its nearest *remaining* neighbour.

    For every point ``nn`` / ``d1`` hold a nearest neighbour and its distance as of the
    last scan of its row. Removals only make nearest distances grow, so ``d1`` is a lower
    bound that is exact while ``nn`` is alive (and ``nn`` is then still the lowest-index
    nearest). Each step takes ``i = argmin(d1)`` (the first minimum); if ``nn[i]`` was
    removed, row ``i`` is rescanned and the step retried (lazy repair: in "-", where many
    points share one furthest neighbour, only the rows that reach the top are repaired).
    When ``nn[i]`` is alive, ``d1[i]`` is the global minimum and ``i`` the lowest index of
    any closest pair, ``j = nn[i]`` its lowest-index partner: the lexicographically first
    closest pair, with ``i < j``. Two row scans give the second-nearest distances. Each
    removal is O(M) vectorized work plus one O(M) scan per repaired row; memory is the one
    (M, M) matrix.
    """
    M = dist.shape[0]
    if direction == "+":
        W = dist if overwrite else dist.copy()
    else:
        W = np.negative(dist, out=dist if overwrite else None)
    np.fill_diagonal(W, np.inf)
    nn = W.argmin(axis=1)  # first minimum: ties go to the lower index
    d1 = W[np.arange(M), nn]
    alive = np.ones(M, dtype=bool)
    inf = np.inf
    for _ in range(M - n):
        while True:
            i = int(d1.argmin())
            j = int(nn[i])
            if alive[j]:
                break
            Wi = W[i]  # stale: nn[i] was removed; rescan and look again
            a = int(Wi.argmin())
            nn[i] = a
            d1[i] = Wi[a]
        Wi, Wj = W[i], W[j]
        wij, wji = Wi[j], Wj[i]
        Wi[j] = Wj[i] = inf  # hide the partner: the row minimum is the second-nearest
        s_i = Wi[Wi.argmin()]
        s_j = Wj[Wj.argmin()]
        Wi[j], Wj[i] = wij, wji
        r = i if s_i < s_j else j  # equal, or both without a second neighbour: keep i
        W[:, r] = inf
        alive[r] = False
        d1[r] = inf
    return np.flatnonzero(alive).astype(np.int64)


def keep_by_score(dmeans: np.ndarray, n: int, strategy: str, direction: str, label: int) -> np.ndarray:
    """Sorted indices of the ``n`` candidates a mean rule keeps, from their RMSD to every class mean."""
    if strategy == "global_mean":
        score, plus_keeps_largest = dmeans.mean(axis=1), True
    elif strategy == "other_mean":
        if dmeans.shape[1] < 2:
            raise ValueError("other_mean needs at least 2 classes (K >= 2)")
        score, plus_keeps_largest = np.delete(dmeans, label, axis=1).max(axis=1), True
    else:  # own_mean: + keeps the images nearest their class mean
        score, plus_keeps_largest = dmeans[:, label], False
    key = -score if plus_keeps_largest == (direction == "+") else score
    order = np.argsort(key, kind="stable")  # stable: equal scores keep the lower index first
    return np.sort(order[:n]).astype(np.int64)


def keep_indices(
    Xc: Any, n: int, strategy: str, direction: str, class_means: Any = None, label: int | None = None
) -> np.ndarray:
    """Which of one class's ``n + m`` candidates a selection rule keeps.

    Parameters
    ----------
    Xc : ndarray, shape (n + m, D) float in [0, 1], or uint8 (n + m, C, H, W)
        The candidates of class ``label``. Ties favour the lower row.
    n : int
        Images to keep, ``1 <= n <= len(Xc)``.
    strategy : {"uniqueness", "global_mean", "other_mean", "own_mean"}
    direction : {"+", "-"}
    class_means : ndarray, shape (K, D), optional
        Mean image of every class over the full split; needed by the mean strategies.
    label : int, optional
        The candidates' class, ``0 <= label < K``; needed by ``other_mean`` / ``own_mean``.

    Returns
    -------
    ndarray, shape (n,), int64
        Sorted row indices into ``Xc``.
    """
    V = check_images(Xc, "Xc")
    M = V.shape[0]
    n = check_int(n, "n", low=1)
    if n > M:
        raise ValueError(f"cannot keep n = {n} of only {M} candidates; pass n + m rows with m >= 0")
    check_choice(strategy, "strategy", STRATEGIES)
    check_choice(direction, "direction", DIRECTIONS)
    if strategy == "uniqueness":
        if n == M:
            return np.arange(M, dtype=np.int64)
        dist = pairwise_rmsd(V, block_size=M)  # one block: bitwise symmetric
        return keep_uniqueness(dist, n, direction, overwrite=True)
    mu = check_means(class_means, V.shape[1])
    if label is None and strategy != "global_mean":
        raise ValueError(f"{strategy} needs the candidates' class: pass label")
    label = 0 if label is None else check_int(label, "label", high=mu.shape[0] - 1)
    return keep_by_score(rmsd_to_images(V, mu), n, strategy, direction, label)


# --------------------------------------------------------------------------- study A
def _repair_caps(counts: np.ndarray, caps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Move the images above a class's size to classes with room, in proportion to room."""
    for row in np.flatnonzero((counts > caps).any(axis=1)):
        n = counts[row]
        excess = int(np.maximum(n - caps, 0).sum())
        np.minimum(n, caps, out=n)
        while excess:
            room = caps - n
            n += rng.multinomial(excess, room / room.sum())
            over = np.maximum(n - caps, 0)
            excess = int(over.sum())
            n -= over
    return counts


def draw_class_counts(rng: np.random.Generator, caps: np.ndarray, size: int, n_draws: int) -> np.ndarray:
    """Count vectors ``(n_draws + 2K, K)``: each ``1 <= n_i <= caps[i]``, summing to ``size``.

    A third are uniform compositions (Dirichlet(1)-multinomial is uniform over them), a
    third symmetric Dirichlet with concentration log-uniform in [0.01, 100] (small values
    give strong imbalance), a third dominated by a random group of 1..K-1 classes that
    carries all but a fraction 10**U(-3, 0) of the mass. Then the deterministic extremes:
    each class as large as it can be with all others at 1, and each near-equal split.
    """
    K = caps.size
    free = size - K
    thirds = [n_draws // 3, n_draws // 3, n_draws - 2 * (n_draws // 3)]
    p_uniform = rng.dirichlet(np.ones(K), size=thirds[0])
    alpha = 10.0 ** rng.uniform(-2, 2, size=thirds[1])
    p_dirichlet = rng.gamma(alpha[:, None], size=(thirds[1], K))
    p_dominant = np.empty((thirds[2], K))
    for t in range(thirds[2]):
        d = rng.integers(1, K)
        dominant = rng.permutation(K)[:d]
        eps = 10.0 ** rng.uniform(-3, 0)
        p = np.full(K, eps / (K - d))
        p[dominant] = (1 - eps) * rng.dirichlet(np.ones(d))
        p_dominant[t] = p
    p = np.vstack([p_uniform, p_dirichlet, p_dominant])
    sums = p.sum(axis=1, keepdims=True)
    degenerate = ~(sums[:, 0] > 0) | ~np.isfinite(sums[:, 0])  # gamma underflow at tiny alpha
    p[degenerate] = np.eye(K)[rng.integers(0, K, size=int(degenerate.sum()))]
    p /= p.sum(axis=1, keepdims=True)
    counts = 1 + rng.multinomial(free, p)
    extremes = np.ones((2 * K, K), dtype=np.int64)
    extremes[np.arange(K), np.arange(K)] += free
    base, rest = divmod(size, K)
    for k in range(K):  # near-equal splits, the remainder starting at class k
        extremes[K + k] = base
        extremes[K + k, (k + np.arange(rest)) % K] += 1
    counts = np.vstack([counts, extremes]).astype(np.int64)
    return _repair_caps(counts, caps, rng)

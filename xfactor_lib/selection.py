"""Subsets of a training split: random, selected (study X) and class-balance (study A).

Every function returns a *manifest*: a DataFrame with one row per subset and the columns of
``docs/architecture.md`` (``subset_id, study, dataset, size, kind, strategy, direction, m,
repeat, seed, indices``; study A adds ``class_counts, cb_1`` and ``cb_bin``). ``indices``
are sorted int64 indices into the training split (an ndarray per row; a list column in
parquet). Subset ids are built from the parameters, and every random draw comes from a
``numpy.random.SeedSequence`` of ``(seed, stream, parameters...)``, so one subset never
depends on which other subsets were asked for.

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
index is discarded.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .similarity import _check_labels, _flat_images, class_means as _class_means
from .similarity import pairwise_rmsd, rmsd_to_images

__all__ = [
    "STRATEGIES",
    "DIRECTIONS",
    "MS",
    "SIZES",
    "MANIFEST_COLUMNS",
    "keep_indices",
    "candidate_indices",
    "random_subsets",
    "selected_subsets",
    "study_x_manifest",
    "balance_subsets",
    "class_balance",
    "manifest_indices",
    "skipped_table",
]

STRATEGIES = ("uniqueness", "global_mean", "other_mean", "own_mean")
DIRECTIONS = ("+", "-")
#: Extra candidates per class of study X.
MS = (6, 10, 20, 30, 60, 100, 200, 300, 600, 1000)
#: Images per class of study X.
SIZES = (10, 30, 100, 300, 1000)
MANIFEST_COLUMNS = ["subset_id", "study", "dataset", "size", "kind", "strategy", "direction",
                    "m", "repeat", "seed", "indices"]

# Independent random streams per kind of draw (first words of the SeedSequence after seed).
_RANDOM_STREAM, _SELECTED_STREAM, _BALANCE_STREAM = 0, 1, 2


# --------------------------------------------------------------------------- validation
def _check_int(value: object, what: str, *, low: int = 0, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {value!r}")
    value = int(value)
    if value < low:
        raise ValueError(f"{what} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{what} must be <= {high}, got {value}")
    return value


def _check_choice(value: object, what: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; use one of {', '.join(map(repr, allowed))}")
    return value  # type: ignore[return-value]


def _check_choices(values: Iterable[str] | str, what: str, allowed: Sequence[str]) -> list[str]:
    if isinstance(values, str):
        values = [values]
    values = list(values)
    for v in values:
        _check_choice(v, what, allowed)
    if len(set(values)) != len(values) or not values:
        raise ValueError(f"{what}s must be distinct and non-empty, got {values}")
    return values


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise ValueError(f"{what} must be a non-empty string without spaces, got {value!r}")
    return value


def _check_means(class_means: object, D: int) -> np.ndarray:
    if class_means is None:
        raise ValueError("the mean strategies need class_means, shape (K, D); see similarity.class_means")
    mu = np.asarray(class_means)
    if mu.ndim != 2 or mu.shape[1] != D:
        raise ValueError(f"class_means must have shape (K, D) with D = {D}, got {mu.shape}")
    if mu.dtype == np.uint8:
        return mu / 255.0
    return _flat_images(mu, "class_means").astype(np.float64)


def _class_members(y: np.ndarray, K: int) -> list[np.ndarray]:
    order = np.argsort(y, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(y, minlength=K))])
    return [order[bounds[k]:bounds[k + 1]] for k in range(K)]


def _labels(y: object, K: int | None = None) -> tuple[np.ndarray, int, np.ndarray]:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must have shape (N,), got {y.shape}")
    y, K = _check_labels(y, y.shape[0], K)
    sizes = np.bincount(y, minlength=K)
    if (sizes == 0).any():
        raise ValueError(
            f"class(es) {np.flatnonzero(sizes == 0).tolist()} have no image in y; labels must "
            f"cover 0..{K - 1}"
        )
    return y, K, sizes


def _rng(seed: int, *words: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *words]))


# --------------------------------------------------------------------------- the rules
def _keep_uniqueness(dist: np.ndarray, n: int, direction: str, *, overwrite: bool = False) -> np.ndarray:
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
    return np.flatnonzero(alive)


def _mean_scores(dmeans: np.ndarray, strategy: str, label: int) -> tuple[np.ndarray, bool]:
    """Per-candidate score and whether "+" keeps the largest scores."""
    if strategy == "global_mean":
        return dmeans.mean(axis=1), True
    if strategy == "other_mean":
        if dmeans.shape[1] < 2:
            raise ValueError("other_mean needs at least 2 classes (K >= 2)")
        return np.delete(dmeans, label, axis=1).max(axis=1), True
    return dmeans[:, label], False  # own_mean: + keeps the images nearest their class mean


def _keep_by_score(dmeans: np.ndarray, n: int, strategy: str, direction: str, label: int) -> np.ndarray:
    score, plus_keeps_largest = _mean_scores(dmeans, strategy, label)
    keep_largest = plus_keeps_largest == (direction == "+")
    key = -score if keep_largest else score
    order = np.argsort(key, kind="stable")  # stable: equal scores keep the lower index first
    return np.sort(order[:n])


def keep_indices(Xc: object, n: int, strategy: str, direction: str,
                 class_means: object = None, label: int | None = None) -> np.ndarray:
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
    V = _flat_images(Xc, "Xc")
    M = V.shape[0]
    n = _check_int(n, "n", low=1)
    if n > M:
        raise ValueError(f"cannot keep n = {n} of only {M} candidates; pass n + m rows with m >= 0")
    _check_choice(strategy, "strategy", STRATEGIES)
    _check_choice(direction, "direction", DIRECTIONS)
    if strategy == "uniqueness":
        if n == M:
            return np.arange(M, dtype=np.int64)
        dist = pairwise_rmsd(V, block_size=M)  # one block: bitwise symmetric
        return _keep_uniqueness(dist, n, direction, overwrite=True).astype(np.int64)
    mu = _check_means(class_means, V.shape[1])
    if strategy == "global_mean":
        label = 0 if label is None else _check_int(label, "label", high=mu.shape[0] - 1)
    else:
        if label is None:
            raise ValueError(f"{strategy} needs the candidates' class: pass label")
        label = _check_int(label, "label", high=mu.shape[0] - 1)
    return _keep_by_score(rmsd_to_images(V, mu), n, strategy, direction, label).astype(np.int64)


# --------------------------------------------------------------------------- manifests
def _manifest(rows: list[dict], extra: Sequence[str] = ()) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS + list(extra))
    for col in ("size", "m", "repeat", "seed"):
        df[col] = df[col].astype(np.int64)
    return df


def manifest_indices(row: pd.Series | dict) -> np.ndarray:
    """The sorted int64 training-split indices of one manifest row.

    Parameters
    ----------
    row : pandas Series or dict
        A manifest row (``manifest.iloc[i]``), or anything with an ``indices`` entry.

    Returns
    -------
    ndarray, shape (size * K,) for study X or (size,) for study A, int64
    """
    try:
        idx = row["indices"]
    except (KeyError, IndexError, TypeError) as exc:
        raise KeyError("a manifest row needs an 'indices' entry") from exc
    return np.asarray(idx, dtype=np.int64)


def _random_id(study: str, dataset: str, n: int, r: int, seed: int) -> str:
    return f"{study}-{dataset}-n{n}-random-r{r}-s{seed}"


def _selected_id(study: str, dataset: str, n: int, strategy: str, direction: str, m: int,
                 r: int, seed: int) -> str:
    return f"{study}-{dataset}-n{n}-selected-{strategy}{direction}-m{m}-r{r}-s{seed}"


def random_subsets(y: object, n: int, n_subsets: int, *, seed: int, dataset: str = "mnist",
                   study: str = "x") -> pd.DataFrame:
    """Class-balanced random subsets: ``n`` images of every class, uniformly at random.

    Parameters
    ----------
    y : ndarray, shape (N,), int
        Labels of the training split.
    n : int
        Images per class; at most the smallest class's size.
    n_subsets : int
        Number of subsets. Subset ``r`` depends only on ``(seed, n, r)``, so asking for
        more subsets keeps the first ones.
    seed : int
    dataset, study : str
        Written into the manifest and the ids.

    Returns
    -------
    DataFrame
        Manifest, one row per subset, ``kind = "random"``, ``size = n``,
        ``indices`` of length ``n * K``.
    """
    y, K, sizes = _labels(y)
    n = _check_int(n, "n", low=1)
    n_subsets = _check_int(n_subsets, "n_subsets", low=0)
    seed = _check_int(seed, "seed")
    dataset, study = _check_name(dataset, "dataset"), _check_name(study, "study")
    if n > sizes.min():
        k = int(sizes.argmin())
        raise ValueError(f"n = {n} images per class exceeds class {k}, which has {sizes[k]} images")
    members = _class_members(y, K)
    rows = []
    for r in range(n_subsets):
        rng = _rng(seed, _RANDOM_STREAM, n, r)
        idx = np.sort(np.concatenate([rng.choice(members[k], n, replace=False) for k in range(K)]))
        rows.append(dict(subset_id=_random_id(study, dataset, n, r, seed), study=study, dataset=dataset,
                         size=n, kind="random", strategy="none", direction="none", m=0, repeat=r,
                         seed=seed, indices=idx.astype(np.int64)))
    return _manifest(rows)


def candidate_indices(y: object, n: int, m: int, repeat: int, *, seed: int) -> np.ndarray:
    """The ``n + m`` random candidates of every class for one (n, m, repeat).

    All strategies and both directions of one ``(n, m, repeat)`` share these candidates,
    so their subsets differ only by the rule (a paired comparison; the paper is silent).

    Parameters
    ----------
    y : ndarray, shape (N,), int
    n, m, repeat, seed : int

    Returns
    -------
    ndarray, shape (K, n + m), int64
        Row k: sorted training-split indices of class k's candidates.
    """
    y, K, sizes = _labels(y)
    n, m = _check_int(n, "n", low=1), _check_int(m, "m")
    repeat, seed = _check_int(repeat, "repeat"), _check_int(seed, "seed")
    if n + m > sizes.min():
        k = int(sizes.argmin())
        raise ValueError(f"n + m = {n + m} candidates exceed class {k}, which has {sizes[k]} images")
    return _draw_candidates(_class_members(y, K), n, m, repeat, seed)


def _draw_candidates(members: list[np.ndarray], n: int, m: int, repeat: int, seed: int) -> np.ndarray:
    rng = _rng(seed, _SELECTED_STREAM, n, m, repeat)
    return np.stack([np.sort(rng.choice(idx, n + m, replace=False)) for idx in members]).astype(np.int64)


def selected_subsets(X: object, y: object, n: int, *, ms: Sequence[int] = MS,
                     strategies: Sequence[str] = STRATEGIES, directions: Sequence[str] = DIRECTIONS,
                     repeats: int = 5, seed: int, dataset: str = "mnist",
                     class_means: object = None, study: str = "x") -> pd.DataFrame:
    """Selected subsets of one size: every (strategy, direction, m, repeat).

    For each ``(m, repeat)`` the ``n + m`` candidates of every class are drawn at random
    (:func:`candidate_indices`, shared by all strategies and directions), then each rule
    keeps ``n`` per class (:func:`keep_indices`).

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W) uint8 or (N, D) float in [0, 1]
        The full training split.
    y : ndarray, shape (N,), int
    n : int
        Images per class kept.
    ms : sequence of int
        Extra candidates per class; default the paper's grid :data:`MS`.
    strategies, directions : sequence of str
        Default all four rules and both directions.
    repeats : int
        Subsets per (strategy, direction, m); default 5.
    seed : int
    dataset, study : str
    class_means : ndarray, shape (K, D), optional
        Default the means of ``X`` per class (:func:`similarity.class_means`).

    Returns
    -------
    DataFrame
        Manifest (``kind = "selected"``), rows ordered by strategy, direction, m, repeat.
        Combinations with ``n + m`` above the smallest class's size are skipped and listed
        in ``manifest.attrs["skipped"]`` (dicts with ``subset_id, strategy, direction, m,
        repeat, reason``; :func:`skipped_table` makes a DataFrame of them).
    """
    V = _flat_images(X, "X")
    y, K, sizes = _labels(y)
    if y.shape[0] != V.shape[0]:
        raise ValueError(f"y has {y.shape[0]} labels but X has {V.shape[0]} images")
    n = _check_int(n, "n", low=1)
    ms = [_check_int(m, "m") for m in ([ms] if isinstance(ms, (int, np.integer)) else ms)]
    if len(set(ms)) != len(ms) or not ms:
        raise ValueError(f"ms must be distinct and non-empty, got {ms}")
    strategies = _check_choices(strategies, "strategy", STRATEGIES)
    directions = _check_choices(directions, "direction", DIRECTIONS)
    repeats = _check_int(repeats, "repeats", low=1)
    seed = _check_int(seed, "seed")
    dataset, study = _check_name(dataset, "dataset"), _check_name(study, "study")
    mean_rules = [s for s in strategies if s != "uniqueness"]
    dmeans = None
    if mean_rules:
        mu = _class_means(V, y, K=K) if class_means is None else _check_means(class_means, V.shape[1])
        if mu.shape[0] != K:
            raise ValueError(f"class_means has {mu.shape[0]} rows but y has K = {K} classes")
        # One score per image of the split: an image scores the same in every candidate set.
        dmeans = rmsd_to_images(V, mu)
    members = _class_members(y, K)
    kept: dict[tuple, list[np.ndarray]] = {}
    candidate_sets: dict[tuple, np.ndarray] = {}
    skipped = []
    smallest = int(sizes.argmin())
    for m in ms:
        if n + m > sizes[smallest]:
            reason = f"n + m = {n + m} exceeds the {sizes[smallest]} images of class {smallest}"
            skipped += [dict(subset_id=_selected_id(study, dataset, n, s, d, m, r, seed), strategy=s,
                             direction=d, m=m, repeat=r, reason=reason)
                        for s in strategies for d in directions for r in range(repeats)]
            continue
        for r in range(repeats):
            cands = _draw_candidates(members, n, m, r, seed)
            candidate_sets[(m, r)] = np.sort(cands.ravel())
            for k in range(K):
                cand = cands[k]
                if "uniqueness" in strategies:
                    dist = pairwise_rmsd(V[cand], block_size=n + m) if m else None
                    for t, d in enumerate(directions):
                        last = t == len(directions) - 1
                        keep = _keep_uniqueness(dist, n, d, overwrite=last) if m else np.arange(n)
                        kept.setdefault(("uniqueness", d, m, r), []).append(cand[keep])
                for s in mean_rules:
                    for d in directions:
                        keep = _keep_by_score(dmeans[cand], n, s, d, k)
                        kept.setdefault((s, d, m, r), []).append(cand[keep])
    rows = []
    for s in strategies:
        for d in directions:
            for m in ms:
                for r in range(repeats):
                    if (s, d, m, r) not in kept:
                        continue
                    rows.append(dict(subset_id=_selected_id(study, dataset, n, s, d, m, r, seed), study=study,
                                     dataset=dataset, size=n, kind="selected", strategy=s, direction=d, m=m,
                                     repeat=r, seed=seed,
                                     indices=np.sort(np.concatenate(kept[(s, d, m, r)])).astype(np.int64),
                                     candidates=candidate_sets[(m, r)]))
    df = _manifest(rows, extra=("candidates",))
    df.attrs["skipped"] = skipped
    return df


def study_x_manifest(X: object, y: object, n: int, *, n_random: int, ms: Sequence[int] = MS,
                     strategies: Sequence[str] = STRATEGIES, directions: Sequence[str] = DIRECTIONS,
                     repeats: int = 5, seed: int, dataset: str = "mnist") -> pd.DataFrame:
    """All study X subsets of one size: ``n_random`` random ones, then the selected grid.

    Parameters are those of :func:`random_subsets` and :func:`selected_subsets`.

    Returns
    -------
    DataFrame
        Manifest with two more columns: ``candidates`` (the ``n + m`` candidates per class a
        selected subset was chosen from, all classes together, sorted; equal to ``indices``
        for random subsets, so ``candidates \\ indices`` are the discarded images) and
        ``n_images``. ``attrs["skipped"]`` lists the skipped selected combinations.
    """
    rand = random_subsets(y, n, n_random, seed=seed, dataset=dataset, study="x")
    rand["candidates"] = rand["indices"]
    sel = selected_subsets(X, y, n, ms=ms, strategies=strategies, directions=directions, repeats=repeats,
                           seed=seed, dataset=dataset, study="x")
    out = pd.concat([rand, sel], ignore_index=True)
    out["n_images"] = out["indices"].map(len).astype(np.int64)
    out.attrs["skipped"] = sel.attrs.get("skipped", [])
    return out


def skipped_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """The subsets a manifest skipped, from ``manifest.attrs["skipped"]``.

    Returns
    -------
    DataFrame
        Columns ``subset_id, strategy, direction, m, repeat, reason``; empty if none.
    """
    return pd.DataFrame(manifest.attrs.get("skipped", []),
                        columns=["subset_id", "strategy", "direction", "m", "repeat", "reason"])


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


def _draw_class_counts(rng: np.random.Generator, caps: np.ndarray, size: int, n_draws: int) -> np.ndarray:
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


def class_balance(counts: np.ndarray) -> np.ndarray:
    """CB_1: exp of the Shannon entropy of the class proportions (a Hill number).

    Parameters
    ----------
    counts : ndarray, shape (..., K), non-negative

    Returns
    -------
    ndarray, shape (...), values in [1, number of non-empty classes]
    """
    counts = np.asarray(counts, dtype=np.float64)
    p = counts / counts.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=-1)
    return np.exp(h)


def balance_subsets(y: object, size: int, *, seed: int, dataset: str, n_bins: int = 25,
                    per_bin: int = 4, n_draws: int = 20000, study: str = "a") -> pd.DataFrame:
    """Subsets of one total size spanning the whole class-balance range (study A).

    Many class count vectors ``(n_1..n_K)`` are drawn (each ``1 <= n_i <=`` class size,
    summing to ``size``; see ``_draw_class_counts`` for the mixture of uniform
    compositions, Dirichlet draws of many concentrations, dominant-class draws and the two
    extremes); duplicates are dropped; ``CB_1`` is binned into ``n_bins`` equal bins over
    ``[1, K]``; ``per_bin`` vectors per bin are kept at random (all if fewer); then the
    images of class i are ``n_i`` drawn uniformly at random.

    Parameters
    ----------
    y : ndarray, shape (N,), int
        Labels of the training split; every class 0..K-1 present, K >= 2.
    size : int
        Images per subset, ``K <= size <= N``.
    seed : int
    dataset : str
    n_bins, per_bin, n_draws : int
    study : str

    Returns
    -------
    DataFrame
        Manifest (``kind = "balance"``, ``size`` = total images, ``repeat`` = rank within
        its bin) plus ``class_counts`` (list of K ints), ``cb_1`` and ``cb_bin`` (0-based),
        ordered by bin.
    """
    y, K, caps = _labels(y)
    size = _check_int(size, "size", low=1)
    seed = _check_int(seed, "seed")
    n_bins = _check_int(n_bins, "n_bins", low=1)
    per_bin = _check_int(per_bin, "per_bin", low=1)
    n_draws = _check_int(n_draws, "n_draws", low=1)
    dataset, study = _check_name(dataset, "dataset"), _check_name(study, "study")
    if K < 2:
        raise ValueError("class balance needs at least 2 classes; y has 1")
    if size < K:
        raise ValueError(f"size = {size} is below the K = {K} classes; every class needs >= 1 image")
    if size > caps.sum():
        raise ValueError(f"size = {size} exceeds the {caps.sum()} images of the split")
    rng = _rng(seed, _BALANCE_STREAM, size)
    counts = np.unique(_draw_class_counts(rng, caps, size, n_draws), axis=0)
    cb = class_balance(counts)
    bins = np.clip(np.floor((cb - 1.0) / (K - 1) * n_bins).astype(np.int64), 0, n_bins - 1)
    members = _class_members(y, K)
    rows = []
    for b in range(n_bins):
        in_bin = np.flatnonzero(bins == b)
        chosen = np.sort(rng.choice(in_bin, min(per_bin, in_bin.size), replace=False))
        for j, c in enumerate(chosen):
            idx = np.sort(np.concatenate([rng.choice(members[k], counts[c, k], replace=False)
                                          for k in range(K)]))
            rows.append(dict(subset_id=f"{study}-{dataset}-size{size}-balance-b{b:02d}-r{j}-s{seed}",
                             study=study, dataset=dataset, size=size, kind="balance", strategy="none",
                             direction="none", m=0, repeat=j, seed=seed, indices=idx.astype(np.int64),
                             class_counts=counts[c].tolist(), cb_1=float(cb[c]), cb_bin=b))
    df = _manifest(rows, extra=["class_counts", "cb_1", "cb_bin"])
    df["cb_1"] = df["cb_1"].astype(np.float64)
    df["cb_bin"] = df["cb_bin"].astype(np.int64)
    return df

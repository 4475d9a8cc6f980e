"""Subsets of a training split: random and selected (study X), class-balance designs (study A).

Every function returns a *manifest*: a DataFrame with one row per subset and the columns of
:data:`MANIFEST_COLUMNS` (study X: ``n`` images per class and ``size = n * K``; study A:
``size`` total images, ``class_counts``, ``cb_1``, ``cb_bin``). ``indices`` are sorted int64
indices into the training split (an ndarray per row; a list column in parquet). Subset ids
are built from the parameters (:func:`subset_id`), and every random draw comes from a
``numpy.random.SeedSequence`` of ``(seed, stream, parameters...)``, so one subset never
depends on which other subsets were asked for.

Which images a subset keeps is decided in :mod:`xfactor_lib.subsets.rules` (the four
selection rules, the class-count sampler); this module draws the candidates, seeds every
draw and writes the rows. Class balance is :func:`xfactor_lib.diversity.class_balance`.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from .._validation import check_choice, check_images, check_indices, check_int, check_labels, check_name
from ..diversity import class_balance
from ..similarity import class_means as _class_means
from ..similarity import pairwise_rmsd, rmsd_to_images
from .rules import DIRECTIONS, STRATEGIES, check_means, draw_class_counts, keep_by_score, keep_indices, keep_uniqueness

__all__ = [
    "STRATEGIES",
    "DIRECTIONS",
    "MS",
    "NS",
    "MANIFEST_COLUMNS",
    "SKIPPED_COLUMNS",
    "keep_indices",
    "candidate_indices",
    "subset_id",
    "random_subsets",
    "selected_subsets",
    "skipped_subsets",
    "study_x_manifest",
    "balance_subsets",
    "manifest_indices",
]

#: Extra candidates per class of study X.
MS = (6, 10, 20, 30, 60, 100, 200, 300, 600, 1000)
#: Images per class of study X.
NS = (10, 30, 100, 300, 1000)
_PARAMS = ("subset_id", "study", "dataset")
_DESIGN = ("kind", "strategy", "direction", "m", "repeat", "seed", "indices")
#: Manifest columns, in order. ``"x"``: per-class designs (random, selected and optimized
#: subsets; ``source`` says what the ``n`` per class were chosen from: ``"class"``, the whole
#: class, or ``"candidates"``, the ``n + m`` random candidates per class in ``candidates``,
#: all classes together, sorted; ``candidates = indices`` for random subsets, the whole split
#: is not copied for optimized ones chosen from the class: ``candidates = indices`` too).
#: ``"a"``: class-count designs.
MANIFEST_COLUMNS = {
    "x": (*_PARAMS, "n", "size", *_DESIGN, "source", "candidates"),
    "a": (*_PARAMS, "size", *_DESIGN, "class_counts", "cb_1", "cb_bin"),
}
#: Columns of :func:`skipped_subsets`.
SKIPPED_COLUMNS = ("subset_id", "strategy", "direction", "m", "repeat", "reason")
_INT_COLUMNS = ("n", "size", "m", "repeat", "seed", "cb_bin")

# Independent random streams per kind of draw (first words of the SeedSequence after seed).
_RANDOM_STREAM, _SELECTED_STREAM, _BALANCE_STREAM = 0, 1, 2


# --------------------------------------------------------------------------- helpers
def _labels(y: Any) -> tuple[np.ndarray, int, np.ndarray]:
    """Labels, K and the class sizes; every class 0..K-1 must be present."""
    y, K = check_labels(y)
    sizes = np.bincount(y, minlength=K)
    if (sizes == 0).any():
        raise ValueError(
            f"class(es) {np.flatnonzero(sizes == 0).tolist()} have no image in y; labels must cover 0..{K - 1}"
        )
    return y, K, sizes


def _choices(values: Any, what: str, allowed: Sequence[str]) -> list[str]:
    values = [values] if isinstance(values, str) else list(values)
    for v in values:
        check_choice(v, what, allowed)
    return distinct_values(values, what)


def distinct_values(values: list, what: str) -> list:
    """``values`` when they are distinct and non-empty; otherwise a ValueError naming ``what``."""
    if len(set(values)) != len(values) or not values:
        raise ValueError(f"{what} values must be distinct and non-empty, got {values}")
    return values


def _class_members(y: np.ndarray, K: int) -> list[np.ndarray]:
    order = np.argsort(y, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(y, minlength=K))])
    return [order[bounds[k] : bounds[k + 1]] for k in range(K)]


def _rng(seed: int, *words: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *words]))


def _draw(rng: np.random.Generator, members: list[np.ndarray], counts: Sequence[int]) -> np.ndarray:
    """Sorted int64 indices: ``counts[k]`` images of class k, uniformly without replacement."""
    return np.sort(np.concatenate([rng.choice(idx, c, replace=False) for idx, c in zip(members, counts)]))


def to_manifest(rows: list[dict], study: str) -> pd.DataFrame:
    """Manifest rows as a frame with ``MANIFEST_COLUMNS[study]`` and integer design columns."""
    df = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS[study]))
    for col in _INT_COLUMNS:
        if col in df.columns:
            df[col] = df[col].astype(np.int64)
    return df


# --------------------------------------------------------------------------- study X
def subset_id(
    *,
    kind: str,
    study: str,
    dataset: str,
    repeat: int,
    seed: int,
    n: int | None = None,
    size: int | None = None,
    strategy: str | None = None,
    direction: str | None = None,
    m: int | None = None,
    cb_bin: int | None = None,
    source: str | None = None,
) -> str:
    """The id of a subset, built from its parameters only (a manifest row's columns fit).

    Parameters
    ----------
    kind : {"random", "selected", "optimized", "balance"}
    study, dataset : str
    repeat, seed : int
    n : int
        Images per class (random and selected subsets).
    size : int
        Total images (balance subsets; ignored by the others).
    strategy, direction, m
        The rule, its direction and the extra candidates per class (selected subsets).
    cb_bin : int
        The CB_1 bin (balance subsets).
    source : {"class", "candidates"}
        What an optimized subset was chosen from (``strategy`` is its method).

    Returns
    -------
    str
        ``x-mnist-n30-random-r0-s0``, ``x-mnist-n30-selected-uniqueness+-m10-r0-s0``,
        ``x-mnist-n30-optimized-coverage-class-r0-s0``, ``x-mnist-n30-optimized-a_max-m10-r0-s0``
        or ``a-mnist-size256-balance-b03-r1-s0``.
    """
    head, tail = f"{study}-{dataset}", f"r{repeat}-s{seed}"
    if kind == "random":
        return f"{head}-n{n}-random-{tail}"
    if kind == "selected":
        return f"{head}-n{n}-selected-{strategy}{direction}-m{m}-{tail}"
    if kind == "optimized":
        return f"{head}-n{n}-optimized-{strategy}-{'class' if source == 'class' else f'm{m}'}-{tail}"
    check_choice(kind, "kind", ("random", "selected", "optimized", "balance"))
    return f"{head}-size{size}-balance-b{cb_bin:02d}-{tail}"


def per_class_design(y: Any, n: int, seed: int, dataset: str = "-", study: str = "-", **grid: Any) -> SimpleNamespace:
    """Validated parameters of a per-class design: labels, K, class sizes and members, n, ...

    ``dataset`` and ``study`` only go into ids; callers that build none leave them out.
    """
    y, K, sizes = _labels(y)
    return SimpleNamespace(
        y=y, K=K, sizes=sizes, members=_class_members(y, K), n=check_int(n, "n", low=1), seed=check_int(seed, "seed"),
        dataset=check_name(dataset, "dataset"), study=check_name(study, "study"), **grid,
    )  # fmt: skip


def x_manifest_row(g: SimpleNamespace, repeat: int, strategy: str = "none", direction: str = "none", m: int = 0, *,
           kind: str | None = None, source: str | None = None, **more):  # fmt: skip
    """One study X manifest row: its parameters and id, then ``more`` (indices, candidates)."""
    kind = kind or ("random" if strategy == "none" else "selected")
    source = source or ("class" if kind == "random" else "candidates")
    p = dict(study=g.study, dataset=g.dataset, n=g.n, size=g.n * g.K, kind=kind, strategy=strategy,
             direction=direction, m=m, repeat=repeat, seed=g.seed, source=source)  # fmt: skip
    return {"subset_id": subset_id(**p), **p, **more}


def random_subsets(
    y: Any, n: int, n_subsets: int, *, seed: int, dataset: str = "mnist", study: str = "x"
) -> pd.DataFrame:
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
        Manifest (:data:`MANIFEST_COLUMNS` ``["x"]``), one row per subset, ``kind =
        "random"``, ``indices`` of length ``size = n * K`` and ``candidates = indices``.
    """
    g = per_class_design(y, n, seed, dataset, study)
    n_subsets = check_int(n_subsets, "n_subsets")
    if g.n > g.sizes.min():
        k = int(g.sizes.argmin())
        raise ValueError(f"n = {g.n} images per class exceeds class {k}, which has {g.sizes[k]} images")
    rows = []
    for r in range(n_subsets):
        idx = _draw(_rng(g.seed, _RANDOM_STREAM, g.n, r), g.members, [g.n] * g.K)
        rows.append(x_manifest_row(g, r, indices=idx, candidates=idx))
    return to_manifest(rows, "x")


def candidate_indices(y: Any, n: int, m: int, repeat: int, *, seed: int) -> np.ndarray:
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
    g = per_class_design(y, n, seed)
    m, repeat = check_int(m, "m"), check_int(repeat, "repeat")
    if g.n + m > g.sizes.min():
        k = int(g.sizes.argmin())
        raise ValueError(f"n + m = {g.n + m} candidates exceed class {k}, which has {g.sizes[k]} images")
    return draw_candidates(g.members, g.n, m, repeat, g.seed)


def draw_candidates(members: list[np.ndarray], n: int, m: int, repeat: int, seed: int) -> np.ndarray:
    """The ``n + m`` candidates per class of one selected subset, shape (K, n + m), sorted per class."""
    rng = _rng(seed, _SELECTED_STREAM, n, m, repeat)
    return np.stack([np.sort(rng.choice(idx, n + m, replace=False)) for idx in members]).astype(np.int64)


def _selected_grid(y, n, seed, dataset, study, *, ms=MS, strategies=STRATEGIES, directions=DIRECTIONS, repeats=5):
    """Validated parameters of :func:`selected_subsets` and :func:`skipped_subsets` (the grid's defaults)."""
    ms = [ms] if isinstance(ms, (int, np.integer)) else ms
    return per_class_design(
        y, n, seed, dataset, study, ms=distinct_values([check_int(m, "m") for m in ms], "ms"),
        strategies=_choices(strategies, "strategy", STRATEGIES),
        directions=_choices(directions, "direction", DIRECTIONS), repeats=check_int(repeats, "repeats", low=1),
    )  # fmt: skip


def skipped_subsets(
    y: Any, n: int, *, seed: int, dataset: str = "mnist", study: str = "x", **grid: Any
) -> pd.DataFrame:
    """The selected subsets :func:`selected_subsets` leaves out: ``n + m`` above the smallest class.

    Parameters are those of :func:`selected_subsets` without the images; ``grid`` is its
    ``ms``, ``strategies``, ``directions`` and ``repeats`` (same defaults).

    Returns
    -------
    DataFrame
        Columns :data:`SKIPPED_COLUMNS` (``subset_id, strategy, direction, m, repeat,
        reason``), one row per skipped subset; empty when none is skipped.
    """
    g = _selected_grid(y, n, seed, dataset, study, **grid)
    k = int(g.sizes.argmin())
    rows = [
        x_manifest_row(g, r, s, d, m, reason=f"n + m = {g.n + m} exceeds the {g.sizes[k]} images of class {k}")
        for s in g.strategies
        for d in g.directions
        for m in g.ms
        if g.n + m > g.sizes[k]
        for r in range(g.repeats)
    ]
    return pd.DataFrame(rows, columns=list(SKIPPED_COLUMNS))


def selected_subsets(
    X: Any,
    y: Any,
    n: int,
    *,
    ms: Sequence[int] = MS,
    strategies: Sequence[str] = STRATEGIES,
    directions: Sequence[str] = DIRECTIONS,
    repeats: int = 5,
    seed: int,
    dataset: str = "mnist",
    class_means: Any = None,
    study: str = "x",
) -> pd.DataFrame:
    """Selected subsets of one ``n``: every (strategy, direction, m, repeat).

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
        Manifest (:data:`MANIFEST_COLUMNS` ``["x"]``, ``kind = "selected"``), rows ordered
        by strategy, direction, m, repeat. Combinations with ``n + m`` above the smallest
        class's size are left out; :func:`skipped_subsets` lists them.
    """
    V = check_images(X, "X")
    grid = dict(ms=ms, strategies=strategies, directions=directions, repeats=repeats)
    g = _selected_grid(y, n, seed, dataset, study, **grid)
    K, n = g.K, g.n
    if g.y.shape[0] != V.shape[0]:
        raise ValueError(f"y has {g.y.shape[0]} labels but X has {V.shape[0]} images")
    mean_rules = [s for s in g.strategies if s != "uniqueness"]
    if mean_rules:
        mu = _class_means(V, g.y, K=K) if class_means is None else check_means(class_means, V.shape[1])
        if mu.shape[0] != K:
            raise ValueError(f"class_means has {mu.shape[0]} rows but y has K = {K} classes")
        dmeans = rmsd_to_images(V, mu)  # one score per image: the same in every candidate set
    kept: dict[tuple, list[np.ndarray]] = {}
    candidate_sets: dict[tuple, np.ndarray] = {}
    for m in (m for m in g.ms if n + m <= g.sizes.min()):
        for r in range(g.repeats):
            cands = draw_candidates(g.members, n, m, r, g.seed)
            candidate_sets[m, r] = np.sort(cands.ravel())
            for k, cand in enumerate(cands):
                if "uniqueness" in g.strategies:
                    dist = pairwise_rmsd(V[cand], block_size=n + m) if m else None
                    for t, d in enumerate(g.directions):
                        last = t == len(g.directions) - 1
                        keep = keep_uniqueness(dist, n, d, overwrite=last) if m else np.arange(n)
                        kept.setdefault(("uniqueness", d, m, r), []).append(cand[keep])
                for s in mean_rules:
                    for d in g.directions:
                        kept.setdefault((s, d, m, r), []).append(cand[keep_by_score(dmeans[cand], n, s, d, k)])
    rows = [
        x_manifest_row(g, r, s, d, m, indices=np.sort(np.concatenate(kept[key])), candidates=candidate_sets[m, r])
        for s in g.strategies
        for d in g.directions
        for m in g.ms
        for r in range(g.repeats)
        if (key := (s, d, m, r)) in kept
    ]
    return to_manifest(rows, "x")


def study_x_manifest(
    X: Any, y: Any, n: int, *, n_random: int, seed: int, dataset: str = "mnist", **grid: Any
) -> pd.DataFrame:
    """All study X subsets of one ``n``: ``n_random`` random ones, then the selected grid.

    Parameters are those of :func:`random_subsets` and :func:`selected_subsets`; ``grid``
    is the latter's ``ms``, ``strategies``, ``directions`` and ``repeats`` (same defaults).

    Returns
    -------
    DataFrame
        Manifest (:data:`MANIFEST_COLUMNS` ``["x"]``); ``candidates \\ indices`` are the
        images a selected subset discarded. :func:`skipped_subsets` lists the selected
        combinations left out.
    """
    rand = random_subsets(y, n, n_random, seed=seed, dataset=dataset, study="x")
    sel = selected_subsets(X, y, n, **grid, seed=seed, dataset=dataset, study="x")
    return pd.concat([rand, sel], ignore_index=True)


def manifest_indices(row: pd.Series | dict) -> np.ndarray:
    """The sorted int64 training-split indices of one manifest row.

    Parameters
    ----------
    row : pandas Series or dict
        A manifest row (``manifest.iloc[i]``), or anything with an ``indices`` entry.

    Returns
    -------
    ndarray, shape (size,), int64
    """
    try:
        idx = row["indices"]
    except (KeyError, IndexError, TypeError) as exc:
        raise KeyError("a manifest row needs an 'indices' entry") from exc
    return check_indices(idx, "the manifest row's indices")


# --------------------------------------------------------------------------- study A
def balance_subsets(
    y: Any,
    size: int,
    *,
    seed: int,
    dataset: str,
    n_bins: int = 25,
    per_bin: int = 4,
    n_draws: int = 20000,
    study: str = "a",
) -> pd.DataFrame:
    """Subsets of one total size spanning the whole class-balance range (study A).

    Many class count vectors ``(n_1..n_K)`` are drawn (each ``1 <= n_i <=`` class size,
    summing to ``size``; see :func:`xfactor_lib.subsets.rules.draw_class_counts` for the mixture of uniform
    compositions, Dirichlet draws of many concentrations, dominant-class draws and the two
    extremes); duplicates are dropped; ``CB_1`` (:func:`diversity.class_balance`) is binned
    into ``n_bins`` equal bins over ``[1, K]``; ``per_bin`` vectors per bin are kept at
    random (all if fewer); then the images of class i are ``n_i`` drawn uniformly at random.

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
        Manifest (:data:`MANIFEST_COLUMNS` ``["a"]``, ``kind = "balance"``, ``repeat`` =
        rank within its bin): ``class_counts`` (list of K ints), ``cb_1`` and ``cb_bin``
        (0-based), ordered by bin.
    """
    y, K, caps = _labels(y)
    size = check_int(size, "size", low=1)
    seed = check_int(seed, "seed")
    n_bins = check_int(n_bins, "n_bins", low=1)
    per_bin = check_int(per_bin, "per_bin", low=1)
    n_draws = check_int(n_draws, "n_draws", low=1)
    dataset, study = check_name(dataset, "dataset"), check_name(study, "study")
    if K < 2:
        raise ValueError("class balance needs at least 2 classes; y has 1")
    if size < K:
        raise ValueError(f"size = {size} is below the K = {K} classes; every class needs >= 1 image")
    if size > caps.sum():
        raise ValueError(f"size = {size} exceeds the {caps.sum()} images of the split")
    rng = _rng(seed, _BALANCE_STREAM, size)
    counts = np.unique(draw_class_counts(rng, caps, size, n_draws), axis=0)
    cb = class_balance(counts)
    bins = np.clip(np.floor((cb - 1.0) / (K - 1) * n_bins).astype(np.int64), 0, n_bins - 1)
    members = _class_members(y, K)
    rows = []
    for b in range(n_bins):
        in_bin = np.flatnonzero(bins == b)
        for j, c in enumerate(np.sort(rng.choice(in_bin, min(per_bin, in_bin.size), replace=False))):
            p = dict(study=study, dataset=dataset, size=size, kind="balance", strategy="none", direction="none", m=0,
                     repeat=j, seed=seed, cb_bin=b)  # fmt: skip
            idx = _draw(rng, members, counts[c])
            rows.append({"subset_id": subset_id(**p), **p, "indices": idx, "class_counts": counts[c].tolist(),
                         "cb_1": float(cb[c])})  # fmt: skip
    return to_manifest(rows, "a").astype({"cb_1": np.float64})

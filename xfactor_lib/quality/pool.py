"""The distance blocks behind :mod:`xfactor_lib.quality` (private).

A :class:`Pool` holds the distinct images of many subsets of one training split and the
few distance blocks every measure needs, each computed once and shared by every subset:

- per class k, ``own[k]``: RMSD from the pool images of class k to the reference images of
  class k (unsupervised coverage), and the cosine distance ``1 - cos`` on the embedding;
- ``probe``: RMSD from every pool image to the reference's *probe* (a smaller
  class-balanced part of it), all classes (label ambiguity of pool images, and the labelled
  coverage of a subset: how a kernel classifier built on the subset labels the probe); an
  image is never its own neighbour there (its entry is ``inf``).

Stored as float32 (the RMSD of a uint8 pair is exact in float64 and rounded once), one row
per pool image, so that a subset's rows are contiguous copies. The reference is never held
as an ``N x N`` matrix: the blocks are pool x reference. :func:`subset_parts` turns a subset
(positions in the pool) into its per-class arrays and its kernels; Vendi scores of a
subset's classes come from one batched eigendecomposition (:func:`class_vendi`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import diversity, similarity
from ..diversity.feature_set import one_hot_features

#: Neighbours that decide label ambiguity (SPEC 5).
AMBIGUITY_K = 10
#: The labelled coverage's kernel classifier uses ``exp(-RMSD / (CLASSIFIER_SCALE * tau_data))``.
CLASSIFIER_SCALE = 0.1
#: Probabilities below this count as this in the classifier's cross-entropy.
P_FLOOR = 1e-12
_LCR_KEYS = tuple(k for k in diversity.FEATURE_NAMES if k not in ("CB_1", "CB_inf", "size"))
_BLOCK = 2048


def embedding_kernel(distance: np.ndarray, tau: float) -> np.ndarray:
    """``exp(-(1 - cos) / tau)`` of cosine distances ``1 - cos``: in (0, 1], 1 for identical rows."""
    return np.exp(-np.maximum(np.asarray(distance, dtype=np.float64), 0.0) / tau)


def tau_embedding(E: np.ndarray, y: np.ndarray, K: int) -> float:
    """Median over rows of the cosine distance ``1 - cos`` to the nearest other row of the same
    class (unit-norm rows ``E``): the embedding's ``tau_data``."""
    nearest = []
    for k in range(K):
        Ek = E[y == k]
        if len(Ek) < 2:
            continue
        for start in range(0, len(Ek), _BLOCK):
            C = Ek[start : start + _BLOCK] @ Ek.T
            C[np.arange(C.shape[0]), start + np.arange(C.shape[0])] = -np.inf
            nearest.append(1.0 - C.max(axis=1))
    tau = float(np.median(np.concatenate(nearest)))
    if not tau > 0:
        raise ValueError("the embedding's tau is 0: most rows have an identical row in their class")
    return tau


def _self_mask(block: np.ndarray, rows_index: np.ndarray, cols_index: np.ndarray, fill: float) -> None:
    """Set ``block[i, j] = fill`` where row i and column j are the same training image (index >= 0)."""
    order = np.argsort(cols_index, kind="stable")
    sorted_cols = cols_index[order]
    pos = np.searchsorted(sorted_cols, rows_index)
    ok = (pos < sorted_cols.size) & (rows_index >= 0)
    hit = np.zeros(rows_index.size, dtype=bool)
    hit[ok] = sorted_cols[pos[ok]] == rows_index[ok]
    block[np.flatnonzero(hit), order[pos[hit]]] = fill


def _rmsd32(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    out = np.empty((A.shape[0], B.shape[0]), dtype=np.float32)
    if A.shape[0] and B.shape[0]:
        for rows, block in similarity.iter_rmsd_blocks(A, B, block_size=_BLOCK):
            out[rows] = block
    return out


@dataclass
class Pool:
    """Distinct images of the subsets to measure, with their blocks against the reference.

    Attributes
    ----------
    y : ndarray, shape (U,)
        Labels of the pool images.
    V : ndarray, shape (U, D)
        Their validated pixels.
    E : ndarray, shape (U, d) or None
        Unit-norm embeddings.
    where : ndarray, shape (U,)
        Row of each pool image in its class's ``own`` block.
    own : list of ndarray
        Per class k: RMSD ``(U_k, R_k)`` from pool class k to reference class k, float32.
    own_emb : list of ndarray or None
        Per class k: cosine distance ``1 - cos``, ``(U_k, R_k)``.
    probe : ndarray, shape (U, P), float32
        RMSD from every pool image to the probe (``inf`` where they are the same image).
    probe_emb : ndarray, shape (U, P), float32, or None
        Cosine distance from every pool image to the probe (``inf`` where the same image).
    ambiguous, ambiguous_emb : ndarray, shape (U,), bool
        Whether most of an image's ``AMBIGUITY_K`` nearest probe images have another label.
    typ_own, typ_other : ndarray, shape (U,)
        RMSD to the own class mean; largest RMSD to another class's mean.
    index : ndarray, shape (U,), int
        Positions of the pool images in the training split (-1 when unknown): an image that is
        also a reference image is never its own neighbour.
    """

    y: np.ndarray
    V: np.ndarray
    E: np.ndarray | None
    where: np.ndarray
    own: list
    own_emb: list | None
    probe: np.ndarray
    probe_emb: np.ndarray | None
    ambiguous: np.ndarray
    ambiguous_emb: np.ndarray | None
    typ_own: np.ndarray
    typ_other: np.ndarray
    index: np.ndarray


def build_pool(ref: Any, V: np.ndarray, y: np.ndarray, index: np.ndarray, E: np.ndarray | None) -> Pool:
    """Blocks of the pool images ``V`` (labels ``y``, training-split ``index``, embeddings ``E``)."""
    where = np.full(y.size, -1, dtype=np.int64)
    own, own_emb = [], [] if E is not None else None
    for k in range(ref.K):
        members = np.flatnonzero(y == k)
        where[members] = np.arange(members.size)
        rk = ref.y == k
        own.append(_rmsd32(ref.X[rk], V[members]).T.copy())
        if E is not None:
            own_emb.append((1.0 - ref.E[rk] @ E[members].T).astype(np.float32).T.copy())
    pr = ref.probe
    probe = _rmsd32(ref.X[pr], V)
    _self_mask(probe, ref.index[pr], index, np.inf)
    k = min(AMBIGUITY_K, pr.size - 1)
    ambiguous = _majority_other(ref.y[pr], probe, y, k)
    probe_emb = ambiguous_emb = None
    if E is not None:
        probe_emb = (1.0 - ref.E[pr] @ E.T).astype(np.float32)
        _self_mask(probe_emb, ref.index[pr], index, np.inf)
        ambiguous_emb = _majority_other(ref.y[pr], probe_emb, y, k)
    R = similarity.rmsd_to_images(V, ref.means)
    typ_own = R[np.arange(y.size), y]
    R[np.arange(y.size), y] = -np.inf
    probe, probe_emb = probe.T.copy(), None if probe_emb is None else probe_emb.T.copy()
    return Pool(y, V, E, where, own, own_emb, probe, probe_emb, ambiguous, ambiguous_emb, typ_own, R.max(axis=1),
                np.asarray(index, dtype=np.int64))  # fmt: skip


def _majority_other(probe_y: np.ndarray, block: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Per pool column: are most of its k nearest probe rows of another class than ``y``?"""
    out = np.zeros(y.size, dtype=bool)
    for start in range(0, y.size, _BLOCK):
        cols = slice(start, start + _BLOCK)
        b = block[:, cols].T.astype(np.float64)
        out[cols] = ~similarity.label_vote(probe_y[similarity.nearest(b, k)], y[cols])
    return out


def lcr(Z: np.ndarray, y: np.ndarray, prefix: str) -> dict[str, float]:
    """The 27 LCR features (less size and class balance) of a kernel ``Z`` built here, prefixed.

    ``Z`` (float64, entries in (0, 1]) comes from :func:`subset_parts`, so the checks of an
    outside similarity are skipped: :func:`diversity.features_from_similarity`'s own core.
    """
    feats = one_hot_features(y, Z.__matmul__, diversity.DEFAULT_QS)
    return {f"{prefix}{k}": float(feats[k]) for k in _LCR_KEYS}


def vendi(Kmat: np.ndarray, orders: tuple = (1.0, 2.0, math.inf)) -> dict:
    """Hill numbers of the eigenvalues of ``K / n`` (see :func:`xfactor_lib.quality.vendi`).

    ``Kmat`` of shape (n, n) gives ``{q: float}``; a stack (B, n, n) gives ``{q: ndarray (B,)}``.
    """
    lam = np.clip(np.linalg.eigvalsh(Kmat / Kmat.shape[-1]), 0.0, None)
    lam = lam / lam.sum(axis=-1, keepdims=True)
    return {float(q): diversity.hill_number(lam, float(q)) for q in orders}


def class_vendi(Z: np.ndarray, ys: np.ndarray, classes: np.ndarray) -> dict[float, np.ndarray]:
    """Vendi scores of every class's block of kernel ``Z`` (n, n): ``{q: ndarray (len(classes),)}``.

    Classes of equal size share one stacked eigendecomposition.
    """
    members = [np.flatnonzero(ys == k) for k in classes]
    out = {q: np.empty(len(classes)) for q in (1.0, 2.0, math.inf)}
    sizes = np.array([m.size for m in members])
    for size in np.unique(sizes):
        which = np.flatnonzero(sizes == size)
        rows = np.stack([members[i] for i in which])  # (B, size)
        for q, values in vendi(Z[rows[:, :, None], rows[:, None, :]]).items():
            out[q][which] = values
    return out


@dataclass
class Parts:
    """One subset's per-class arrays (classes present in it, in label order) and its kernels.

    ``R`` is the within-subset RMSD, ``Zd = exp(-R / tau_data)`` and ``C`` the embedding
    kernel (n, n); ``probe_d``, ``probe_c`` are (n, P) distances to the probe.
    """

    classes: np.ndarray
    counts: np.ndarray
    R: np.ndarray
    Zd: np.ndarray
    C: np.ndarray | None
    cover_nn: list
    cover_emb: list | None
    probe_d: np.ndarray
    probe_c: np.ndarray | None
    probe_y: np.ndarray
    ys: np.ndarray


def subset_parts(pool: Pool, ref: Any, pos: np.ndarray) -> Parts:
    """The per-class distance arrays of the subset at pool positions ``pos``."""
    ys = pool.y[pos]
    counts = np.bincount(ys, minlength=ref.K)
    classes = np.flatnonzero(counts)
    cover_nn, cover_emb = [], [] if pool.E is not None else None
    for k in classes:
        local = pool.where[pos[ys == k]]
        cover_nn.append(pool.own[k][local].min(axis=0))
        if pool.E is not None:
            cover_emb.append(pool.own_emb[k][local].min(axis=0))
    R = similarity.pairwise_rmsd(pool.V[pos])
    Zd = similarity.similarity_from_rmsd(R, tau=ref.tau)
    C = None if pool.E is None else embedding_kernel(1.0 - pool.E[pos] @ pool.E[pos].T, ref.tau_emb)
    probe_c = None if pool.probe_emb is None else pool.probe_emb[pos]
    return Parts(classes, counts, R, Zd, C, cover_nn, cover_emb, pool.probe[pos], probe_c, ref.y[ref.probe], ys)


def nearest_by_class(block: np.ndarray, ys: np.ndarray, probe_y: np.ndarray, K: int) -> tuple:
    """Per probe column of ``block`` (n, P): the smallest distance to a row of its own class and of
    any other class."""
    M = np.full((block.shape[1], K), np.inf, dtype=block.dtype)
    for k in np.unique(ys):
        M[:, k] = block[ys == k].min(axis=0)
    cols = np.arange(block.shape[1])
    own = M[cols, probe_y].copy()
    M[cols, probe_y] = np.inf
    return own, M.min(axis=1)


def classifier(parts: Parts, tau: float, K: int) -> dict[str, float]:
    """Labelled coverage: how the subset's 1-NN and kernel classifiers label the probe."""
    d_own, d_other = nearest_by_class(parts.probe_d, parts.ys, parts.probe_y, K)
    shift = np.minimum(d_own, d_other)
    shift = np.where(np.isfinite(shift), shift, 0.0).astype(np.float32)
    scale = np.float32(1.0 / (CLASSIFIER_SCALE * tau))
    # float32: the kernel of every probe-subset pair, (P, n) C-ordered (the order of its float32 sums)
    W = np.exp((shift[:, None] - parts.probe_d.T.copy()) * scale)
    S = W @ np.eye(K, dtype=np.float32)[parts.ys]  # (P, K) kernel mass per class
    total = S.sum(axis=1, dtype=np.float64)
    mass = S[np.arange(S.shape[0]), parts.probe_y].astype(np.float64)
    p = np.divide(mass, total, out=np.zeros_like(total), where=total > 0)
    out = {
        "q_cov_nn_err": float((d_other < d_own).mean()),
        "q_cov_nll": float(-np.log(np.maximum(p, P_FLOOR)).mean()),
    }
    if parts.probe_c is not None:
        c_own, c_other = nearest_by_class(parts.probe_c, parts.ys, parts.probe_y, K)
        out["q_cov_emb_nn_err"] = float((c_other < c_own).mean())
    return out

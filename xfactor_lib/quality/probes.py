"""Measures that rank random subsets: labelled probes and class-conditional distances (issue 21).

Every measure compares a subset with the reference sample and is one ``q_probe_`` column
(family ``probe``), pixel RMSD and, with an embedding, cosine distance (``q_probe_emb_``).
The *votes* are classifiers built from the subset and scored on images outside it. The kernel
ridge classifier and the nearest centroid (the strongest) are scored on **every reference image
outside the subset** (pixels; the kernel ridge streamed in blocks of :data:`VOTE_BLOCK`): on a
200-per-class probe an error rate's binomial noise was as large as the differences between
random subsets (issue 21, session 3: on MNIST's 2,000-per-class reference, the kernel ridge
error's correlation with study X's mean Z over 60 random subsets rose from 0.62 to 0.82 at
n = 10 and from 0.45 to 0.72 at n = 30). The kNN and kernel-classifier votes, every embedding
vote and the distributional measures use the reference's *probe* (a class-balanced part of
it, :attr:`quality.Reference.probe`), the votes its images outside the subset:

- *kNN vote*: the error of the subset's k-nearest-neighbour classifier (k in :data:`KNN_KS`,
  majority vote, ties to the lower label), overall and in the worst class
  (``q_probe_knn{k}_err``, ``q_probe_knn1_err_max``).
- *Kernel classifier*: ``p(c | x) = sum_{s in S_c} k(x, s) / sum_s k(x, s)`` with
  ``k = exp(-d / (h tau))`` at several bandwidths h (:data:`KERNEL_SCALES`): its error
  (argmax) and cross-entropy (``q_probe_kv{h}_err``, ``_nll``).
- *Kernel ridge classifier*: ridge regression of the one-hot labels on the Gaussian kernel
  ``exp(-(d / (h tau))^2 / 2)`` of the subset (h in :data:`KRR_SCALES`, penalty
  :data:`KRR_PENALTY`), its error (argmax) and squared error
  (``q_probe_krr{h}_err``, ``_mse``): a closed-form stand-in for the models that train on it.
- *Nearest centroid*: the error of the subset's class means as a classifier
  (``q_probe_centroid_err``; pixels only).
- *Class-conditional MMD*: per class k, the squared kernel MMD (biased V-statistic) between the
  subset's class-k images and the probe's, kernel ``exp(-d / tau)``; mean and worst class
  (``q_probe_mmd_mean``, ``_max``).
- *Optimal transport*: per class, the exact OT cost (POT ``ot.emd2``, uniform weights, cost
  the distance) between the subset's class-k images and the probe's, as in OTDD's
  class-conditional distances; mean and worst class (``q_probe_ot_mean``, ``_max``).
- *Coverage at several scales*: the share of reference images with an image of their class in
  the subset within ``r tau`` (r in :data:`COVER_SCALES`; ``q_probe_cov{100 r}``).

For the distributional measures (MMD, OT) a subset image that is also a probe image is at
distance 0 from itself (it is part of both samples); the votes never score a subset image.
The blocks read are the pool's subset x probe distances (:mod:`xfactor_lib.quality.pool`) and
subset x reference blocks of at most ``n x VOTE_BLOCK``, never an ``N x N`` matrix; the probe's
own within-class kernels are computed once per pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _validation as v
from .. import similarity

__all__ = [
    "COVER_SCALES",
    "KERNEL_SCALES",
    "KNN_KS",
    "class_mmd2",
    "coverage_at",
    "kernel_vote",
    "knn_vote",
    "knn_votes",
    "krr_coef",
    "krr_vote",
    "names",
    "ot_cost",
    "subset_measures",
]

KNN_KS = (1, 3, 5)
KRR_SCALES = (1.0, 2.0)
KRR_PENALTY = 1.0
KERNEL_SCALES = (0.1, 0.3, 1.0)
COVER_SCALES = (1.0, 1.25, 1.5, 2.0)
_P_FLOOR = 1e-12


def _tag(h: float) -> str:
    return f"{h:g}".replace(".", "")


def names(*, embedding: bool = False) -> tuple[str, ...]:
    """The ``q_probe_`` columns :func:`subset_measures` returns, in order."""

    def kind(prefix: str, cover: bool) -> list[str]:
        out = [f"{prefix}knn{k}_err" for k in KNN_KS] + [f"{prefix}knn1_err_max"]
        out += [f"{prefix}kv{_tag(h)}_{s}" for h in KERNEL_SCALES for s in ("err", "nll")]
        out += [f"{prefix}krr{_tag(h)}_{s}" for h in KRR_SCALES for s in ("err", "mse")]
        out += [f"{prefix}mmd_mean", f"{prefix}mmd_max", f"{prefix}ot_mean", f"{prefix}ot_max"]
        if cover:
            out += [f"{prefix}cov{round(100 * r)}" for r in COVER_SCALES] + [f"{prefix}centroid_err"]
        return out

    return tuple(kind("q_probe_", True) + (kind("q_probe_emb_", False) if embedding else []))


# --------------------------------------------------------------------------- building blocks
def knn_vote(D: Any, ys: Any, probe_y: Any, *, k: int, K: int) -> np.ndarray:
    """Whether the subset's k-NN classifier mislabels each probe image.

    Parameters
    ----------
    D : ndarray, shape (n, P)
        Distances from the n subset images to the P probe images (``inf``: never a neighbour).
    ys : ndarray, shape (n,), int
        Subset labels.
    probe_y : ndarray, shape (P,), int
    k : int
        Neighbours (at most n); majority vote, ties to the lower label; ties in distance to
        the lower subset row (:func:`xfactor_lib.similarity.nearest`).
    K : int

    Returns
    -------
    ndarray, shape (P,), bool
    """
    return knn_votes(D, ys, probe_y, ks=(k,), K=K)[k]


def knn_votes(D: Any, ys: Any, probe_y: Any, *, ks: Sequence[int], K: int) -> dict[int, np.ndarray]:
    """:func:`knn_vote` for several ``k`` from one neighbour search (the ``max(ks)`` nearest).

    Returns
    -------
    dict
        ``{k: ndarray, shape (P,), bool}``.
    """
    D = np.asarray(D, dtype=np.float64)
    for k in ks:
        if not 1 <= k <= D.shape[0]:
            raise ValueError(f"k must lie in [1, {D.shape[0]}] (subset images), got {k}")
    return _knn_t(np.ascontiguousarray(D.T), np.asarray(ys), np.asarray(probe_y), ks, K)


def kernel_vote(D: Any, ys: Any, probe_y: Any, *, scale: float, K: int) -> tuple[np.ndarray, np.ndarray]:
    """The subset's kernel classifier ``p(c | x)`` on each probe image, ``k = exp(-d / scale)``.

    Returns
    -------
    wrong : ndarray, shape (P,), bool
        Argmax (ties to the lower label) is not the probe label.
    p_true : ndarray, shape (P,)
        Probability of the probe label (0 when every kernel value underflows).
    """
    Dt = np.ascontiguousarray(np.asarray(D, dtype=np.float64).T)
    return _kv_t(Dt, np.eye(K)[np.asarray(ys)], np.asarray(probe_y), scale)


def krr_vote(Dss: Any, D: Any, ys: Any, probe_y: Any, *, scale: float, K: int, penalty: float = KRR_PENALTY):
    """The subset's kernel ridge classifier on the probe, Gaussian kernel ``exp(-(d / scale)^2 / 2)``.

    Parameters
    ----------
    Dss : ndarray, shape (n, n)
        Distances within the subset.
    D : ndarray, shape (n, P)
        Distances from the subset to the probe (``inf``: kernel 0).
    ys, probe_y : ndarray of int
    scale, penalty : float
    K : int

    Returns
    -------
    wrong : ndarray, shape (P,), bool
        Argmax of the scores (ties to the lower label) is not the probe label.
    sq_error : ndarray, shape (P,)
        Squared error of the scores against the probe's one-hot label.
    """
    Dt = np.ascontiguousarray(np.asarray(D, dtype=np.float64).T)
    return _krr_t(Dt, krr_coef(Dss, ys, scale=scale, K=K, penalty=penalty), np.asarray(probe_y), scale)


def krr_coef(Dss: Any, ys: Any, *, scale: float, K: int, penalty: float = KRR_PENALTY) -> np.ndarray:
    """The kernel ridge classifier's coefficients ``(K_ss + penalty I)^-1 Y``: shape (n, K)."""
    Kss = np.exp(-0.5 * (np.asarray(Dss, dtype=np.float64) / scale) ** 2)
    return np.linalg.solve(Kss + penalty * np.eye(Kss.shape[0]), np.eye(K)[np.asarray(ys)])


# The votes on a transposed block ``Dt`` (P, n) of probe x subset distances, in its dtype (the
# streamed votes run in float32: half the memory traffic of float64, same argmax in practice).
def _knn_t(Dt: np.ndarray, ys: np.ndarray, py: np.ndarray, ks: Sequence[int], K: int) -> dict[int, np.ndarray]:
    labels = ys[similarity.nearest(Dt, max(ks))]  # (P, max k), nearest first
    onehot = np.eye(K, dtype=np.int64)
    return {k: onehot[labels[:, :k]].sum(axis=1).argmax(axis=1) != py for k in ks}


def _kv_t(Dt: np.ndarray, Ys: np.ndarray, py: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    shift = np.where(np.isfinite(Dt), Dt, np.inf).min(axis=1, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    W = np.exp((shift - Dt) * Dt.dtype.type(1.0 / scale))  # (P, n), the largest entry of a row is 1
    S = W @ Ys.astype(Dt.dtype)  # (P, K)
    total = S.sum(axis=1, dtype=np.float64)
    mass = S[np.arange(py.size), py].astype(np.float64)
    p = np.divide(mass, total, out=np.zeros(py.size), where=total > 0)
    return S.argmax(axis=1) != py, p


def _krr_t(Dt: np.ndarray, A: np.ndarray, py: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    G = Dt * Dt.dtype.type(1.0 / scale)
    S = (np.exp(-0.5 * G * G) @ A.astype(Dt.dtype)).astype(np.float64)  # (P, K)
    wrong = S.argmax(axis=1) != py
    S[np.arange(py.size), py] -= 1.0  # minus the one-hot label
    return wrong, (S**2).sum(axis=1)


def class_mmd2(k_ss: Any, k_sr: Any, k_rr: Any) -> float:
    """Squared MMD (biased V-statistic) from the three kernel blocks of two samples.

    ``mean(k_ss) - 2 mean(k_sr) + mean(k_rr)`` for blocks (n, n), (n, m), (m, m).
    """
    return float(np.mean(k_ss) - 2.0 * np.mean(k_sr) + np.mean(k_rr))


def ot_cost(M: Any) -> float:
    """Exact optimal transport cost between two uniform samples with cost matrix ``M`` (n, m)."""
    import ot

    M = np.ascontiguousarray(M, dtype=np.float64)
    a = np.full(M.shape[0], 1.0 / M.shape[0])
    b = np.full(M.shape[1], 1.0 / M.shape[1])
    return float(ot.emd2(a, b, M))


def coverage_at(nearest: Any, radii: Any) -> np.ndarray:
    """Share of points whose nearest subset image lies within each radius: shape (len(radii),)."""
    nearest = np.asarray(nearest, dtype=np.float64)
    return (nearest[None, :] <= np.asarray(radii, dtype=np.float64)[:, None]).mean(axis=1)


# --------------------------------------------------------------------------- per subset
_CACHE: dict[str, Any] = {"pool": None, "value": None}


def _probe_self(pool: Any, ref: Any) -> dict[str, list]:
    """Per class: mean within-class kernel of the probe (pixel; embedding), once per pool."""
    if _CACHE["pool"] is pool:
        return _CACHE["value"]
    py = ref.y[ref.probe]
    pix, emb = [], []
    for k in range(ref.K):
        rows = ref.probe[py == k]
        R = similarity.pairwise_rmsd(ref.X[rows]) if rows.size else np.zeros((0, 0))
        pix.append(float(np.exp(-R / ref.tau).mean()) if rows.size else np.nan)
        if ref.E is not None and rows.size:
            Ek = ref.E[rows]
            emb.append(float(np.exp(-np.maximum(1.0 - Ek @ Ek.T, 0.0) / ref.tau_emb).mean()))
    value = {"pix": pix, "emb": emb}
    _CACHE.update(pool=pool, value=value)
    return value


#: Reference images per block of the streamed kernel ridge votes (memory ``n x VOTE_BLOCK`` floats).
VOTE_BLOCK = 4096


def _probe_votes(
    out: dict, prefix: str, D: np.ndarray, ys: np.ndarray, py: np.ndarray, K: int, tau: float
) -> np.ndarray:
    """kNN and kernel-classifier votes on the probe images outside the subset (``inf`` columns of
    ``D`` (n, P) are subset images: left out); returns those columns."""
    keep = np.flatnonzero(np.isfinite(D).all(axis=0))
    if not keep.size:
        return keep
    Dt, py = np.ascontiguousarray(D[:, keep].T), py[keep]
    n = D.shape[0]
    votes = _knn_t(Dt, ys, py, sorted({min(k, n) for k in KNN_KS}), K)
    for k in KNN_KS:
        out[f"{prefix}knn{k}_err"] = float(votes[min(k, n)].mean())
    wrong = votes[1]
    out[f"{prefix}knn1_err_max"] = float(max(wrong[py == c].mean() for c in np.unique(py)))
    Ys = np.eye(K)[ys]
    for h in KERNEL_SCALES:
        wrong, p = _kv_t(Dt, Ys, py, h * tau)
        out[f"{prefix}kv{_tag(h)}_err"] = float(wrong.mean())
        out[f"{prefix}kv{_tag(h)}_nll"] = float(-np.log(np.maximum(p, _P_FLOOR)).mean())
    return keep


def _krr_votes(out: dict, prefix: str, blocks: Any, Dss: np.ndarray, ys: np.ndarray, vote_y: np.ndarray, K: int,
               tau: float) -> None:  # fmt: skip
    """The kernel ridge classifier's error and squared error, streamed over blocks ``(columns, D (n, B))``."""
    A = {h: krr_coef(Dss, ys, scale=h * tau, K=K) for h in KRR_SCALES}  # once per subset
    parts: dict[str, list] = {}
    for cols, D in blocks:
        Dt = np.ascontiguousarray(D.T)
        for h in KRR_SCALES:
            wrong, sq = _krr_t(Dt, A[h], vote_y[cols], h * tau)
            parts.setdefault(f"krr{_tag(h)}_err", []).append(wrong)
            parts.setdefault(f"krr{_tag(h)}_mse", []).append(sq)
    for name, values in parts.items():
        out[f"{prefix}{name}"] = float(np.concatenate(values).mean())


def _centroid_error(ref: Any, means: np.ndarray, classes: np.ndarray, outside: np.ndarray) -> float:
    """Error of the nearest-class-mean classifier on the reference images ``outside`` the subset.

    ``argmin_c |x - mu_c|^2 = argmin_c (|mu_c|^2 - 2 x . mu_c)``: one product with the
    reference's pixels (kept as float64 once per reference), no distance matrix."""
    if _CACHE.get("ref") is not ref:
        _CACHE.update(ref=ref, ref_float=v.as_float(ref.X).astype(np.float64, copy=False))
    Xf = _CACHE["ref_float"]
    score = (means**2).sum(axis=1)[None, :] - 2.0 * (Xf[outside] @ means.T)
    return float((classes[score.argmin(axis=1)] != ref.y[outside]).mean())


def _distributions(out: dict, prefix: str, D: np.ndarray, Kss: np.ndarray, ys: np.ndarray, py: np.ndarray,
                   tau: float, self_k: list, classes: np.ndarray) -> None:  # fmt: skip
    """Class-conditional MMD and OT between the subset and the probe."""
    D0 = np.where(np.isinf(D), 0.0, D)  # inf marks the same image: distance 0 in a distribution
    mmd, ot_ = [], []
    for c in classes:
        s, r = ys == c, py == c
        if not r.any():
            continue
        block = D0[np.ix_(s, r)]
        mmd.append(class_mmd2(Kss[np.ix_(s, s)], np.exp(-block / tau), [self_k[c]]))
        ot_.append(ot_cost(block))
    out[f"{prefix}mmd_mean"], out[f"{prefix}mmd_max"] = float(np.mean(mmd)), float(np.max(mmd))
    out[f"{prefix}ot_mean"], out[f"{prefix}ot_max"] = float(np.mean(ot_)), float(np.max(ot_))


def _vote_blocks(pool: Any, ref: Any, pos: np.ndarray, outside: np.ndarray):
    """``(columns, RMSD (n, B) float32)`` from the subset to the reference images ``outside`` it
    (rows of the reference), block by block."""
    from .pool import _rmsd32

    for start in range(0, outside.size, VOTE_BLOCK):
        cols = outside[start : start + VOTE_BLOCK]
        yield cols, _rmsd32(pool.V[pos], ref.X[cols])


def subset_measures(pool: Any, ref: Any, pos: np.ndarray, parts: Any) -> dict[str, float]:
    """The :func:`names` measures of the subset at pool positions ``pos``.

    Parameters
    ----------
    pool : _quality_pool.Pool
    ref : quality.Reference
    pos : ndarray, shape (n,), int
    parts : _quality_pool.Parts
        :func:`_quality_pool.subset_parts` of the same subset.

    Returns
    -------
    dict
    """
    selfk = _probe_self(pool, ref)
    out: dict[str, float] = {name: np.nan for name in names(embedding=parts.probe_c is not None)}
    py = parts.probe_y
    pd_ = parts.probe_d.astype(np.float64)
    _probe_votes(out, "q_probe_", pd_, parts.ys, py, ref.K, ref.tau)
    # the kernel ridge classifier and the nearest centroid are scored on every reference image
    # outside the subset (issue 21, session 3: on a 200-per-class probe an error rate's binomial
    # noise was as large as the differences between random subsets)
    inside = pool.index[pos]
    outside = np.flatnonzero(~np.isin(ref.index, inside[inside >= 0]))
    if outside.size:
        _krr_votes(out, "q_probe_", _vote_blocks(pool, ref, pos, outside), parts.R, parts.ys, ref.y, ref.K, ref.tau)
    _distributions(out, "q_probe_", pd_, parts.Zd, parts.ys, py, ref.tau, selfk["pix"], parts.classes)
    radii = np.asarray(COVER_SCALES) * ref.tau
    cov = np.array([coverage_at(c, radii) for c in parts.cover_nn])  # (classes, scales), reference of each class
    for j, r in enumerate(COVER_SCALES):
        out[f"q_probe_cov{round(100 * r)}"] = float(cov[:, j].sum() / ref.K)  # absent classes cover nothing
    if outside.size:
        V = v.as_float(pool.V[pos]).astype(np.float64, copy=False)
        means = np.stack([V[parts.ys == c].mean(axis=0) for c in parts.classes])
        out["q_probe_centroid_err"] = _centroid_error(ref, means, parts.classes, outside)
    if parts.probe_c is not None:
        # the embedding's votes stay on the probe (the pool's block), its images outside the subset
        Dc = parts.probe_c.astype(np.float64)
        keep = _probe_votes(out, "q_probe_emb_", Dc, parts.ys, py, ref.K, ref.tau_emb)
        if keep.size:
            Dcc = np.maximum(1.0 - pool.E[pos] @ pool.E[pos].T, 0.0)
            _krr_votes(out, "q_probe_emb_", [(keep, Dc[:, keep].astype(np.float32))], Dcc, parts.ys, py, ref.K,
                       ref.tau_emb)  # fmt: skip
        _distributions(out, "q_probe_emb_", Dc, parts.C, parts.ys, py, ref.tau_emb, selfk["emb"], parts.classes)
    return out

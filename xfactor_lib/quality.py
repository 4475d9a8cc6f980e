"""Training-free quality measures of a training subset (study Q, SPEC 5).

A subset is compared with a fixed class-balanced *reference sample* of the same training
split (:class:`Reference`, never the test split). Every measure is one column, prefix
``q_``; :data:`FAMILIES` maps each to its family:

- ``lcr``: the 27 study-A diversity features (SPEC 2) at ``Z = exp(-RMSD / tau)`` with
  ``tau = 1`` (the paper's, ``q_t1_*``) and ``tau = tau_data`` (``q_td_*``, the median
  nearest-neighbour RMSD within classes of the reference), and on the embedding kernel
  (``q_emb_*``; cosine similarity clipped to [0, 1]). Size and class balance are shared
  columns ``q_size``, ``q_cb_1``, ``q_cb_inf``.
- ``coverage``: facility location per class k, ``mean_{x in ref_k} max_{s in subset_k}
  sim(x, s)`` at ``tau_data`` (``q_cov_fl_*``) and on the embedding (``q_cov_emb_*``);
  the RMSD from each reference image to its nearest subset image of its class
  (``q_cov_rmsd_*``). Mean over classes and the worst class (``_min`` of a similarity,
  ``_max`` of a distance).
- ``vendi``: Vendi scores of order 1, 2, inf per class (Hill numbers of the eigenvalues of
  ``K / n``; Friedman & Dieng 2023), pixel kernel at ``tau_data`` and embedding kernel;
  mean and minimum over classes.
- ``ambiguity``: share of subset images whose ``k = 10`` nearest reference images (pixel
  RMSD; and cosine on the embedding) are mostly of another class. The image itself, when it
  is in the reference, is not its own neighbour.
- ``typicality``: mean RMSD to the own class mean (``q_typ_own``) and the X paper's
  other-mean score, max over other classes of the RMSD to their mean (``q_typ_other``).

:func:`measures_table` computes them for many subsets of one dataset at once: quantities
of single images (ambiguity, typicality) once per distinct image, coverage from one
distance block per class, the within-subset kernels once per subset and shared by the LCR,
Vendi and coverage families. The reference is never held as an ``N x N`` matrix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import _validation as v
from . import diversity, similarity

__all__ = [
    "FAMILIES",
    "Reference",
    "family",
    "make_reference",
    "measure_names",
    "measures",
    "measures_table",
    "vendi",
]

#: Neighbours that decide label ambiguity (SPEC 5).
AMBIGUITY_K = 10
_LCR_KEYS = tuple(k for k in diversity.FEATURE_NAMES if k not in ("CB_1", "CB_inf", "size"))
FAMILIES = ("lcr", "coverage", "vendi", "ambiguity", "typicality", "size")


@dataclass(frozen=True)
class Reference:
    """A class-balanced sample of a training split that subsets are compared with.

    Attributes
    ----------
    X : ndarray, shape (R, D), uint8 or float in [0, 1]
    y : ndarray, shape (R,), int64
    index : ndarray, shape (R,), int64
        Positions of the reference images in the training split (-1 when unknown).
    K : int
    tau : float
        ``tau_data``: median over reference images of the RMSD to the nearest other image
        of the same class.
    means : ndarray, shape (K, D), float64
        Class mean images (of the whole training split when given, else of the reference).
    E : ndarray, shape (R, d), float64, or None
        Unit-norm embeddings of the reference images.
    """

    X: np.ndarray
    y: np.ndarray
    index: np.ndarray
    K: int
    tau: float
    means: np.ndarray
    E: np.ndarray | None = None

    @property
    def has_embedding(self) -> bool:
        return self.E is not None


def _unit_rows(E: Any, what: str) -> np.ndarray:
    E = np.asarray(E, dtype=np.float64)
    if E.ndim != 2:
        raise ValueError(f"{what} must be embeddings of shape (N, d), got {E.shape}")
    if not np.isfinite(E).all():
        raise ValueError(f"{what} has non-finite values; drop or repair those rows")
    norms = np.linalg.norm(E, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{what} has {int((norms == 0).sum())} all-zero row(s); cosine similarity is undefined")
    return E / norms


def make_reference(
    X: Any, y: Any, *, per_class: int = 2000, seed: int = 0, embed: Any = None, K: int | None = None
) -> Reference:
    """Draw the reference sample of a training split.

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W) or (N, D)
        The training split: uint8 images or float pixels in [0, 1].
    y : ndarray, shape (N,), int
    per_class : int
        Images per class (all of a class when it has fewer); 0 means every image.
    seed : int
        Seed of the draw.
    embed : ndarray, shape (N, d), optional
        Embeddings of the whole training split (rows follow ``X``); the reference keeps its
        rows, normalized.
    K : int, optional
        Number of classes (default ``y.max() + 1``); every class needs 2 images or more.

    Returns
    -------
    Reference
    """
    V = v.check_images(X)
    y, K = v.check_labels(y, V.shape[0], K=K)
    per_class = v.check_int(per_class, "per_class", low=0)
    counts = np.bincount(y, minlength=K)
    if (counts < 2).any():
        bad = np.flatnonzero(counts < 2).tolist()
        raise ValueError(f"class(es) {bad} have fewer than 2 training images; a reference needs 2 per class")
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(K):
        members = np.flatnonzero(y == k)
        if per_class and members.size > per_class:
            members = np.sort(rng.choice(members, per_class, replace=False))
        parts.append(members)
    index = np.sort(np.concatenate(parts))
    means = similarity.class_means(v.as_float(V), y, K=K)
    E = None
    if embed is not None:
        E = _unit_rows(embed, "embed")
        if E.shape[0] != V.shape[0]:
            raise ValueError(f"embed has {E.shape[0]} rows but the training split has {V.shape[0]} images")
        E = E[index]
    Xr, yr = V[index], y[index]
    return Reference(
        X=Xr,
        y=yr,
        index=index,
        K=K,
        tau=similarity.tau_data(Xr, yr, per_class=max(2, int(np.bincount(yr).max()))),
        means=means,
        E=E,
    )


def vendi(Kmat: Any, *, orders: Sequence[float] = (1.0, 2.0, math.inf)) -> dict[float, float]:
    """Vendi scores of a similarity matrix: Hill numbers of the eigenvalues of ``K / n``.

    Parameters
    ----------
    Kmat : ndarray, shape (n, n)
        Symmetric positive semi-definite similarities with unit diagonal.
    orders : sequence of float
        Orders q >= 0 (``inf`` allowed).

    Returns
    -------
    dict
        ``{q: exp(H_q(lambda))}``; 1 for identical items, n for orthogonal ones.
    """
    Kmat = np.asarray(Kmat, dtype=np.float64)
    if Kmat.ndim != 2 or Kmat.shape[0] != Kmat.shape[1] or Kmat.shape[0] == 0:
        raise ValueError(f"Kmat must be a non-empty square matrix, got shape {Kmat.shape}")
    lam = np.clip(np.linalg.eigvalsh(Kmat / Kmat.shape[0]), 0.0, None)
    lam = lam / lam.sum()
    return {float(q): diversity.hill_number(lam, float(q)) for q in orders}


def _lcr(Z: np.ndarray, y: np.ndarray, prefix: str) -> dict[str, float]:
    feats = diversity.features(None, y, similarity=similarity.ArraySimilarity(Z))
    return {f"{prefix}{k}": float(feats[k]) for k in _LCR_KEYS}


def _per_class_stats(values: np.ndarray, name: str, worst: str) -> dict[str, float]:
    return {
        f"{name}_mean": float(values.mean()),
        f"{name}_{worst}": float(values.min() if worst == "min" else values.max()),
    }


def measure_names(*, embedding: bool = False) -> tuple[str, ...]:
    """The ``q_`` columns :func:`measures` returns, in order."""
    names = ["q_size", "q_cb_1", "q_cb_inf"]
    names += [f"q_t1_{k}" for k in _LCR_KEYS] + [f"q_td_{k}" for k in _LCR_KEYS]
    names += ["q_cov_fl_mean", "q_cov_fl_min", "q_cov_rmsd_mean", "q_cov_rmsd_max"]
    names += [f"q_vendi_{q}_{s}" for q in ("1", "2", "inf") for s in ("mean", "min")]
    names += ["q_ambiguity", "q_typ_own", "q_typ_other"]
    if embedding:
        names += [f"q_emb_{k}" for k in _LCR_KEYS]
        names += ["q_cov_emb_mean", "q_cov_emb_min"]
        names += [f"q_vendi_emb_{q}_{s}" for q in ("1", "2", "inf") for s in ("mean", "min")]
        names += ["q_ambiguity_emb"]
    return tuple(names)


def family(name: str) -> str:
    """The family of a measure column (:data:`FAMILIES`)."""
    if name in ("q_size", "q_cb_1", "q_cb_inf"):
        return "size"
    if name.startswith(("q_t1_", "q_td_", "q_emb_")):
        return "lcr"
    if name.startswith("q_cov_"):
        return "coverage"
    if name.startswith("q_vendi_"):
        return "vendi"
    if name.startswith("q_ambiguity"):
        return "ambiguity"
    if name.startswith("q_typ_"):
        return "typicality"
    raise ValueError(f"{name!r} is not a study Q measure (they start with q_)")


class _ImageFacts:
    """Per-image quantities against the reference, each computed once per distinct image."""

    def __init__(self, reference: Reference, X: np.ndarray, y: np.ndarray, index: np.ndarray, E: np.ndarray | None):
        ref = reference
        self.typ_own, self.typ_other = _typicality(X, y, ref.means)
        self.ambiguous = _ambiguous_pixels(X, y, index, ref)
        self.ambiguous_emb = None if E is None else _ambiguous_embedding(E, y, index, ref)


def _typicality(X: np.ndarray, y: np.ndarray, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    R = similarity.rmsd_to_images(X, means)
    own = R[np.arange(y.size), y]
    R[np.arange(y.size), y] = -np.inf
    return own, R.max(axis=1)


def _majority_other(neighbour_labels: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (neighbour_labels == y[:, None]).sum(axis=1) * 2 < neighbour_labels.shape[1]


def _nearest(block: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest entries per row; ties to the lower column."""
    if k < block.shape[1]:
        part = np.argpartition(block, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(block.shape[1]), block.shape).copy()
    order = np.lexsort((part, np.take_along_axis(block, part, axis=1)), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _self_mask(block: np.ndarray, rows_index: np.ndarray, ref_index: np.ndarray, fill: float) -> None:
    pos = np.searchsorted(ref_index, rows_index)
    pos_ok = pos < ref_index.size
    hit = np.zeros(rows_index.size, dtype=bool)
    hit[pos_ok] = ref_index[pos[pos_ok]] == rows_index[pos_ok]
    hit &= rows_index >= 0
    block[np.flatnonzero(hit), pos[hit]] = fill


def _ambiguous_pixels(X: np.ndarray, y: np.ndarray, index: np.ndarray, ref: Reference) -> np.ndarray:
    k = min(AMBIGUITY_K, ref.y.size - 1)
    out = np.zeros(y.size, dtype=bool)
    for rows, block in similarity.iter_rmsd_blocks(X, ref.X, block_size=1024):
        _self_mask(block, index[rows], ref.index, np.inf)
        nb = _nearest(block, k)
        out[rows] = _majority_other(ref.y[nb], y[rows])
    return out


def _ambiguous_embedding(E: np.ndarray, y: np.ndarray, index: np.ndarray, ref: Reference) -> np.ndarray:
    k = min(AMBIGUITY_K, ref.y.size - 1)
    out = np.zeros(y.size, dtype=bool)
    for start in range(0, y.size, 1024):
        sl = slice(start, start + 1024)
        block = -(E[sl] @ ref.E.T)
        _self_mask(block, index[sl], ref.index, np.inf)
        nb = _nearest(block, k)
        out[sl] = _majority_other(ref.y[nb], y[sl])
    return out


def _subset_measures(
    X: np.ndarray,
    y: np.ndarray,
    E: np.ndarray | None,
    ref: Reference,
    cover_rmsd: list[np.ndarray],
    cover_emb: list[np.ndarray] | None,
) -> dict[str, float]:
    """Measures of one subset given its distances to the reference of each class."""
    counts = np.bincount(y, minlength=ref.K)
    present = np.flatnonzero(counts)
    out: dict[str, float] = {
        "q_size": float(y.size),
        "q_cb_1": diversity.class_balance(counts[present], q=1.0),
        "q_cb_inf": diversity.class_balance(counts[present], q=math.inf),
    }
    R = similarity.pairwise_rmsd(X)
    out.update(_lcr(similarity.similarity_from_rmsd(R), y, "q_t1_"))
    Zd = similarity.similarity_from_rmsd(R, tau=ref.tau)
    out.update(_lcr(Zd, y, "q_td_"))
    nn = np.array([c.mean() for c in cover_rmsd])
    fl = np.array([similarity.similarity_from_rmsd(c, tau=ref.tau).mean() for c in cover_rmsd])
    out.update(_per_class_stats(fl, "q_cov_fl", "min"))
    out.update(_per_class_stats(nn, "q_cov_rmsd", "max"))
    out.update(_vendi_columns(Zd, y, present, "q_vendi_"))
    if E is not None:
        C = E @ E.T
        out.update(_lcr(np.clip(C, 0.0, 1.0), y, "q_emb_"))
        cov = np.array([c.mean() for c in cover_emb])
        out.update(_per_class_stats(cov, "q_cov_emb", "min"))
        out.update(_vendi_columns(C, y, present, "q_vendi_emb_"))
    return out


def _vendi_columns(Z: np.ndarray, y: np.ndarray, present: np.ndarray, prefix: str) -> dict[str, float]:
    per_class = [vendi(Z[np.ix_(y == k, y == k)]) for k in present]
    out = {}
    for q, qname in ((1.0, "1"), (2.0, "2"), (math.inf, "inf")):
        vals = np.array([d[q] for d in per_class])
        out.update(_per_class_stats(vals, f"{prefix}{qname}", "min"))
    return out


def _cover(
    ref: Reference, X: np.ndarray, y: np.ndarray, E: np.ndarray | None
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Per class present in ``y``: each reference image's nearest subset RMSD (and max cosine)."""
    rmsd, emb = [], [] if E is not None else None
    for k in np.flatnonzero(np.bincount(y, minlength=ref.K)):
        rk, sk = ref.y == k, y == k
        rmsd.append(similarity.pairwise_rmsd(ref.X[rk], X[sk]).min(axis=1))
        if E is not None:
            emb.append((ref.E[rk] @ E[sk].T).max(axis=1))
    return rmsd, emb


def measures(X: Any, y: Any, *, reference: Reference, embed: Any = None, index: Any = None) -> dict[str, float]:
    """Training-free quality measures of one subset.

    Parameters
    ----------
    X : ndarray, shape (n_total, C, H, W) or (n_total, D)
        The subset's images, of the same kind (uint8 or float) as the reference's.
    y : ndarray, shape (n_total,), int
    reference : Reference
        From :func:`make_reference` on the same training split.
    embed : ndarray, shape (n_total, d), optional
        The subset's embeddings (required when the reference has embeddings).
    index : ndarray, shape (n_total,), int, optional
        Positions of the subset images in the training split, so that an image in the
        reference is not its own neighbour for label ambiguity.

    Returns
    -------
    dict
        ``{name: value}`` for :func:`measure_names`.
    """
    V = v.check_images(X)
    y, _ = v.check_labels(y, V.shape[0], K=reference.K)
    if (V.dtype == np.uint8) != (reference.X.dtype == np.uint8):
        raise TypeError(f"X is {V.dtype} but the reference is {reference.X.dtype}; pass the same kind of images")
    idx = np.full(y.size, -1, dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)
    if idx.shape != y.shape:
        raise ValueError(f"index must have one entry per image ({y.size}), got shape {idx.shape}")
    E = _subset_embedding(embed, reference, y.size)
    facts = _ImageFacts(reference, V, y, idx, E)
    out = _subset_measures(V, y, E, reference, *_cover(reference, V, y, E))
    out.update(_fact_columns(facts, np.arange(y.size)))
    return {name: out[name] for name in measure_names(embedding=E is not None)}


def _subset_embedding(embed: Any, reference: Reference, n: int) -> np.ndarray | None:
    if reference.E is None:
        if embed is not None:
            raise ValueError("embed given but the reference has no embeddings; pass embed= to make_reference too")
        return None
    if embed is None:
        raise ValueError("the reference has embeddings: pass the subset's embed= rows too")
    E = _unit_rows(embed, "embed")
    if E.shape != (n, reference.E.shape[1]):
        raise ValueError(f"embed must have shape ({n}, {reference.E.shape[1]}), got {E.shape}")
    return E


def _fact_columns(facts: _ImageFacts, rows: np.ndarray) -> dict[str, float]:
    out = {
        "q_ambiguity": float(facts.ambiguous[rows].mean()),
        "q_typ_own": float(facts.typ_own[rows].mean()),
        "q_typ_other": float(facts.typ_other[rows].mean()),
    }
    if facts.ambiguous_emb is not None:
        out["q_ambiguity_emb"] = float(facts.ambiguous_emb[rows].mean())
    return out


def measures_table(
    subsets: pd.DataFrame | Sequence[Any] | Mapping[str, Any],
    X: Any,
    y: Any,
    *,
    reference: Reference,
    embed: Any = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Measures of many subsets of one training split against one reference.

    Parameters
    ----------
    subsets : DataFrame with ``subset_id`` and ``indices`` columns (a manifest), or a
        sequence / mapping of index arrays into the training split.
    X : ndarray, shape (N, C, H, W) or (N, D)
        The whole training split (uint8 or float, as the reference).
    y : ndarray, shape (N,), int
    reference : Reference
    embed : ndarray, shape (N, d), optional
        Embeddings of the whole training split (required when the reference has them).
    progress : bool
        Show a tqdm bar over subsets.

    Returns
    -------
    DataFrame
        One row per subset: ``subset_id`` then :func:`measure_names` columns.
    """
    ids, index_sets = _as_index_sets(subsets)
    V = v.check_images(X)
    y, _ = v.check_labels(y, V.shape[0], K=reference.K)
    E_all = _subset_embedding(embed, reference, V.shape[0]) if (embed is not None or reference.E is not None) else None
    union = np.unique(np.concatenate(index_sets)) if index_sets else np.zeros(0, np.int64)
    if union.size and (union[0] < 0 or union[-1] >= V.shape[0]):
        raise ValueError(f"subset indices must lie in [0, {V.shape[0]}), got range [{union[0]}, {union[-1]}]")
    facts = _ImageFacts(reference, V[union], y[union], union, None if E_all is None else E_all[union])
    cover_rows = _cover_rows(reference, V, y, union, E_all)
    rows = []
    from tqdm.auto import tqdm

    for sid, idx in tqdm(list(zip(ids, index_sets)), desc="measures", disable=not progress):
        pos = np.searchsorted(union, idx)
        ys = y[idx]
        rmsd, emb = [], [] if E_all is not None else None
        for k in np.flatnonzero(np.bincount(ys, minlength=reference.K)):
            members = pos[ys == k]
            D_k, C_k, where = cover_rows[k]
            local = where[members]
            rmsd.append(D_k[:, local].min(axis=1))
            if E_all is not None:
                emb.append(C_k[:, local].max(axis=1))
        Es = None if E_all is None else E_all[idx]
        out = _subset_measures(V[idx], ys, Es, reference, rmsd, emb)
        out.update(_fact_columns(facts, pos))
        rows.append({"subset_id": sid, **{n: out[n] for n in measure_names(embedding=E_all is not None)}})
    return pd.DataFrame(rows, columns=["subset_id", *measure_names(embedding=E_all is not None)])


def _cover_rows(
    ref: Reference, V: np.ndarray, y: np.ndarray, union: np.ndarray, E: np.ndarray | None
) -> dict[int, tuple[np.ndarray, np.ndarray | None, np.ndarray]]:
    """Per class k: RMSD (and cosine) from ref_k to every distinct subset image of class k."""
    out = {}
    yu = y[union]
    for k in range(ref.K):
        members = np.flatnonzero(yu == k)
        where = np.full(union.size, -1, dtype=np.int64)
        where[members] = np.arange(members.size)
        rk = ref.y == k
        D = similarity.pairwise_rmsd(ref.X[rk], V[union[members]]) if members.size else np.zeros((rk.sum(), 0))
        C = None if E is None else ref.E[rk] @ E[union[members]].T
        out[k] = (D, C, where)
    return out


def _as_index_sets(subsets: Any) -> tuple[list[str], list[np.ndarray]]:
    if isinstance(subsets, pd.DataFrame):
        v.check_frame(subsets, ["subset_id", "indices"], what="subsets")
        ids = subsets["subset_id"].astype(str).tolist()
        sets = [np.asarray(i, dtype=np.int64) for i in subsets["indices"]]
    elif isinstance(subsets, Mapping):
        ids = [str(k) for k in subsets]
        sets = [np.asarray(i, dtype=np.int64) for i in subsets.values()]
    else:
        sets = [np.asarray(i, dtype=np.int64) for i in subsets]
        ids = [str(i) for i in range(len(sets))]
    for sid, s in zip(ids, sets):
        if s.ndim != 1 or s.size == 0:
            raise ValueError(f"subset {sid!r} must be a non-empty 1-D array of indices, got shape {s.shape}")
        if np.unique(s).size != s.size:
            raise ValueError(f"subset {sid!r} repeats an index; a subset is a set of distinct images")
    return ids, sets

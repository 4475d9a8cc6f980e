"""Training-free quality measures of a training subset (study Q, SPEC 5).

A subset is compared with a fixed class-balanced *reference sample* of the same training
split (:class:`Reference`, never the test split). Every measure is one column, prefix
``q_``; :func:`family` maps each to its family:

- ``lcr``: the 27 study-A diversity features (SPEC 2) at ``Z = exp(-RMSD / tau)`` with
  ``tau = 1`` (the paper's, ``q_t1_*``) and ``tau = tau_data`` (``q_td_*``, the median
  nearest-neighbour RMSD within classes of the reference), and on the embedding kernel
  (``q_emb_*``). The embedding kernel is ``exp(-(1 - cos) / tau_emb)``, ``tau_emb`` the
  median cosine distance to the nearest other reference image of the class: the pixel
  kernel's construction, so that unrelated images are far apart (raw cosines of rectified
  features are all high, which flattens every diversity). Size and class balance are shared
  columns ``q_size``, ``q_cb_1``, ``q_cb_inf`` (family ``size``).
- ``coverage``: facility location per class k, ``mean_{x in ref_k} max_{s in subset_k}
  sim(x, s)`` at ``tau_data`` (``q_cov_fl_*``) and with the embedding kernel (``q_cov_emb_*``);
  the RMSD from each reference image to its nearest subset image of its class
  (``q_cov_rmsd_*``). Mean over classes and the worst class (``_min`` of a similarity,
  ``_max`` of a distance). A class of the reference that the subset lacks is uncovered:
  coverage 0 and RMSD :data:`MISSING_RMSD` (the largest RMSD of pixels in [0, 1]), Vendi 0,
  in the means and the worst class alike. *Labelled* coverage, on the reference's probe (a class-balanced
  part of it, :attr:`Reference.probe`): the error of the subset's 1-nearest-neighbour
  classifier on the probe (``q_cov_nn_err``; pixel RMSD; ``q_cov_emb_nn_err`` on the
  embedding) and the mean cross-entropy of its kernel classifier
  ``p(c | x) = sum_{s in S_c} k(x, s) / sum_{s in S} k(x, s)`` with
  ``k = exp(-RMSD / (0.1 tau_data))`` (``q_cov_nll``); a probe image is never its own
  neighbour.
- ``vendi``: Vendi scores of order 1, 2, inf per class (Hill numbers of the eigenvalues of
  ``K / n``; Friedman & Dieng 2023), pixel kernel at ``tau_data`` and embedding kernel;
  mean and minimum over classes.
- ``ambiguity``: share of subset images whose ``k = 10`` nearest probe images (pixel
  RMSD; and cosine on the embedding) are mostly of another class; an image is not its own
  neighbour.
- ``typicality``: mean RMSD to the own class mean (``q_typ_own``) and the X paper's
  other-mean score, max over other classes of the RMSD to their mean (``q_typ_other``).

:func:`measures_table` computes them for many subsets of one dataset at once: the
distance blocks between the reference and the distinct subset images once
(:mod:`xfactor_lib.quality.pool`), then per subset only its own kernel and gathers from
the blocks. The reference is never held as an ``N x N`` matrix. :func:`class_table` serves the
quality report (with :mod:`.review`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import _validation as v
from .. import diversity, similarity
from . import pool as qp
from . import probes

__all__ = [
    "FAMILIES",
    "Reference",
    "class_table",
    "family",
    "make_reference",
    "measure_names",
    "measures",
    "measures_table",
    "vendi",
]

#: Neighbours that decide label ambiguity (SPEC 5).
AMBIGUITY_K = qp.AMBIGUITY_K
FAMILIES = ("lcr", "coverage", "vendi", "ambiguity", "typicality", "probe", "size")
_LCR_KEYS = qp._LCR_KEYS
#: The coverage RMSD of a reference class the subset lacks: the largest RMSD two images with
#: pixels in [0, 1] can have (finite, so that means and regressions stay defined).
MISSING_RMSD = 1.0


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
        Class mean images (of the whole training split).
    probe : ndarray, shape (P,), int64
        Rows of the reference that the labelled measures use (class-balanced); the kernel ridge
        and nearest-centroid votes use every reference image outside the subset instead.
    E : ndarray, shape (R, d), float64, or None
        Unit-norm embeddings of the reference images.
    tau_emb : float or None
        The embedding's ``tau_data``: median over reference images of the cosine distance
        ``1 - cos`` to the nearest other image of the same class. The embedding kernel is
        ``exp(-(1 - cos) / tau_emb)``.
    """

    X: np.ndarray
    y: np.ndarray
    index: np.ndarray
    K: int
    tau: float
    means: np.ndarray
    probe: np.ndarray
    E: np.ndarray | None = None
    tau_emb: float | None = None

    @property
    def has_embedding(self) -> bool:
        return self.E is not None


def make_reference(
    X: Any,
    y: Any,
    *,
    per_class: int = 2000,
    probe_per_class: int = 200,
    seed: int = 0,
    embed: Any = None,
    K: int | None = None,
) -> Reference:
    """Draw the reference sample of a training split.

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W) or (N, D)
        The training split: uint8 images or float pixels in [0, 1].
    y : ndarray, shape (N,), int
    per_class : int
        Images per class (all of a class when it has fewer); 0 means every image.
    probe_per_class : int
        Reference images per class the labelled measures (ambiguity, kNN and kernel classifier
        votes, MMD, OT) compare with: a seeded part of the reference; 0 means all. The kernel
        ridge and nearest-centroid votes always use the whole reference.
    seed : int
        Seed of the draws.
    embed : ndarray, shape (N, d), optional
        Embeddings of the whole training split (rows follow ``X``); the reference keeps its
        rows, normalized (other rows are not read).
    K : int, optional
        Number of classes (default ``y.max() + 1``); every class needs 2 images or more.

    Returns
    -------
    Reference
    """
    V = v.check_images(X)
    y, K = v.check_labels(y, V.shape[0], K=K)
    per_class = v.check_int(per_class, "per_class", low=0)
    probe_per_class = v.check_int(probe_per_class, "probe_per_class", low=0)
    counts = np.bincount(y, minlength=K)
    if (counts < 2).any():
        bad = np.flatnonzero(counts < 2).tolist()
        raise ValueError(f"class(es) {bad} have fewer than 2 training images; a reference needs 2 per class")
    rng = np.random.default_rng(seed)
    index = _draw_per_class(y, K, per_class, rng)
    Xr, yr = V[index], y[index]
    probe = _draw_per_class(yr, K, probe_per_class, rng)
    E = None
    if embed is not None:
        if np.shape(embed)[0] != V.shape[0]:
            raise ValueError(f"embed has {np.shape(embed)[0]} rows but the training split has {V.shape[0]} images")
        E = similarity.unit_rows(np.asarray(embed)[index], "embed")
    return Reference(
        X=Xr,
        y=yr,
        index=index,
        K=K,
        tau=similarity.tau_data(Xr, yr, per_class=max(2, int(np.bincount(yr).max()))),
        means=similarity.class_means(v.as_float(V), y, K=K),
        probe=probe,
        E=E,
        tau_emb=None if E is None else qp.tau_embedding(E, yr, K),
    )


def _draw_per_class(y: np.ndarray, K: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of up to ``limit`` (0: all) random members of every class."""
    parts = []
    for k in range(K):
        members = np.flatnonzero(y == k)
        if limit and members.size > limit:
            members = rng.choice(members, limit, replace=False)
        parts.append(members)
    return np.sort(np.concatenate(parts))


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
    return qp.vendi(Kmat, tuple(orders))


def measure_names(*, embedding: bool = False) -> tuple[str, ...]:
    """The ``q_`` columns :func:`measures` returns, in order."""
    names = ["q_size", "q_cb_1", "q_cb_inf"]
    names += [f"q_t1_{k}" for k in _LCR_KEYS] + [f"q_td_{k}" for k in _LCR_KEYS]
    names += ["q_cov_fl_mean", "q_cov_fl_min", "q_cov_rmsd_mean", "q_cov_rmsd_max", "q_cov_nn_err", "q_cov_nll"]
    names += [f"q_vendi_{q}_{s}" for q in ("1", "2", "inf") for s in ("mean", "min")]
    names += ["q_ambiguity", "q_typ_own", "q_typ_other"]
    if embedding:
        names += [f"q_emb_{k}" for k in _LCR_KEYS]
        names += ["q_cov_emb_mean", "q_cov_emb_min", "q_cov_emb_nn_err"]
        names += [f"q_vendi_emb_{q}_{s}" for q in ("1", "2", "inf") for s in ("mean", "min")]
        names += ["q_ambiguity_emb"]
    names += probes.names(embedding=embedding)  # issue 21: labelled probes, MMD, OT, coverage at scales
    return tuple(names)


def family(name: str) -> str:
    """The family of a measure column (:data:`FAMILIES`)."""
    prefixes = {
        "lcr": ("q_t1_", "q_td_", "q_emb_"),
        "coverage": ("q_cov_",),
        "vendi": ("q_vendi_",),
        "ambiguity": ("q_ambiguity",),
        "typicality": ("q_typ_",),
        "probe": ("q_probe_",),
    }
    if name in ("q_size", "q_cb_1", "q_cb_inf"):
        return "size"
    for fam, starts in prefixes.items():
        if name.startswith(starts):
            return fam
    raise ValueError(f"{name!r} is not a study Q measure (they start with q_)")


# --------------------------------------------------------------------------- per subset
def _class_values(parts: qp.Parts, ref: Reference) -> dict[str, np.ndarray]:
    """Per class present: coverage and Vendi values (the embedding ones when there is one)."""
    out = {
        "cov_fl": np.array([np.exp(-c.astype(np.float64) / ref.tau).mean() for c in parts.cover_nn]),
        "cov_rmsd": np.array([c.astype(np.float64).mean() for c in parts.cover_nn]),
    }
    kernels = [("vendi", parts.Zd)] + ([("vendi_emb", parts.C)] if parts.C is not None else [])
    for name, Z in kernels:
        per = qp.class_vendi(Z, parts.ys, parts.classes)
        for q, qname in ((1.0, "1"), (2.0, "2"), (math.inf, "inf")):
            out[f"{name}_{qname}"] = per[q]
    if parts.cover_emb is not None:
        out["cov_emb"] = np.array([qp.embedding_kernel(c, ref.tau_emb).mean() for c in parts.cover_emb])
    return out


def _with_missing(per_class: dict[str, np.ndarray], classes: np.ndarray, ref: Reference) -> tuple[dict, np.ndarray]:
    """Per-class values extended by the reference classes the subset lacks (uncovered: coverage
    0, RMSD :data:`MISSING_RMSD`, Vendi 0), and the classes of the extended values (sorted)."""
    missing = np.setdiff1d(np.unique(ref.y), classes)
    if not missing.size:
        return per_class, classes
    order = np.argsort(np.concatenate([classes, missing]), kind="stable")
    fill = {name: MISSING_RMSD if name == "cov_rmsd" else 0.0 for name in per_class}
    out = {name: np.concatenate([vals, np.full(missing.size, fill[name])])[order] for name, vals in per_class.items()}
    return out, np.concatenate([classes, missing])[order]


def _aggregate(per_class: dict[str, np.ndarray]) -> dict[str, float]:
    out = {}
    for name, values in per_class.items():
        worst = "max" if name == "cov_rmsd" else "min"
        out[f"q_{name}_mean"] = float(values.mean())
        out[f"q_{name}_{worst}"] = float(values.min() if worst == "min" else values.max())
    return out


def _subset_row(pool: qp.Pool, ref: Reference, pos: np.ndarray) -> dict[str, float]:
    parts = qp.subset_parts(pool, ref, pos)
    present = parts.counts[parts.classes]
    out = {
        "q_size": float(pos.size),
        "q_cb_1": diversity.class_balance(present, q=1.0),
        "q_cb_inf": diversity.class_balance(present, q=math.inf),
    }
    out.update(qp.lcr(similarity.similarity_from_rmsd(parts.R), parts.ys, "q_t1_"))
    out.update(qp.lcr(parts.Zd, parts.ys, "q_td_"))
    out.update(_aggregate(_with_missing(_class_values(parts, ref), parts.classes, ref)[0]))
    out.update(qp.classifier(parts, ref.tau, ref.K))
    out["q_ambiguity"] = float(pool.ambiguous[pos].mean())
    out["q_typ_own"] = float(pool.typ_own[pos].mean())
    out["q_typ_other"] = float(pool.typ_other[pos].mean())
    if parts.C is not None:
        out.update(qp.lcr(parts.C, parts.ys, "q_emb_"))
        out["q_ambiguity_emb"] = float(pool.ambiguous_emb[pos].mean())
    out.update(probes.subset_measures(pool, ref, pos, parts))
    return {name: out[name] for name in measure_names(embedding=parts.C is not None)}


def _subset_pool(X: Any, y: Any, reference: Reference, embed: Any, index: Any) -> qp.Pool:
    V = v.check_images(X)
    y, _ = v.check_labels(y, V.shape[0], K=reference.K)
    if (V.dtype == np.uint8) != (reference.X.dtype == np.uint8):
        raise TypeError(f"X is {V.dtype} but the reference is {reference.X.dtype}; pass the same kind of images")
    idx = np.full(y.size, -1, dtype=np.int64) if index is None else v.check_indices(index, "index")
    if idx.shape != y.shape:
        raise ValueError(f"index must have one entry per image ({y.size}), got shape {idx.shape}")
    return qp.build_pool(reference, V, y, idx, _embedding(embed, reference, y.size))


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
        reference is not its own neighbour in the labelled measures.

    Returns
    -------
    dict
        ``{name: value}`` for :func:`measure_names`.
    """
    pool = _subset_pool(X, y, reference, embed, index)
    return _subset_row(pool, reference, np.arange(pool.y.size))


def class_table(X: Any, y: Any, *, reference: Reference, embed: Any = None, index: Any = None) -> pd.DataFrame:
    """Per class of one subset: its images, coverage, Vendi, ambiguity and typicality.

    Parameters
    ----------
    X, y, reference, embed, index
        As :func:`measures`.

    Returns
    -------
    DataFrame
        One row per class of the reference: ``class, images, cov_fl, cov_rmsd, vendi_1,
        vendi_2, vendi_inf, ambiguity, typ_own`` (and ``cov_emb, vendi_emb_*, ambiguity_emb``
        with an embedding). A class the subset lacks has 0 images, coverage 0, RMSD
        :data:`MISSING_RMSD`, Vendi 0 and no ambiguity or typicality (NaN).
    """
    pool = _subset_pool(X, y, reference, embed, index)
    parts = qp.subset_parts(pool, reference, np.arange(pool.y.size))
    values, classes = _with_missing(_class_values(parts, reference), parts.classes, reference)
    frame = pd.DataFrame({"class": classes, "images": parts.counts[classes]})
    for name, column in values.items():
        frame[name] = column
    for name, flags in (("ambiguity", pool.ambiguous), ("ambiguity_emb", pool.ambiguous_emb)):
        if flags is not None:
            frame[name] = [flags[parts.ys == k].mean() if (parts.ys == k).any() else np.nan for k in classes]
    frame["typ_own"] = [pool.typ_own[parts.ys == k].mean() if (parts.ys == k).any() else np.nan for k in classes]
    return frame


def _embedding(embed: Any, reference: Reference, n: int) -> np.ndarray | None:
    if reference.E is None:
        if embed is not None:
            raise ValueError("embed given but the reference has no embeddings; pass embed= to make_reference too")
        return None
    if embed is None:
        raise ValueError("the reference has embeddings: pass the subset's embed= rows too")
    E = similarity.unit_rows(embed, "embed")
    if E.shape != (n, reference.E.shape[1]):
        raise ValueError(f"embed must have shape ({n}, {reference.E.shape[1]}), got {E.shape}")
    return E


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
        Embeddings of the whole training split (required when the reference has them); only
        the rows of subset images are read.
    progress : bool
        Show a tqdm bar over subsets.

    Returns
    -------
    DataFrame
        One row per subset: ``subset_id`` then :func:`measure_names` columns.
    """
    from tqdm.auto import tqdm

    V = v.check_images(X)
    ids, index_sets = _as_index_sets(subsets, V.shape[0])
    y, _ = v.check_labels(y, V.shape[0], K=reference.K)
    union = np.unique(np.concatenate(index_sets)) if index_sets else np.zeros(0, np.int64)
    if union.size and (union[0] < 0 or union[-1] >= V.shape[0]):
        raise ValueError(f"subset indices must lie in [0, {V.shape[0]}), got range [{union[0]}, {union[-1]}]")
    E_all = None
    if embed is not None or reference.E is not None:
        if embed is not None and np.shape(embed)[0] != V.shape[0]:
            raise ValueError(f"embed has {np.shape(embed)[0]} rows but the training split has {V.shape[0]} images")
        E_all = _embedding(None if embed is None else np.asarray(embed)[union], reference, union.size)
    pool = qp.build_pool(reference, V[union], y[union], union, E_all)
    names = measure_names(embedding=E_all is not None)
    rows = []
    for sid, idx in tqdm(list(zip(ids, index_sets)), desc="measures", disable=not progress):
        rows.append({"subset_id": sid, **_subset_row(pool, reference, np.searchsorted(union, idx))})
    return pd.DataFrame(rows, columns=["subset_id", *names])


def _as_index_sets(subsets: Any, n: int | None = None) -> tuple[list[str], list[np.ndarray]]:
    if isinstance(subsets, pd.DataFrame):
        v.check_frame(subsets, ["subset_id", "indices"], what="subsets")
        ids = subsets["subset_id"].astype(str).tolist()
        sets = [v.check_indices(i, f"subset {s!r}", n=n) for s, i in zip(ids, subsets["indices"])]
    elif isinstance(subsets, Mapping):
        ids = [str(k) for k in subsets]
        sets = [v.check_indices(i, f"subset {s!r}", n=n) for s, i in zip(ids, subsets.values())]
    else:
        ids = [str(i) for i in range(len(subsets))]
        sets = [v.check_indices(i, f"subset {s!r}", n=n) for s, i in zip(ids, subsets)]
    for sid, s in zip(ids, sets):
        if s.ndim != 1 or s.size == 0:
            raise ValueError(f"subset {sid!r} must be a non-empty 1-D array of indices, got shape {s.shape}")
        if np.unique(s).size != s.size:
            raise ValueError(f"subset {sid!r} repeats an index; a subset is a set of distinct images")
    return ids, sets

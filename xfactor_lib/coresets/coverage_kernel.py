"""Facility location on a data-scaled kernel: the coverage variants tried against the anchors (issue 20).

:func:`kernel_coverage_select` is ``coverage`` (:func:`xfactor_lib.greedy.coverage_select`,
greedy facility location per class under class budgets, the same loop:
:func:`~xfactor_lib.coresets.greedy.facility_location_per_group`) with three choices open:

- the distance: pixel RMSD, or the cosine distance ``1 - cos`` of an embedding;
- the kernel ``exp(-d / tau)`` with ``tau = scale x`` the data's own scale (the median over
  images of the distance to the nearest other image of the class; ``tau_data`` on pixels),
  instead of ``coverage_emb``'s clipped cosine, which is nearly flat on a ReLU embedding;
- candidates only among label-consistent images (``clean``: the ``neighbours`` nearest
  images mostly share the label, :func:`xfactor_lib.greedy.label_agreement`, as
  ``coverage_clean``), every image still a client.

Label-free (``unlabeled=True``) the pool is one class; its clients are then a seeded sample
of ``max_clients`` images (memory ``max_clients x N`` float32), and ``clean`` compares
k-means cluster ids (:func:`xfactor_lib.coresets.anchors.kmeans_labels`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validation as v
from .. import similarity
from . import anchors, greedy

__all__ = ["kernel_coverage_select", "nearest_scale"]


def nearest_scale(F: np.ndarray, groups: np.ndarray, *, per_group: int = 1000, seed: int = 0) -> float:
    """Median over images of the distance to the nearest other image of its group.

    Parameters
    ----------
    F : ndarray, shape (N, d)
        Rows from :func:`xfactor_lib.coresets.anchors.features` (or cosine-distance rows).
    groups : ndarray, shape (N,), int
    per_group : int
        A seeded sample of larger groups.

    Returns
    -------
    float > 0
    """
    rng = np.random.default_rng(seed)
    near = []
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        if members.size < 2:
            continue
        if members.size > per_group:
            members = np.sort(rng.choice(members, per_group, replace=False))
        near.append(anchors.knn_distances(F[members], 1)[:, 0])
    if not near:
        raise ValueError("the data scale needs a group with at least 2 images")
    scale = float(np.median(np.concatenate(near)))
    if not scale > 0:
        raise ValueError("the data scale is 0: most images have an exact duplicate; pass tau explicitly")
    return scale


def _data_scale(F: np.ndarray, groups: np.ndarray, cosine: bool, seed: int) -> float:
    """``tau_data`` of the pixels, or its cosine-distance analogue on unit rows."""
    if not cosine:
        return similarity.tau_data(F, groups, seed=seed)
    s = nearest_scale(F, groups, seed=seed)
    return s * s / 2.0


def _distance_block(F: np.ndarray, rows: np.ndarray, cols: np.ndarray, cosine: bool) -> np.ndarray:
    """``1 - cos`` of unit rows ``F`` (float64), or the pixel RMSD of images ``F`` from the
    library's one RMSD engine (exact on uint8: no cancellation, an image is at 0 from itself)."""
    if cosine:
        return np.maximum(1.0 - F[rows].astype(np.float64) @ F[cols].astype(np.float64).T, 0.0)
    return similarity.pairwise_rmsd(F[rows], F[cols])


def kernel_coverage_select(
    X: Any = None,
    y: Any = None,
    *,
    rate: float | None = None,
    n: int | None = None,
    embed: Any = None,
    joint: bool = False,
    tau: float | None = None,
    scale: float = 4.0,
    clean: bool = False,
    neighbours: int = 10,
    typical: float = 0.0,
    unlabeled: bool = False,
    n_clusters: int = 10,
    max_clients: int = 8192,
    seed: int = 0,
    K: int | None = None,
) -> np.ndarray:
    """Greedy facility location per class on ``exp(-d / tau)`` (module notes).

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W) or (N, D), optional
        Images (pixel RMSD); ignored when ``embed`` is given.
    y : ndarray, shape (N,), int, optional
        Labels (class budgets); not read with ``unlabeled=True``.
    rate, n
        Fraction of all images (``M = ceil(rate x N)``, class-balanced) or images per class.
    embed : ndarray, shape (N, d), optional
        Use the cosine distance ``1 - cos`` of this embedding.
    joint : bool
        With both ``X`` and ``embed``: the product of the two kernels,
        ``exp(-RMSD / tau_pixels - (1 - cos) / tau_embed)``, each at its own data scale.
    tau : float, optional
        Kernel scale; default ``scale x`` :func:`nearest_scale` of the groups (not with ``joint``).
    scale : float
        Multiplies the data's scale (1: a typical nearest neighbour has similarity ``exp(-1)``,
        ``coverage``'s kernel; 4, the default, chosen on validation splits of MNIST and digits:
        a typical nearest neighbour has similarity ``exp(-1/4)``).
    clean : bool
        Candidates only among images whose ``neighbours`` nearest images mostly share their
        label (cluster id when unlabeled); a class with fewer such images than its budget
        picks among all.
    neighbours : int
    typical : float
        Clients weighted by ``typicality ** typical`` (TypiClust's typicality within the
        class, :func:`xfactor_lib.coresets.anchors.typicality`, on the embedding when one is
        given, else on pixels; 0: equal weights), so that
        dense regions count more (MaxHerding-like density weighting).
    unlabeled : bool
        The whole pool as one class, labels never read.
    n_clusters : int
        k-means clusters standing in for labels in the label-free ``clean`` vote.
    max_clients : int
        Clients per class: a seeded sample of larger classes.
    seed : int
    K : int, optional

    Returns
    -------
    ndarray, shape (M,), int64, sorted
    """
    if joint and (X is None or embed is None):
        raise ValueError("joint=True needs both the images X and an embedding embed=")
    cosine = embed is not None
    F = anchors.features(None, embed=embed) if cosine else v.check_images(X)
    N = F.shape[0]
    groups, budgets = anchors.group_budgets(y, N, rate, n, unlabeled, K)
    max_clients = v.check_int(max_clients, "max_clients", low=1)
    scale = v.check_positive(scale, "scale")
    # on unit rows, 1 - cos = |a - b|^2 / 2: the data scale in cosine distance from Euclidean nearest distances
    if tau is None:
        tau = scale * _data_scale(F, groups, cosine, seed)
    P, tau_p = None, None
    if joint:
        P = v.check_images(X)
        tau_p = scale * _data_scale(P, groups, False, seed)
    ok = None
    if clean:
        vote = anchors.kmeans_labels(F, min(n_clusters, N), seed=seed) if unlabeled else groups
        ok = greedy.label_agreement(None if cosine else X, vote, embed=embed, neighbours=neighbours)

    def similarity_of(clients: np.ndarray, cand: np.ndarray) -> np.ndarray:
        sim = np.empty((clients.size, cand.size), dtype=np.float32, order="F")
        w = None
        if typical:
            rows = F[clients] if cosine else anchors.features(F[clients])
            t = anchors.typicality(rows, anchors.TYPICALITY_K) if clients.size > 1 else np.ones(1)
            w = (t / t.mean()) ** typical
        for start in range(0, cand.size, 1024):
            cols = cand[start : start + 1024]
            expo = _distance_block(F, clients, cols, cosine) / tau
            if P is not None:
                expo += _distance_block(P, clients, cols, False) / tau_p
            sim[:, start : start + cols.size] = np.exp(-expo) if w is None else np.exp(-expo) * w[:, None]
        return sim

    return greedy.facility_location_per_group(
        groups, budgets, similarity_of, candidates=ok, max_clients=max_clients, seed=seed
    )

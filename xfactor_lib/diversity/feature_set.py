"""The paper's 27 diversity features of a labelled image set (SPEC 2), plus the systematic ones.

A, R, G at q = 0, 1, inf; min alpha, rho, gamma at q = 0, 1; max alpha, rho, gamma at
q = 0, 1, inf; the class balances CB_1, CB_inf and the size (:data:`FEATURE_NAMES`); and
the 3 systematic features (pixels per image, channels, classes). Computed from one pass over
``Z`` with :mod:`.lcr`'s building blocks, never from a table unless one is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._validation import check_frame, check_images, check_int, check_labels, image_shape
from .lcr import (
    COLUMNS,
    DEFAULT_QS,
    MEASURES,
    abundances,
    image_source,
    measures_at,
    one_hot,
    product,
    similarity_source,
)
from .power_means import hill_number, viewpoints

__all__ = [
    "FEATURE_NAMES",
    "qname",
    "feature_names",
    "features",
    "features_from_table",
    "features_from_similarity",
    "one_hot_features",
    "systematic_features",
    "subset_features",
]

FEATURE_NAMES = (
    "A_0", "R_0", "G_0", "A_1", "R_1", "G_1", "A_inf", "R_inf", "G_inf",
    "alpha_min_0", "alpha_min_1", "rho_min_0", "rho_min_1", "gamma_min_0", "gamma_min_1",
    "alpha_max_0", "alpha_max_1", "alpha_max_inf", "rho_max_0", "rho_max_1", "rho_max_inf",
    "gamma_max_0", "gamma_max_1", "gamma_max_inf",
    "CB_1", "CB_inf", "size",
)  # fmt: skip


def qname(q: float) -> str:
    """A viewpoint as it appears in feature names: ``0``, ``1``, ``2.5``, ``inf``."""
    if q == math.inf:
        return "inf"
    return str(int(q)) if float(q).is_integer() else repr(float(q))


def feature_names(qs: float | Sequence[float] = DEFAULT_QS) -> tuple[str, ...]:
    """Names of the features :func:`features` returns for viewpoints ``qs``.

    ``A_q, R_q, G_q`` per ``q``; per-class minima of alpha, rho, gamma per finite ``q``
    (at ``inf`` the minimum equals ``A_inf``, ``R_inf``, ``G_inf``); per-class maxima per
    ``q``; ``CB_1``, ``CB_inf``, ``size``. The default ``qs`` give :data:`FEATURE_NAMES`.
    """
    qv = viewpoints(qs)
    names = [f"{m}_{qname(q)}" for q in qv for m in ("A", "R", "G")]
    names += [f"{m}_min_{qname(q)}" for m in ("alpha", "rho", "gamma") for q in qv if q != math.inf]
    names += [f"{m}_max_{qname(q)}" for m in ("alpha", "rho", "gamma") for q in qv]
    return tuple(names + ["CB_1", "CB_inf", "size"])


def features_from_table(table: pd.DataFrame, class_counts: Any) -> dict[str, float]:
    """The study-A features from a diversity table and the class sizes.

    Parameters
    ----------
    table : DataFrame
        From :func:`measures` (or :func:`diversity_table` with one-hot counts).
    class_counts : array_like, shape (K,)
        Images per class (for ``CB_1``, ``CB_inf`` and ``size``).

    Returns
    -------
    dict
        Keys :func:`feature_names` of the table's viewpoints, in that order; floats, and
        ``size`` an int.
    """
    check_frame(table, COLUMNS, what="table (the output of measures() or diversity_table())")
    per_q = {}
    for q in dict.fromkeys(table["viewpoint"].astype(float).tolist()):
        block = table[table["viewpoint"] == q]
        meta = block[block["community"] == "metacommunity"].iloc[0]
        sub = block[block["community"] != "metacommunity"]
        per_q[q] = ({m: float(meta[m]) for m in MEASURES}, {m: sub[m].to_numpy(float) for m in MEASURES})
    return _feature_dict(per_q, np.asarray(class_counts, dtype=np.float64))


def _feature_dict(per_q: dict, sizes: np.ndarray) -> dict[str, float]:
    """The features from ``{q: (metacommunity values, per-class arrays)}`` and the class sizes.

    Minima and maxima over classes skip NaN (as pandas did for a greylock table).
    """
    out: dict[str, float] = {}
    for q, (meta, _) in per_q.items():
        for m, col in (("A", "alpha"), ("R", "rho"), ("G", "gamma")):
            out[f"{m}_{qname(q)}"] = meta[col]
    for stat in ("min", "max"):  # minima at q = inf are A_inf, R_inf, G_inf: left out
        for col in ("alpha", "rho", "gamma"):
            for q, (_, sub) in per_q.items():
                if stat == "max" or q != math.inf:
                    out[f"{col}_{stat}_{qname(q)}"] = float(getattr(np, f"nan{stat}")(sub[col]))  # as pandas
    out["CB_1"] = hill_number(sizes, 1.0)
    out["CB_inf"] = hill_number(sizes, math.inf)
    out["size"] = int(round(sizes.sum()))  # type: ignore[assignment]
    return out


def features_from_similarity(
    similarity: Any, y: Any, qs: float | Sequence[float] = DEFAULT_QS, *, block_size: int | None = None
) -> dict[str, float]:
    """The study-A features of images ``y`` under a similarity, without a table.

    Images are species (count 1 each), classes present in ``y`` are subcommunities; the
    features follow from ``Z @ [p, P, Pbar]`` by the same steps as :func:`diversity_table`
    (only alpha, rho and gamma; no DataFrame), so they equal :func:`features_from_table` of
    :func:`measures` to rounding. This is what :func:`features` computes.

    Parameters
    ----------
    similarity : None, ndarray (N, N), or SimilaritySource
        As :func:`diversity_table` (``None``: the identity).
    y : ndarray, shape (N,), int
    qs : float or sequence of float
        Viewpoints ``q >= 0`` (``inf`` allowed).
    block_size : int, optional
        Rows (or tile side) per block of ``Z``.

    Returns
    -------
    dict
        Keys :func:`feature_names` of ``qs``, in that order; floats, and ``size`` an int.
    """
    source = similarity_source(similarity)
    y, _ = check_labels(y, np.shape(y)[0] if source is None else int(source.n_species))
    return one_hot_features(y, lambda A: product(source, A, block_size), qs)


def one_hot_features(y: np.ndarray, product: Any, qs: float | Sequence[float]) -> dict[str, float]:
    """:func:`features_from_similarity` of checked labels; ``product(A)`` is ``Z @ A``."""
    qv = list(dict.fromkeys(viewpoints(qs)))
    counts, classes, sizes = one_hot(y)
    arrays = abundances(counts, classes.tolist(), product)
    per_q = {q: measures_at(q, *arrays, ("alpha", "rho", "gamma")) for q in qv}
    return _feature_dict(per_q, sizes)


def features(X: Any, y: Any, qs: float | Sequence[float] = DEFAULT_QS, **options: Any) -> dict[str, float]:
    """The 27 study-A diversity features of a labelled image set (SPEC 2a).

    Parameters
    ----------
    X, y, qs
        As :func:`measures`; the default ``qs = (0, 1, inf)`` gives exactly
        :data:`FEATURE_NAMES`.
    **options
        The keyword options of :func:`measures`: ``tau``, ``similarity``, ``block_size``,
        ``device``.

    Returns
    -------
    dict
        ``A_q``, ``R_q``, ``G_q``: greylock's metacommunity raw alpha, rho, gamma;
        ``{alpha,rho,gamma}_{min,max}_q``: over classes of the subcommunity raw measures;
        ``CB_1``, ``CB_inf``: :func:`class_balance`; ``size``: N. Computed by
        :func:`features_from_similarity` (no table).
    """
    block_size = options.pop("block_size", None)
    unknown = set(options) - {"tau", "similarity", "device"}
    if unknown:
        raise TypeError(f"features() got unexpected keyword argument(s) {sorted(unknown)}")
    source = image_source(X, options.get("tau", 1.0), options.get("similarity"), options.get("device", "auto"))
    return features_from_similarity(source, y, qs, block_size=block_size)


def systematic_features(X: Any, y: Any, *, channels: int | None = None) -> dict[str, int]:
    """The 3 systematic regression features: pixels per image, channels, classes.

    Parameters
    ----------
    X : ndarray
        uint8 images ``(N, C, H, W)`` / ``(N, H, W)``, or pixels ``(N, D)``.
    y : ndarray, shape (N,), int
    channels : int, optional
        ``C`` for flattened ``(N, D)`` input (default 1; ``D`` must divide by it). For image
        arrays it must match ``X.shape[1]`` if given.

    Returns
    -------
    dict
        ``pixels`` = H*W, ``channels`` = C, ``classes`` = number of classes present in ``y``.
    """
    flat = check_images(X)
    C, H, W = image_shape(X)
    y, _ = check_labels(y, flat.shape[0])
    if channels is not None:
        channels = check_int(channels, "channels", low=1)
        if np.ndim(X) == 2:
            D = flat.shape[1]
            if D % channels:
                raise ValueError(f"D = {D} pixels per image is not divisible by channels = {channels}")
            C, H, W = channels, D // channels, 1
        elif channels != C:
            raise ValueError(f"channels = {channels} contradicts the image shape (C = {C})")
    return {"pixels": int(H * W), "channels": int(C), "classes": int(np.unique(y).shape[0])}


def subset_features(X: Any, y: Any, **options: Any) -> dict[str, float]:
    """The 27 diversity features plus the 3 systematic ones (30 regression columns).

    Parameters
    ----------
    X : ndarray
        uint8 images ``(N, C, H, W)`` or float pixels ``(N, D)`` in [0, 1].
    y : ndarray, shape (N,), int
    **options
        ``qs`` and the keyword options of :func:`measures` (``tau``, ``similarity``,
        ``block_size``, ``device``).

    Returns
    -------
    dict
        :func:`features` then :func:`systematic_features` (``pixels``, ``channels``,
        ``classes``); usable as ``training.fit_subsets(..., row_hook=subset_features)``.
    """
    return {**features(X, y, **options), **systematic_features(X, y)}

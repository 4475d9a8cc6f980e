"""LCR diversity: similarity-sensitive alpha, rho, beta, gamma of labelled image sets.

The measures are those of Reeve et al. (arXiv 1404.6520) as implemented by ``greylock``
(``Metacommunity(counts, similarity).to_dataframe(viewpoint)``); :func:`diversity_table`
returns the same rows, columns and values (to 1e-9 relative), computed from one pass over
``Z``. For images (SPEC 2, 2a) species are images (count 1 each), subcommunities are
classes, and ``Z = exp(-RMSD / tau)`` (``tau = 1``: the paper) from
:class:`xfactor_lib.similarity.RMSDSimilarity`, or any other similarity source.

How a table is computed
-----------------------
With ``P = counts / counts.sum()`` (species x subcommunities), ``w = P.sum(0)`` (class
weights), ``Pbar = P / w`` and ``p = P.sum(1)``, every measure at every ``q`` follows from
``Z @ [p, P, Pbar]`` (greylock's "unified abundance array", ``2K + 1`` columns). That product
is formed in one pass over row blocks (or tiles) of ``Z``, so any number of viewpoints costs
one pass and ``Z`` is never held whole unless it was given whole. :func:`.feature_set.features` (and
:func:`.feature_set.features_from_similarity`) take the same steps without building a table,
through this module's public building blocks (:func:`one_hot`, :func:`abundances`,
:func:`measures_at`, :func:`product`, :func:`image_source`, :func:`similarity_source`).

Choices where greylock and this module differ (documented, tested)
------------------------------------------------------------------
- ``q = inf`` is the exact limit: the power mean of order ``-inf``, a minimum over the
  species (or classes) with non-zero weight. greylock switches to that minimum for every
  ``q > 101`` (order ``1 - q < -100``); here a finite ``q`` is always the finite power mean
  (computed in the log domain, so it does not overflow). So ``q = inf`` agrees with greylock
  at ``inf`` and at any ``q > 101``; a finite ``q > 101`` is the true power mean, which
  approaches the minimum as ``q`` grows.
- Like greylock, ``|1 - q| <= 1e-8`` is treated as ``q = 1`` (geometric mean), species whose
  normalized weight is below ``min(1 / counts.sum(), 1e-9)`` are left out of a class's mean,
  and classes whose weight is below ``1e-9`` are left out of the metacommunity mean.
- Errors instead of silent NaN or inf: negative or non-finite counts, an empty
  subcommunity, similarities outside [0, 1] or non-finite, a species with similarity 0 to
  every species of its subcommunity, itself included (greylock returns inf), non-finite
  pixels, ``q < 0``.
- Class balance ``CB_q`` (:func:`class_balance`) is the Hill number of the class
  proportions: the only class balance of the library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._validation import check_images, check_labels
from ..similarity import ArraySimilarity, RMSDSimilarity, SimilaritySource, blockwise_product
from .power_means import hill_number, power_mean
from .power_means import viewpoints as _viewpoints

__all__ = [
    "MEASURES",
    "COLUMNS",
    "DEFAULT_QS",
    "power_mean",
    "hill_number",
    "class_balance",
    "diversity_table",
    "measures",
    "similarity_source",
    "image_source",
    "one_hot",
    "abundances",
    "measures_at",
    "product",
]

MEASURES = (
    "alpha",
    "rho",
    "beta",
    "gamma",
    "normalized_alpha",
    "normalized_rho",
    "normalized_beta",
    "rho_hat",
    "beta_hat",
)
COLUMNS = ("community", "viewpoint") + MEASURES
DEFAULT_QS = (0.0, 1.0, math.inf)

META_ATOL = 1e-9  # greylock's default atol for the metacommunity power mean


# --------------------------------------------------------------------------- checks
def _counts_array(counts: Any) -> tuple[np.ndarray, list]:
    if isinstance(counts, pd.DataFrame):
        names = counts.columns.to_list()
        values = counts.to_numpy()
    elif isinstance(counts, np.ndarray):
        values = counts
        names = list(range(counts.shape[1])) if counts.ndim == 2 else []
    else:
        raise TypeError(
            f"counts must be a numpy array or pandas DataFrame (species x subcommunities), got {type(counts).__name__}"
        )
    if values.ndim != 2:
        raise ValueError(
            f"counts must be 2-D (species x subcommunities), got shape {values.shape}; "
            "for a single community pass counts[:, None]"
        )
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(f"counts needs at least one species and one subcommunity, got shape {values.shape}")
    numeric = np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)
    if values.dtype == bool or not numeric:
        raise TypeError(f"counts must be numeric (int or float), got dtype {values.dtype}")
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError("counts has non-finite entries (NaN or inf); every count must be a finite number >= 0")
    if (values < 0).any():
        r, c = np.argwhere(values < 0)[0]
        raise ValueError(f"counts must be >= 0; found {values[r, c]} at species {r}, subcommunity {names[c]!r}")
    empty = np.flatnonzero(values.sum(axis=0) == 0)
    if empty.size:
        raise ValueError(
            f"subcommunities {[names[j] for j in empty[:10]]} are empty (all-zero columns); "
            "drop them before computing diversity"
        )
    return values, names


def class_balance(counts: Any, *, q: float = 1.0) -> float | np.ndarray:
    """Class balance ``CB_q``: the Hill number of the class proportions (the library's only CB).

    Parameters
    ----------
    counts : array_like, shape (K,) or (..., K)
        Images per class (zeros allowed: an absent class does not count).
    q : float
        Viewpoint; ``1`` (default) is ``exp`` of the Shannon entropy of ``counts / counts.sum()``,
        ``inf`` is ``counts.sum() / counts.max()``.

    Returns
    -------
    float for one count vector, else ndarray of shape (...), values in [1, classes present]
    """
    return hill_number(counts, q)


# --------------------------------------------------------------------------- diversity table
def similarity_source(similarity: Any) -> Any:
    if similarity is None or isinstance(similarity, SimilaritySource):
        return similarity
    if isinstance(similarity, (np.ndarray, pd.DataFrame)):
        return ArraySimilarity(similarity)
    if hasattr(similarity, "n_species") and hasattr(similarity, "iter_blocks"):
        return similarity
    raise TypeError(
        "similarity must be None (identity), an S x S array, or a blockwise source with "
        f"n_species and iter_blocks(block_size); got {type(similarity).__name__}"
    )


def diversity_table(
    counts: Any,
    similarity: Any = None,
    viewpoint: float | Sequence[float] = 0.0,
    *,
    block_size: int | None = None,
) -> pd.DataFrame:
    """All LCR measures of a metacommunity, as ``greylock``'s ``to_dataframe``.

    Parameters
    ----------
    counts : ndarray or DataFrame, shape (S, K)
        Non-negative counts of each species in each subcommunity (a species may be in
        several; all-zero rows allowed, all-zero columns are an error). DataFrame columns
        name the subcommunities, else ``0..K-1``.
    similarity : None, ndarray (S, S), or SimilaritySource
        ``None`` is the identity; an array needs entries in [0, 1] (symmetric or not); a
        source (``n_species``, ``iter_blocks``; see :class:`SimilaritySource`) is consumed in
        one blockwise pass.
    viewpoint : float or sequence of float
        ``q >= 0`` or ``inf``; a sequence gives one block of rows per ``q``.
    block_size : int, optional
        Rows (or tile side) per block of ``Z``.

    Returns
    -------
    DataFrame, ``len(viewpoints) * (1 + K)`` rows
        Per ``q``: a ``metacommunity`` row, then one row per subcommunity; columns
        ``community, viewpoint, alpha, rho, beta, gamma, normalized_alpha, normalized_rho,
        normalized_beta, rho_hat, beta_hat``.

    Raises
    ------
    TypeError, ValueError
        Bad counts, similarity or viewpoint (see the module docstring).
    """
    values, names = _counts_array(counts)
    qs = _viewpoints(viewpoint)
    source = similarity_source(similarity)
    if source is not None and int(source.n_species) != values.shape[0]:
        raise ValueError(
            f"similarity is for {source.n_species} species but counts has {values.shape[0]} rows; "
            "they must describe the same species in the same order"
        )
    arrays = abundances(values, names, lambda A: product(source, A, block_size))
    frames = []
    for q in qs:
        meta, sub = measures_at(q, *arrays, MEASURES)
        rows: dict[str, list] = {"community": ["metacommunity", *names], "viewpoint": [q] * (len(names) + 1)}
        for m in MEASURES:
            rows[m] = [meta[m], *sub[m].tolist()]
        frames.append(pd.DataFrame(rows, columns=list(COLUMNS)))
    return pd.concat(frames, ignore_index=True)


def product(source: Any, A: np.ndarray, block_size: int | None) -> np.ndarray:
    """``Z @ A`` of a checked source (``None``: the identity)."""
    if source is None:
        return A
    if hasattr(source, "weighted_abundances"):
        return source.weighted_abundances(A, block_size=block_size)
    return blockwise_product(source, A, block_size=block_size)


def abundances(values: np.ndarray, names: list, product: Any) -> tuple[np.ndarray, ...]:
    """``Pbar, w, mask, Zp, ZP, ZPbar`` of checked counts ``values`` (S, K).

    ``product(A)`` returns ``Z @ A`` for ``A`` of shape (S, 2K + 1); it is called once, on
    ``[p, P, Pbar]``.
    """
    K = values.shape[1]
    total = values.sum()
    P = values / total
    w = P.sum(axis=0)
    Pbar = P / w
    p = P.sum(axis=1)
    atol = min(1.0 / total, 1e-9)
    mask = np.abs(Pbar) >= atol
    if not mask.any(axis=0).all():
        bad = [names[j] for j in np.flatnonzero(~mask.any(axis=0))[:10]]
        raise ValueError(f"subcommunities {bad} have no species with relative abundance >= {atol:.1e}")
    # Z @ P is formed directly, not as (Z @ Pbar) * w, to follow greylock's rounding
    ZA = product(np.concatenate([p[:, None], P, Pbar], axis=1))
    Zp, ZP, ZPbar = ZA[:, 0], ZA[:, 1 : K + 1], ZA[:, K + 1 :]
    # A species of a class that is similar to nothing in it, itself included, has an
    # infinite diversity (1 / 0); greylock returns inf there. Not a similarity: refuse.
    dead = np.argwhere(mask & ~(ZP > 0))
    if dead.size:
        i, k = dead[0]
        raise ValueError(
            f"species {i} of subcommunity {names[k]!r} has similarity 0 to every species of that "
            f"subcommunity, itself included ({len(dead)} such species in all), so its diversity is "
            "infinite; is the similarity all zero? A species must have similarity > 0 to itself"
        )
    return Pbar, w, mask, Zp, ZP, ZPbar


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    # greylock: the ratio is 0 where the denominator is 0
    out = np.zeros(np.broadcast_shapes(np.shape(num), den.shape))
    np.divide(num, den, out=out, where=den != 0)
    return out


def measures_at(
    q: float,
    Pbar: np.ndarray,
    w: np.ndarray,
    mask: np.ndarray,
    Zp: np.ndarray,
    ZP: np.ndarray,
    ZPbar: np.ndarray,
    wanted: Sequence[str],
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The ``wanted`` measures at viewpoint ``q``: metacommunity values and per-subcommunity arrays (K,)."""
    K = Pbar.shape[1]
    Zp_b = np.broadcast_to(Zp[:, None], ZPbar.shape)
    order = 1.0 - q
    ratios = {  # the subcommunity power means, of numerator / denominator
        "alpha": (1.0, ZP),
        "gamma": (1.0, Zp_b),
        "normalized_alpha": (1.0, ZPbar),
        "rho": (Zp_b, ZP),
        "normalized_rho": (Zp_b, ZPbar),
    }
    means = {m if m in ratios else "normalized_rho" if m == "normalized_beta" else "rho" for m in wanted}
    with np.errstate(divide="ignore", invalid="ignore"):
        pm = {m: power_mean(order, Pbar, _ratio(*ratios[m]), mask) for m in sorted(means)}
        sub = {}
        for m in wanted:
            if m in pm:
                sub[m] = pm[m]
            elif m == "normalized_beta":
                sub[m] = 1.0 / pm["normalized_rho"]
            elif m == "beta":
                sub[m] = 1.0 / pm["rho"]
            elif K == 1:  # rho_hat, beta_hat of one subcommunity: rho, as greylock
                sub[m] = pm["rho"]
            else:
                sub[m] = (pm["rho"] - 1.0) / (K - 1) if m == "rho_hat" else (K / pm["rho"] - 1.0) / (K - 1)
    sub = {m: np.asarray(value, dtype=np.float64) for m, value in sub.items()}
    wmask = np.abs(w) >= META_ATOL
    meta = {m: float(power_mean(order, w, sub[m], wmask)) for m in wanted}
    return meta, sub


# --------------------------------------------------------------------------- images
def measures(
    X: Any,
    y: Any,
    qs: float | Sequence[float] = DEFAULT_QS,
    *,
    tau: float = 1.0,
    similarity: Any = None,
    block_size: int | None = None,
    device: str = "auto",
) -> pd.DataFrame:
    """The diversity table of a labelled image set (species = images, classes = subcommunities).

    Parameters
    ----------
    X : ndarray or None
        uint8 images ``(N, C, H, W)`` or float pixels ``(N, D)`` in [0, 1]; may be ``None``
        when ``similarity`` is given.
    y : ndarray, shape (N,), int
        Classes absent from ``y`` are dropped.
    qs : float or sequence of float
        Viewpoints ``q >= 0`` (``inf`` allowed).
    tau : float
        Length scale of ``Z = exp(-RMSD / tau)``; ``1`` (default) is the paper's.
    similarity : SimilaritySource or ndarray (N, N), optional
        Any other similarity of the N images (e.g. ``EmbeddingSimilarity``) instead of the
        pixel one.
    block_size : int, optional
        Tile side for ``Z`` (memory ~ ``block_size**2``); default 1024 CPU, 8192 GPU.
    device : str
        See :class:`xfactor_lib.similarity.RMSDSimilarity`.

    Returns
    -------
    DataFrame
        As :func:`diversity_table`; ``community`` is ``"metacommunity"`` or the class label.
    """
    source = image_source(X, tau, similarity, device)
    y, _ = check_labels(y, int(source.n_species))
    counts, classes, _ = one_hot(y)
    return diversity_table(pd.DataFrame(counts, columns=classes.tolist()), source, qs, block_size=block_size)


def image_source(X: Any, tau: float, similarity: Any, device: str) -> Any:
    """The similarity source of :func:`measures`: pixels at ``tau``, or the given one."""
    if similarity is None:
        if X is None:
            raise TypeError("pass the images X, or a similarity source over them")
        return RMSDSimilarity(X, tau=tau, device=device)
    if tau != 1.0:
        raise ValueError("tau sets the pixel similarity exp(-RMSD / tau); with similarity= given, build it there")
    source = similarity_source(similarity)
    if X is not None and check_images(X).shape[0] != source.n_species:
        raise ValueError(f"X has {np.shape(X)[0]} images but the similarity has {source.n_species} species")
    return source


def one_hot(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts ``(N, K)`` of images (species) in classes present (subcommunities), the classes, their sizes."""
    classes, inverse, sizes = np.unique(y, return_inverse=True, return_counts=True)  # absent classes dropped
    counts = np.zeros((y.shape[0], classes.shape[0]))
    counts[np.arange(y.shape[0]), inverse] = 1.0
    return counts, classes, sizes

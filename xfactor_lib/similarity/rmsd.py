"""Pixel RMSD between images: pairwise blocks, to class means, the data's own scale tau.

``RMSD(a, b) = sqrt(mean((a - b)**2))`` over all pixels and channels of images scaled to
[0, 1] (SPEC section 0); the similarity of study A is ``Z = exp(-RMSD / tau)`` with
``tau = 1``. Every RMSD in the library comes from one block routine
(:class:`xfactor_lib.similarity._gram.Gram`), so :func:`pairwise_rmsd`, :func:`iter_rmsd_blocks` and
:class:`RMSDSimilarity` give the same numbers (bitwise for the same rows per block).

The block routine (:mod:`xfactor_lib.similarity._gram`) handles two numerical traps: uint8 images are
compared on exact integer grey levels (equal distances are bitwise equal, so ties are real
ties), and float pixels follow one cancellation policy, :data:`CANCEL_TOL`.

Devices: ``"cpu"`` numpy; ``"cuda"`` / ``"cuda:N"`` torch on the GPU; ``"torch:cpu"`` the
torch code on the CPU (tests the GPU path without a GPU); ``"auto"`` a GPU when one is
visible (:func:`xfactor_lib._validation.resolve_device`).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._validation import check_block_size, check_images, check_labels, check_positive, resolve_device
from ._gram import CANCEL_TOL, Backend, Gram, slices

__all__ = [
    "CANCEL_TOL",
    "BLOCK_ELEMENTS",
    "CPU_TILE",
    "GPU_TILE",
    "check_tau",
    "check_z_values",
    "pairwise_rmsd",
    "iter_rmsd_blocks",
    "rmsd_to_images",
    "class_means",
    "similarity_from_rmsd",
    "tau_data",
]

#: Elements of one row block when ``block_size`` is not given (32 MiB of float64).
BLOCK_ELEMENTS = 1 << 22
#: Default tile side of the symmetric sources on the CPU and on a GPU.
CPU_TILE, GPU_TILE = 1024, 8192


def check_tau(tau: Any) -> float:
    return check_positive(tau, "tau")


def check_z_values(Z: Any, what: str) -> None:
    if not np.isfinite(Z).all():
        raise ValueError(f"{what} has non-finite entries (NaN or inf); similarities must lie in [0, 1]")
    if Z.size and (Z.min() < 0 or Z.max() > 1):
        raise ValueError(f"{what} entries must lie in [0, 1], got range [{Z.min():.6g}, {Z.max():.6g}]")


def _image_pair(A: Any, B: Any) -> tuple[np.ndarray, np.ndarray | None]:
    VA = check_images(A, "A")
    if B is None or B is A:
        return VA, None
    VB = check_images(B, "B")
    if VA.shape[1] != VB.shape[1]:
        raise ValueError(f"A and B must have the same pixels per image D, got {VA.shape[1]} and {VB.shape[1]}")
    if (VA.dtype == np.uint8) != (VB.dtype == np.uint8):
        raise TypeError(
            f"A and B must both be uint8 or both float, got {VA.dtype} and {VB.dtype}; "
            "convert the uint8 one with _validation.as_float"
        )
    return VA, VB


def iter_rmsd_blocks(
    A: Any, B: Any = None, *, block_size: int | None = None, device: str = "cpu"
) -> Iterator[tuple[slice, np.ndarray]]:
    """RMSD between two image sets, one block of rows of ``A`` at a time.

    Parameters
    ----------
    A : ndarray, shape (N_A, D) float in [0, 1], or uint8 (N_A, C, H, W)
    B : ndarray, shape (N_B, D) or (N_B, C, H, W), optional
        Default ``A`` (all pairs within one set; the diagonal is exactly 0). ``A`` and
        ``B`` must both be uint8 or both float.
    block_size : int, optional
        Rows of ``A`` per block; default about 4M entries per block.
    device : str
        ``"cpu"`` (default), ``"auto"``, ``"cuda"``, ``"cuda:N"`` or ``"torch:cpu"``.

    Yields
    ------
    rows : slice
        The rows of ``A`` this block covers.
    block : ndarray, shape (rows.stop - rows.start, N_B), float64
        ``block[i, j] = RMSD(A[rows][i], B[j])``; a fresh array the caller may keep.
    """
    gram, rows = _row_blocks(A, B, block_size, device)  # errors now, not at the first next()
    return ((sl, gram.be.numpy(gram.rmsd(sl))) for sl in slices(gram.NA, rows))


def _row_blocks(A: Any, B: Any, block_size: Any, device: str) -> tuple[Gram, int]:
    """The prepared pair and the rows of ``A`` per block."""
    VA, VB = _image_pair(A, B)
    block_size = check_block_size(block_size)
    gram = Gram(VA, VB, Backend(resolve_device(device)))
    return gram, block_size or max(1, BLOCK_ELEMENTS // max(gram.NB, 1))


def pairwise_rmsd(A: Any, B: Any = None, *, block_size: int | None = None, device: str = "cpu") -> np.ndarray:
    """RMSD between every image of ``A`` and every image of ``B``.

    Parameters
    ----------
    A : ndarray, shape (N_A, D) float in [0, 1], or uint8 (N_A, C, H, W)
    B : ndarray, shape (N_B, D) or (N_B, C, H, W), optional
        Default ``A``. ``A`` and ``B`` must both be uint8 or both float.
    block_size, device
        As :func:`iter_rmsd_blocks` (memory beyond the output is one block).

    Returns
    -------
    ndarray, shape (N_A, N_B), float64
    """
    gram, rows = _row_blocks(A, B, block_size, device)
    out = np.empty((gram.NA, gram.NB))
    for sl in slices(gram.NA, rows):
        if gram.be.torch:
            out[sl] = gram.be.numpy(gram.rmsd(sl))
        else:
            gram.rmsd(sl, out=out[sl])  # written in place: no copy of the output
    return out


def similarity_from_rmsd(R: Any, *, tau: float = 1.0) -> np.ndarray:
    """Similarity ``Z = exp(-R / tau)`` (study A: ``tau = 1``).

    Parameters
    ----------
    R : array_like, any shape
        RMSD values (>= 0).
    tau : float
        Length scale, > 0.

    Returns
    -------
    ndarray, the shape of ``R``, float64 in (0, 1]
    """
    Z = np.divide(np.asarray(R, dtype=np.float64), check_tau(tau))
    np.negative(Z, out=Z)
    return np.exp(Z, out=Z)


def rmsd_to_images(X: Any, M: Any, *, block_size: int | None = None) -> np.ndarray:
    """RMSD of each image to each of a few reference images, from pixel differences.

    Unlike :func:`pairwise_rmsd` every entry is summed directly from ``(x - mu)**2``, row by
    row, so an image's distances do not depend on which other images are in ``X`` (equal
    images get bitwise equal distances). Meant for a few references (class means).

    Parameters
    ----------
    X : ndarray, shape (N, D) float in [0, 1], or uint8 (N, C, H, W)
    M : ndarray, shape (K, D), float in [0, 1]
        Reference images, e.g. :func:`class_means`.
    block_size : int, optional
        Rows of ``X`` converted at once (default 4096).

    Returns
    -------
    ndarray, shape (N, K), float64
    """
    V = check_images(X, "X")
    Mf = check_images(M, "M")
    Mf = Mf / 255.0 if Mf.dtype == np.uint8 else Mf.astype(np.float64)
    block_size = check_block_size(block_size) or 4096
    if Mf.shape[1] != V.shape[1]:
        raise ValueError(f"reference images have D = {Mf.shape[1]} pixels, images have D = {V.shape[1]}")
    out = np.empty((V.shape[0], Mf.shape[0]), dtype=np.float64)
    for sl in slices(V.shape[0], block_size):
        Vb = V[sl].astype(np.float64)
        if V.dtype == np.uint8:
            Vb /= 255.0
        tmp = np.empty_like(Vb)
        for k in range(Mf.shape[0]):
            np.subtract(Vb, Mf[k], out=tmp)
            np.square(tmp, out=tmp)
            out[sl, k] = tmp.sum(axis=1)
    out /= V.shape[1]
    return np.sqrt(out, out=out)


def class_means(X: Any, y: Any, *, K: int | None = None) -> np.ndarray:
    """Pixelwise mean image of every class.

    Parameters
    ----------
    X : ndarray, shape (N, D) float in [0, 1], or uint8 (N, C, H, W)
        The **full** training split (SPEC 1: means are over all images of a class).
    y : ndarray, shape (N,), int
    K : int, optional
        Number of classes; default ``y.max() + 1``. A class with no image is an error.

    Returns
    -------
    ndarray, shape (K, D), float64 in [0, 1]
    """
    V = check_images(X, "X")
    y, K = check_labels(y, V.shape[0], K=K)
    counts = np.bincount(y, minlength=K)
    missing = np.flatnonzero(counts == 0)
    if missing.size:
        raise ValueError(
            f"class(es) {missing.tolist()} have no image; class means need every class 0..{K - 1} "
            "(pass the full training split, or the right K)"
        )
    out = np.empty((K, V.shape[1]), dtype=np.float64)
    order = np.argsort(y, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for k in range(K):
        rows = V[order[bounds[k] : bounds[k + 1]]]
        if V.dtype == np.uint8:  # integer sums are exact
            out[k] = rows.sum(axis=0, dtype=np.int64) / (counts[k] * 255.0)
        else:
            out[k] = rows.sum(axis=0, dtype=np.float64) / counts[k]
    return out


def tau_data(X: Any, y: Any, *, per_class: int = 1000, seed: int = 0) -> float:
    """Median over images of the RMSD to the nearest other image of the same class.

    The data's own similarity scale (study Q's ``tau_data``): at ``Z = exp(-RMSD / tau)``
    with this ``tau``, a typical nearest neighbour has similarity ``exp(-1)``.

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W) or (N, D)
    y : ndarray, shape (N,), int
    per_class : int
        Images per class the median is taken over (a seeded sample of larger classes).
    seed : int

    Returns
    -------
    float, > 0
    """
    V = check_images(X)
    y, K = check_labels(y, V.shape[0])
    if isinstance(per_class, bool) or not isinstance(per_class, numbers.Integral) or per_class < 2:
        raise ValueError(f"per_class must be an int >= 2, got {per_class!r}")
    rng = np.random.default_rng(seed)
    nearest = []
    for k in range(K):
        members = np.flatnonzero(y == k)
        if members.size < 2:
            continue
        if members.size > per_class:
            members = np.sort(rng.choice(members, per_class, replace=False))
        nn = np.empty(members.size)
        for rows, block in iter_rmsd_blocks(V[members], block_size=512):
            block[np.arange(block.shape[0]), np.arange(rows.start, rows.stop)] = np.inf
            nn[rows] = block.min(axis=1)
        nearest.append(nn)
    if not nearest:
        raise ValueError("tau_data needs a class with at least 2 images")
    tau = float(np.median(np.concatenate(nearest)))
    if not tau > 0:
        raise ValueError("tau_data is 0: most images have an exact duplicate in their class; pass tau explicitly")
    return tau

"""Pixel RMSD between images, computed in blocks, and class mean images.

``RMSD(a, b) = sqrt(mean((a - b)**2))`` over all pixels and channels of images scaled to
[0, 1] (SPEC section 0); the similarity of study A is ``Z = exp(-RMSD)``.

Distances come from the Gram identity ``|a - b|^2 = |a|^2 + |b|^2 - 2 a.b``, one block of
rows at a time: beside the output (or the caller's block) live one ``(block_size, N_B)``
intermediate and one copy of ``B`` in the product's dtype, never an ``N_A x N_B`` scratch
matrix. Pixels that are 0 in every image (MNIST's border) are left out of the products.
Within one set and one block the result is bitwise symmetric. Two numerical traps are
handled:

- uint8 images are compared on their integer grey levels, where the identity is *exact*
  (float32 products when every partial sum stays below 2**24, float64 otherwise). Equal
  distances then come out bitwise equal, so ties between images are real ties and the
  "lower index wins" rules of :mod:`xfactor_lib.selection` are deterministic.
- float images are centred on a common mean (distances do not change, cancellation
  shrinks), and every entry whose squared distance is below ``1e-2`` of the summed
  centred norms (near-duplicates, where the identity loses digits) is recomputed exactly
  from pixel differences. Results agree with brute force to about 1e-12.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

__all__ = [
    "as_float",
    "pairwise_rmsd",
    "iter_rmsd_blocks",
    "iter_similarity_blocks",
    "rmsd_to_images",
    "class_means",
]

#: Elements of one intermediate block when ``block_size`` is not given (32 MiB of float64).
BLOCK_ELEMENTS = 1 << 22
#: Entries with ``d2 <= CANCEL_TOL * (|a_c|^2 + |b_c|^2)`` are recomputed from differences.
CANCEL_TOL = 1e-2
_RECOMPUTE_CHUNK = 4096


# --------------------------------------------------------------------------- validation
def _flat_images(X: object, what: str = "X") -> np.ndarray:
    """Validated ``(N, D)`` view of images: uint8 grey levels or float pixels in [0, 1]."""
    if isinstance(X, np.ndarray):
        V = X
    else:
        try:
            V = np.asarray(X)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{what} must be an array of images, got {type(X).__name__}") from exc
    if V.ndim < 2:
        raise ValueError(
            f"{what} must have one row per image, shape (N, D) or (N, C, H, W); got shape "
            f"{V.shape} (for a single image use {what}[None])"
        )
    if V.dtype == np.uint8:
        pass
    elif np.issubdtype(V.dtype, np.floating):
        pass
    elif V.dtype == np.bool_ or np.issubdtype(V.dtype, np.integer):
        raise TypeError(
            f"{what} has dtype {V.dtype}; integer pixels must be uint8 (0..255), "
            "anything else float in [0, 1] (e.g. X / 255.0)"
        )
    else:
        raise TypeError(f"{what} must be uint8 images or float pixels in [0, 1], got dtype {V.dtype}")
    V = V.reshape(V.shape[0], int(np.prod(V.shape[1:])))
    if V.shape[1] == 0:
        raise ValueError(f"{what} has no pixels (shape {V.shape})")
    if V.dtype != np.uint8 and V.size:
        finite = np.isfinite(V)
        if not finite.all():
            rows = np.flatnonzero(~finite.all(axis=1))
            raise ValueError(
                f"{what} has non-finite pixels (NaN or inf) in {rows.size} image(s), first at "
                f"row {rows[0]}; drop or repair those images"
            )
        lo, hi = V.min(), V.max()
        if lo < 0 or hi > 1:
            raise ValueError(
                f"float pixels of {what} must lie in [0, 1], got range [{lo:.4g}, {hi:.4g}]; "
                "divide grey levels by 255 or pass uint8 images"
            )
    return V


def _check_block_size(block_size: int | None) -> int | None:
    if block_size is None:
        return None
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)):
        raise TypeError(f"block_size must be a positive int or None, got {block_size!r}")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    return int(block_size)


def as_float(X: object) -> np.ndarray:
    """Images as float64 pixels in [0, 1], one row per image.

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W) or (N, D)
        uint8 grey levels (divided by 255) or float pixels already in [0, 1].

    Returns
    -------
    ndarray, shape (N, D), float64

    Raises
    ------
    TypeError
        Not uint8 or float (other integer types must be scaled by the caller).
    ValueError
        Fewer than 2 dimensions, non-finite pixels, or float pixels outside [0, 1].
    """
    V = _flat_images(X)
    if V.dtype == np.uint8:
        return V.astype(np.float64) / 255.0
    return V.astype(np.float64)


# --------------------------------------------------------------------------- RMSD blocks
def _integer_norm2(V: np.ndarray) -> np.ndarray:
    out = np.empty(V.shape[0], dtype=np.float64)
    for start in range(0, V.shape[0], 8192):
        b = V[start:start + 8192].astype(np.int64)
        out[start:start + 8192] = np.einsum("ij,ij->i", b, b)
    return out


def _validated_pair(A: object, B: object, block_size: int | None
                    ) -> tuple[np.ndarray, np.ndarray, bool, int]:
    VA = _flat_images(A, "A")
    same = B is None or B is A
    VB = VA if same else _flat_images(B, "B")
    block_size = _check_block_size(block_size)
    if VA.shape[1] != VB.shape[1]:
        raise ValueError(f"A and B must have the same pixels per image D, got {VA.shape[1]} and {VB.shape[1]}")
    if (VA.dtype == np.uint8) != (VB.dtype == np.uint8):
        raise TypeError(
            f"A and B must both be uint8 or both float, got {VA.dtype} and {VB.dtype}; "
            "convert the uint8 one with as_float"
        )
    rows = block_size or max(1, BLOCK_ELEMENTS // max(VB.shape[0], 1))
    return VA, VB, same, rows


def iter_rmsd_blocks(A: object, B: object = None, *, block_size: int | None = None
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

    Yields
    ------
    rows : slice
        The rows of ``A`` this block covers.
    block : ndarray, shape (rows.stop - rows.start, N_B), float64
        ``block[i, j] = RMSD(A[rows][i], B[j])``; a fresh array the caller may keep.
    """
    VA, VB, same, rows = _validated_pair(A, B, block_size)  # errors now, not at first next()
    return _rmsd_blocks(VA, VB, same, rows)


def _rmsd_blocks(VA: np.ndarray, VB: np.ndarray, same: bool, rows_per_block: int,
                 out: np.ndarray | None = None) -> Iterator[tuple[slice, np.ndarray]]:
    """Blocks of RMSD; written into ``out[rows]`` when ``out`` (N_A, N_B) is given."""
    NA, D = VA.shape
    integer = VA.dtype == np.uint8
    # Pixels that are 0 in every image (MNIST's border) add nothing to any distance.
    used = VA.any(axis=0) if same else VA.any(axis=0) | VB.any(axis=0)
    if not used.all():
        VA = VA[:, used]
        VB = VA if same else VB[:, used]
    if integer:
        nA = _integer_norm2(VA)
        nB = nA if same else _integer_norm2(VB)
        # Every partial sum of a.b (non-negative terms) is at most |a||b|: below 2**24 a
        # float32 product is exact (and twice as fast); float64 is exact up to 2**53.
        bound = (nA.max(initial=0.0) * nB.max(initial=0.0)) ** 0.5
        gram_dtype = np.float32 if bound < 2.0 ** 24 else np.float64

        def prep(V: np.ndarray) -> np.ndarray:
            return V.astype(gram_dtype)
        scale = D * 255.0 ** 2
    else:
        # Centring leaves distances unchanged and shrinks the norms that cancel. The centre
        # is rounded to multiples of 2**-8 so that subtracting it is exact for float32 or
        # coarse (dyadic) pixels: equal distances then stay bitwise equal.
        total = VA.sum(axis=0, dtype=np.float64) + (0.0 if same else VB.sum(axis=0, dtype=np.float64))
        center = np.round(total / max(NA + (0 if same else VB.shape[0]), 1) * 256.0) / 256.0

        def prep(V: np.ndarray) -> np.ndarray:
            return V.astype(np.float64) - center
        scale = float(D)
    GB = prep(VB)
    if not integer:
        nB = np.einsum("ij,ij->i", GB, GB)
    whole = same and rows_per_block >= NA
    for start in range(0, NA, rows_per_block):
        sl = slice(start, min(start + rows_per_block, NA))
        if whole:
            GA = GB
            prod = GB @ GB.T  # numpy hands a @ a.T to the symmetric (syrk) kernel
        else:
            GA = prep(VA[sl])
            prod = GA @ GB.T
        na = nA[sl] if integer else np.einsum("ij,ij->i", GA, GA)
        # na_i + nb_j first: one commutative addition, so a symmetric Gram block gives a
        # bitwise symmetric result. For grey levels every step below is exact.
        d2 = np.add.outer(na, nB, out=None if out is None else out[sl])
        prod *= 2.0  # exact (a power of two), in place: one block of intermediate
        d2 -= prod
        del prod
        if not integer:
            _recompute_cancelled(d2, na, nB, VA[sl], VB)
        if same:
            local = np.arange(sl.stop - sl.start)
            d2[local, local + sl.start] = 0.0
        d2 /= scale  # divided, as a brute-force mean would, not multiplied by a reciprocal
        np.sqrt(d2, out=d2)
        yield sl, d2


def _recompute_cancelled(d2: np.ndarray, na: np.ndarray, nb: np.ndarray,
                         RA: np.ndarray, RB: np.ndarray) -> None:
    """Overwrite entries of ``d2`` that lost digits to cancellation with exact sums."""
    i, j = np.nonzero(d2 <= CANCEL_TOL * (na[:, None] + nb[None, :]))
    for start in range(0, i.size, _RECOMPUTE_CHUNK):
        ii, jj = i[start:start + _RECOMPUTE_CHUNK], j[start:start + _RECOMPUTE_CHUNK]
        diff = RA[ii].astype(np.float64) - RB[jj]
        d2[ii, jj] = np.einsum("ij,ij->i", diff, diff)


def pairwise_rmsd(A: object, B: object = None, *, block_size: int | None = None) -> np.ndarray:
    """RMSD between every image of ``A`` and every image of ``B``.

    Parameters
    ----------
    A : ndarray, shape (N_A, D) float in [0, 1], or uint8 (N_A, C, H, W)
    B : ndarray, shape (N_B, D) or (N_B, C, H, W), optional
        Default ``A``. ``A`` and ``B`` must both be uint8 or both float.
    block_size : int, optional
        Rows of ``A`` per block (memory beyond the output is one block).

    Returns
    -------
    ndarray, shape (N_A, N_B), float64
    """
    VA, VB, same, rows = _validated_pair(A, B, block_size)
    out = np.empty((VA.shape[0], VB.shape[0]), dtype=np.float64)
    for _ in _rmsd_blocks(VA, VB, same, rows, out):
        pass
    return out


def iter_similarity_blocks(A: object, B: object = None, *, block_size: int | None = None
                           ) -> Iterator[tuple[slice, np.ndarray]]:
    """Similarity ``Z = exp(-RMSD)`` one block of rows at a time.

    Parameters and blocks as :func:`iter_rmsd_blocks`; each block is
    ``exp(-RMSD)``, shape ``(rows, N_B)``, values in ``[exp(-1), 1]``.
    """
    for sl, block in iter_rmsd_blocks(A, B, block_size=block_size):
        np.negative(block, out=block)
        np.exp(block, out=block)
        yield sl, block


def rmsd_to_images(X: object, M: object, *, block_size: int = 4096) -> np.ndarray:
    """RMSD of each image to each of a few reference images, from pixel differences.

    Unlike :func:`pairwise_rmsd` every entry is summed directly from ``(x - mu)**2``, row by
    row, so an image's distances do not depend on which other images are in ``X`` (equal
    images get bitwise equal distances). Meant for a few references (class means).

    Parameters
    ----------
    X : ndarray, shape (N, D) float in [0, 1], or uint8 (N, C, H, W)
    M : ndarray, shape (K, D), float in [0, 1]
        Reference images, e.g. :func:`class_means`.
    block_size : int
        Rows of ``X`` converted at once.

    Returns
    -------
    ndarray, shape (N, K), float64
    """
    V = _flat_images(X, "X")
    Mf = _flat_images(M, "M")
    Mf = Mf / 255.0 if Mf.dtype == np.uint8 else Mf.astype(np.float64)
    block_size = _check_block_size(block_size) or 4096
    if Mf.shape[1] != V.shape[1]:
        raise ValueError(f"reference images have D = {Mf.shape[1]} pixels, images have D = {V.shape[1]}")
    out = np.empty((V.shape[0], Mf.shape[0]), dtype=np.float64)
    for start in range(0, V.shape[0], block_size):
        sl = slice(start, start + block_size)
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


# --------------------------------------------------------------------------- class means
def _check_labels(y: object, N: int, K: int | None) -> tuple[np.ndarray, int]:
    """Validated int64 labels ``(N,)`` and the number of classes."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must have shape (N,), got {y.shape}")
    if y.shape[0] != N:
        raise ValueError(f"y has {y.shape[0]} labels but there are {N} images")
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"y must hold integer class labels 0..K-1, got dtype {y.dtype}")
    y = y.astype(np.int64, copy=False)
    if N and y.min() < 0:
        raise ValueError(f"labels must be >= 0, got {y.min()}")
    if K is None:
        if N == 0:
            raise ValueError("y is empty; pass K or some labels")
        K = int(y.max()) + 1
    else:
        if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 1:
            raise ValueError(f"K must be a positive int, got {K!r}")
        K = int(K)
        if N and y.max() >= K:
            raise ValueError(f"label {y.max()} is out of range for K = {K} classes")
    return y, K


def class_means(X: object, y: object, *, K: int | None = None) -> np.ndarray:
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
    V = _flat_images(X, "X")
    y, K = _check_labels(y, V.shape[0], K)
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
        rows = V[order[bounds[k]:bounds[k + 1]]]
        if V.dtype == np.uint8:  # integer sums are exact
            out[k] = rows.sum(axis=0, dtype=np.int64) / (counts[k] * 255.0)
        else:
            out[k] = rows.sum(axis=0, dtype=np.float64) / counts[k]
    return out

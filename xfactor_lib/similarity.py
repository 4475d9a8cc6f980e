"""The similarity engine: pixel RMSD between images and blockwise similarity sources.

``RMSD(a, b) = sqrt(mean((a - b)**2))`` over all pixels and channels of images scaled to
[0, 1] (SPEC section 0); the similarity of study A is ``Z = exp(-RMSD / tau)`` with
``tau = 1``. Every RMSD in the library comes from one block routine
(:class:`xfactor_lib._gram.Gram`), so :func:`pairwise_rmsd`, :func:`iter_rmsd_blocks` and
:class:`RMSDSimilarity` give the same numbers (bitwise for the same rows per block).

The block routine (:mod:`xfactor_lib._gram`) handles two numerical traps: uint8 images are
compared on exact integer grey levels (equal distances are bitwise equal, so ties are real
ties), and float pixels follow one cancellation policy, :data:`CANCEL_TOL`.

Devices: ``"cpu"`` numpy; ``"cuda"`` / ``"cuda:N"`` torch on the GPU; ``"torch:cpu"`` the
torch code on the CPU (tests the GPU path without a GPU); ``"auto"`` a GPU when one is
visible (:func:`xfactor_lib._validation.resolve_device`).
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from ._gram import CANCEL_TOL, Backend, Gram, slices
from ._validation import check_block_size, check_images, check_labels, resolve_device

__all__ = [
    "CANCEL_TOL",
    "SimilaritySource",
    "ArraySimilarity",
    "RMSDSimilarity",
    "EmbeddingSimilarity",
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


def _check_tau(tau: Any) -> float:
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real):
        raise TypeError(f"tau must be a positive number, got {tau!r}")
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau must be a finite number > 0, got {tau}")
    return float(tau)


def _check_z_values(Z: Any, what: str) -> None:
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
    Z = np.divide(np.asarray(R, dtype=np.float64), _check_tau(tau))
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


# --------------------------------------------------------------------------- similarity sources
class SimilaritySource(ABC):
    """A species x species similarity matrix ``Z`` delivered in row blocks (for LCR).

    Subclasses implement :meth:`iter_blocks`; :meth:`weighted_abundances` (``Z @ A`` in one
    pass over the blocks) may be overridden by a source that can do better (a symmetric
    source forms each off-diagonal tile once). Any object with an ``n_species`` attribute and
    an ``iter_blocks(block_size)`` method can be passed to ``diversity.diversity_table``;
    blocks from ``iter_blocks`` are checked (shape, finite, in [0, 1]) as they arrive.

    Attributes
    ----------
    n_species : int
        ``S``, the side of ``Z``.
    """

    n_species: int

    @abstractmethod
    def iter_blocks(self, block_size: int | None = None) -> Iterator[tuple[slice, np.ndarray]]:
        """Yield ``(rows, Z[rows])``, ``Z[rows]`` of shape ``(len, S)``, covering every row once."""

    def weighted_abundances(self, A: np.ndarray, *, block_size: int | None = None) -> np.ndarray:
        """``Z @ A`` for ``A`` of shape (S, m), float64; returns shape (S, m)."""
        return blockwise_product(self, A, block_size=block_size)

    def to_array(self) -> np.ndarray:
        """The whole ``Z``, shape (S, S) -- for small S only (figures, tests)."""
        return np.concatenate([Zr for _, Zr in self.iter_blocks()], axis=0)


def blockwise_product(source: Any, A: np.ndarray, *, block_size: int | None = None) -> np.ndarray:
    """``Z @ A`` from any source's checked row blocks (``A`` shape (S, m); result (S, m))."""
    S = A.shape[0]
    out = np.zeros(A.shape, dtype=np.float64)
    seen = np.zeros(S, dtype=np.int64)
    for rows, Zr in source.iter_blocks(check_block_size(block_size) or CPU_TILE):
        if not isinstance(rows, slice):
            raise TypeError(f"iter_blocks must yield (slice, ndarray) pairs, got rows of type {type(rows).__name__}")
        n_rows = len(range(S)[rows])
        Zr = np.asarray(Zr, dtype=np.float64)
        if Zr.shape != (n_rows, S):
            raise ValueError(
                f"similarity block for rows {rows.start}:{rows.stop} has shape {Zr.shape}; "
                f"expected ({n_rows}, {S}) (the similarity must be S x S with S = {S} species)"
            )
        _check_z_values(Zr, f"similarity block rows {rows.start}:{rows.stop}")
        out[rows] = Zr @ A
        seen[rows] += 1
    if (seen != 1).any():
        bad = np.flatnonzero(seen != 1)[:5].tolist()
        raise ValueError(f"iter_blocks must cover every row of Z exactly once; rows {bad} were not")
    return out


class ArraySimilarity(SimilaritySource):
    """A similarity matrix held as an array (or ``numpy.memmap``), checked once.

    Parameters
    ----------
    Z : array_like, shape (S, S)
        Entries in [0, 1], finite; need not be symmetric.
    """

    def __init__(self, Z: Any) -> None:
        if isinstance(Z, pd.DataFrame):
            Z = Z.to_numpy()
        if not isinstance(Z, np.ndarray):
            raise TypeError(f"similarity must be a numpy array, got {type(Z).__name__}")
        if Z.ndim != 2 or Z.shape[0] != Z.shape[1]:
            raise ValueError(f"similarity must be a square S x S matrix, got shape {Z.shape}")
        if Z.dtype == bool or not (np.issubdtype(Z.dtype, np.floating) or np.issubdtype(Z.dtype, np.integer)):
            raise TypeError(f"similarity must be numeric, got dtype {Z.dtype}")
        for rows in slices(Z.shape[0], max(1, BLOCK_ELEMENTS // max(Z.shape[1], 1))):
            _check_z_values(np.asarray(Z[rows]), "similarity")
        self.Z = Z
        self.n_species = int(Z.shape[0])

    def iter_blocks(self, block_size: int | None = None) -> Iterator[tuple[slice, np.ndarray]]:
        for rows in slices(self.n_species, check_block_size(block_size) or CPU_TILE):
            yield rows, np.asarray(self.Z[rows], dtype=np.float64)

    def weighted_abundances(self, A: np.ndarray, *, block_size: int | None = None) -> np.ndarray:
        if isinstance(self.Z, np.memmap):
            out = np.empty(A.shape, dtype=np.float64)
            for rows, Zr in self.iter_blocks(block_size):
                out[rows] = Zr @ A
            return out
        return np.asarray(self.Z, dtype=np.float64) @ A


class _SymmetricSource(SimilaritySource):
    """A symmetric ``Z`` formed tile by tile by :meth:`_tile` (numpy or torch arrays)."""

    be: Backend
    _block_size: int | None

    @abstractmethod
    def _tile(self, rows: slice, cols: slice) -> Any:
        """``Z[rows, cols]`` as a fresh numpy or torch float64 array."""

    def _side(self, block_size: int | None) -> int:
        side = check_block_size(block_size) or self._block_size
        return side or (GPU_TILE if self.be.torch and self.be.dev.type == "cuda" else CPU_TILE)

    def iter_blocks(self, block_size: int | None = None) -> Iterator[tuple[slice, np.ndarray]]:
        """Yield ``(rows, Z[rows])``, ``Z[rows]`` of shape ``(len(rows), N)``, float64."""
        full = slice(0, self.n_species)
        for rows in slices(self.n_species, self._side(block_size)):
            yield rows, self.be.numpy(self._tile(rows, full))

    def weighted_abundances(self, A: np.ndarray, *, block_size: int | None = None) -> np.ndarray:
        """``Z @ A`` from the tiles on and above the diagonal (``Z`` is symmetric).

        Parameters
        ----------
        A : ndarray, shape (N, m)
        block_size : int, optional
            Tile side; default the source's, else 1024 on the CPU and 8192 on a GPU.

        Returns
        -------
        ndarray, shape (N, m), float64
        """
        side, N = self._side(block_size), self.n_species
        A = np.asarray(A, dtype=np.float64)
        if A.ndim != 2 or A.shape[0] != N:
            raise ValueError(f"A must have shape (N, m) with N = {N}, got {A.shape}")
        A = self.be.asarray(A)
        out = self.be.xp.zeros_like(A)
        for rows in slices(N, side):
            for cols in slices(N, side, rows.start):
                H = self._tile(rows, cols)
                out[rows] += H @ A[cols]
                if cols.start != rows.start:
                    out[cols] += H.T @ A[rows]
        return self.be.numpy(out)


class RMSDSimilarity(_SymmetricSource):
    """``Z_ij = exp(-RMSD_ij / tau)`` between images, formed tile by tile (never N x N).

    Parameters
    ----------
    X : ndarray
        uint8 images ``(N, C, H, W)`` (also ``(N, H, W)`` or ``(N, D)``), or float pixels
        ``(N, D)`` in [0, 1].
    tau : float
        Length scale, > 0; ``1`` is the paper's similarity.
    device : str
        ``"auto"``, ``"cpu"`` (numpy), ``"cuda"``, ``"cuda:N"`` or ``"torch:cpu"``.
    block_size : int, optional
        Default tile side (``diversity_table``'s ``block_size`` overrides it).

    Notes
    -----
    Tiles come from the block routine of :func:`pairwise_rmsd`, then the arithmetic of
    :func:`similarity_from_rmsd`. Memory: the centred pixels plus a few tiles.
    """

    def __init__(self, X: Any, *, tau: float = 1.0, device: str = "auto", block_size: int | None = None) -> None:
        self.tau = _check_tau(tau)
        self._block_size = check_block_size(block_size)
        self.device = resolve_device(device)
        self.be = Backend(self.device)
        self._gram = Gram(check_images(X, "X"), None, self.be)
        self.n_species = self._gram.NA

    def _tile(self, rows: slice, cols: slice) -> Any:
        Z = self._gram.rmsd(rows, cols)
        Z /= self.tau  # the steps of similarity_from_rmsd, in place
        Z *= -1.0
        return self.be.xp.exp(Z, out=Z)


class EmbeddingSimilarity(_SymmetricSource):
    """Cosine similarity of embedding rows, ``Z_ij = e_i . e_j / (|e_i| |e_j|)``, tile by tile.

    Parameters
    ----------
    E : ndarray, shape (N, d), float
        One embedding per image (e.g. penultimate-layer features); rows are normalised here.
        A zero row (no direction) is an error.
    block_size : int, optional
        Default tile side.
    device : str
        As :class:`RMSDSimilarity` (default ``"cpu"``).

    Notes
    -----
    LCR needs ``Z`` in [0, 1], which non-negative embeddings (after a ReLU) always give. A
    negative cosine beyond rounding (``< -1e-12``) raises ``ValueError`` when its tile is
    formed; rounding is clipped to [0, 1] and the diagonal is exactly 1.
    """

    def __init__(self, E: Any, *, block_size: int | None = None, device: str = "cpu") -> None:
        E = np.asarray(E)
        if E.dtype == bool or not (np.issubdtype(E.dtype, np.floating) or np.issubdtype(E.dtype, np.integer)):
            raise TypeError(f"E must be a numeric array of embeddings, got dtype {E.dtype}")
        if E.ndim != 2 or E.shape[0] == 0 or E.shape[1] == 0:
            raise ValueError(f"E must have shape (N, d) with N, d >= 1, got {E.shape}")
        U = E.astype(np.float64)
        if not np.isfinite(U).all():
            raise ValueError("E has non-finite entries (NaN or inf)")
        norms = np.linalg.norm(U, axis=1)
        zero = np.flatnonzero(norms == 0)
        if zero.size:
            raise ValueError(f"E has {zero.size} all-zero row(s), first at row {zero[0]}; a cosine needs a direction")
        U /= norms[:, None]
        self._block_size = check_block_size(block_size)
        self.be = Backend(resolve_device(device))
        self._U = self.be.asarray(U)
        self.n_species = int(E.shape[0])

    def _tile(self, rows: slice, cols: slice) -> Any:
        Z = self._U[rows] @ self._U[cols].T
        low = float(Z.min())
        if low < -1e-12:
            i, j = (int(v[0]) for v in self.be.xp.where(Z == low))
            raise ValueError(
                f"cosine similarity of embeddings {i + rows.start} and {j + cols.start} is {low:.3g} < 0; LCR "
                "needs similarities in [0, 1]: use non-negative embeddings (e.g. after a ReLU)"
            )
        Z = self.be.xp.clip(Z, 0.0, 1.0)
        self.be.set_diagonal(Z, rows, cols, 1.0)
        return Z

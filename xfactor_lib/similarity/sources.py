"""Blockwise similarity sources for LCR: a species x species ``Z`` delivered in row blocks.

:class:`ArraySimilarity` (a matrix in memory or a memmap), :class:`RMSDSimilarity`
(``exp(-RMSD / tau)`` of images, tile by tile) and :class:`EmbeddingSimilarity` (cosine of
embedding rows, normalised by :func:`.neighbours.unit_rows`); none holds more than a tile.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from .._validation import check_block_size, check_images, resolve_device
from ._gram import Backend, Gram, slices
from .neighbours import unit_rows
from .rmsd import BLOCK_ELEMENTS, CPU_TILE, GPU_TILE, check_tau, check_z_values

__all__ = ["SimilaritySource", "blockwise_product", "ArraySimilarity", "RMSDSimilarity", "EmbeddingSimilarity"]


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
        check_z_values(Zr, f"similarity block rows {rows.start}:{rows.stop}")
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
            check_z_values(np.asarray(Z[rows]), "similarity")
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
        self.tau = check_tau(tau)
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
        U = unit_rows(E, "E")
        self._block_size = check_block_size(block_size)
        self.be = Backend(resolve_device(device))
        self._U = self.be.asarray(U)
        self.n_species = int(U.shape[0])

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

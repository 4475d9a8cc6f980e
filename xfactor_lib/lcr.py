"""LCR diversity: similarity-sensitive alpha, rho, beta, gamma of labelled image sets.

The measures are those of Reeve et al. (arXiv 1404.6520) as implemented by ``greylock``
(``Metacommunity(counts, similarity).to_dataframe(viewpoint)``); :func:`diversity_table`
returns the same rows, columns and values (to 1e-9 relative), computed from one pass over
``Z``. For images (SPEC 2, 2a) species are images (count 1 each), subcommunities are
classes, and ``Z = exp(-RMSD)`` with ``RMSD = sqrt(mean((a - b)**2))`` over pixels in [0, 1].

How a table is computed
-----------------------
With ``P = counts / counts.sum()`` (species x subcommunities), ``w = P.sum(0)`` (class
weights), ``Pbar = P / w`` and ``p = P.sum(1)``, every measure at every ``q`` follows from
``Z @ [p, P, Pbar]`` (greylock's "unified abundance array", ``2K + 1`` columns). That product
is formed in one pass over row blocks (or tiles) of ``Z``, so any number of viewpoints costs
one pass and ``Z`` is never held whole unless it was given whole.

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
- Errors instead of silent NaN: negative or non-finite counts, an empty subcommunity,
  similarities outside [0, 1] or non-finite, non-finite pixels, ``q < 0``.

Image similarity (``RMSDSimilarity``)
-------------------------------------
Squared distances come from the Gram trick ``|a|^2 + |b|^2 - 2 a.b`` on tiles of
``block_size x block_size`` (symmetric: only tiles on and above the diagonal are formed):

- uint8 images: pixels centred to ``v - 128`` (integers in [-128, 127]); for chunks of at
  most 1024 pixels every partial sum of the float32 Gram is an integer of magnitude at most
  ``1024 * 128**2 = 2**24``, so the float32 BLAS product is *exact*; chunks add up in float64 (exact too).
  So ``RMSD`` is exact up to the final scaling, ``sqrt`` and ``exp`` (about 1e-16), at the
  speed of float32 BLAS.
- float pixels in [0, 1]: float64 Gram on pixels centred at 0.5. Cancellation makes the
  Gram trick inaccurate for near-duplicate images (``sqrt`` amplifies an absolute error of
  ~1e-13 in a squared distance near 0 to ~1e-8 in RMSD), so every pair whose squared
  distance is at most ``1e-6 * 2 * max |a - 0.5|^2`` is recomputed directly from the pixel
  differences; the remaining error in ``Z`` is below 1e-10.
- ``device``: ``"cpu"`` NumPy; ``"cuda"`` / ``"cuda:N"`` torch float64 on the GPU (exact for
  uint8 too); ``"torch:cpu"`` the same torch kernel on the CPU (tests the GPU code path
  without a GPU); ``"auto"`` = ``"cuda"`` when a GPU is visible, else ``"cpu"``.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "MEASURES",
    "COLUMNS",
    "FEATURE_NAMES",
    "DEFAULT_QS",
    "SimilaritySource",
    "ArraySimilarity",
    "RMSDSimilarity",
    "diversity_table",
    "measures",
    "features",
    "features_from_table",
    "feature_names",
    "systematic_features",
    "subset_features",
    "hill_number",
    "power_mean",
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
FEATURE_NAMES = (
    "A_0", "R_0", "G_0", "A_1", "R_1", "G_1", "A_inf", "R_inf", "G_inf",
    "alpha_min_0", "alpha_min_1", "rho_min_0", "rho_min_1", "gamma_min_0", "gamma_min_1",
    "alpha_max_0", "alpha_max_1", "alpha_max_inf", "rho_max_0", "rho_max_1", "rho_max_inf",
    "gamma_max_0", "gamma_max_1", "gamma_max_inf",
    "CB_1", "CB_inf", "size",
)  # fmt: skip

GEOMETRIC_TOL = 1e-8  # greylock: numpy.isclose(1 - q, 0) -> |1 - q| <= 1e-8 is q = 1
META_ATOL = 1e-9  # greylock's default atol for the metacommunity power mean
EXACT_CHUNK = 1024  # pixels per float32 Gram chunk that stays exact for uint8 images
NEAR_TOL = 1e-6  # float pixels: pairs with d2 <= NEAR_TOL * 2 max|x|^2 are recomputed
CPU_BLOCK = 1024
GPU_BLOCK = 8192


# --------------------------------------------------------------------------- checks
def _viewpoints(viewpoint: Any) -> list[float]:
    if isinstance(viewpoint, (str, bytes)):
        raise TypeError(f"viewpoint must be a number >= 0 or a sequence of them, got {viewpoint!r}")
    items = list(np.ravel(np.asarray(viewpoint, dtype=object))) if np.ndim(viewpoint) else [viewpoint]
    qs = []
    for q in items:
        if isinstance(q, (bool, np.bool_)) or not isinstance(q, numbers.Real):
            raise TypeError(f"viewpoint q must be a real number >= 0 (or inf), got {q!r}")
        qf = float(q)
        if math.isnan(qf) or qf < 0:
            raise ValueError(f"viewpoint q must be >= 0 (inf allowed), got {qf}")
        qs.append(qf)
    if not qs:
        raise ValueError("viewpoint is empty; pass a number >= 0 or a non-empty list of them")
    return qs


def _check_block_size(block_size: Any, default: int) -> int:
    if block_size is None:
        return default
    if isinstance(block_size, (bool, np.bool_)) or not isinstance(block_size, (int, np.integer)):
        raise TypeError(f"block_size must be a positive int, got {block_size!r}")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    return int(block_size)


def _counts_array(counts: Any) -> tuple[np.ndarray, list]:
    if isinstance(counts, pd.DataFrame):
        names = counts.columns.to_list()
        values = counts.to_numpy()
    elif isinstance(counts, np.ndarray):
        values = counts
        names = list(range(counts.shape[1])) if counts.ndim == 2 else []
    else:
        raise TypeError(
            f"counts must be a numpy array or pandas DataFrame (species x subcommunities), "
            f"got {type(counts).__name__}"
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


def _check_z_values(Z: np.ndarray, what: str) -> None:
    if not np.isfinite(Z).all():
        raise ValueError(f"{what} has non-finite entries (NaN or inf); similarities must lie in [0, 1]")
    if Z.size and (Z.min() < 0 or Z.max() > 1):
        raise ValueError(
            f"{what} entries must lie in [0, 1], got range [{Z.min():.6g}, {Z.max():.6g}]"
        )


# --------------------------------------------------------------------------- similarity sources
class SimilaritySource(ABC):
    """A species x species similarity matrix ``Z`` delivered in row blocks.

    Subclasses implement :meth:`iter_blocks`; :meth:`weighted_abundances` (``Z @ A`` in one
    pass over the blocks) may be overridden by a source that can do better (a symmetric
    source forms each off-diagonal tile once). Any object with an ``n_species`` attribute and
    an ``iter_blocks(block_size)`` method can be passed to :func:`diversity_table`; blocks
    from ``iter_blocks`` are checked (shape, finite, in [0, 1]) as they arrive.

    Attributes
    ----------
    n_species : int
        ``S``, the side of ``Z``.
    """

    n_species: int

    @abstractmethod
    def iter_blocks(self, block_size: int) -> Iterator[tuple[slice, np.ndarray]]:
        """Yield ``(rows, Z[rows])`` with ``rows`` a slice and ``Z[rows]`` shape ``(len, S)``,
        covering every row once."""

    def weighted_abundances(self, A: np.ndarray, *, block_size: int | None = None) -> np.ndarray:
        """``Z @ A``.

        Parameters
        ----------
        A : ndarray, shape (S, m), float64
        block_size : int, optional
            Rows of ``Z`` per block.

        Returns
        -------
        ndarray, shape (S, m), float64
        """
        return _blockwise_product(self, A, _check_block_size(block_size, CPU_BLOCK))


def _blockwise_product(source: Any, A: np.ndarray, block_size: int) -> np.ndarray:
    S = A.shape[0]
    out = np.zeros(A.shape, dtype=np.float64)
    seen = np.zeros(S, dtype=np.int64)
    for rows, Zr in source.iter_blocks(block_size):
        if not isinstance(rows, slice):
            raise TypeError(f"iter_blocks must yield (slice, ndarray) pairs, got rows of type {type(rows).__name__}")
        idx = range(S)[rows]
        Zr = np.asarray(Zr, dtype=np.float64)
        if Zr.shape != (len(idx), S):
            raise ValueError(
                f"similarity block for rows {rows.start}:{rows.stop} has shape {Zr.shape}; "
                f"expected ({len(idx)}, {S}) (the similarity must be S x S with S = {S} species)"
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
        step = max(1, (1 << 22) // max(Z.shape[1], 1))
        for i in range(0, Z.shape[0], step):
            _check_z_values(np.asarray(Z[i:i + step]), "similarity")
        self.Z = Z
        self.n_species = int(Z.shape[0])

    def iter_blocks(self, block_size: int) -> Iterator[tuple[slice, np.ndarray]]:
        for i in range(0, self.n_species, block_size):
            rows = slice(i, min(i + block_size, self.n_species))
            yield rows, np.asarray(self.Z[rows], dtype=np.float64)

    def weighted_abundances(self, A: np.ndarray, *, block_size: int | None = None) -> np.ndarray:
        if isinstance(self.Z, np.memmap):
            bs = _check_block_size(block_size, CPU_BLOCK)
            out = np.empty(A.shape, dtype=np.float64)
            for rows, Zr in self.iter_blocks(bs):
                out[rows] = Zr @ A
            return out
        return np.asarray(self.Z, dtype=np.float64) @ A


def _as_pixels(X: Any) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Validated pixels ``(N, D)`` (uint8 or float) and the image shape ``(C, H, W)``."""
    if not isinstance(X, np.ndarray):
        if hasattr(X, "__array__") and not isinstance(X, (str, bytes)):
            X = np.asarray(X)
        else:
            raise TypeError(f"X must be a numpy array of images, got {type(X).__name__}")
    if X.ndim not in (2, 3, 4):
        raise ValueError(
            f"X must be images (N, C, H, W) / (N, H, W) or flattened pixels (N, D); got shape {X.shape}"
        )
    N = X.shape[0]
    if N == 0 or X[0].size == 0:
        raise ValueError(f"X has no images or no pixels (shape {X.shape})")
    if X.ndim == 4:
        chw = tuple(int(s) for s in X.shape[1:])
    elif X.ndim == 3:
        chw = (1, int(X.shape[1]), int(X.shape[2]))
    else:
        chw = (1, int(X.shape[1]), 1)
    flat = X.reshape(N, -1)
    if X.dtype == np.uint8:
        return flat, chw  # type: ignore[return-value]
    if X.dtype == bool or not np.issubdtype(X.dtype, np.floating):
        raise TypeError(
            f"X must be uint8 images or float pixels in [0, 1], got dtype {X.dtype}; "
            "for integer pixels 0..255 use X.astype(np.uint8)"
        )
    finite = np.isfinite(flat)
    if not finite.all():
        bad = int((~finite).any(axis=1).sum())
        raise ValueError(f"X has non-finite pixels (NaN or inf) in {bad} image(s); clean or drop them")
    lo, hi = float(flat.min()), float(flat.max())
    if lo < 0 or hi > 1:
        raise ValueError(
            f"float pixels must lie in [0, 1], got range [{lo:.6g}, {hi:.6g}]; divide by 255 or pass uint8 images"
        )
    return flat, chw  # type: ignore[return-value]


def _resolve_device(device: Any) -> str:
    if not isinstance(device, str):
        raise TypeError(f"device must be a string ('auto', 'cpu', 'cuda', 'cuda:N', 'torch:cpu'), got {device!r}")
    if device == "cpu":
        return "cpu"
    if device == "auto":
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is a dependency
            return "cpu"
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "torch:cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for but no CUDA GPU is visible; use device='auto' or 'cpu'")
        return device
    raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'torch:cpu'")


class RMSDSimilarity(SimilaritySource):
    """``Z_ij = exp(-RMSD_ij)`` between images, formed tile by tile (never N x N).

    Parameters
    ----------
    X : ndarray
        uint8 images ``(N, C, H, W)`` (also ``(N, H, W)`` or ``(N, D)``), scaled by 1/255; or
        float pixels ``(N, D)`` in [0, 1].
    device : str
        ``"auto"``, ``"cpu"`` (NumPy), ``"cuda"``, ``"cuda:N"`` (torch float64 on the GPU) or
        ``"torch:cpu"`` (the torch kernel on the CPU).

    Notes
    -----
    Memory: the pixels (float32 for uint8 input, float64 for float input) plus a few
    ``block_size x block_size`` tiles. See the module docstring for the exactness argument.
    """

    def __init__(self, X: Any, *, device: str = "auto") -> None:
        flat, _ = _as_pixels(X)
        self.device = _resolve_device(device)
        self.n_species = int(flat.shape[0])
        self.D = int(flat.shape[1])
        self.exact = flat.dtype == np.uint8
        if self.exact:
            centred = flat.astype(np.int16) - 128
            self._norms = np.einsum("ij,ij->i", centred, centred, dtype=np.int64).astype(np.float64)
            self._pix = centred.astype(np.float32)
            scale = 255.0
        else:
            self._pix = flat.astype(np.float64) - 0.5
            self._norms = np.einsum("ij,ij->i", self._pix, self._pix)
            scale = 1.0
        # RMSD = sqrt(d2 / D) / scale; Z = exp(-sqrt(d2) * c) with c = 1 / (scale sqrt(D))
        self._c = 1.0 / (scale * math.sqrt(self.D))
        self._near = NEAR_TOL * 2.0 * float(self._norms.max()) if not self.exact else -1.0
        self._torch = None
        if self.device != "cpu":
            import torch

            dev = torch.device("cpu" if self.device == "torch:cpu" else self.device)
            self._torch = (
                dev,
                torch.as_tensor(self._pix, dtype=torch.float64, device=dev),
                torch.as_tensor(self._norms, dtype=torch.float64, device=dev),
            )

    def _default_block(self) -> int:
        return GPU_BLOCK if self.device.startswith("cuda") else CPU_BLOCK

    # ---- numpy kernel
    def _minus_2gram(self, I: slice, J: slice) -> np.ndarray:
        a, b = self._pix[I], self._pix[J]
        if self.exact and self.D <= EXACT_CHUNK:
            return np.multiply(a @ b.T, -2.0, dtype=np.float64)
        if self.exact:
            G = np.zeros((a.shape[0], b.shape[0]), dtype=np.float64)
            for k in range(0, self.D, EXACT_CHUNK):
                K = slice(k, k + EXACT_CHUNK)
                G += a[:, K] @ b[:, K].T
        else:
            G = a @ b.T
        G *= -2.0
        return G

    def _tile(self, I: slice, J: slice) -> np.ndarray:
        H = self._minus_2gram(I, J)
        H += self._norms[I, None]
        H += self._norms[None, J]
        if not self.exact:
            ii, jj = np.nonzero(H <= self._near)
            if ii.size:
                H[ii, jj] = self._exact_d2(ii + I.start, jj + J.start)
        np.sqrt(H, out=H)
        H *= -self._c
        np.exp(H, out=H)
        return H

    def _exact_d2(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        out = np.empty(i.shape[0], dtype=np.float64)
        step = max(1, (1 << 21) // self.D)
        for s in range(0, i.shape[0], step):
            diff = self._pix[i[s:s + step]] - self._pix[j[s:s + step]]
            out[s:s + step] = np.einsum("ij,ij->i", diff, diff)
        return out

    # ---- torch kernel (float64; exact Gram for uint8 since all sums stay below 2**53)
    def _tile_torch(self, I: slice, J: slice):
        import torch

        _, pix, norms = self._torch  # type: ignore[misc]
        H = pix[I] @ pix[J].T
        H.mul_(-2.0).add_(norms[I, None]).add_(norms[None, J])
        if not self.exact:
            ii, jj = torch.nonzero(H <= self._near, as_tuple=True)
            if ii.numel():
                diff = pix[ii + I.start] - pix[jj + J.start]
                H[ii, jj] = (diff * diff).sum(dim=1)
        return H.sqrt_().mul_(-self._c).exp_()

    def iter_blocks(self, block_size: int) -> Iterator[tuple[slice, np.ndarray]]:
        """Yield ``(rows, Z[rows])``, ``Z[rows]`` of shape ``(len(rows), N)``, float64."""
        bs = _check_block_size(block_size, self._default_block())
        N = self.n_species
        full = slice(0, N)
        for i in range(0, N, bs):
            rows = slice(i, min(i + bs, N))
            if self._torch is None:
                yield rows, self._tile(rows, full)
            else:
                yield rows, self._tile_torch(rows, full).cpu().numpy()

    def weighted_abundances(self, A: np.ndarray, *, block_size: int | None = None) -> np.ndarray:
        """``Z @ A`` from the tiles on and above the diagonal (``Z`` is symmetric).

        Parameters
        ----------
        A : ndarray, shape (N, m)
        block_size : int, optional
            Tile side; default 1024 on the CPU, 8192 on a GPU.

        Returns
        -------
        ndarray, shape (N, m), float64
        """
        bs = _check_block_size(block_size, self._default_block())
        N = self.n_species
        A = np.asarray(A, dtype=np.float64)
        if A.ndim != 2 or A.shape[0] != N:
            raise ValueError(f"A must have shape (N, m) with N = {N}, got {A.shape}")
        starts = range(0, N, bs)
        if self._torch is None:
            out = np.zeros(A.shape, dtype=np.float64)
            for i in starts:
                I = slice(i, min(i + bs, N))
                for j in range(i, N, bs):
                    J = slice(j, min(j + bs, N))
                    H = self._tile(I, J)
                    out[I] += H @ A[J]
                    if j != i:
                        out[J] += H.T @ A[I]
            return out
        import torch

        dev = self._torch[0]
        At = torch.as_tensor(A, dtype=torch.float64, device=dev)
        out_t = torch.zeros_like(At)
        for i in starts:
            I = slice(i, min(i + bs, N))
            for j in range(i, N, bs):
                J = slice(j, min(j + bs, N))
                H = self._tile_torch(I, J)
                out_t[I] += H @ At[J]
                if j != i:
                    out_t[J] += H.T @ At[I]
        return out_t.cpu().numpy()

    def to_array(self) -> np.ndarray:
        """The whole ``Z``, shape (N, N) -- for small N only (figures, tests)."""
        return np.concatenate([Zr for _, Zr in self.iter_blocks(self._default_block())], axis=0)


# --------------------------------------------------------------------------- power means
def power_mean(order: float, weights: np.ndarray, items: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Weighted power means down axis 0, as greylock defines them.

    Parameters
    ----------
    order : float
        ``1 - q``; ``|order| <= 1e-8`` is the geometric mean, ``-inf`` the minimum.
    weights, items : ndarray, shape (S,) or (S, K)
    mask : ndarray of bool, same shape, optional
        Entries that take part (default ``weights != 0``); a column with none is an error.

    Returns
    -------
    ndarray, shape () or (K,)

    Notes
    -----
    With all participating items positive the mean is computed in the log domain, scaled by
    the extreme item, so large ``|order|`` neither overflows nor underflows. Otherwise the
    direct formula is used, reproducing greylock's results for zero or negative items
    (a zero item with negative order gives 0; a negative item with a fractional order NaN).
    """
    weights = np.asarray(weights, dtype=np.float64)
    items = np.asarray(items, dtype=np.float64)
    if weights.shape != items.shape:
        raise ValueError(f"weights {weights.shape} and items {items.shape} must have the same shape")
    mask = weights != 0 if mask is None else np.asarray(mask, dtype=bool)
    if not mask.any(axis=0).all():
        raise ValueError("every column needs at least one item with non-zero weight")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        if order == -math.inf:
            return np.min(items, axis=0, where=mask, initial=math.inf)
        if order == math.inf:
            return np.max(items, axis=0, where=mask, initial=-math.inf)
        w = np.where(mask, weights, 0.0)
        kept = items[mask]
        if (kept > 0).all() and np.isfinite(kept).all():
            L = np.log(np.where(mask, items, 1.0))
            if abs(order) <= GEOMETRIC_TOL:
                return np.exp(np.sum(w * L, axis=0))
            if order > 0:
                ref = np.max(L, axis=0, where=mask, initial=-math.inf)
            else:
                ref = np.min(L, axis=0, where=mask, initial=math.inf)
            s = np.sum(w * np.exp(np.where(mask, order * (L - ref), -math.inf)), axis=0)
            return np.exp(ref + np.log(s) / order)
        if abs(order) <= GEOMETRIC_TOL:
            return np.prod(np.power(items, weights, where=mask, out=np.ones_like(items)), axis=0, where=mask)
        terms = np.power(items, order, where=mask, out=np.zeros_like(items)) * w
        return np.power(np.sum(terms, axis=0, where=mask), 1.0 / order)


def hill_number(p: Any, q: float) -> float:
    """Hill number (effective number) of a distribution ``p`` at viewpoint ``q``.

    Parameters
    ----------
    p : array_like, shape (K,)
        Non-negative weights (counts or proportions; normalized here).
    q : float
        ``>= 0``; ``1`` is ``exp(Shannon entropy)``, ``inf`` is ``1 / max(p)``.

    Returns
    -------
    float
    """
    if np.ndim(q) != 0:
        raise TypeError(f"q must be one number >= 0 (or inf), got {q!r}")
    (qf,) = _viewpoints(q)
    p = np.asarray(p, dtype=np.float64).ravel()
    if p.size == 0 or not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
        raise ValueError("p must be finite, non-negative and not all zero")
    p = p[p > 0] / p.sum()
    return float(1.0 / power_mean(qf - 1.0, p, p))


# --------------------------------------------------------------------------- diversity table
def _similarity_source(similarity: Any) -> Any:
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
    counts: Any, similarity: Any = None, viewpoint: float | Sequence[float] = 0.0, *,
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
    source = _similarity_source(similarity)
    S, K = values.shape
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
    if source is None:
        Zp, ZP, ZPbar = p, P, Pbar
    else:
        if int(source.n_species) != S:
            raise ValueError(
                f"similarity is for {source.n_species} species but counts has {S} rows; "
                "they must describe the same species in the same order"
            )
        # Z @ P is formed directly, not as (Z @ Pbar) * w, to follow greylock's rounding
        A = np.concatenate([p[:, None], P, Pbar], axis=1)
        if hasattr(source, "weighted_abundances"):
            ZA = source.weighted_abundances(A, block_size=block_size)
        else:
            ZA = _blockwise_product(source, A, _check_block_size(block_size, CPU_BLOCK))
        Zp, ZP, ZPbar = ZA[:, 0], ZA[:, 1:K + 1], ZA[:, K + 1:]
    frames = [_table_at(q, Pbar, w, mask, Zp, ZP, ZPbar, names) for q in qs]
    return pd.concat(frames, ignore_index=True)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    # greylock: the ratio is 0 where the denominator is 0
    out = np.zeros(np.broadcast_shapes(np.shape(num), den.shape))
    np.divide(num, den, out=out, where=den != 0)
    return out


def _table_at(q: float, Pbar: np.ndarray, w: np.ndarray, mask: np.ndarray, Zp: np.ndarray,
              ZP: np.ndarray, ZPbar: np.ndarray, names: list) -> pd.DataFrame:
    K = Pbar.shape[1]
    Zp_b = np.broadcast_to(Zp[:, None], ZPbar.shape)
    order = 1.0 - q
    with np.errstate(divide="ignore", invalid="ignore"):
        pm = {
            "alpha": power_mean(order, Pbar, _ratio(1.0, ZP), mask),
            "gamma": power_mean(order, Pbar, _ratio(1.0, Zp_b), mask),
            "normalized_alpha": power_mean(order, Pbar, _ratio(1.0, ZPbar), mask),
            "rho": power_mean(order, Pbar, _ratio(Zp_b, ZP), mask),
            "normalized_rho": power_mean(order, Pbar, _ratio(Zp_b, ZPbar), mask),
        }
        sub = {
            "alpha": pm["alpha"],
            "rho": pm["rho"],
            "beta": 1.0 / pm["rho"],
            "gamma": pm["gamma"],
            "normalized_alpha": pm["normalized_alpha"],
            "normalized_rho": pm["normalized_rho"],
            "normalized_beta": 1.0 / pm["normalized_rho"],
            "rho_hat": (pm["rho"] - 1.0) / (K - 1) if K > 1 else pm["rho"],
            "beta_hat": (K / pm["rho"] - 1.0) / (K - 1) if K > 1 else pm["rho"],
        }
    wmask = np.abs(w) >= META_ATOL
    meta = {m: float(power_mean(order, w, sub[m], wmask)) for m in MEASURES}
    rows: dict[str, list] = {"community": ["metacommunity", *names], "viewpoint": [q] * (K + 1)}
    for m in MEASURES:
        rows[m] = [meta[m], *np.asarray(sub[m], dtype=np.float64).tolist()]
    return pd.DataFrame(rows, columns=list(COLUMNS))


# --------------------------------------------------------------------------- images
def _labels(y: Any, N: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != N:
        raise ValueError(f"y must be 1-D with one label per image (N = {N}), got shape {y.shape}")
    if y.dtype == bool or not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    return y


def _image_counts(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    flat, _ = _as_pixels(X)
    y = _labels(y, flat.shape[0])
    classes, inverse = np.unique(y, return_inverse=True)  # absent classes are dropped
    counts = np.zeros((y.shape[0], classes.shape[0]))
    counts[np.arange(y.shape[0]), inverse] = 1.0
    return counts, classes, np.bincount(inverse)


def measures(
    X: Any, y: Any, qs: float | Sequence[float] = DEFAULT_QS, *,
    block_size: int | None = None, device: str = "auto",
) -> pd.DataFrame:
    """The diversity table of a labelled image set (species = images, classes = subcommunities).

    Parameters
    ----------
    X : ndarray
        uint8 images ``(N, C, H, W)`` or float pixels ``(N, D)`` in [0, 1].
    y : ndarray, shape (N,), int
        Classes absent from ``y`` are dropped.
    qs : float or sequence of float
        Viewpoints ``q >= 0`` (``inf`` allowed).
    block_size : int, optional
        Tile side for ``Z`` (memory ~ ``block_size**2``); default 1024 CPU, 8192 GPU.
    device : str
        See :class:`RMSDSimilarity`.

    Returns
    -------
    DataFrame
        As :func:`diversity_table`; ``community`` is ``"metacommunity"`` or the class label.
    """
    return _image_table(X, y, qs, block_size, device)[0]


def _image_table(X: Any, y: Any, qs: Any, block_size: int | None, device: str) -> tuple[pd.DataFrame, np.ndarray]:
    counts, classes, n = _image_counts(X, y)
    table = diversity_table(
        pd.DataFrame(counts, columns=classes.tolist()),
        RMSDSimilarity(X, device=device), qs, block_size=block_size,
    )
    return table, n


def _qname(q: float) -> str:
    if q == math.inf:
        return "inf"
    return str(int(q)) if float(q).is_integer() else repr(float(q))


def feature_names(qs: float | Sequence[float] = DEFAULT_QS) -> tuple[str, ...]:
    """Names of the features :func:`features` returns for viewpoints ``qs``.

    ``A_q, R_q, G_q`` per ``q``; per-class minima of alpha, rho, gamma per finite ``q``
    (at ``inf`` the minimum equals ``A_inf``, ``R_inf``, ``G_inf``); per-class maxima per
    ``q``; ``CB_1``, ``CB_inf``, ``size``. The default ``qs`` give :data:`FEATURE_NAMES`.
    """
    qv = _viewpoints(qs)
    names = [f"{m}_{_qname(q)}" for q in qv for m in ("A", "R", "G")]
    names += [f"{m}_min_{_qname(q)}" for m in ("alpha", "rho", "gamma") for q in qv if q != math.inf]
    names += [f"{m}_max_{_qname(q)}" for m in ("alpha", "rho", "gamma") for q in qv]
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
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks columns {missing}; pass the output of measures() or diversity_table()")
    n = np.asarray(class_counts, dtype=np.float64)
    qv = list(dict.fromkeys(table["viewpoint"].astype(float).tolist()))
    out: dict[str, float] = {}
    per_q = {}
    for q in qv:
        block = table[table["viewpoint"] == q]
        meta = block[block["community"] == "metacommunity"].iloc[0]
        sub = block[block["community"] != "metacommunity"]
        per_q[q] = (meta, sub)
        for m, col in (("A", "alpha"), ("R", "rho"), ("G", "gamma")):
            out[f"{m}_{_qname(q)}"] = float(meta[col])
    for col in ("alpha", "rho", "gamma"):
        for q in qv:
            if q != math.inf:
                out[f"{col}_min_{_qname(q)}"] = float(per_q[q][1][col].min())
    for col in ("alpha", "rho", "gamma"):
        for q in qv:
            out[f"{col}_max_{_qname(q)}"] = float(per_q[q][1][col].max())
    out["CB_1"] = hill_number(n, 1.0)
    out["CB_inf"] = hill_number(n, math.inf)
    out["size"] = int(round(n.sum()))  # type: ignore[assignment]
    return out


def features(
    X: Any, y: Any, qs: float | Sequence[float] = DEFAULT_QS, *,
    block_size: int | None = None, device: str = "auto",
) -> dict[str, float]:
    """The 27 study-A diversity features of a labelled image set (SPEC 2a).

    Parameters
    ----------
    X : ndarray
        uint8 images ``(N, C, H, W)`` or float pixels ``(N, D)`` in [0, 1].
    y : ndarray, shape (N,), int
        Classes absent from ``y`` are dropped.
    qs : sequence of float
        Viewpoints; the default ``(0, 1, inf)`` gives exactly :data:`FEATURE_NAMES`.
    block_size : int, optional
        Tile side for ``Z``.
    device : str
        See :class:`RMSDSimilarity`.

    Returns
    -------
    dict
        ``A_q``, ``R_q``, ``G_q``: greylock's metacommunity raw alpha, rho, gamma;
        ``{alpha,rho,gamma}_{min,max}_q``: over classes of the subcommunity raw measures;
        ``CB_1``, ``CB_inf``: Hill numbers of the class proportions; ``size``: N.
    """
    table, n = _image_table(X, y, qs, block_size, device)
    return features_from_table(table, n)


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
    flat, (C, H, W) = _as_pixels(X)
    y = _labels(y, flat.shape[0])
    if channels is not None:
        if isinstance(channels, (bool, np.bool_)) or not isinstance(channels, (int, np.integer)) or channels < 1:
            raise ValueError(f"channels must be a positive int, got {channels!r}")
        if np.ndim(X) == 2:
            D = flat.shape[1]
            if D % channels:
                raise ValueError(f"D = {D} pixels per image is not divisible by channels = {channels}")
            C, H, W = int(channels), D // int(channels), 1
        elif channels != C:
            raise ValueError(f"channels = {channels} contradicts the image shape (C = {C})")
    return {"pixels": int(H * W), "channels": int(C), "classes": int(np.unique(y).shape[0])}


def subset_features(X: Any, y: Any, *, qs: float | Sequence[float] = DEFAULT_QS,
                    block_size: int | None = None, device: str = "auto") -> dict[str, float]:
    """The 27 diversity features plus the 3 systematic ones (30 regression columns).

    Parameters
    ----------
    X : ndarray
        uint8 images ``(N, C, H, W)`` or float pixels ``(N, D)`` in [0, 1].
    y : ndarray, shape (N,), int
    qs, block_size, device
        As :func:`features`.

    Returns
    -------
    dict
        :func:`features` then :func:`systematic_features` (``pixels``, ``channels``,
        ``classes``); usable as ``training.fit_subsets(..., row_hook=subset_features)``.
    """
    return {**features(X, y, qs, block_size=block_size, device=device), **systematic_features(X, y)}

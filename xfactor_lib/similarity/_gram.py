"""The block routine behind every RMSD of the library (used only by :mod:`xfactor_lib.similarity`).

Squared distances come from the Gram identity ``|a - b|^2 = |a|^2 + |b|^2 - 2 a.b``, one
block of rows (or one tile) at a time; no ``N x N`` scratch matrix. Pixels that are 0 in
every image (MNIST's border) are left out of the products. Two numerical traps:

- uint8 images are compared on their grey levels centred at 128 (integers in [-128, 127]).
  Every partial sum of a product over at most ``EXACT_CHUNK = 1024`` pixels is an integer of
  magnitude at most ``1024 * 128**2 = 2**24``, so float32 BLAS products of such chunks are
  *exact*, and so is their float64 sum (the torch backend multiplies in float64, exact up
  to ``2**53``). Equal distances are bitwise equal, so ties between images are real ties
  and "lower index wins" rules are deterministic; numpy and torch give identical squared
  distances (RMSD to 1 ulp: torch's CPU ``sqrt`` is not correctly rounded).
- float pixels are centred on their mean (rounded to a multiple of ``2**-8`` so that
  subtracting it is exact for float32 pixels: distances and ties are unchanged), and every
  entry with ``d2 <= CANCEL_TOL * (|a_c|^2 + |b_c|^2)`` is recomputed from pixel
  differences (see :data:`CANCEL_TOL`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

#: Pixels per float32 product that stays exact for centred grey levels.
EXACT_CHUNK = 1024
#: The one cancellation policy (float pixels). The Gram identity loses about
#: ``eps * (|a_c|^2 + |b_c|^2)`` absolutely, i.e. ``eps * (|a_c|^2 + |b_c|^2) / d2`` relative.
#: Recomputing every entry with ``d2 <= 1e-2 * (|a_c|^2 + |b_c|^2)`` from pixel differences
#: bounds the relative error of every other squared distance by ``eps / 1e-2 ~ 2e-14`` (RMSD
#: and ``Z`` about 1e-14), far inside greylock's 1e-9 agreement. The cost is small: two
#: centred, unrelated images have ``d2 ~ |a_c|^2 + |b_c|^2``, so only near-duplicates are
#: recomputed. (The former LCR engine's global threshold, ``1e-6 * max |x_c|^2``, left relative
#: errors up to ~1e-10 for near-duplicates of bright images.)
CANCEL_TOL = 1e-2
_RECOMPUTE_CHUNK = 4096


def slices(N: int, step: int, start: int = 0) -> Iterator[slice]:
    """``slice(i, i + step)`` for ``i = start, start + step, ...`` below ``N`` (the last one cut)."""
    for i in range(start, N, step):
        yield slice(i, min(i + step, N))


class Backend:
    """numpy (``"cpu"``), or torch on a device (any other resolved device string)."""

    def __init__(self, device: str) -> None:
        self.torch = device != "cpu"
        if self.torch:
            import torch

            self.xp, self.dev = torch, torch.device("cpu" if device == "torch:cpu" else device)
        else:
            self.xp, self.dev = np, None

    def asarray(self, a: np.ndarray) -> Any:
        return self.xp.as_tensor(a, device=self.dev) if self.torch else a

    def numpy(self, a: Any) -> np.ndarray:
        return a.cpu().numpy() if self.torch else a

    def set_diagonal(self, block: Any, rows: slice, cols: slice, value: float) -> None:
        """Set the entries of tile ``(rows, cols)`` of a square matrix that lie on its diagonal."""
        lo, hi = max(rows.start, cols.start), min(rows.stop, cols.stop)
        if lo < hi:
            k = self.xp.arange(lo, hi, device=self.dev) if self.torch else np.arange(lo, hi)
            block[k - rows.start, k - cols.start] = value


# --------------------------------------------------------------------------- the block routine
class Gram:
    """Two image sets prepared for the Gram identity; :meth:`rmsd` is the one block routine.

    Parameters
    ----------
    VA, VB : ndarray, shape (N_A, D), (N_B, D)
        Validated pixels, both uint8 or both float; ``VB = None`` is ``VA`` (one set).
    backend : Backend
    """

    def __init__(self, VA: np.ndarray, VB: np.ndarray | None, backend: Backend) -> None:
        self.be = backend
        self.same = VB is None
        VB = VA if VB is None else VB
        self.NA, self.NB = VA.shape[0], VB.shape[0]
        self.integer = VA.dtype == np.uint8
        self.scale = VA.shape[1] * (255.0**2 if self.integer else 1.0)
        used = VA.any(axis=0) if self.same else VA.any(axis=0) | VB.any(axis=0)
        self._used = None if used.all() else used
        if not self.integer:
            total = VA.sum(axis=0, dtype=np.float64) + (0.0 if self.same else VB.sum(axis=0, dtype=np.float64))
            center = np.round(total / (self.NA + (0 if self.same else self.NB)) * 256.0) / 256.0
            self._center = center if self._used is None else center[self._used]
            # raw pixels for the recomputation (on the device for torch)
            self.RA = backend.asarray(VA)
            self.RB = self.RA if self.same else backend.asarray(VB)
        self.VA = VA
        self.GB, self.nB = self._prep(VB)
        self.GA, self.nA = (self.GB, self.nB) if self.same else (None, None)

    def _prep(self, V: np.ndarray) -> tuple[Any, Any]:
        """Centred pixels in the product's dtype and their squared norms (float64)."""
        if self._used is not None:
            V = V[:, self._used]
        if self.integer:
            C = V.astype(np.int16) - np.int16(128)
            n = np.einsum("ij,ij->i", C, C, dtype=np.int64).astype(np.float64)
            G = C.astype(np.float64 if self.be.torch else np.float32)
        else:
            G = V.astype(np.float64) - self._center
            n = np.einsum("ij,ij->i", G, G)
        return self.be.asarray(G), self.be.asarray(n)

    def _product(self, a: Any, b: Any) -> Any:
        if self.be.torch or not self.integer:
            return a @ b.T
        if a.shape[1] <= EXACT_CHUNK:
            return a @ b.T  # float32, exact; doubling it below stays exact
        G = np.zeros((a.shape[0], b.shape[0]))
        for k in range(0, a.shape[1], EXACT_CHUNK):
            G += a[:, k : k + EXACT_CHUNK] @ b[:, k : k + EXACT_CHUNK].T
        return G

    def d2(self, rows: slice, cols: slice, out: Any = None) -> Any:
        """Squared distances (grey levels or pixels, not yet divided by D), tile ``(rows, cols)``."""
        a, na = (self.GA[rows], self.nA[rows]) if self.same else self._prep(self.VA[rows])
        b, nb = self.GB[cols], self.nB[cols]
        prod = self._product(a, b)
        # na_i + nb_j first: one commutative addition, so a diagonal tile stays bitwise
        # symmetric; for grey levels every step is exact.
        out = self.be.xp.add(na[:, None], nb[None, :], out=out)
        prod *= 2.0
        out -= prod
        del prod
        if not self.integer:
            self._recompute(out, na, nb, rows, cols)
        if self.same:
            self.be.set_diagonal(out, rows, cols, 0.0)
        return out

    def _recompute(self, d2: Any, na: Any, nb: Any, rows: slice, cols: slice) -> None:
        """Overwrite the entries that lost digits to cancellation with sums of differences."""
        i, j = self.be.xp.where(d2 <= CANCEL_TOL * (na[:, None] + nb[None, :]))
        for s in range(0, int(i.shape[0]), _RECOMPUTE_CHUNK):
            ii, jj = i[s : s + _RECOMPUTE_CHUNK], j[s : s + _RECOMPUTE_CHUNK]
            a, b = self.RA[ii + rows.start], self.RB[jj + cols.start]
            diff = a.double() - b if self.be.torch else a.astype(np.float64) - b
            d2[ii, jj] = self.be.xp.einsum("ij,ij->i", diff, diff)

    def rmsd(self, rows: slice, cols: slice | None = None, out: Any = None) -> Any:
        """RMSD tile ``(rows, cols)`` (``cols`` default: every image of B), float64, in ``out`` or fresh."""
        out = self.d2(rows, slice(0, self.NB) if cols is None else cols, out)
        out /= self.scale  # divided, as a brute-force mean would, not multiplied by a reciprocal
        return self.be.xp.sqrt(out, out=out)

"""EVA coreset selection: training dynamics, EVA scores, ablations and window search.

A surrogate network is trained on the full training split while a
:class:`DynamicsRecorder` (a training callback, see ``docs/architecture.md``) keeps, for
every training sample i and epoch t (0-based), the error score
``S[i, t] = || softmax(f_t(x_i)) - onehot(y_i) ||_2``, the correctness of the prediction,
the logit margin and the final softmax. One recorded run (a :class:`Dynamics`) serves EVA,
its ablations and every baseline in :mod:`xfactor_lib.baselines`.

Every score below is a vector of shape (N,); a coreset keeps M = ceil(rate x N) samples
from one end (:func:`select_top`, ties to the lower index):

| function | score per sample | keeps |
| --- | --- | --- |
| :func:`eva_scores` | Var(S in early window) + Var(S in late window), population variance | highest |
| ``eva_scores(..., variant="released")`` | mean of the two windows' variance vectors, each divided by its sum over samples | highest |
| :func:`var_single` (VAR-S) | Var(S in one window) | highest |
| :func:`exp_single` (EXP-S) | mean of S in one window | highest |
| :func:`var_dual` (VAR-D) | Var(early) + Var(late) (= EVA) | highest |
| :func:`exp_dual` (EXP-D) | mean of S over both windows (2 x window epochs) | highest |

A window of ``window`` epochs starting at ``start`` is the columns
``S[:, start:start + window]`` (epochs start .. start + window - 1, 0-based); the early
window must end before the late one starts. Window starts are chosen on the validation
split by :func:`window_search`, never on the test split.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from . import records

__all__ = [
    "Dynamics",
    "DynamicsRecorder",
    "eva_scores",
    "var_single",
    "exp_single",
    "var_dual",
    "exp_dual",
    "window_variance",
    "window_mean",
    "coreset_size",
    "select_top",
    "window_grid",
    "window_search",
    "best_window",
    "coreset_summary",
    "window_summary",
    "SCORE_KEEPS",
]

#: Which end of each score a coreset keeps (``"highest"`` or ``"lowest"``).
SCORE_KEEPS = {
    "eva": "highest",
    "var_s": "highest",
    "exp_s": "highest",
    "var_d": "highest",
    "exp_d": "highest",
}

_DTYPES = ("float32", "float16")
_MODES = ("train", "eval")


# --------------------------------------------------------------------------- dynamics
@dataclass
class Dynamics:
    """Training dynamics of one surrogate run, as numpy arrays.

    Attributes
    ----------
    S : ndarray, shape (N, T), float
        Error score ``|| softmax(logits) - onehot(y) ||_2``; column t is epoch t (0-based).
    correct : ndarray, shape (N, T), bool
        ``argmax(logits) == y``.
    margin : ndarray, shape (N, T), float
        Target logit minus the largest other logit.
    probs : ndarray, shape (N, K), float
        Softmax of the final epoch.
    y : ndarray, shape (N,), int64
    mask : ndarray, shape (N, T), bool
        Which (sample, epoch) entries were recorded; missing entries are NaN in ``S`` and
        ``margin`` and False in ``correct``. All True by default.
    mode : str
        ``"train"`` (recorded from the training pass) or ``"eval"`` (separate no-grad pass).
    """

    S: np.ndarray
    correct: np.ndarray
    margin: np.ndarray
    probs: np.ndarray
    y: np.ndarray
    mask: np.ndarray | None = None
    mode: str = "train"

    def __post_init__(self) -> None:
        self.S = np.asarray(self.S)
        self.correct = np.asarray(self.correct).astype(bool, copy=False)
        self.margin = np.asarray(self.margin)
        self.probs = np.asarray(self.probs)
        self.y = np.asarray(self.y).astype(np.int64, copy=False)
        if self.S.ndim != 2:
            raise ValueError(f"S must have shape (N, T), got {self.S.shape}")
        N, T = self.S.shape
        if self.mask is None:
            self.mask = np.ones((N, T), dtype=bool)
        self.mask = np.asarray(self.mask).astype(bool, copy=False)
        for name in ("correct", "margin", "mask"):
            if getattr(self, name).shape != (N, T):
                raise ValueError(f"{name} must have the shape of S {(N, T)}, got {getattr(self, name).shape}")
        if self.probs.ndim != 2 or self.probs.shape[0] != N:
            raise ValueError(f"probs must have shape (N={N}, K), got {self.probs.shape}")
        if self.y.shape != (N,):
            raise ValueError(f"y must have shape (N={N},), got {self.y.shape}")
        if self.mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {self.mode!r}")

    @property
    def N(self) -> int:  # noqa: N802 - the suite's vocabulary
        return int(self.S.shape[0])

    @property
    def T(self) -> int:  # noqa: N802
        return int(self.S.shape[1])

    @property
    def K(self) -> int:  # noqa: N802
        return int(self.probs.shape[1])

    @property
    def complete(self) -> bool:
        """True when every (sample, epoch) entry was recorded."""
        return bool(self.mask.all())

    def save(self, path: str | os.PathLike) -> os.PathLike:
        """Write the arrays to one ``.npz`` file, atomically (:func:`records.write_npz`)."""
        return records.write_npz(
            path, S=self.S, correct=self.correct, margin=self.margin, probs=self.probs,
            y=self.y, mask=self.mask, mode=np.array(self.mode),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Dynamics":
        """Read what :meth:`save` (or :meth:`DynamicsRecorder.save`) wrote."""
        with np.load(path, allow_pickle=False) as z:
            missing = {"S", "correct", "margin", "probs", "y"} - set(z.files)
            if missing:
                raise ValueError(f"{path} is not a saved Dynamics file: it lacks {sorted(missing)}")
            return cls(
                S=z["S"], correct=z["correct"], margin=z["margin"], probs=z["probs"], y=z["y"],
                mask=z["mask"] if "mask" in z.files else None,
                mode=str(z["mode"]) if "mode" in z.files else "train",
            )


def _batch_stats(logits, y):
    """Error score, correctness, margin and softmax of one batch (torch, on its device)."""
    import torch

    z = logits.detach().float()
    p = torch.softmax(z, dim=1)
    rows = torch.arange(z.shape[0], device=z.device)
    err = p.clone()
    err[rows, y] -= 1.0
    s = torch.linalg.vector_norm(err, dim=1)
    target = z[rows, y]
    others = z.clone()
    others[rows, y] = -torch.inf
    margin = target - others.max(dim=1).values
    correct = z.argmax(dim=1) == y
    return s, correct, margin, p


class DynamicsRecorder:
    """Training callback that records the dynamics EVA and the baselines need.

    Pass it to ``training.fit_torch(..., callbacks=[recorder])``. Everything stays on the
    training device in preallocated tensors (stored epoch-major, ``(T, N)``, so a batch
    writes one row); nothing is copied to the host until :meth:`dynamics` or :meth:`save`.
    The epoch capacity grows by doubling when training runs past ``T``.

    Parameters
    ----------
    N : int
        Number of training samples (rows of the ``X`` given to ``fit_torch``).
    T : int, optional
        Expected number of epochs (initial capacity); default 64, grown as needed.
    mode : {"train", "eval"}
        ``"train"`` (default) scores the logits of the training pass, free of extra cost
        (the model changes within the epoch, and augmentation or dropout apply).
        ``"eval"`` runs a separate no-grad pass over the whole training set in
        ``on_epoch_end`` with the model in eval mode, then restores train mode.
    X : array or tensor, optional
        Eval mode only: the training inputs as the model takes them, (N, ...). uint8
        inputs are scaled to float32 in [0, 1] batch by batch, as ``fit_torch`` does.
    y : array or tensor, shape (N,), optional
        Labels; required in eval mode, taken from the batches in train mode.
    batch_size : int, optional
        Eval mode only: batch size of the evaluation pass.
    dtype : {"float32", "float16"}
        Storage of ``S``, ``margin`` and the final softmax. ``correct`` is bool.
    transform : callable, optional
        Eval mode only: maps a batch of ``X`` (on the model's device) to model input,
        replacing the uint8 scaling.
    """

    def __init__(self, N: int, *, T: int | None = None, mode: str = "train", X: Any = None,
                 y: Any = None, batch_size: int | None = None, dtype: str = "float32",
                 transform: Callable | None = None) -> None:
        if not isinstance(N, (int, np.integer)) or N < 1:
            raise ValueError(f"N must be a positive int (number of training samples), got {N!r}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        dtype = str(dtype).replace("torch.", "")
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
        if T is not None and (not isinstance(T, (int, np.integer)) or T < 1):
            raise ValueError(f"T must be a positive int (expected epochs) or None, got {T!r}")
        self.N = int(N)
        self.mode = mode
        self.dtype = dtype
        self.batch_size = batch_size
        self.transform = transform
        self._capacity = int(T) if T is not None else 64
        self._X = X
        self._y_given = y
        if mode == "eval":
            if X is None or y is None or batch_size is None:
                raise ValueError("mode='eval' needs X, y and batch_size: the recorder runs its own "
                                 "evaluation pass over the training set at each epoch end")
            if len(X) != self.N or len(y) != self.N:
                raise ValueError(f"X and y must have N={self.N} rows, got {len(X)} and {len(y)}")
            if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
                raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        elif y is not None and len(y) != self.N:
            raise ValueError(f"y must have N={self.N} entries, got {len(y)}")
        self._S = self._margin = self._correct = self._mask = self._probs = self._y = None
        self._Xdev = None
        self.K: int | None = None
        self.device = None
        self.epochs = 0  # number of epochs seen (max epoch index + 1)

    # ----------------------------------------------------------------- storage
    def _allocate(self, K: int, device) -> None:
        import torch

        self.K, self.device = int(K), device
        fdt = getattr(torch, self.dtype)
        T, N = self._capacity, self.N
        self._S = torch.full((T, N), float("nan"), dtype=fdt, device=device)
        self._margin = torch.full((T, N), float("nan"), dtype=fdt, device=device)
        self._correct = torch.zeros((T, N), dtype=torch.bool, device=device)
        self._mask = torch.zeros((T, N), dtype=torch.bool, device=device)
        self._probs = torch.full((N, K), float("nan"), dtype=fdt, device=device)
        if self._y_given is not None:
            self._y = torch.as_tensor(np.asarray(self._y_given), dtype=torch.long).to(device)
        else:
            self._y = torch.full((N,), -1, dtype=torch.long, device=device)

    def _ensure(self, epoch: int, K: int, device) -> None:
        import torch

        if not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int (0-based), got {epoch!r}")
        if self._S is None:
            self._allocate(K, device)
        elif K != self.K:
            raise ValueError(f"logits have {K} classes but earlier batches had {self.K}")
        if epoch >= self._capacity:
            new = max(2 * self._capacity, epoch + 1)
            grow = new - self._capacity
            def pad(t, fill):
                return torch.cat([t, torch.full((grow, self.N), fill, dtype=t.dtype, device=t.device)])

            self._S, self._margin = pad(self._S, float("nan")), pad(self._margin, float("nan"))
            self._correct, self._mask = pad(self._correct, False), pad(self._mask, False)
            self._capacity = new
        self.epochs = max(self.epochs, int(epoch) + 1)

    def _write(self, epoch: int, idx, logits, y) -> None:
        s, correct, margin, p = _batch_stats(logits, y)
        fdt = self._S.dtype
        self._S[epoch, idx] = s.to(fdt)
        self._margin[epoch, idx] = margin.to(fdt)
        self._correct[epoch, idx] = correct
        self._mask[epoch, idx] = True
        self._probs[idx] = p.to(fdt)

    # ----------------------------------------------------------------- callbacks
    def on_batch(self, epoch: int, idx, logits, y) -> None:
        """Record one training batch (train mode; ignored in eval mode).

        Parameters
        ----------
        epoch : int, 0-based
        idx : torch.LongTensor, shape (B,)
            The batch's sample indices into ``X`` (any order).
        logits : torch.Tensor, shape (B, K)
        y : torch.Tensor, shape (B,)
        """
        if self.mode != "train":
            return
        if logits.ndim != 2 or idx.ndim != 1 or y.ndim != 1 or not (len(idx) == len(logits) == len(y)):
            raise ValueError(f"on_batch needs idx (B,), logits (B, K), y (B,); got shapes "
                             f"{tuple(idx.shape)}, {tuple(logits.shape)}, {tuple(y.shape)}")
        self._ensure(epoch, logits.shape[1], logits.device)
        idx = idx.to(self.device)
        y = y.to(self.device).long()
        self._write(epoch, idx, logits.to(self.device), y)
        if self._y_given is None:
            self._y[idx] = y

    def on_epoch_end(self, epoch: int, model) -> None:
        """Eval mode: score the whole training set with ``model`` (no grad, eval mode)."""
        if self.mode != "eval":
            return
        import torch

        device = next(model.parameters()).device
        if self._Xdev is None or self._Xdev.device != device:
            self._Xdev = torch.as_tensor(np.asarray(self._X) if not torch.is_tensor(self._X) else self._X).to(device)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for start in range(0, self.N, int(self.batch_size)):
                    stop = min(start + int(self.batch_size), self.N)
                    xb = self._Xdev[start:stop]
                    if self.transform is not None:
                        xb = self.transform(xb)
                    elif xb.dtype == torch.uint8:
                        xb = xb.float().div_(255.0)
                    logits = model(xb)
                    self._ensure(epoch, logits.shape[1], device)
                    self._write(epoch, slice(start, stop), logits, self._y[start:stop])
        finally:
            model.train(was_training)

    # ----------------------------------------------------------------- results
    @property
    def mask(self) -> np.ndarray:
        """Which (sample, epoch) entries were written, bool (N, epochs)."""
        if self._mask is None:
            return np.zeros((self.N, 0), dtype=bool)
        return self._mask[: self.epochs].T.cpu().numpy()

    def dynamics(self, *, allow_missing: bool = False) -> Dynamics:
        """The recorded dynamics as numpy arrays (one host copy).

        Parameters
        ----------
        allow_missing : bool
            If False (default), an entry never written (a sample skipped in some epoch,
            e.g. by ``drop_last``) is an error; if True it is NaN / False and
            ``Dynamics.mask`` says where.
        """
        if self._S is None:
            raise ValueError("nothing recorded yet: pass the recorder to fit_torch(callbacks=[...]) "
                             "or call on_batch / on_epoch_end first")
        T = self.epochs
        mask = self.mask
        if not allow_missing and not mask.all():
            miss = np.argwhere(~mask)
            first = ", ".join(f"(sample {i}, epoch {t})" for i, t in miss[:5])
            raise ValueError(
                f"{len(miss)} of {mask.size} (sample, epoch) entries were never recorded, e.g. {first}; "
                "train without drop_last (every sample every epoch) or pass allow_missing=True"
            )
        S = self._S[:T].T.cpu().numpy()
        margin = self._margin[:T].T.cpu().numpy()
        correct = self._correct[:T].T.cpu().numpy()
        probs = self._probs.cpu().numpy()
        if T and not mask[:, -1].all():
            probs[~mask[:, -1]] = np.nan  # final softmax only from the final epoch
        y = self._y.cpu().numpy()
        return Dynamics(S=np.ascontiguousarray(S), correct=np.ascontiguousarray(correct),
                        margin=np.ascontiguousarray(margin), probs=probs, y=y,
                        mask=np.ascontiguousarray(mask), mode=self.mode)

    def save(self, path: str | os.PathLike, *, allow_missing: bool = False) -> os.PathLike:
        """Write the dynamics once, atomically, to ``path`` (``.npz``); see :meth:`dynamics`."""
        return self.dynamics(allow_missing=allow_missing).save(path)


# --------------------------------------------------------------------------- scores
def _as_S(S: Any) -> np.ndarray:
    if isinstance(S, Dynamics):
        S = S.S
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2:
        raise ValueError(f"S must have shape (N, T) (samples x epochs), got {S.shape}")
    return S


def _check_window(T: int, start: Any, window: Any, what: str = "window") -> tuple[int, int]:
    if not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be a positive int (epochs), got {window!r}")
    if not isinstance(start, (int, np.integer)) or start < 0:
        raise ValueError(f"{what} start must be a non-negative int (0-based epoch), got {start!r}")
    if start + window > T:
        raise ValueError(
            f"{what} [{start}, {start + window - 1}] does not fit in the T={T} recorded epochs "
            f"(0..{T - 1}); choose a start <= {T - window} or a shorter window"
        )
    return int(start), int(window)


def _check_dual(T: int, early_start: Any, late_start: Any, window: Any) -> None:
    _check_window(T, early_start, window, "early window")
    _check_window(T, late_start, window, "late window")
    if early_start + window > late_start:
        raise ValueError(
            f"the windows overlap or are out of order: early [{early_start}, {early_start + window - 1}], "
            f"late [{late_start}, {late_start + window - 1}]; the late window must start at or after "
            f"early_start + window = {early_start + window}"
        )


def window_variance(S: np.ndarray, start: int, window: int = 10) -> np.ndarray:
    """Population variance (1/window) of each sample's scores in one window.

    Parameters
    ----------
    S : ndarray, shape (N, T)
    start : int
        First epoch (0-based column) of the window.
    window : int
        Epochs in the window; columns ``start .. start + window - 1``.

    Returns
    -------
    ndarray, shape (N,)
    """
    S = _as_S(S)
    start, window = _check_window(S.shape[1], start, window)
    return S[:, start:start + window].var(axis=1)


def window_mean(S: np.ndarray, start: int, window: int = 10) -> np.ndarray:
    """Mean of each sample's scores in one window; shapes as :func:`window_variance`."""
    S = _as_S(S)
    start, window = _check_window(S.shape[1], start, window)
    return S[:, start:start + window].mean(axis=1)


def eva_scores(S: np.ndarray, early_start: int, late_start: int, window: int = 10, *,
               variant: str = "sum") -> np.ndarray:
    """EVA score: error-score variance in an early plus a late window. Keep the highest.

    Parameters
    ----------
    S : ndarray, shape (N, T)
        Error scores, column t = epoch t (0-based); a :class:`Dynamics` is accepted.
    early_start, late_start : int
        First epochs of the two windows; the early window must end before the late starts.
    window : int
        Epochs per window (the paper's K = 10).
    variant : {"sum", "released"}
        ``"sum"`` (paper Eq. 6): ``V_early + V_late``. ``"released"`` (the authors' code):
        each window's variance vector divided by its sum over samples, then the two
        averaged; a window whose variances are all zero contributes zero.

    Returns
    -------
    ndarray, shape (N,), float64
    """
    S = _as_S(S)
    _check_dual(S.shape[1], early_start, late_start, window)
    v_early = S[:, early_start:early_start + window].var(axis=1)
    v_late = S[:, late_start:late_start + window].var(axis=1)
    if variant == "sum":
        return v_early + v_late
    if variant == "released":
        def normed(v: np.ndarray) -> np.ndarray:
            total = v.sum()
            return v / total if total > 0 else np.zeros_like(v)

        return (normed(v_early) + normed(v_late)) / 2.0
    raise ValueError(f"variant must be 'sum' or 'released', got {variant!r}")


def var_single(S: np.ndarray, start: int, window: int = 10) -> np.ndarray:
    """VAR-S ablation: variance of S in one window, shape (N,). Keep the highest."""
    return window_variance(S, start, window)


def exp_single(S: np.ndarray, start: int, window: int = 10) -> np.ndarray:
    """EXP-S ablation: mean (expectation) of S in one window, shape (N,). Keep the highest."""
    return window_mean(S, start, window)


def var_dual(S: np.ndarray, early_start: int, late_start: int, window: int = 10) -> np.ndarray:
    """VAR-D ablation: V_early + V_late, shape (N,) (identical to :func:`eva_scores`). Keep the highest."""
    return eva_scores(S, early_start, late_start, window, variant="sum")


def exp_dual(S: np.ndarray, early_start: int, late_start: int, window: int = 10) -> np.ndarray:
    """EXP-D ablation: mean of S over both windows (2 x window epochs), shape (N,). Keep the highest.

    Equals (E_early + E_late) / 2, so it ranks samples as the sum of the two window means.
    """
    S = _as_S(S)
    _check_dual(S.shape[1], early_start, late_start, window)
    return (S[:, early_start:early_start + window].mean(axis=1)
            + S[:, late_start:late_start + window].mean(axis=1)) / 2.0


# --------------------------------------------------------------------------- selection
def coreset_size(N: int, rate: float) -> int:
    """M = ceil(rate x N), the number of samples a coreset keeps (at least 1).

    ``rate x N`` is rounded to 9 decimals first so that e.g. 0.1 x 30 gives 3, not 4.
    """
    if not isinstance(N, (int, np.integer)) or N < 1:
        raise ValueError(f"N must be a positive int, got {N!r}")
    if not (isinstance(rate, (int, float, np.floating, np.integer)) and 0 < rate <= 1):
        raise ValueError(f"rate must be a fraction in (0, 1] (e.g. 0.05 for 5 %), got {rate!r}")
    return max(1, int(math.ceil(round(float(rate) * int(N), 9))))


def select_top(scores: np.ndarray, rate: float, *, keep: str = "highest") -> np.ndarray:
    """Sorted indices of the M = ceil(rate x N) samples at one end of ``scores``.

    Parameters
    ----------
    scores : ndarray, shape (N,)
    rate : float in (0, 1]
    keep : {"highest", "lowest"}
        Which end is kept; among equal scores the lower index is kept first.

    Returns
    -------
    ndarray, shape (M,), int64, sorted ascending
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"scores must be a non-empty vector (N,), got shape {scores.shape}")
    if np.isnan(scores).any():
        raise ValueError(f"scores contain {int(np.isnan(scores).sum())} NaN value(s), e.g. from "
                         "unrecorded epochs; record every sample every epoch or drop those samples")
    if keep not in ("highest", "lowest"):
        raise ValueError(f"keep must be 'highest' or 'lowest', got {keep!r}")
    M = coreset_size(scores.size, rate)
    key = -scores if keep == "highest" else scores
    order = np.lexsort((np.arange(scores.size), key))
    return np.sort(order[:M]).astype(np.int64)


# --------------------------------------------------------------------------- window search
def window_grid(T: int, window: int = 10, step: int = 10) -> list[tuple[int, int]]:
    """All (early_start, late_start) pairs on a ``step`` grid with non-overlapping windows.

    Starts are 0, step, 2 x step, ... with ``start + window <= T``; pairs have
    ``early_start + window <= late_start``.

    Returns
    -------
    list of (int, int), ordered by early then late start
    """
    for name, v in (("T", T), ("window", window), ("step", step)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    starts = range(0, T - window + 1, step)
    return [(e, l) for e in starts for l in starts if e + window <= l]


def window_search(S: np.ndarray, evaluate: Callable[[np.ndarray, int, int | None], float], *,
                  rate: float, window: int = 10, step: int = 10, T: int | None = None,
                  variant: str = "sum", single: bool = False) -> pd.DataFrame:
    """Grid search of the EVA window starts, scored by a validation callback.

    Parameters
    ----------
    S : ndarray, shape (N, T)
    evaluate : callable
        ``evaluate(indices, early_start, late_start) -> float``: trains on the coreset
        ``indices`` (sorted, shape (M,)) and returns a score on the **validation** split
        (higher is better; never the test split). ``late_start`` is None for single windows.
    rate : float in (0, 1]
        Coreset fraction; M = ceil(rate x N).
    window, step : int
        Window length and grid step (paper: 10 and 10).
    T : int, optional
        Only the first T epochs are searched; default all of ``S``.
    variant : {"sum", "released"}
        Passed to :func:`eva_scores`.
    single : bool
        Also score every single window (VAR-S; ``late_start`` missing), as in Fig. 5.

    Returns
    -------
    DataFrame
        Columns ``early_start, late_start`` (nullable Int64), ``score``; one row per
        combination. ``frame.attrs["best"]`` is :func:`best_window` of it.
    """
    S = _as_S(S)
    T = S.shape[1] if T is None else T
    if not isinstance(T, (int, np.integer)) or not 1 <= T <= S.shape[1]:
        raise ValueError(f"T must be an int in 1..{S.shape[1]} (recorded epochs), got {T!r}")
    if not callable(evaluate):
        raise ValueError("evaluate must be a callable evaluate(indices, early_start, late_start) -> float")
    combos: list[tuple[int, int | None]] = list(window_grid(int(T), window, step))
    if single:
        combos = [(s, None) for s in range(0, T - window + 1, step)] + combos
    if not combos:
        raise ValueError(f"no window combination fits in T={T} epochs with window={window}, step={step}; "
                         "two windows need T >= step + window")
    rows = []
    for early, late in combos:
        sc = var_single(S, early, window) if late is None else eva_scores(S, early, late, window, variant=variant)
        idx = select_top(sc, rate, keep="highest")
        rows.append((early, late, float(evaluate(idx, early, late))))
    frame = pd.DataFrame(rows, columns=["early_start", "late_start", "score"])
    frame["early_start"] = frame["early_start"].astype("Int64")
    frame["late_start"] = pd.array([pd.NA if v is None else v for v in frame["late_start"]], dtype="Int64")
    frame.attrs["best"] = best_window(frame)
    return frame


def best_window(frame: pd.DataFrame) -> tuple[int, int | None]:
    """The (early_start, late_start) of the highest score (first in grid order on ties).

    ``late_start`` is None when the best is a single window.
    """
    missing = {"early_start", "late_start", "score"} - set(frame.columns)
    if missing:
        raise ValueError(f"frame lacks columns {sorted(missing)}; pass window_search's result")
    if len(frame) == 0 or frame["score"].isna().all():
        raise ValueError("frame has no scored window combination")
    row = frame.loc[frame["score"].astype(float).idxmax()]
    late = row["late_start"]
    return int(row["early_start"]), (None if pd.isna(late) else int(late))


# --------------------------------------------------------------------------- summaries
def coreset_summary(records: pd.DataFrame, *, metric: str = "acc",
                    by: Sequence[str] = ("dataset", "arch", "method", "rate")) -> pd.DataFrame:
    """Mean and sample sd (ddof=1) of ``metric`` over seeds per method x rate.

    Parameters
    ----------
    records : DataFrame
        One row per (method, rate, seed, ...) with column ``metric``. Rows with method
        ``"full"`` are the full-data reference (their rate is taken as 1.0).
    metric : str
        Measurement column, e.g. ``"acc"`` or ``"bacc"``.
    by : sequence of str
        Grouping columns; those absent from ``records`` are skipped (``method`` and
        ``rate`` are required).

    Returns
    -------
    DataFrame
        The grouping columns, then ``mean, sd, n`` (sd is NaN for a single seed).
    """
    if not isinstance(records, pd.DataFrame):
        raise ValueError(f"records must be a DataFrame, got {type(records).__name__}")
    need = {"method", "rate", metric} - set(records.columns)
    if need:
        raise ValueError(f"records lack columns {sorted(need)}; got {list(records.columns)}")
    keys = [k for k in by if k in records.columns]
    df = records.copy()
    df.loc[df["method"] == "full", "rate"] = 1.0
    out = (df.groupby(keys, sort=True, dropna=False)[metric]
             .agg(mean="mean", sd=lambda v: v.std(ddof=1) if len(v) > 1 else np.nan, n="count")
             .reset_index())
    return out


def window_summary(window_records: pd.DataFrame, *, metric: str = "score",
                   by: Sequence[str] = ("dataset", "rate")) -> pd.DataFrame:
    """Mean and sample sd (ddof=1) of ``metric`` per window combination (Fig. 5).

    Parameters
    ----------
    window_records : DataFrame
        Columns ``early_start, late_start`` (missing ``late_start`` = single window) and
        ``metric``; optional grouping columns ``by`` (those absent are skipped).
    metric : str

    Returns
    -------
    DataFrame
        The present ``by`` columns, ``early_start, late_start`` (Int64), ``mean, sd, n``.
    """
    if not isinstance(window_records, pd.DataFrame):
        raise ValueError(f"window_records must be a DataFrame, got {type(window_records).__name__}")
    need = {"early_start", "late_start", metric} - set(window_records.columns)
    if need:
        raise ValueError(f"window_records lack columns {sorted(need)}; got {list(window_records.columns)}")
    keys = [k for k in by if k in window_records.columns] + ["early_start", "late_start"]
    df = window_records.copy()
    df["early_start"] = df["early_start"].astype("Int64")
    df["late_start"] = df["late_start"].astype("Int64")
    out = (df.groupby(keys, sort=True, dropna=False)[metric]
             .agg(mean="mean", sd=lambda v: v.std(ddof=1) if len(v) > 1 else np.nan, n="count")
             .reset_index())
    return out

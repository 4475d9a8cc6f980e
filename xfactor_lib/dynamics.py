"""Training dynamics: what a surrogate run records for every sample and epoch.

A :class:`DynamicsRecorder` is a training callback (``training.fit_torch(...,
callbacks=[recorder])``, protocol in ``docs/architecture.md``) that keeps, for every
training sample i and epoch t (0-based), the error score
``S[i, t] = || softmax(f_t(x_i)) - onehot(y_i) ||_2``, the correctness of the prediction,
the logit margin (target logit minus the largest other), the probability margin (target
softmax probability minus the largest other, CCS's score) and the final softmax. The result,
a :class:`Dynamics`, serves EVA, its ablations and every dynamics-based baseline of
:mod:`xfactor_lib.coresets` from one run (SPEC 3, "Surrogate").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import records
from ._validation import check_choice, check_int

__all__ = ["Dynamics", "DynamicsRecorder", "MODES", "DTYPES"]

#: Storage precisions of the recorder.
DTYPES = ("float32", "float16")
#: ``"train"``: score the training pass; ``"eval"``: a separate no-grad pass per epoch.
MODES = ("train", "eval")


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
    prob_margin : ndarray, shape (N, T), float, optional
        ``p_y - max_{k != y} p_k`` on the softmax probabilities (the CCS authors' margin;
        NaN where not recorded). None for runs saved before it was recorded.
    """

    S: np.ndarray
    correct: np.ndarray
    margin: np.ndarray
    probs: np.ndarray
    y: np.ndarray
    mask: np.ndarray | None = None
    mode: str = "train"
    prob_margin: np.ndarray | None = None

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
        if self.prob_margin is not None:
            self.prob_margin = np.asarray(self.prob_margin)
        for name in ("correct", "margin", "mask") + (("prob_margin",) if self.prob_margin is not None else ()):
            if getattr(self, name).shape != (N, T):
                raise ValueError(f"{name} must have the shape of S {(N, T)}, got {getattr(self, name).shape}")
        if self.probs.ndim != 2 or self.probs.shape[0] != N:
            raise ValueError(f"probs must have shape (N={N}, K), got {self.probs.shape}")
        if self.y.shape != (N,):
            raise ValueError(f"y must have shape (N={N},), got {self.y.shape}")
        check_choice(self.mode, "mode", MODES)

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
        arrays = {k: getattr(self, k) for k in ("S", "correct", "margin", "probs", "y", "mask")}
        if self.prob_margin is not None:
            arrays["prob_margin"] = self.prob_margin
        return records.write_npz(path, **arrays, mode=np.array(self.mode))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Dynamics":
        """Read what :meth:`save` (or :meth:`DynamicsRecorder.save`) wrote."""
        with np.load(path, allow_pickle=False) as z:
            missing = {"S", "correct", "margin", "probs", "y"} - set(z.files)
            if missing:
                raise ValueError(f"{path} is not a saved Dynamics file: it lacks {sorted(missing)}")
            return cls(
                S=z["S"],
                correct=z["correct"],
                margin=z["margin"],
                probs=z["probs"],
                y=z["y"],
                mask=z["mask"] if "mask" in z.files else None,
                mode=str(z["mode"]) if "mode" in z.files else "train",
                prob_margin=z["prob_margin"] if "prob_margin" in z.files else None,
            )


def _batch_stats(logits, y):
    """Error score, correctness, logit margin, softmax and probability margin of one batch (torch)."""
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
    others = p.clone()
    others[rows, y] = -1.0  # below every probability
    prob_margin = p[rows, y] - others.max(dim=1).values
    return s, correct, margin, p, prob_margin


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

    def __init__(
        self,
        N: int,
        *,
        T: int | None = None,
        mode: str = "train",
        X: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        dtype: str = "float32",
        transform: Callable | None = None,
    ) -> None:
        N = check_int(N, "N (number of training samples)", low=1)
        check_choice(mode, "mode", MODES)
        dtype = check_choice(str(dtype).replace("torch.", ""), "dtype", DTYPES)
        if T is not None:
            T = check_int(T, "T (expected epochs)", low=1)
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
                raise ValueError(
                    "mode='eval' needs X, y and batch_size: the recorder runs its own "
                    "evaluation pass over the training set at each epoch end"
                )
            if len(X) != self.N or len(y) != self.N:
                raise ValueError(f"X and y must have N={self.N} rows, got {len(X)} and {len(y)}")
            check_int(batch_size, "batch_size", low=1)
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
        self._prob_margin = torch.full((T, N), float("nan"), dtype=fdt, device=device)
        self._correct = torch.zeros((T, N), dtype=torch.bool, device=device)
        self._mask = torch.zeros((T, N), dtype=torch.bool, device=device)
        self._probs = torch.full((N, K), float("nan"), dtype=fdt, device=device)
        if self._y_given is not None:
            self._y = torch.as_tensor(np.asarray(self._y_given), dtype=torch.long).to(device)
        else:
            self._y = torch.full((N,), -1, dtype=torch.long, device=device)

    def _ensure(self, epoch: int, K: int, device) -> None:
        import torch

        check_int(epoch, "epoch (0-based)", low=0)
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
            self._prob_margin = pad(self._prob_margin, float("nan"))
            self._correct, self._mask = pad(self._correct, False), pad(self._mask, False)
            self._capacity = new
        self.epochs = max(self.epochs, int(epoch) + 1)

    def _write(self, epoch: int, idx, logits, y) -> None:
        s, correct, margin, p, prob_margin = _batch_stats(logits, y)
        fdt = self._S.dtype
        self._S[epoch, idx] = s.to(fdt)
        self._margin[epoch, idx] = margin.to(fdt)
        self._prob_margin[epoch, idx] = prob_margin.to(fdt)
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
            raise ValueError(
                f"on_batch needs idx (B,), logits (B, K), y (B,); got shapes "
                f"{tuple(idx.shape)}, {tuple(logits.shape)}, {tuple(y.shape)}"
            )
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
            raise ValueError(
                "nothing recorded yet: pass the recorder to fit_torch(callbacks=[...]) "
                "or call on_batch / on_epoch_end first"
            )
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
        prob_margin = self._prob_margin[:T].T.cpu().numpy()
        correct = self._correct[:T].T.cpu().numpy()
        probs = self._probs.cpu().numpy()
        if T and not mask[:, -1].all():
            probs[~mask[:, -1]] = np.nan  # final softmax only from the final epoch
        y = self._y.cpu().numpy()
        return Dynamics(
            S=np.ascontiguousarray(S),
            correct=np.ascontiguousarray(correct),
            margin=np.ascontiguousarray(margin),
            probs=probs,
            y=y,
            mask=np.ascontiguousarray(mask),
            mode=self.mode,
            prob_margin=np.ascontiguousarray(prob_margin),
        )

    def save(self, path: str | os.PathLike, *, allow_missing: bool = False) -> os.PathLike:
        """Write the dynamics once, atomically, to ``path`` (``.npz``); see :meth:`dynamics`."""
        return self.dynamics(allow_missing=allow_missing).save(path)

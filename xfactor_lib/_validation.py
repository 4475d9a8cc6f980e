"""Input checks shared by every module: one message per mistake.

Every public function of the library validates its inputs here, so the same bad input
fails the same way everywhere (scikit-learn's ``check_array`` habit). The rule for the
exception type: ``TypeError`` when the *type* is wrong (a list of strings for images, a
float where an int is needed, int16 pixels), ``ValueError`` when the type is right but the
*value* is not (wrong shape, NaN, out of range, unknown name).
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "as_float",
    "auto_or_int",
    "check_block_size",
    "check_choice",
    "check_frame",
    "check_images",
    "check_indices",
    "check_int",
    "check_labels",
    "check_rate",
    "closest",
    "image_shape",
    "resolve_device",
]


def closest(name: str, valid: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest valid name, or ``""`` when none is close."""
    match = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def check_int(value: Any, what: str, *, low: int | None = 0, high: int | None = None) -> int:
    """``value`` as a Python int in ``[low, high]`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an int, got {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{what} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{what} must be <= {high}, got {value}")
    return value


def auto_or_int(value: Any, what: str, *, low: int = 1) -> str | int:
    """``"auto"``, or a count ``>= low`` given as an int or as digits (a notebook parameter: ``"6"``)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, str):
        if value != "auto":
            raise ValueError(f"{what} must be 'auto' or a whole number >= {low}, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be 'auto' or an int, got {value!r}")
    return check_int(value, what, low=low)


def check_choice(value: Any, what: str, allowed: Sequence[str]) -> str:
    """``value`` if it is one of ``allowed``; else an error listing them."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, one of {list(allowed)}; got {value!r}")
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}{closest(value, allowed)}; choose from {list(allowed)}")
    return value


def check_positive(value: Any, what: str) -> float:
    """A finite real number > 0 (a kernel width, a scale)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a positive number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{what} must be a finite number > 0, got {value}")
    return float(value)


def check_rate(rate: Any, what: str = "rate") -> float:
    """A fraction in (0, 1]."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise TypeError(f"{what} must be a number in (0, 1], got {rate!r}")
    rate = float(rate)
    if not (0.0 < rate <= 1.0):
        raise ValueError(f"{what} must lie in (0, 1], got {rate}")
    return rate


def check_block_size(block_size: Any) -> int | None:
    """``None`` (choose automatically) or a positive int of rows per block."""
    if block_size is None:
        return None
    return check_int(block_size, "block_size", low=1)


def check_images(X: Any, what: str = "X", *, allow_empty: bool = False) -> np.ndarray:
    """Validated ``(N, D)`` view of images: uint8 grey levels or float pixels in [0, 1].

    Parameters
    ----------
    X : array-like, shape (N, C, H, W), (N, H, W) or (N, D)
        uint8 grey levels 0..255, or float pixels in [0, 1].
    what : str
        The argument's name, used in messages.
    allow_empty : bool
        Accept ``N = 0``.

    Returns
    -------
    ndarray, shape (N, D), uint8 or float (a view of ``X`` where possible)

    Raises
    ------
    TypeError
        Not an array of numbers, or integer pixels that are not uint8.
    ValueError
        Fewer than 2 dimensions, no pixels, no images, non-finite pixels, or float pixels
        outside [0, 1].
    """
    if isinstance(X, np.ndarray):
        V = X
    elif isinstance(X, (str, bytes)) or not hasattr(X, "__len__") and not hasattr(X, "__array__"):
        raise TypeError(f"{what} must be an array of images, got {type(X).__name__}")
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
    if V.dtype == np.bool_ or (np.issubdtype(V.dtype, np.integer) and V.dtype != np.uint8):
        raise TypeError(
            f"{what} has dtype {V.dtype}; integer pixels must be uint8 (0..255), anything else "
            f"float in [0, 1] (e.g. {what}.astype(np.uint8) or {what} / 255.0)"
        )
    if V.dtype != np.uint8 and not np.issubdtype(V.dtype, np.floating):
        raise TypeError(f"{what} must be uint8 images or float pixels in [0, 1], got dtype {V.dtype}")
    V = V.reshape(V.shape[0], int(np.prod(V.shape[1:])))
    if V.shape[1] == 0:
        raise ValueError(f"{what} has no pixels (shape {V.shape})")
    if V.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{what} has no images (shape {V.shape})")
    if V.dtype != np.uint8 and V.size:
        finite = np.isfinite(V)
        if not finite.all():
            rows = np.flatnonzero(~finite.all(axis=1))
            raise ValueError(
                f"{what} has non-finite pixels (NaN or inf) in {rows.size} image(s), first at row "
                f"{rows[0]}; drop or repair those images"
            )
        lo, hi = float(V.min()), float(V.max())
        if lo < 0 or hi > 1:
            raise ValueError(
                f"float pixels of {what} must lie in [0, 1], got range [{lo:.6g}, {hi:.6g}]; "
                "divide grey levels by 255 or pass uint8 images"
            )
    return V


def as_float(X: Any, what: str = "X", *, dtype: Any = np.float64) -> np.ndarray:
    """Images as float pixels in [0, 1], one row per image.

    Parameters
    ----------
    X : array-like, shape (N, C, H, W) or (N, D)
        uint8 grey levels (divided by 255) or float pixels already in [0, 1].
    dtype : numpy float dtype
        float64 (default, exact statistics) or float32 (training, large blocks).

    Returns
    -------
    ndarray, shape (N, D), ``dtype``
    """
    V = check_images(X, what)
    if V.dtype == np.uint8:
        out = V.astype(dtype)
        out /= 255.0
        return out
    return V.astype(dtype, copy=False)


def image_shape(X: Any) -> tuple[int, int, int]:
    """``(C, H, W)`` of images ``(N, C, H, W)``, ``(N, H, W)`` (C = 1) or ``(N, D)`` (1, D, 1)."""
    shape = np.shape(X)
    if len(shape) == 4:
        return int(shape[1]), int(shape[2]), int(shape[3])
    if len(shape) == 3:
        return 1, int(shape[1]), int(shape[2])
    if len(shape) == 2:
        return 1, int(shape[1]), 1
    raise ValueError(f"images must have shape (N, C, H, W), (N, H, W) or (N, D); got {shape}")


def check_indices(indices: Any, what: str = "indices", *, n: int | None = None, check_range: bool = True) -> np.ndarray:
    """Validated int64 positions ``(m,)`` from integer indices or a boolean mask.

    Parameters
    ----------
    indices : array-like, shape (m,), int; or shape (n,), bool
        Integers, or floats holding whole numbers (as ``np.loadtxt`` reads them); a
        boolean mask is accepted when ``n`` is given (its length must be ``n``; it becomes
        ``np.flatnonzero(mask)``) and refused otherwise.
    what : str
        Named in messages.
    n : int, optional
        Length of what is indexed: bounds ``0 <= i < n`` (with ``check_range``) and the
        length of a mask.
    check_range : bool
        Check the bounds (when ``n`` is given).

    Returns
    -------
    ndarray, shape (m,), int64

    Raises
    ------
    TypeError
        Not numbers (strings, objects), or a boolean mask where the length is unknown.
    ValueError
        Not one-dimensional, fractional or non-finite values, a mask of the wrong length,
        out-of-range positions.
    """
    try:
        a = np.asarray(indices)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{what} must be a 1-D array of integer indices, got {type(indices).__name__}") from exc
    if a.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array of integer indices, got shape {a.shape}")
    if a.dtype == np.bool_:
        if n is None:
            raise TypeError(
                f"{what} is a boolean mask, but the length of what it selects from is unknown here; "
                f"pass integer indices (np.flatnonzero(mask))"
            )
        if a.size != n:
            raise ValueError(f"{what} is a boolean mask of length {a.size}, but there are {n} items to select from")
        return np.flatnonzero(a).astype(np.int64)
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError(f"{what} must be whole numbers; found NaN or inf")
        frac = np.flatnonzero(a != np.round(a))
        if frac.size:
            raise ValueError(
                f"{what} must be whole numbers; found fractional value(s) {a[frac[:3]].tolist()} "
                f"(at position(s) {frac[:3].tolist()}); indices are never rounded or truncated"
            )
    elif not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{what} must be integer indices, got dtype {a.dtype}")
    out = a.astype(np.int64)
    if n is not None and check_range and (out.min() < 0 or out.max() >= n):
        raise ValueError(f"{what} must lie in [0, {n}), got range [{out.min()}, {out.max()}]")
    return out


def check_labels(y: Any, N: int | None = None, *, K: int | None = None, what: str = "y") -> tuple[np.ndarray, int]:
    """Validated int64 labels ``(N,)`` and the number of classes ``K``.

    Parameters
    ----------
    y : array-like, shape (N,), int
        Class labels ``0..K-1``.
    N : int, optional
        Number of images the labels belong to (checked).
    K : int, optional
        Number of classes; default ``y.max() + 1``.

    Returns
    -------
    y : ndarray, shape (N,), int64
    K : int
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{what} must have shape (N,), got {y.shape}")
    if N is not None and y.shape[0] != N:
        raise ValueError(f"{what} has {y.shape[0]} labels but there are {N} images")
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and y.size and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            raise TypeError(
                f"{what} must hold integer class labels 0..K-1, got dtype {y.dtype}; use {what}.astype(int)"
            )
        raise TypeError(f"{what} must hold integer class labels 0..K-1, got dtype {y.dtype}")
    y = y.astype(np.int64, copy=False)
    if y.size and y.min() < 0:
        raise ValueError(f"labels of {what} must be >= 0, got {y.min()}")
    if K is None:
        if y.size == 0:
            raise ValueError(f"{what} is empty; pass K or some labels")
        K = int(y.max()) + 1
    else:
        K = check_int(K, "K", low=1)
        if y.size and y.max() >= K:
            raise ValueError(f"label {y.max()} of {what} is out of range for K = {K} classes")
    return y, K


def check_frame(frame: Any, columns: Iterable[str] = (), *, what: str = "frame") -> pd.DataFrame:
    """``frame`` if it is a DataFrame holding every one of ``columns``."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; it has {list(frame.columns)}")
    return frame


def resolve_device(device: Any = "auto") -> str:
    """A torch device string: ``"auto"`` gives ``"cuda"`` when a GPU is visible, else ``"cpu"``.

    ``"torch:cpu"`` (run numpy work through torch on the CPU, for tests of the GPU path) is
    passed through.
    """
    if not isinstance(device, str):
        raise TypeError(f"device must be a string ('auto', 'cpu', 'cuda', 'cuda:N', 'torch:cpu'), got {device!r}")
    if device in ("cpu", "torch:cpu"):
        return device
    if device == "auto" or device == "cuda" or device.startswith("cuda:"):
        import torch

        if torch.cuda.is_available():
            return "cuda" if device == "auto" else device
        if device == "auto":
            return "cpu"
        raise ValueError(f"device {device!r} asked for but no CUDA GPU is visible; use device='auto' or 'cpu'")
    if device == "mps":
        return device
    raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'torch:cpu'")


def check_name(value: Any, what: str) -> str:
    """``value`` if it is a non-empty string without whitespace (it goes into ids and folder names)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {value!r}")
    if not value or any(c.isspace() for c in value):
        raise ValueError(f"{what} must be a non-empty string without spaces, got {value!r}")
    return value

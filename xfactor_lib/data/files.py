"""Data files on disk: IDX (MNIST), ``.npz`` archives and image folders, read into uint8 arrays.

The class list of a data set is one list for all its splits: the ``classes`` an archive
declares, or else the union of the labels (npz) or class sub-folders (folder) over every
split, so a class missing from one split still has its index and K is the same everywhere.

Pixels: uint8 (or integers 0..255) as they are; float pixels must lie in [0, 1] (scaled by
255), or in ``[0, pixel_scale]`` when a ``pixel_scale`` is given (e.g. 255 for float grey
levels). Nothing is guessed from the value range.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_labels
from .images import GREY_MODES, read_image_files

SPLITS = ("train", "val", "test")
IMAGE_EXT = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff")
_ZIP_MAGIC = b"PK\x03\x04"


class DataNotFoundError(FileNotFoundError):
    """The data set is in none of the searched folders and could not be downloaded."""


# --------------------------------------------------------------------------- IDX and lookups
def read_idx(path: Path) -> np.ndarray:
    """The array in an unsigned-byte IDX file (MNIST's format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">i4", count=ndim, offset=4)
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: expected {int(np.prod(dims))} values, found {arr.size}")
    return arr.reshape(tuple(int(d) for d in dims))


def find_idx(folder: str, stem: str, roots: list[Path]) -> Path | None:
    """``<root>/<folder>/raw/<stem>[.gz]`` in the first root that has it."""
    for r in roots:
        for cand in (r / folder / "raw" / stem, r / folder / "raw" / f"{stem}.gz"):
            if cand.is_file():
                return cand
    return None


def find_file(name: str, roots: list[Path], subs: tuple[str, ...] = ("",)) -> Path | None:
    """The first folder ``root / sub`` (roots in order) holding a file ``name``."""
    for r in roots:
        for sub in subs:
            if (r / sub / name).is_file():
                return r / sub
    return None


# --------------------------------------------------------------------------- arrays
def as_uint8_images(x: Any, what: str, *, pixel_scale: float | None = None) -> np.ndarray:
    """Images ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)`` as uint8 ``(N, C, H, W)``.

    Parameters
    ----------
    x : ndarray
        uint8 or integer grey levels 0..255, or float pixels in ``[0, pixel_scale or 1]``.
    what : str
        Named in messages (file and split).
    pixel_scale : float, optional
        The value of a white float pixel; default 1 (floats in [0, 1]).
    """
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
            x = x.transpose(0, 3, 1, 2)
    else:
        raise ValueError(f"{what} must be images shaped (N, H, W), (N, H, W, C) or (N, C, H, W); got shape {x.shape}")
    if x.shape[1] not in (1, 3):
        raise ValueError(f"{what} must have 1 or 3 channels, got shape {x.shape}")
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    if np.issubdtype(x.dtype, np.integer) and x.dtype != np.bool_:
        if x.size and (x.min() < 0 or x.max() > 255):
            raise ValueError(f"{what}: integer pixels must lie in 0..255, got {x.min()}..{x.max()}")
        return x.astype(np.uint8)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{what} must hold numbers (uint8 or float pixels), got dtype {x.dtype}")
    finite = np.isfinite(x)
    if not finite.all():
        bad = int((~finite).reshape(len(x), -1).any(axis=1).sum())
        raise ValueError(f"{what} has NaN or inf pixels in {bad} image(s); clean or drop them first")
    white = 1.0 if pixel_scale is None else float(pixel_scale)
    if not white > 0:
        raise ValueError(f"pixel_scale must be positive, got {pixel_scale}")
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if lo < 0 or hi > white:
        hint = "pass pixel_scale=255 for float grey levels 0..255" if pixel_scale is None else "check the data"
        raise ValueError(f"{what}: float pixels must lie in [0, {white:g}], got [{lo:.6g}, {hi:.6g}]; {hint}")
    return np.rint(x * (255.0 / white)).astype(np.uint8)


def as_labels(y: Any, n: int, what: str, K: int | None = None) -> np.ndarray:
    """One int64 label per image from ``(N,)`` or ``(N, 1)``; integral floats are accepted."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"{what} must be one integer label per image, shape (N,) or (N, 1); got {y.shape} "
            "(multi-label data is not supported)"
        )
    if np.issubdtype(y.dtype, np.floating):
        if not (np.isfinite(y).all() and np.all(y == np.round(y))):
            raise ValueError(f"{what} must be integers 0..K-1; got dtype {y.dtype} with non-integer values")
        y = y.astype(np.int64)
    if y.size and np.issubdtype(y.dtype, np.integer) and y.min() < 0:
        raise ValueError(f"{what} must be integers 0..K-1; found negative label {y.min()}")
    if K is not None and y.size and np.issubdtype(y.dtype, np.integer) and y.max() >= K:
        raise ValueError(f"{what} has label {y.max()} but only {K} class names are given (labels must be 0..{K - 1})")
    top = K if K is not None else (int(y.max()) + 1 if y.size else 1)
    y, _ = check_labels(y, n, K=top, what=what)
    return y


# --------------------------------------------------------------------------- npz
def _open_npz(path: Path):
    if not path.is_file():
        raise DataNotFoundError(f"npz file {path} does not exist; give 'npz:<path to .npz>'")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head != _ZIP_MAGIC:
        raise ValueError(
            f"{path} is not an .npz archive (it starts with {head!r}, not a zip header); write one with "
            "numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
        )
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - a damaged zip
        raise ValueError(f"{path} cannot be read as an .npz archive: {exc}") from exc


def _npz_keys(keys: set[str], split: str) -> tuple[str, str] | None:
    for xk, yk in ((f"x_{split}", f"y_{split}"), (f"{split}_images", f"{split}_labels")):
        if xk in keys and yk in keys:
            return xk, yk
    return None


def read_npz(path: Path, split: str, *, pixel_scale: float | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images ``(N, C, H, W)`` uint8, labels ``(N,)`` and the class list shared by every split."""
    with _open_npz(path) as z:
        keys = set(z.files)
        found = _npz_keys(keys, split)
        if found is None:
            raise ValueError(
                f"{path} has no {split!r} split: expected keys x_{split}/y_{split} or {split}_images/"
                f"{split}_labels; found {sorted(keys)}"
            )
        x = z[found[0]]
        classes = [str(c) for c in z["classes"]] if "classes" in keys else None
        K = len(classes) if classes else None
        labels = {
            s: as_labels(z[k[1]], len(z[k[1]]), f"{path.name}:{s} labels", K)
            for s in SPLITS
            if (k := _npz_keys(keys, s)) is not None
        }
    if classes is None:  # the union over the splits: one K for all of them
        top = max((int(v.max()) for v in labels.values() if v.size), default=-1)
        classes = [str(i) for i in range(top + 1)]
    images = as_uint8_images(x, f"{path.name}:{split} images", pixel_scale=pixel_scale)
    y = labels[split]
    if len(y) != len(images):
        raise ValueError(f"{path.name}:{split} labels has {len(y)} labels for {len(images)} images")
    return images, y, classes


# --------------------------------------------------------------------------- folders
def folder_classes(path: Path) -> list[str]:
    """Class names of a folder data set: the sub-folders of ``train/``, ``val/`` and ``test/``, sorted."""
    return sorted({p.name for s in SPLITS if (path / s).is_dir() for p in (path / s).iterdir() if p.is_dir()})


def folder_files(path: Path, split: str) -> tuple[list[tuple[Path, int]], list[str]]:
    """``(file, label)`` pairs of one split, and the class list shared by every split."""
    base = path / split
    if not base.is_dir():
        raise DataNotFoundError(
            f"folder data set {path} has no {split}/ sub-folder; expected {path}/{split}/<class>/<image files>"
        )
    classes = folder_classes(path)
    if not classes:
        raise ValueError(f"{base} has no class sub-folders; expected {base}/<class>/<image files>")
    files = [
        (f, k)
        for k, c in enumerate(classes)
        if (base / c).is_dir()
        for f in sorted((base / c).iterdir())
        if f.suffix.lower() in IMAGE_EXT
    ]
    if not files:
        raise ValueError(f"{base} holds no image files ({', '.join(IMAGE_EXT)})")
    return files, classes


def read_images(files: list[Path], base: Path, *, pixel_scale: float | None = None) -> np.ndarray:
    """uint8 ``(N, C, H, W)`` from image files of one size (grey, or RGB when any is colour).

    16-bit, 32-bit and float files are scaled by their bit depth or ``pixel_scale``
    (:func:`xfactor_lib.data.images.read_image_files`, which also returns how).
    """
    return read_image_files(files, base, pixel_scale=pixel_scale)[0]


# --------------------------------------------------------------------------- split shapes
def _chw(shape: tuple[int, ...]) -> tuple[int, ...]:
    """``(C, H, W)`` of one image of an array of images as :func:`data_files.as_uint8_images` reads it."""
    if len(shape) == 3:
        return (1, *shape[1:])
    if len(shape) == 4:
        if shape[-1] in (1, 3) and shape[1] not in (1, 3):
            return (shape[3], shape[1], shape[2])
        return tuple(shape[1:])
    return tuple(shape[1:])


def npz_split_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """``{split: (C, H, W)}`` of the image arrays in an ``.npz``, read from the headers only."""
    out = {}
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        for split in SPLITS:
            for key in (f"x_{split}", f"{split}_images"):
                if f"{key}.npy" in names:
                    with zf.open(f"{key}.npy") as fh:
                        major, _ = np.lib.format.read_magic(fh)
                        header = (
                            np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                        )
                        shape = header(fh)[0]
                    out[split] = _chw(shape)
                    break
    return out


def folder_split_shape(path: Path, split: str) -> tuple[int, int, int] | None:
    """``(C, H, W)`` of the first image file of a folder split (header only), or None."""
    from PIL import Image

    try:
        files, _ = folder_files(path, split)
        with Image.open(files[0][0]) as im:
            channels = 1 if im.mode in GREY_MODES else 3
            return (channels, im.size[1], im.size[0])
    except Exception:  # noqa: BLE001 - an unreadable split is reported when it is loaded
        return None


def check_same_shape(name: str, a: tuple[str, tuple[int, ...]], b: tuple[str, tuple[int, ...]]) -> None:
    """Refuse two splits ``(split, (C, H, W))`` of dataset ``name`` whose image shapes differ."""
    (sa, ca), (sb, cb) = a, b
    if tuple(ca) != tuple(cb):
        raise ValueError(
            f"{name}: the {sa} split's images are {_fmt(ca)} but the {sb} split's are {_fmt(cb)}; every split "
            "must have the same channels and size (convert and resize the images of one split to match)"
        )


def _fmt(chw: tuple[int, ...]) -> str:
    c, h, w = (tuple(chw) + (0, 0, 0))[:3]
    return f"{c} channel{'s' if c != 1 else ''} of {h}x{w}"

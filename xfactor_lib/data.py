"""Datasets, offline first.

``load_dataset(name, split)`` returns a :class:`Dataset` with uint8 images ``(N, C, H, W)``
and int64 labels ``(N,)``. Names:

- ``mnist``, ``fashion-mnist`` (IDX files in torchvision's layout ``<root>/MNIST/raw``);
- every 2D multi-class MedMNIST flag (``organamnist``, ``bloodmnist``, ...) through the
  ``medmnist`` package (``size`` 28 by default, 64/128/224 as an option, ``val`` split too);
- ``digits``: scikit-learn's bundled 8x8 digits, split deterministically (stratified,
  seed 0: 75 % train, 25 % test);
- ``npz:<path>``: user arrays ``x_train, y_train, x_test, y_test`` (optionally ``x_val,
  y_val``, ``classes``) or MedMNIST's key names (``train_images``, ``train_labels``, ...);
- ``folder:<path>``: one sub-folder per class under ``train/`` and ``test/`` (``val/``
  optional), images of one size.

Data roots are searched in this order: the ``root`` argument, ``$XFACTOR_DATA``, the
``shared/data`` folder beside the repository (``../shared/data``), then the user cache
(``$XFACTOR_CACHE``, default ``~/.cache/xfactor``), where a download is tried when the data
is nowhere else. Read-only roots are never written: gzip files are decoded into the cache,
and decoded arrays are cached there so the second load is fast.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import records

__all__ = [
    "Dataset",
    "DataNotFoundError",
    "load_dataset",
    "load_train_test",
    "dataset_names",
    "flatten",
    "balanced_sample",
    "train_val_split",
    "pixel_stats",
    "sample_per_class",
    "cache_dir",
    "data_roots",
]

SPLITS = ("train", "val", "test")
MNIST_LIKE = {
    "mnist": ("MNIST", [str(i) for i in range(10)]),
    "fashion-mnist": (
        "FashionMNIST",
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    ),
}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MEDMNIST_SIZES = (28, 64, 128, 224)


class DataNotFoundError(FileNotFoundError):
    """The data set is in none of the searched folders and could not be downloaded."""


@dataclass
class Dataset:
    """One split of a labelled image data set.

    Attributes
    ----------
    images : ndarray, shape (N, C, H, W), uint8
    labels : ndarray, shape (N,), int64, values in ``0..K-1``
    classes : list of str, length K
    name, split : str
    meta : dict
        Where it came from (``source``) and loader details.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    name: str
    split: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def K(self) -> int:  # noqa: N802 - the suite's vocabulary
        return len(self.classes)

    @property
    def N(self) -> int:  # noqa: N802
        return int(self.labels.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    def class_counts(self) -> np.ndarray:
        """Images per class, shape (K,)."""
        return np.bincount(self.labels, minlength=self.K)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "Dataset":
        """The images at ``indices`` (same classes, name and split)."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.N):
            raise IndexError(
                f"subset indices must lie in 0..{self.N - 1} for {self.name}/{self.split}; "
                f"got range {idx.min()}..{idx.max()}"
            )
        return Dataset(np.asarray(self.images[idx]), self.labels[idx], list(self.classes),
                       self.name, self.split, dict(self.meta, subset=True))

    def X(self) -> np.ndarray:  # noqa: N802
        """Flattened float32 pixels in [0, 1], shape (N, D)."""
        return flatten(self.images)


# --------------------------------------------------------------------------- helpers
def flatten(X: np.ndarray) -> np.ndarray:
    """Images as float32 ``(N, D)`` in [0, 1].

    Parameters
    ----------
    X : ndarray
        uint8 images ``(N, C, H, W)`` / ``(N, H, W)`` (scaled by 1/255), or float ``(N, D)``
        already in [0, 1] (returned as float32 unchanged).
    """
    X = np.asarray(X)
    if X.ndim < 2:
        raise ValueError(f"X must have one row per image (ndim >= 2), got shape {X.shape}")
    if X.dtype == np.uint8:
        return X.reshape(len(X), -1).astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(X.dtype, np.floating):
        raise TypeError(f"X must be uint8 images or float pixels in [0, 1], got dtype {X.dtype}")
    Xf = X.reshape(len(X), -1)
    if not np.isfinite(Xf).all():
        bad = int((~np.isfinite(Xf)).any(axis=1).sum())
        raise ValueError(f"X has non-finite pixels (NaN or inf) in {bad} image(s); clean or drop them")
    if Xf.size and (Xf.min() < 0 or Xf.max() > 1):
        raise ValueError(
            f"float pixels must lie in [0, 1], got range [{Xf.min():.3g}, {Xf.max():.3g}]; "
            "divide by 255 or pass uint8 images"
        )
    return Xf.astype(np.float32, copy=False)


def balanced_sample(y: np.ndarray, n: int, *, seed: int) -> np.ndarray:
    """Sorted indices of a class-balanced sample of ``n`` items (as equal as possible).

    Classes with too few items give all they have; the rest is spread over the others.
    """
    y = np.asarray(y)
    if n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    quota = np.zeros(len(classes), dtype=int)
    left = n
    open_ = counts > 0
    while left > 0 and open_.any():  # water-filling: equal shares, capped by class size
        share = max(left // int(open_.sum()), 1)
        for i in np.flatnonzero(open_):
            take = min(share, counts[i] - quota[i], left)
            quota[i] += take
            left -= take
            if quota[i] == counts[i]:
                open_[i] = False
            if left == 0:
                break
    picks = [rng.choice(np.flatnonzero(y == c), size=q, replace=False) for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(picks)).astype(np.int64)


def train_val_split(y: np.ndarray, val_size: int | float, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of a training split's indices into (train, val), both sorted.

    ``val_size`` is a count or a fraction of ``len(y)``. Used where a data set has no
    validation split (MNIST, digits): choices are made on it, never on the test split.
    """
    y = np.asarray(y)
    n_val = int(round(val_size * len(y))) if isinstance(val_size, float) else int(val_size)
    if not 0 < n_val < len(y):
        raise ValueError(f"val_size must leave both parts non-empty; got {val_size} of {len(y)} items")
    val = balanced_sample(y, n_val, seed=seed) if n_val < len(y) else np.arange(len(y))
    mask = np.ones(len(y), dtype=bool)
    mask[val] = False
    return np.flatnonzero(mask).astype(np.int64), val


def cache_dir() -> Path:
    """The user cache folder (``$XFACTOR_CACHE``, default ``~/.cache/xfactor``)."""
    return Path(os.environ.get("XFACTOR_CACHE", Path.home() / ".cache" / "xfactor")).expanduser()


def _shared_data() -> list[Path]:
    here = Path(__file__).resolve().parent.parent
    cands = [here.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    out: list[Path] = []
    for c in cands:
        if c.is_dir() and c.resolve() not in [o.resolve() for o in out]:
            out.append(c)
    return out


def data_roots(root: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for data, in order (see module docstring)."""
    roots: list[Path] = []
    if root is not None:
        roots.append(Path(root).expanduser())
    env = os.environ.get("XFACTOR_DATA")
    if env:
        roots.append(Path(env).expanduser())
    roots.extend(_shared_data())
    roots.append(cache_dir() / "data")
    return roots


def _medmnist_info() -> dict[str, dict]:
    import medmnist

    return medmnist.INFO


def medmnist_flags() -> list[str]:
    """The 2D multi-class MedMNIST flags this suite loads."""
    info = _medmnist_info()
    return sorted(f for f, v in info.items() if not f.endswith("3d") and "multi-label" not in v["task"])


def dataset_names() -> list[str]:
    """Valid names for :func:`load_dataset` (plus the ``npz:<path>`` / ``folder:<path>`` forms)."""
    return sorted(MNIST_LIKE) + ["digits"] + medmnist_flags()


# --------------------------------------------------------------------------- public entry
def load_dataset(name: str, split: str = "train", root: str | os.PathLike | None = None, *,
                 size: int = 28, download: bool = True) -> Dataset:
    """Load one split of a data set.

    Parameters
    ----------
    name : str
        See the module docstring; ``dataset_names()`` lists the built-in ones.
    split : {"train", "val", "test"}
    root : path, optional
        Searched first for the files.
    size : int
        MedMNIST image size (28, 64, 128 or 224).
    download : bool
        Try a download into the user cache when the files are in no searched folder.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        Unknown name or split, multi-label or 3D MedMNIST flags, invalid user arrays.
    DataNotFoundError
        The files are missing and could not be downloaded (the message lists the folders).
    """
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a string, got {type(name).__name__}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    key = name.strip()
    low = key.lower()
    if low.startswith("npz:"):
        return _load_npz(Path(key[4:]).expanduser(), split)
    if low.startswith("folder:"):
        return _load_folder(Path(key[7:]).expanduser(), split)
    if low in MNIST_LIKE:
        return _load_mnist_like(low, split, root, download)
    if low == "digits":
        return _load_digits(split)
    info = _medmnist_info()
    if low in info:
        return _load_medmnist(low, split, root, size, download)
    raise ValueError(
        f"unknown dataset {name!r}. Valid names: {', '.join(dataset_names())}, "
        "or 'npz:<path>' / 'folder:<path>' for your own data"
    )


# --------------------------------------------------------------------------- MNIST-like
def _read_idx(path: Path) -> np.ndarray:
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


def _find_idx(folder: str, stem: str, roots: list[Path]) -> Path | None:
    for r in roots:
        for cand in (r / folder / "raw" / stem, r / folder / "raw" / f"{stem}.gz"):
            if cand.is_file():
                return cand
    return None


def _cached_arrays(tag: str, sources: list[Path], build) -> tuple[np.ndarray, np.ndarray]:
    """Decode once into the cache; the key covers each source's path, size and mtime."""
    h = hashlib.sha1()
    for s in sources:
        st = s.stat()
        h.update(f"{s.resolve()}|{st.st_size}|{int(st.st_mtime)}".encode())
    target = cache_dir() / "decoded" / f"{tag}-{h.hexdigest()[:12]}.npz"
    if target.is_file():
        try:
            with np.load(target) as z:
                return z["images"], z["labels"]
        except (OSError, ValueError, KeyError):
            target.unlink(missing_ok=True)  # a corrupt cache entry is rebuilt
    images, labels = build()
    try:
        records.write_npz(target, images=images, labels=labels)
    except OSError:
        pass  # an unwritable cache only costs speed
    return images, labels


def _load_mnist_like(name: str, split: str, root, download: bool) -> Dataset:
    folder, classes = MNIST_LIKE[name]
    if split == "val":
        raise ValueError(
            f"{name} has no validation split; carve one from 'train' with "
            "xfactor_lib.data.train_val_split(labels, val_size, seed=...)"
        )
    img_stem, lab_stem = _IDX_FILES[split]
    roots = data_roots(root)
    img, lab = _find_idx(folder, img_stem, roots), _find_idx(folder, lab_stem, roots)
    if img is None or lab is None:
        if download:
            _download_torchvision(name, roots)
            img, lab = _find_idx(folder, img_stem, roots), _find_idx(folder, lab_stem, roots)
        if img is None or lab is None:
            searched = "\n  ".join(str(r / folder / "raw") for r in roots)
            raise DataNotFoundError(
                f"{name} {split} files ({img_stem}[.gz], {lab_stem}[.gz]) not found offline. "
                f"Searched:\n  {searched}\nFix: put the IDX files in <root>/{folder}/raw and pass "
                "root=<root> or set XFACTOR_DATA=<root>; or allow a download on a machine with internet."
            )

    def build():
        images = _read_idx(img)
        labels = _read_idx(lab).astype(np.int64)
        return images[:, None, :, :].copy(), labels

    images, labels = _cached_arrays(f"{name}-{split}", [img, lab], build)
    return Dataset(images, labels.astype(np.int64), list(classes), name, split,
                   {"source": str(img.parent)})


def _download_torchvision(name: str, roots: list[Path]) -> None:
    import torchvision

    target = roots[-1]
    cls = {"mnist": torchvision.datasets.MNIST, "fashion-mnist": torchvision.datasets.FashionMNIST}[name]
    try:
        for train in (True, False):
            cls(root=str(target), train=train, download=True)
    except Exception:  # noqa: BLE001 - offline: the caller reports the folders searched
        return


# --------------------------------------------------------------------------- digits
def _load_digits(split: str) -> Dataset:
    if split == "val":
        raise ValueError("digits has no validation split; carve one from 'train' with train_val_split")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    labels = d.target.astype(np.int64)
    tr, te = train_test_split(np.arange(len(labels)), test_size=0.25, random_state=0, stratify=labels)
    idx = np.sort(tr if split == "train" else te)
    return Dataset(images[idx], labels[idx], [str(i) for i in range(10)], "digits", split,
                   {"source": "sklearn.datasets.load_digits", "split_rule": "stratified 75/25, seed 0"})


# --------------------------------------------------------------------------- MedMNIST
def _medmnist_file(flag: str, size: int) -> str:
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def _load_medmnist(flag: str, split: str, root, size: int, download: bool) -> Dataset:
    import medmnist

    info = _medmnist_info()[flag]
    if flag.endswith("3d"):
        raise ValueError(f"{flag} is a 3D MedMNIST set; this suite handles 2D images only")
    if "multi-label" in info["task"]:
        raise ValueError(
            f"{flag} is multi-label ({info['task']}): every image has several binary labels, "
            "so class subsets, balance and diversity are undefined; use a multi-class flag "
            f"such as {', '.join(medmnist_flags()[:4])}"
        )
    if size not in MEDMNIST_SIZES:
        raise ValueError(f"MedMNIST size must be one of {MEDMNIST_SIZES}, got {size}")
    fname = _medmnist_file(flag, size)
    roots = data_roots(root)
    found = None
    for r in roots:
        for sub in (r, r / "medmnist", r / "MedMNIST"):
            if (sub / fname).is_file():
                found = sub
                break
        if found:
            break
    cls = getattr(medmnist, info["python_class"])
    if found is None and download:
        target = roots[-1] / "medmnist"
        target.mkdir(parents=True, exist_ok=True)
        try:
            cls(split=split, root=str(target), download=True, size=size)
            found = target
        except Exception:  # noqa: BLE001 - reported below with the folders searched
            found = None
    if found is None:
        searched = "\n  ".join(str(r) for r in roots)
        raise DataNotFoundError(
            f"{flag} ({fname}) not found offline. Searched (and their medmnist/ sub-folders):\n"
            f"  {searched}\nFix: download {fname} from MedMNIST on a machine with internet "
            "and put it in one of these folders, or pass root=<folder> / set XFACTOR_DATA."
        )
    try:
        ds = cls(split=split, root=str(found), download=False, size=size)
        len(ds)  # medmnist checks the official sample count here
    except (AssertionError, KeyError) as exc:
        raise ValueError(
            f"{found / fname} does not match MedMNIST's official format for {flag} "
            f"(expected {info['n_samples']} samples per split): {exc}"
        ) from exc
    imgs = np.asarray(ds.imgs)
    images = imgs[:, None] if imgs.ndim == 3 else np.ascontiguousarray(imgs.transpose(0, 3, 1, 2))
    labels = np.asarray(ds.labels).reshape(-1).astype(np.int64)
    classes = [info["label"][k] for k in sorted(info["label"], key=int)]
    labels = _as_labels(labels, len(images), f"{found / fname}:{split} labels", len(classes))
    return Dataset(images.astype(np.uint8), labels, classes, flag, split,
                   {"source": str(found / fname), "size": size})


# --------------------------------------------------------------------------- user data
def _as_uint8_images(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
            x = x.transpose(0, 3, 1, 2)
    else:
        raise ValueError(
            f"{what} must be images shaped (N, H, W), (N, H, W, C) or (N, C, H, W); got shape {x.shape}"
        )
    if x.shape[1] not in (1, 3):
        raise ValueError(f"{what} must have 1 or 3 channels, got shape {x.shape}")
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    if np.issubdtype(x.dtype, np.integer):
        if x.min() < 0 or x.max() > 255:
            raise ValueError(f"{what}: integer pixels must lie in 0..255, got {x.min()}..{x.max()}")
        return x.astype(np.uint8)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{what} must hold numbers, got dtype {x.dtype}")
    finite = np.isfinite(x)
    if not finite.all():
        bad = int((~finite).reshape(len(x), -1).any(axis=1).sum())
        raise ValueError(f"{what} has NaN or inf pixels in {bad} image(s); clean or drop them first")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 255:
        raise ValueError(f"{what}: float pixels must lie in [0, 1] or [0, 255], got [{lo:.3g}, {hi:.3g}]")
    scale = 255.0 if hi <= 1.0 else 1.0
    return np.rint(x * scale).astype(np.uint8)


def _as_labels(y: np.ndarray, n: int, what: str, K: int | None) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"{what} must be one integer label per image, shape (N,) or (N, 1); got {y.shape} "
            "(multi-label data is not supported)"
        )
    if len(y) != n:
        raise ValueError(f"{what} has {len(y)} labels for {n} images")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise ValueError(f"{what} must be integers 0..K-1; got dtype {y.dtype} with non-integer values")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"{what} must be integers 0..K-1; found negative label {y.min()}")
    if K is not None and y.size and y.max() >= K:
        raise ValueError(f"{what} has label {y.max()} but only {K} class names are given (labels must be 0..{K - 1})")
    return y


def _load_npz(path: Path, split: str) -> Dataset:
    if not path.is_file():
        raise DataNotFoundError(f"npz file {path} does not exist; give 'npz:<path to .npz>'")
    with np.load(path, allow_pickle=False) as z:
        keys = set(z.files)
        xk, yk = f"x_{split}", f"y_{split}"
        mk, mlk = f"{split}_images", f"{split}_labels"
        if xk in keys and yk in keys:
            x, y = z[xk], z[yk]
        elif mk in keys and mlk in keys:
            x, y = z[mk], z[mlk]
        else:
            raise ValueError(
                f"{path} has no {split!r} split: expected keys {xk}/{yk} or {mk}/{mlk}; found {sorted(keys)}"
            )
        classes = [str(c) for c in z["classes"]] if "classes" in keys else None
    images = _as_uint8_images(x, f"{path.name}:{split} images")
    labels = _as_labels(y, len(images), f"{path.name}:{split} labels", len(classes) if classes else None)
    if classes is None:
        classes = [str(i) for i in range(int(labels.max()) + 1 if labels.size else 0)]
    return Dataset(images, labels, classes, f"npz:{path}", split, {"source": str(path)})


_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff"}


def _load_folder(path: Path, split: str) -> Dataset:
    base = path / split
    if not base.is_dir():
        raise DataNotFoundError(
            f"folder data set {path} has no {split}/ sub-folder; expected {path}/{split}/<class>/<image files>"
        )
    classes = sorted(p.name for p in base.iterdir() if p.is_dir())
    if not classes:
        raise ValueError(f"{base} has no class sub-folders; expected {base}/<class>/<image files>")
    ref = path / "train"
    if split != "train" and ref.is_dir():
        train_classes = sorted(p.name for p in ref.iterdir() if p.is_dir())
        unknown = sorted(set(classes) - set(train_classes))
        if unknown:
            raise ValueError(f"{base} has classes not in train/: {unknown}")
        classes = train_classes
    files = [(f, k) for k, c in enumerate(classes) if (base / c).is_dir()
             for f in sorted((base / c).iterdir()) if f.suffix.lower() in _IMAGE_EXT]
    if not files:
        raise ValueError(f"{base} holds no image files ({', '.join(sorted(_IMAGE_EXT))})")

    def build():
        from PIL import Image

        imgs = []
        for f, _ in files:
            with Image.open(f) as im:
                imgs.append(np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im))
        shapes = {a.shape[:2] for a in imgs}
        if len(shapes) > 1:
            raise ValueError(f"images in {base} differ in size ({sorted(shapes)[:3]}...); resize them to one size")
        rgb = any(a.ndim == 3 for a in imgs)
        arr = np.stack([(np.stack([a] * 3, -1) if a.ndim == 2 else a) if rgb else a for a in imgs])
        images = arr.transpose(0, 3, 1, 2) if rgb else arr[:, None]
        return np.ascontiguousarray(images, dtype=np.uint8), np.array([k for _, k in files], dtype=np.int64)

    images, labels = _cached_arrays(f"folder-{path.name}-{split}", [f for f, _ in files], build)
    return Dataset(images, labels, classes, f"folder:{path}", split, {"source": str(base)})


def load_train_test(name: str, *, test_sample: int = 0, seed: int = 0, root: str | os.PathLike | None = None,
                    size: int = 28) -> tuple[Dataset, Dataset]:
    """The training split and the test split (or a fixed class-balanced sample of it).

    Parameters
    ----------
    name : str
        As for :func:`load_dataset`.
    test_sample : int
        Keep this many test images, class-balanced (:func:`balanced_sample`); 0 keeps all.
        The quick scale evaluates on such a sample; the choice is a config value.
    seed : int
        Which test images the sample holds.

    Returns
    -------
    train, test : Dataset
    """
    train = load_dataset(name, "train", root, size=size)
    test = load_dataset(name, "test", root, size=size)
    if test_sample:
        test = test.subset(balanced_sample(test.labels, int(test_sample), seed=seed))
    return train, test


# --------------------------------------------------------------------------- descriptions
def pixel_stats(ds: Dataset) -> pd.DataFrame:
    """Per-class pixel statistics of a split, one row per class plus an ``all`` row.

    Columns: ``dataset, split, class, label, count, mean, std, min, max, frac_zero``
    (pixels scaled to [0, 1]).
    """

    X = ds.images.reshape(ds.N, -1)
    rows = []
    groups = [(str(k), ds.classes[k], ds.labels == k) for k in range(ds.K)] + [("all", "all", slice(None))]
    for label, cname, sel in groups:
        Xi = X[sel]
        if Xi.size == 0:
            rows.append({"label": label, "class": cname, "count": 0})
            continue
        v = Xi.astype(np.float64) / 255.0
        rows.append({"label": label, "class": cname, "count": int(len(Xi)), "mean": float(v.mean()),
                     "std": float(v.std()), "min": float(v.min()), "max": float(v.max()),
                     "frac_zero": float((Xi == 0).mean())})
    df = pd.DataFrame(rows)
    df.insert(0, "split", ds.split)
    df.insert(0, "dataset", ds.name)
    return df


def sample_per_class(ds: Dataset, per_class: int, *, seed: int = 0) -> np.ndarray:
    """Indices ``(K, per_class)`` of random images of each class (-1 pads a small class)."""
    rng = np.random.default_rng(seed)
    out = np.full((ds.K, per_class), -1, dtype=np.int64)
    for k in range(ds.K):
        idx = np.flatnonzero(ds.labels == k)
        take = rng.choice(idx, size=min(per_class, len(idx)), replace=False)
        out[k, :len(take)] = np.sort(take)
    return out

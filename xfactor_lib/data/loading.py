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
  float pixels in [0, 1] (or ``pixel_scale=``);
- ``folder:<path>``: one sub-folder per class under ``train/`` and ``test/`` (``val/``
  optional), images of one size; 16-bit and float images are scaled by their bit depth
  (or ``pixel_scale=``) and recorded in ``meta["pixel_depth"]`` (:mod:`xfactor_lib.data.images`).

The splits of a data set must agree in channels and image size (checked at load).

A data set has one class list for all its splits (see :mod:`xfactor_lib.data.files`); a
split without images, or a training split missing a class, is an error.

Data roots are searched in this order: the ``root`` argument, ``$XFACTOR_DATA``, the
``shared/data`` folder beside the repository (``../shared/data``), then the user cache
(``$XFACTOR_CACHE``, default ``~/.cache/xfactor``), where a download is tried when the data
is nowhere else. Read-only roots are never written: gzip files are decoded into the cache,
and decoded arrays are cached there so the second load is fast.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import records
from .._validation import as_float, check_choice, check_indices, closest
from .files import (
    SPLITS,
    DataNotFoundError,
    as_labels,
    check_same_shape,
    find_file,
    find_idx,
    folder_files,
    folder_split_shape,
    npz_split_shapes,
    read_idx,
    read_npz,
)
from .images import read_image_files
from .sampling import balanced_sample, train_val_split
from .stats import pixel_stats, sample_per_class

__all__ = [
    "Dataset",
    "DataNotFoundError",
    "load_dataset",
    "load_train_test",
    "dataset_names",
    "balanced_sample",
    "train_val_split",
    "pixel_stats",
    "sample_per_class",
    "cache_dir",
    "data_roots",
]

MNIST_LIKE = {
    "mnist": ("MNIST", [str(i) for i in range(10)]),
    "fashion-mnist": (
        "FashionMNIST",
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    ),
}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MEDMNIST_SIZES = (28, 64, 128, 224)


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
        """The images at ``indices`` (same classes, name and split); a boolean mask of length N works too."""
        idx = check_indices(indices, f"subset indices of {self.name}/{self.split}", n=self.N, check_range=False)
        if idx.size and (idx.min() < 0 or idx.max() >= self.N):
            raise IndexError(
                f"subset indices must lie in 0..{self.N - 1} for {self.name}/{self.split}; "
                f"got range {idx.min()}..{idx.max()}"
            )
        return Dataset(
            np.asarray(self.images[idx]),
            self.labels[idx],
            list(self.classes),
            self.name,
            self.split,
            dict(self.meta, subset=True),
        )

    def X(self) -> np.ndarray:  # noqa: N802
        """Flattened float32 pixels in [0, 1], shape (N, D)."""
        return as_float(self.images, f"{self.name}/{self.split} images", dtype=np.float32)


# --------------------------------------------------------------------------- helpers
def cache_dir() -> Path:
    """The user cache folder (``$XFACTOR_CACHE``, default ``~/.cache/xfactor``)."""
    return Path(os.environ.get("XFACTOR_CACHE", Path.home() / ".cache" / "xfactor")).expanduser()


def _shared_data() -> list[Path]:
    here = Path(__file__).resolve().parents[2]
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
def load_dataset(
    name: str,
    split: str = "train",
    root: str | os.PathLike | None = None,
    *,
    size: int = 28,
    download: bool = True,
    pixel_scale: float | None = None,
) -> Dataset:
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
    pixel_scale : float, optional
        ``npz:`` data with float pixels: the value of white (default 1: floats in [0, 1];
        255 for float grey levels). ``folder:`` data: the value of white of 16-bit, 32-bit
        and float image files (default 65535 for 16-bit, 1 for float; e.g. 4095 for 12-bit
        data in 16-bit files). Never guessed from the values.

    Returns
    -------
    Dataset
        Its ``classes`` are the same for every split of the data set.

    Raises
    ------
    ValueError
        Unknown name or split, multi-label or 3D MedMNIST flags, invalid user arrays or
        files, an empty split, a training split with an empty class.
    DataNotFoundError
        The files are missing and could not be downloaded (the message lists the folders).
    """
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a string, got {type(name).__name__}")
    check_choice(split, "split", SPLITS)
    key = name.strip()
    low = key.lower()
    if low.startswith("npz:"):
        ds = _load_npz(Path(key[4:]).expanduser(), split, pixel_scale)
    elif low.startswith("folder:"):
        ds = _load_folder(Path(key[7:]).expanduser(), split, pixel_scale)
    elif low in MNIST_LIKE:
        ds = _load_mnist_like(low, split, root, download)
    elif low == "digits":
        ds = _load_digits(split)
    elif low in _medmnist_info():
        ds = _load_medmnist(low, split, root, size, download)
    else:
        raise ValueError(
            f"unknown dataset {name!r}{closest(low, dataset_names())}. Valid names: {', '.join(dataset_names())}, "
            "or 'npz:<path>' / 'folder:<path>' for your own data"
        )
    return _check_split(ds)


# --------------------------------------------------------------------------- MNIST-like
def _cached_arrays(tag: str, sources: list[Path], build) -> tuple:
    """Decode once into the cache; the key covers each source's path, size and mtime (ns).

    ``build()`` returns ``(images, labels)`` or ``(images, labels, meta)`` (a JSON-able
    dict, cached too); the same tuple is returned.
    """
    h = hashlib.sha1()
    for s in sources:
        st = s.stat()
        h.update(f"{s.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    target = cache_dir() / "decoded" / f"{tag}-{h.hexdigest()[:12]}.npz"
    if target.is_file():
        try:
            with np.load(target) as z:
                if "meta" in z.files:
                    return z["images"], z["labels"], json.loads(str(z["meta"]))
                return z["images"], z["labels"]
        except (OSError, ValueError, KeyError):
            target.unlink(missing_ok=True)  # a corrupt cache entry is rebuilt
    built = build()
    extra = {"meta": np.array(json.dumps(built[2]))} if len(built) > 2 else {}
    try:
        records.write_npz(target, images=built[0], labels=built[1], **extra)
    except OSError:
        pass  # an unwritable cache only costs speed
    return built


def _load_mnist_like(name: str, split: str, root, download: bool) -> Dataset:
    folder, classes = MNIST_LIKE[name]
    if split == "val":
        raise ValueError(
            f"{name} has no validation split; carve one from 'train' with "
            "xfactor_lib.data.train_val_split(labels, val_size, seed=...)"
        )
    img_stem, lab_stem = _IDX_FILES[split]
    roots = data_roots(root)
    img, lab = find_idx(folder, img_stem, roots), find_idx(folder, lab_stem, roots)
    if img is None or lab is None:
        if download:
            _download_torchvision(name, roots)
            img, lab = find_idx(folder, img_stem, roots), find_idx(folder, lab_stem, roots)
        if img is None or lab is None:
            searched = "\n  ".join(str(r / folder / "raw") for r in roots)
            raise DataNotFoundError(
                f"{name} {split} files ({img_stem}[.gz], {lab_stem}[.gz]) not found offline. "
                f"Searched:\n  {searched}\nFix: put the IDX files in <root>/{folder}/raw and pass "
                "root=<root> or set XFACTOR_DATA=<root>; or allow a download on a machine with internet."
            )

    def build():
        images = read_idx(img)
        labels = read_idx(lab).astype(np.int64)
        return images[:, None, :, :].copy(), labels

    images, labels = _cached_arrays(f"{name}-{split}", [img, lab], build)
    return Dataset(images, labels.astype(np.int64), list(classes), name, split, {"source": str(img.parent)})


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
    return Dataset(
        images[idx],
        labels[idx],
        [str(i) for i in range(10)],
        "digits",
        split,
        {"source": "sklearn.datasets.load_digits", "split_rule": "stratified 75/25, seed 0"},
    )


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
    found = find_file(fname, roots, ("", "medmnist", "MedMNIST"))
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
    labels = as_labels(labels, len(images), f"{found / fname}:{split} labels", len(classes))
    return Dataset(images.astype(np.uint8), labels, classes, flag, split, {"source": str(found / fname), "size": size})


# --------------------------------------------------------------------------- user data
def _load_npz(path: Path, split: str, pixel_scale: float | None) -> Dataset:
    images, labels, classes = read_npz(path, split, pixel_scale=pixel_scale)
    for other, chw in npz_split_shapes(path).items():
        check_same_shape(f"npz:{path}", (split, images.shape[1:]), (other, chw))
    return Dataset(images, labels, classes, f"npz:{path}", split, {"source": str(path)})


def _load_folder(path: Path, split: str, pixel_scale: float | None = None) -> Dataset:
    files, classes = folder_files(path, split)
    paths = [f for f, _ in files]

    def build():
        images, meta = read_image_files(paths, path / split, pixel_scale=pixel_scale)
        return images, np.array([k for _, k in files], dtype=np.int64), meta

    scale = "" if pixel_scale is None else f"-w{float(pixel_scale):g}"
    images, labels, meta = _cached_arrays(f"folder2-{path.name}-{split}{scale}", paths, build)
    for other in SPLITS:
        chw = folder_split_shape(path, other) if other != split and (path / other).is_dir() else None
        if chw is not None:
            check_same_shape(f"folder:{path}", (split, images.shape[1:]), (other, chw))
    return Dataset(images, labels, classes, f"folder:{path}", split, {"source": str(path / split), **meta})


def _check_split(ds: Dataset) -> Dataset:
    """An empty split, or a training split with an empty class, is an error."""
    if ds.N == 0:
        raise ValueError(f"{ds.name} has no images in its {ds.split!r} split")
    empty = np.flatnonzero(ds.class_counts() == 0)
    if ds.split == "train" and empty.size:
        names = [ds.classes[k] for k in empty]
        raise ValueError(
            f"{ds.name}: the train split has no images of class(es) {names} (of {ds.K} classes over all splits); "
            "every class needs training images: add some, or drop the class from every split"
        )
    return ds


def load_train_test(
    name: str,
    *,
    test_sample: int = 0,
    seed: int = 0,
    root: str | os.PathLike | None = None,
    size: int = 28,
    pixel_scale: float | None = None,
) -> tuple[Dataset, Dataset]:
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
    train = load_dataset(name, "train", root, size=size, pixel_scale=pixel_scale)
    test = load_dataset(name, "test", root, size=size, pixel_scale=pixel_scale)
    check_same_shape(name, ("train", train.shape), ("test", test.shape))
    if test_sample:
        test = test.subset(balanced_sample(test.labels, int(test_sample), seed=seed))
    return train, test

"""Data identity: a fingerprint of the files behind a dataset name (new layout: ``data/``).

A sweep cell's id hashes its parameters only; a ``dataset: npz:<path>`` parameter names a
file, not its content. :func:`dataset_fingerprint` turns a dataset name into a short hash of
the files :func:`xfactor_lib.data.load_dataset` would read, so a sweep can tell that the data
behind a done cell changed (:mod:`xfactor_lib.sweep_guard`).

What the fingerprint covers, and the trade-off
----------------------------------------------
- Every file: its path relative to the dataset (or its absolute path for a single file),
  its size and its modification time in nanoseconds. Any ordinary write, added, removed or
  renamed file changes it. Cost: one ``stat`` per file (20k images: well under a second).
- Content: the bytes of at most :data:`CONTENT_FILES` files (all of them when there are no
  more; else a fixed pseudo-random sample chosen by a hash of their relative path), each in
  full up to :data:`FULL_BYTES`, else :data:`CHUNKS` evenly spaced 1 MiB chunks. This
  catches a file replaced by a copy that keeps size and time (``cp -p``, ``rsync -t``) when
  the file is in the sample.

Missed, by design: a content change that keeps the size and the nanosecond mtime of a file
outside the content sample (or inside an unsampled byte range of a file over
:data:`FULL_BYTES`). Hashing every byte of 20k images on every sweep start was judged too slow
for that case; delete the cell folders to force a rerun.

Names: ``npz:<path>`` (the file), ``folder:<path>`` (every image file under its split
folders), ``mnist`` / ``fashion-mnist`` (the IDX files found in the data roots), MedMNIST
flags (the 28-pixel ``.npz``), ``digits`` (scikit-learn's version: the data ships with it).
Other strings are not datasets (no fingerprint).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from . import loading
from .files import IMAGE_EXT, SPLITS, find_file, find_idx

__all__ = ["CHUNKS", "CONTENT_FILES", "FULL_BYTES", "dataset_fingerprint", "files_fingerprint"]

#: Files whose content is hashed (a deterministic sample when a dataset has more).
CONTENT_FILES = 256
#: Files up to this size are hashed in full; larger ones by :data:`CHUNKS` chunks of 1 MiB.
FULL_BYTES = 64 << 20
CHUNKS = 16
_CHUNK = 1 << 20


def _content_digest(path: Path, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        if size <= FULL_BYTES:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                h.update(block)
        else:
            for i in range(CHUNKS):
                fh.seek((size - _CHUNK) * i // (CHUNKS - 1))
                h.update(fh.read(_CHUNK))
    return h.hexdigest()


def files_fingerprint(paths: list[Path], base: Path | None = None) -> str:
    """Hex SHA-256 (16 digits) of the files' listing (name, size, mtime_ns) and sampled content.

    Parameters
    ----------
    paths : list of Path
        The files (order does not matter).
    base : Path, optional
        Names are taken relative to it (so a moved dataset folder keeps its fingerprint
        only if nothing in it changed); default the absolute paths.

    Returns
    -------
    str
    """
    entries = []
    for p in paths:
        st = p.stat()
        rel = str(p.relative_to(base)) if base is not None else str(Path(p).resolve())
        entries.append((rel, st.st_size, st.st_mtime_ns, p))
    entries.sort()
    h = hashlib.sha256()
    for rel, size, mtime, _ in entries:
        h.update(f"{rel}\0{size}\0{mtime}\n".encode())
    sample = sorted(entries, key=lambda e: hashlib.sha1(e[0].encode()).hexdigest())[:CONTENT_FILES]
    for rel, size, _, p in sorted(sample):
        h.update(f"{rel}\0{_content_digest(p, size)}\n".encode())
    return h.hexdigest()[:16]


def _folder_files(path: Path) -> list[Path]:
    splits = [path / s for s in SPLITS if (path / s).is_dir()]  # the files the loader reads: <split>/<class>/<image>
    classes = [c for s in splits for c in s.iterdir() if c.is_dir()]
    return [f for c in classes for f in c.iterdir() if f.suffix.lower() in IMAGE_EXT and f.is_file()]


def dataset_fingerprint(name: Any, *, root: str | os.PathLike | None = None) -> str | None:
    """A fingerprint of the files behind a dataset name, or None when it names no dataset files.

    Parameters
    ----------
    name : any
        A dataset name as :func:`xfactor_lib.data.load_dataset` takes it; anything else
        (numbers, other strings) gives None.
    root : path, optional
        The data root searched first (as ``load_dataset``'s ``root``).

    Returns
    -------
    str or None
        ``"missing"`` for an ``npz:`` / ``folder:`` path that does not exist (the cell will
        fail, and reruns once the data is there).
    """
    if not isinstance(name, str):
        return None
    key = name.strip()
    low = key.lower()
    if low.startswith("npz:"):
        path = Path(key[4:]).expanduser()
        return files_fingerprint([path]) if path.is_file() else "missing"
    if low.startswith("folder:"):
        path = Path(key[7:]).expanduser()
        return files_fingerprint(_folder_files(path), path) if path.is_dir() else "missing"
    if low in loading.MNIST_LIKE:
        folder = loading.MNIST_LIKE[low][0]
        roots = loading.data_roots(root)
        found = [find_idx(folder, stem, roots) for pair in loading._IDX_FILES.values() for stem in pair]
        return files_fingerprint([f for f in found if f is not None]) if any(found) else None
    if low == "digits":
        import sklearn

        return f"sklearn-{sklearn.__version__}"
    if low.endswith("mnist") and low.isalnum():
        fname = loading._medmnist_file(low, 28)
        folder = find_file(fname, loading.data_roots(root), ("", "medmnist", "MedMNIST"))
        return files_fingerprint([folder / fname]) if folder is not None else None
    return None

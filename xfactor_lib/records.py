"""Atomic writes and the tidy records that sweeps collect.

Every file the suite writes goes through :func:`atomic_write`: the bytes land in a
temporary name beside the target (``.tmp-<pid>-<name>``, keeping the suffix) and are renamed into place, so
an interrupted process never leaves a half-written file under the real name. A sweep
removes stale temporaries (:func:`remove_partials`) before it reruns a cell.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

RECORDS = "records.parquet"
METRICS = "metrics.json"
TMP_PREFIX = ".tmp-"


def _tmp_name(path: Path) -> Path:
    return path.with_name(f"{TMP_PREFIX}{os.getpid()}-{path.name}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to ``path``.

    On an exception the temporary file is removed and nothing appears under ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # flush to disk before the rename makes it visible
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write(path: str | os.PathLike, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and rename the result to ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a DataFrame as parquet, atomically, without the pandas index."""
    return atomic_write(path, lambda p: df.to_parquet(p, index=False))


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write JSON (numpy scalars and arrays allowed), atomically."""

    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"cannot write {type(o).__name__} as JSON")

    text = json.dumps(obj, indent=2, sort_keys=True, default=default)
    return atomic_write(path, lambda p: p.write_text(text))


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write arrays as an uncompressed ``.npz``, atomically."""

    def w(p: Path) -> None:
        with open(p, "wb") as fh:
            np.savez(fh, **arrays)

    return atomic_write(path, w)


def write_records(df: pd.DataFrame, out_dir: str | os.PathLike) -> Path:
    """Write a cell's records; their presence marks the cell as done.

    Call this last in a template notebook, after every other artifact is written.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"records must be a pandas DataFrame, got {type(df).__name__}")
    return write_parquet(df, Path(out_dir) / RECORDS)


def remove_partials(directory: str | os.PathLike) -> list[Path]:
    """Delete temporaries left by an interrupted writer below ``directory``."""
    removed = []
    for p in Path(directory).rglob(f"{TMP_PREFIX}*"):
        if p.is_file():
            p.unlink()
            removed.append(p)
    return removed

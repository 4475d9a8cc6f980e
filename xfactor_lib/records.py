"""Atomic writes, the tidy records that sweeps collect, and how a cell proves it is done.

Every file the suite writes goes through :func:`atomic_write`: the bytes land in a
temporary name beside the target (``.tmp-<pid>-<name>``, keeping the suffix) and are
renamed into place, so an interrupted process never leaves a half-written file under the
real name. Only the writer removes its temporary; :func:`remove_partials` clears those
whose writing process is gone.

A cell's records are checked, not trusted: :func:`write_records` first writes the
records' row count and SHA-256 into the cell's ``metrics.json``, then renames the records
into place. :func:`check_records` reads them back and compares; a cell whose records do
not match is not done and runs again. :data:`RECORD_SCHEMAS` lists the columns each
stage's records must hold; the writer checks them. :func:`sweep_lock` makes one sweep at a
time the owner of a run directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from ._validation import check_frame

RECORDS = "records.parquet"
METRICS = "metrics.json"
TMP_PREFIX = ".tmp-"
LOCK = ".sweep.lock"
_TMP_NAME = re.compile(rf"{re.escape(TMP_PREFIX)}[0-9]+-.")

_SUBSET = ("subset_id", "study", "dataset", "kind", "indices", "scale")
#: Columns the records of each stage must hold (a stage not listed is not checked). Study X
#: carries ``n`` (images per class) and ``size`` (``n * K``); an EVA window length is ``window``.
RECORD_SCHEMAS: dict[str, tuple[str, ...]] = {
    "data": ("dataset", "split", "class", "label", "count", "scale"),
    "x_subsets": (*_SUBSET, "n", "size", "candidates"),
    "a_subsets": (*_SUBSET, "size", "class_counts", "cb_1"),
    "x_train": ("subset_id", "dataset", "n", "size", "model", "scale"),
    "a_train": ("subset_id", "dataset", "size", "model", "scale"),
    "e_surrogate": ("dataset", "seed", "arch", "rate", "window", "step", "best_early", "best_late", "scale"),
    "e_coreset": ("dataset", "method", "rate", "seed", "arch", "scale"),
    "q_measures": ("subset_id", "study", "dataset", "size", "kind", "group", "q_size", "z_mean", "bacc", "scale"),
}


def check_schema(df: pd.DataFrame, stage: str | None) -> pd.DataFrame:
    """``df`` if it holds every column :data:`RECORD_SCHEMAS` lists for ``stage``.

    Raises
    ------
    TypeError
        ``df`` is not a DataFrame.
    ValueError
        A required column is missing (the message names the stage and the columns).
    """
    return check_frame(df, RECORD_SCHEMAS.get(stage or "", ()), what=f"a record table of stage {stage!r}")


# --------------------------------------------------------------------------- atomic files
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


def save_table(frame: Any, out_dir: str | os.PathLike, name: str) -> Path | None:
    """Write a summary table ``frame`` as ``out_dir/name`` CSV (no index), atomically.

    Nothing is written (None is returned) when ``out_dir`` is empty: a summary notebook run
    by hand keeps its tables on screen.
    """
    if not out_dir:
        return None
    return atomic_write(Path(out_dir) / name, lambda p: frame.to_csv(p, index=False))


def atomic_write(path: str | os.PathLike, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and rename the result to ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a DataFrame as parquet, atomically, without the pandas index."""
    return atomic_write(path, lambda p: df.to_parquet(p, index=False))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} as JSON")


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write JSON (numpy scalars and arrays allowed), atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default)
    return atomic_write(path, lambda p: p.write_text(text))


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON object from ``path``; ``{}`` when the file is missing or not a JSON object."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def update_json(path: str | os.PathLike, **entries: Any) -> dict[str, Any]:
    """Add ``entries`` to the JSON object in ``path`` (created if missing), atomically."""
    obj = read_json(path) | entries
    write_json(obj, path)
    return obj


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write arrays as an uncompressed ``.npz``, atomically."""

    def w(p: Path) -> None:
        with open(p, "wb") as fh:
            np.savez(fh, **arrays)

    return atomic_write(path, w)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- cell records
def write_records(df: pd.DataFrame, out_dir: str | os.PathLike, *, stage: str | None = None) -> Path:
    """Write a cell's records: their row count and checksum into ``metrics.json`` first.

    Call this last in a template notebook, after every other artifact is written. The
    records are written to a temporary file, their row count and SHA-256 go into
    ``metrics.json``, then the records are renamed into place; so records never exist
    without the metrics that vouch for them.

    Parameters
    ----------
    df : DataFrame
        The cell's tidy records.
    out_dir : path
        The cell's folder.
    stage : str, optional
        Check ``df`` against :data:`RECORD_SCHEMAS` for this stage; default the stage that
        the sweep wrote into ``metrics.json`` (no check outside a sweep).

    Returns
    -------
    Path
        ``out_dir / records.parquet``.
    """
    out_dir = Path(out_dir)
    stage = stage or read_json(out_dir / METRICS).get("stage")
    check_schema(df, stage)
    path = out_dir / RECORDS
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
        update_json(out_dir / METRICS, records={"file": RECORDS, "rows": int(len(df)), "sha256": file_sha256(tmp)})
    return path


def check_records(out_dir: str | os.PathLike) -> str | None:
    """Why a cell's records cannot be trusted, or ``None`` when they read back and match.

    They match when ``records.parquet`` has the SHA-256 and the row count that
    ``metrics.json`` recorded for it, and the cell did not fail after writing them.
    """
    out_dir = Path(out_dir)
    path = out_dir / RECORDS
    if not path.is_file():
        return "no records"
    metrics = read_json(out_dir / METRICS)
    expected = metrics.get("records")
    if not isinstance(expected, dict) or "sha256" not in expected:
        return f"{METRICS} holds no checksum of the records (missing, or written by an older version)"
    if metrics.get("status") == "failed":
        return f"the cell failed after writing its records: {metrics.get('error')}"
    if file_sha256(path) != expected["sha256"]:
        return f"{RECORDS} does not match the checksum in {METRICS} (truncated or changed)"
    import pyarrow.parquet as pq

    try:
        rows = pq.read_metadata(path).num_rows
    except Exception as exc:  # noqa: BLE001 - any unreadable file is just "not done"
        return f"{RECORDS} cannot be read: {exc}"
    if rows != expected.get("rows"):
        return f"{RECORDS} has {rows} rows, {METRICS} recorded {expected.get('rows')}"
    return None


# --------------------------------------------------------------------------- temporaries
def _writer_alive(tmp: Path) -> bool:
    """Whether the process named in a temporary's name (``.tmp-<pid>-...``) still runs here."""
    pid = tmp.name[len(TMP_PREFIX) :].split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_partials(directory: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Delete temporaries below ``directory`` (or only in it) whose writing process is gone.

    A temporary is a file named as :func:`atomic_path` names them, ``.tmp-<pid>-<name>``;
    other files (a user's ``.tmp-notes.txt``) are never touched. A temporary of a process
    that still runs is its writer's to remove, and is kept.
    """
    removed = []
    found = Path(directory).rglob(f"{TMP_PREFIX}*") if recursive else Path(directory).glob(f"{TMP_PREFIX}*")
    for p in found:
        if p.is_file() and not p.is_symlink() and _TMP_NAME.match(p.name) and not _writer_alive(p):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


class SweepLockedError(RuntimeError):
    """Another live sweep holds the run directory."""


# --------------------------------------------------------------------------- run directory lock
@contextlib.contextmanager
def sweep_lock(run_dir: str | os.PathLike, *, wait: bool = False, poll: float = 0.5) -> Iterator[Path]:
    """Hold ``run_dir/.sweep.lock`` for the block; one sweep per run directory.

    The lock is an OS file lock, so it dies with its holder: a lock file left by a dead
    process is taken over. The holder's pid, host and start time are written in it for
    the message a second sweep gets.

    Raises
    ------
    SweepLockedError
        Another process holds the lock and ``wait`` is False.
    """
    path = Path(run_dir) / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    holder = path.read_text().strip() or "another process"
                    raise SweepLockedError(
                        f"run directory {run_dir} is in use by a sweep ({holder}); wait for it to end, "
                        "or pass --wait (wait=True) to start when it does"
                    ) from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.ctime()}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

"""Reading a run back: which cells are done (:func:`is_done`), the status of every cell, the
records of a stage (:func:`collect`) and the line that opens a summary (:func:`read_note`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .. import records
from .config import load_config

__all__ = ["is_done", "sweep_status", "current_cells", "cell_dirs", "collect", "read_note"]


def is_done(cell_dir: str | os.PathLike) -> bool:
    """A cell is done when its records read back and match its ``metrics.json``."""
    return records.check_records(cell_dir) is None


def sweep_status(run_dir: str | os.PathLike, config: str | os.PathLike | None = None) -> pd.DataFrame:
    """Every cell of a sweep: ``cell_id, stage, status, seconds, error``.

    ``status`` is done (records verified), failed, pending (not run, running, interrupted
    or with records that do not match their metrics), or stale (a folder of a cell that
    the current config no longer has). The cells are those ``sweep.json`` lists (the
    config last run), or those of ``config``, plus any folder found on disk.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    meta = records.read_json(run_dir / "sweep.json")
    if config is not None:
        expected = [c.id for c in load_config(config, scale=meta.get("scale", "quick")).cells()]
    else:
        expected = list(meta.get("cells") or [])
    ids = {cid: cid.split("--")[0] for cid in expected}
    stale = set()
    for d in sorted(run_dir.iterdir()):
        if d.is_dir() and "--" in d.name and d.name not in ids:
            ids[d.name] = d.name.split("--")[0]
            stale.add(d.name)
    rows = []
    for cid, stage in ids.items():
        d = run_dir / cid
        m = records.read_json(d / records.METRICS)
        if cid in stale and expected:
            status = "stale"  # left by an earlier config of this run directory; ignored by collect
        else:
            status = "done" if is_done(d) else ("failed" if m.get("status") == "failed" else "pending")
        rows.append(
            {
                "cell_id": cid,
                "stage": stage,
                "status": status,
                "seconds": m.get("seconds"),
                "error": m.get("error") if status == "failed" else None,
            }
        )
    return pd.DataFrame(rows, columns=["cell_id", "stage", "status", "seconds", "error"])


def current_cells(run_dir: str | os.PathLike) -> set[str] | None:
    """Ids of the cells of the config last run into ``run_dir`` (None if unknown)."""
    cells = records.read_json(Path(run_dir) / "sweep.json").get("cells")
    return set(cells) if cells is not None else None


def cell_dirs(
    run_dir: str | os.PathLike, stage: str, *, done_only: bool = True, current_only: bool = True
) -> list[Path]:
    """Folders of a stage's cells (done ones only by default), sorted by id.

    With ``current_only``, cells left by an earlier config of the same run directory
    (other parameters, so other ids) are ignored when ``sweep.json`` lists the current ones.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist; run the sweep first")
    keep = current_cells(run_dir) if current_only else None
    return sorted(
        d
        for d in run_dir.glob(f"{stage}--*")
        if d.is_dir() and (not done_only or is_done(d)) and (keep is None or d.name in keep)
    )


def collect(run_dir: str | os.PathLike, stage: str, **where: Any) -> pd.DataFrame:
    """The records of every done cell of ``stage``, concatenated (one tidy table).

    ``where`` keeps the rows whose columns equal the given values, e.g.
    ``collect(run_dir, "x_subsets", dataset="mnist", n=30)``.
    """
    frames = [pd.read_parquet(d / records.RECORDS) for d in cell_dirs(run_dir, stage)]
    if not frames:
        raise FileNotFoundError(f"no finished cells of stage {stage!r} in {run_dir}")
    df = pd.concat(frames, ignore_index=True)
    for col, value in where.items():
        if col not in df.columns:
            raise KeyError(f"stage {stage!r} records have no column {col!r}; columns: {list(df.columns)}")
        df = df[df[col] == value]
    if df.empty and where:
        raise FileNotFoundError(f"no records of stage {stage!r} in {run_dir} with {where}")
    return df.reset_index(drop=True)


def read_note(run_dir: str | os.PathLike, stages: str | Iterable[str]) -> str:
    """One markdown line for the top of a summary: what it read and what is missing.

    Parameters
    ----------
    run_dir : path
        The sweep's run directory.
    stages : str or iterable of str
        The stages whose records the summary reads.

    Returns
    -------
    str
        ``"Read 5 of 6 cells (stage x_subsets). Failed: `id` (ValueError: ...)."``: the
        number of done (verified) cells of those stages in the config last run into
        ``run_dir``, then every failed cell (with the first line of its error) and every
        pending (missing) one.
    """
    stages = [stages] if isinstance(stages, str) else list(stages)
    status = sweep_status(run_dir)
    status = status[status["stage"].isin(stages) & (status["status"] != "stale")]
    done = int((status["status"] == "done").sum())
    label = "stage" if len(stages) == 1 else "stages"
    parts = [f"Read {done} of {len(status)} cells ({label} {', '.join(stages)})."]
    failed = status[status["status"] == "failed"]
    if len(failed):
        items = [
            f"`{r.cell_id}` ({str(r.error or 'no error recorded').splitlines()[0][:200]})" for r in failed.itertuples()
        ]
        parts.append(f"Failed: {'; '.join(items)}.")
    pending = status[~status["status"].isin(["done", "failed"])]
    if len(pending):
        parts.append(f"Pending: {', '.join(f'`{c}`' for c in pending['cell_id'])}.")
    if not len(failed) and not len(pending):
        parts.append("None failed or missing.")
    return " ".join(parts)

"""Resumable papermill sweeps.

A config (YAML) lists stages; each stage names a template notebook, shared ``params`` and
a ``grid``; ``overrides: [{match: {model: resnet18}, params: {...}}]`` change params for
matching grid points, ``exclude: [{model: resnet18, size: 100}]`` drops grid points;
``scales: {smoke|quick|paper: {params, grid, overrides, exclude}}`` override all of these
by key.
``include: [other.yaml]`` adds the stages and summaries of other configs. Every cell of a
stage's grid runs as papermill into ``<runs_root>/<sweep>/<cell-id>/`` (``notebook.ipynb``,
``records.parquet``, ``metrics.json``). A cell is done when its records exist; the
template writes them last and atomically, so an interrupted sweep reruns only what is
missing. After the stages, summary notebooks run over the collected records and are
rendered to HTML in ``<runs_root>/<sweep>/summaries/``.

Cells of one stage run in parallel (``workers`` local processes, or a dask distributed
cluster given by ``scheduler``); stages run in order, so a stage may read earlier ones
with :func:`collect`.
"""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from . import records

SCALES = ("smoke", "quick", "paper")
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
NOTEBOOK = "notebook.ipynb"
SUMMARIES = "summaries"
REPO_ROOT = Path(__file__).resolve().parent.parent


class SweepConfigError(ValueError):
    """A sweep config is malformed (the message says where)."""


@dataclass
class Stage:
    """One template notebook and the grid of parameters it runs over."""

    name: str
    template: Path
    params: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    exclude: list[dict[str, Any]] = field(default_factory=list)

    def cells(self, scale: str) -> list["Cell"]:
        keys = list(self.grid)
        out = []
        for combo in itertools.product(*(self.grid[k] for k in keys)):
            point = dict(zip(keys, combo))
            if any(_matches(point, ex) for ex in self.exclude):
                continue
            p = dict(self.params)
            for ov in self.overrides:
                if _matches(point, ov.get("match") or {}):
                    p.update(ov.get("params") or {})
            p.update(point)
            p["scale"] = scale
            out.append(Cell(self.name, self.template, p, cell_id(self.name, p, keys)))
        return out


def _matches(point: dict[str, Any], match: dict[str, Any]) -> bool:
    """A grid point matches when every key of ``match`` has that value (or one of a list)."""
    for k, v in match.items():
        allowed = v if isinstance(v, list) else [v]
        if point.get(k) not in allowed:
            return False
    return True


@dataclass
class Cell:
    stage: str
    template: Path
    params: dict[str, Any]
    id: str


@dataclass
class SweepConfig:
    name: str
    scale: str
    stages: list[Stage]
    summaries: list[Path]
    path: Path

    def cells(self) -> list[Cell]:
        return [c for s in self.stages for c in s.cells(self.scale)]


def cell_id(stage: str, params: dict[str, Any], readable: Iterable[str] = ()) -> str:
    """``<stage>--<readable values>-<hash8>``; the hash covers every parameter."""
    blob = json.dumps(params, sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:8]
    slug = "-".join(re.sub(r"[^A-Za-z0-9_.+]+", "_", str(params[k])) for k in readable)[:60]
    return f"{stage}--{slug}-{digest}" if slug else f"{stage}--{digest}"


# --------------------------------------------------------------------------- configs
def _resolve_path(p: str, config_dir: Path) -> Path:
    path = Path(p).expanduser()
    if path.is_absolute():
        return path
    for base in (config_dir, config_dir.parent, Path.cwd(), REPO_ROOT):
        if (base / path).exists():
            return (base / path).resolve()
    raise SweepConfigError(f"{p!r} (named in {config_dir}) was found neither beside the config nor in the project")


def _merge_scale(block: dict[str, Any], scale: str, where: str) -> tuple[dict, dict, list, list]:
    params = dict(block.get("params") or {})
    grid = dict(block.get("grid") or {})
    overrides = list(block.get("overrides") or [])
    exclude = list(block.get("exclude") or [])
    scales = block.get("scales") or {}
    unknown = set(scales) - set(SCALES)
    if unknown:
        raise SweepConfigError(f"{where}: unknown scale(s) {sorted(unknown)}; use {', '.join(SCALES)}")
    over = scales.get(scale) or {}
    params.update(over.get("params") or {})
    grid.update(over.get("grid") or {})
    if "overrides" in over:
        overrides = list(over["overrides"] or [])
    if "exclude" in over:
        exclude = list(over["exclude"] or [])
    for ov in overrides:
        if not isinstance(ov, dict) or not isinstance(ov.get("match"), dict):
            raise SweepConfigError(f"{where}: each override needs a 'match' mapping and 'params', got {ov!r}")
    for ex in exclude:
        if not isinstance(ex, dict):
            raise SweepConfigError(f"{where}: each exclude entry must be a mapping of grid values, got {ex!r}")
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise SweepConfigError(f"{where}: grid entry {k!r} must be a non-empty list, got {v!r}")
    base_clash = set(block.get("params") or {}) & set(block.get("grid") or {})
    if base_clash:
        raise SweepConfigError(f"{where}: {sorted(base_clash)} given both as params and as grid")
    for key in set(params) & set(grid):  # a scale may turn a param into a grid axis, or back
        if key in (over.get("grid") or {}):
            params.pop(key)
        else:
            grid.pop(key)
    return params, grid, overrides, exclude


def load_config(path: str | os.PathLike, *, scale: str = "quick", _seen: tuple = ()) -> SweepConfig:
    """Read a sweep config at one scale (``smoke``, ``quick`` or ``paper``)."""
    import yaml

    if scale not in SCALES:
        raise SweepConfigError(f"unknown scale {scale!r}; use one of {', '.join(SCALES)}")
    path = Path(path)
    if not path.is_file():
        raise SweepConfigError(f"sweep config {path} does not exist")
    path = path.resolve()
    if path in _seen:
        raise SweepConfigError(f"{path} includes itself (through {' -> '.join(map(str, _seen))})")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise SweepConfigError(f"{path}: expected a mapping at the top level")
    stages: list[Stage] = []
    summaries: list[Path] = []
    for inc in raw.get("include") or []:
        sub = load_config(_resolve_path(inc, path.parent), scale=scale, _seen=_seen + (path,))
        stages += sub.stages
        summaries += [s for s in sub.summaries if s not in summaries]
    for i, st in enumerate(raw.get("stages") or []):
        where = f"{path.name}: stage {i}"
        if not isinstance(st, dict) or "name" not in st or "template" not in st:
            raise SweepConfigError(f"{where} needs 'name' and 'template'")
        params, grid, overrides, exclude = _merge_scale(st, scale, f"{where} ({st['name']})")
        stages.append(Stage(str(st["name"]), _resolve_path(st["template"], path.parent), params, grid,
                            overrides, exclude))
    for s in raw.get("summaries") or []:
        p = _resolve_path(s, path.parent)
        if p not in summaries:
            summaries.append(p)
    names = [s.name for s in stages]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SweepConfigError(f"{path.name}: stage names must be unique; repeated: {dup}")
    return SweepConfig(str(raw.get("name") or path.stem), scale, stages, summaries, path)


# --------------------------------------------------------------------------- one cell
def _worker_init(threads: int) -> None:
    """Set up a local worker: share the cores, and die with the sweep process.

    Each worker's kernels get ``threads`` BLAS/torch threads (cores / workers), so
    parallel cells do not oversubscribe the machine. On Linux the kernel kills the worker
    when the sweep process dies (a SIGKILL cannot be caught), and its notebook kernels
    notice their parent is gone and exit.
    """
    for var in _THREAD_VARS:
        os.environ[var] = str(threads)
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def is_done(cell_dir: str | os.PathLike) -> bool:
    """A cell is done when its records exist."""
    return (Path(cell_dir) / records.RECORDS).is_file()


def run_cell(cell: Cell, run_dir: str | os.PathLike, *, quiet: bool = True,
             threads: int | None = None) -> dict[str, Any]:
    """Execute one cell with papermill unless it is done; returns its metrics.

    A stale folder from an interrupted or failed try is cleared first. A failure keeps
    the executed notebook and writes the error to ``metrics.json``; it does not raise.
    ``threads`` sets the BLAS / torch threads of the cell's kernel.
    """
    import papermill as pm

    if threads is not None:
        for var in _THREAD_VARS:
            os.environ[var] = str(threads)

    out = Path(run_dir) / cell.id
    if is_done(out):
        return {"cell_id": cell.id, "stage": cell.stage, "status": "done", "skipped": True}
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    params = dict(cell.params, run_dir=str(Path(run_dir).resolve()), out_dir=str(out.resolve()), quiet=quiet)
    metrics: dict[str, Any] = {"cell_id": cell.id, "stage": cell.stage, "template": str(cell.template),
                               "params": cell.params, "started": time.time(),
                               "threads": threads or os.cpu_count()}
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(cell.template), str(out / NOTEBOOK), parameters=params, kernel_name="python3",
                            progress_bar=False, log_output=False, cwd=str(out))
        if not is_done(out):
            raise RuntimeError(f"template {cell.template.name} finished without writing {records.RECORDS}")
        metrics["status"] = "done"
    except Exception as exc:  # noqa: BLE001 - a failed cell is reported, not fatal
        metrics["status"] = "failed"
        # papermill's message holds the whole cell traceback; keep the exception line
        ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
        metrics["error"] = f"{ename}: {evalue}"[:2000]
        metrics["traceback"] = traceback.format_exc()[-4000:]
    metrics["seconds"] = time.perf_counter() - t0
    records.write_json(metrics, out / records.METRICS)
    return {k: metrics[k] for k in ("cell_id", "stage", "status", "seconds") if k in metrics} | {
        "error": metrics.get("error"), "skipped": False}


def _run_cell_args(args: tuple) -> dict[str, Any]:
    cell, run_dir, quiet, threads = args
    return run_cell(cell, run_dir, quiet=quiet, threads=threads)


# --------------------------------------------------------------------------- sweeps
def run_sweep(config: str | os.PathLike | SweepConfig, *, scale: str = "quick",
              runs_root: str | os.PathLike = "runs", name: str | None = None, workers: int = 1,
              scheduler: str | Any | None = None, quiet: bool = False, summaries: bool = True,
              stages: Iterable[str] | None = None) -> pd.DataFrame:
    """Run every cell not yet done, stage by stage, then render the summaries.

    Parameters
    ----------
    config : path or SweepConfig
    scale : {"smoke", "quick", "paper"}
    runs_root : path
        Parent of the sweep folder ``<runs_root>/<name>``.
    name : str, optional
        Sweep folder name; default the config's ``name``.
    workers : int
        Local processes running cells of a stage in parallel.
    scheduler : str or dask.distributed.Client, optional
        Send cells to this dask cluster instead of local processes.
    quiet : bool
        No progress bars (also passed to the templates).
    summaries : bool
        Render the summary notebooks at the end.
    stages : iterable of str, optional
        Only these stages.

    Returns
    -------
    DataFrame
        One row per cell of this run: ``cell_id, stage, status, seconds, skipped, error``.
    """
    cfg = config if isinstance(config, SweepConfig) else load_config(config, scale=scale)
    run_dir = Path(runs_root) / (name or cfg.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    records.remove_partials(run_dir)
    records.write_json({"config": str(cfg.path), "scale": cfg.scale, "name": name or cfg.name,
                        "stages": [s.name for s in cfg.stages], "cells": [c.id for c in cfg.cells()],
                        "summaries": [str(p) for p in cfg.summaries]}, run_dir / "sweep.json")
    wanted = set(stages) if stages is not None else None
    rows: list[dict[str, Any]] = []
    from tqdm.auto import tqdm

    all_cells = [c for s in cfg.stages if wanted is None or s.name in wanted for c in s.cells(cfg.scale)]
    bar = tqdm(total=len(all_cells), desc=f"sweep {cfg.name}", unit="cell", disable=quiet)
    client = _dask_client(scheduler) if scheduler is not None else None
    try:
        for stage in cfg.stages:
            if wanted is not None and stage.name not in wanted:
                continue
            cells = stage.cells(cfg.scale)
            todo = [c for c in cells if not is_done(run_dir / c.id)]
            for c in cells:
                if c not in todo:
                    rows.append({"cell_id": c.id, "stage": c.stage, "status": "done", "skipped": True})
                    bar.update(1)
            bar.set_postfix_str(stage.name)
            for res in _execute(todo, run_dir, workers=workers, client=client, quiet=quiet):
                rows.append(res)
                bar.update(1)
    finally:
        bar.close()
        if client is not None and isinstance(scheduler, str):
            client.close()
    report = pd.DataFrame(rows, columns=["cell_id", "stage", "status", "seconds", "skipped", "error"])
    if summaries and cfg.summaries:
        render_summaries(cfg, run_dir, quiet=quiet)
    return report


def _dask_client(scheduler: str | Any):
    from dask.distributed import Client

    return scheduler if isinstance(scheduler, Client) else Client(scheduler)


def _execute(cells: list[Cell], run_dir: Path, *, workers: int, client, quiet: bool):
    if not cells:
        return
    if client is not None:
        from dask.distributed import as_completed

        futures = [client.submit(run_cell, c, str(run_dir), quiet=quiet, pure=False, key=f"{c.id}-{time.time_ns()}")
                   for c in cells]
        for fut in as_completed(futures):
            yield fut.result()
        return
    if workers <= 1:
        for c in cells:
            yield run_cell(c, run_dir, quiet=quiet)
        return
    # Each worker gets an equal share of the cores, fixed by --workers alone: torch's CPU
    # results depend on its thread count, so a resumed sweep must use the same one.
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init, initargs=(threads,)) as pool:
        pending = {pool.submit(_run_cell_args, (c, run_dir, quiet, threads)) for c in cells}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()


def render_summaries(cfg: SweepConfig, run_dir: str | os.PathLike, *, quiet: bool = True) -> list[Path]:
    """Execute the summary notebooks over ``run_dir`` and render them to HTML.

    Returns the HTML files written. A summary that fails is reported on stderr and
    listed in ``summaries/failed.json`` (removed once all succeed).
    """
    import papermill as pm

    out = Path(run_dir) / SUMMARIES
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    failed: dict[str, str] = {}
    for nb in cfg.summaries:
        executed = out / nb.name
        html = executed.with_suffix(".html")
        try:
            with records.atomic_path(executed) as tmp:
                pm.execute_notebook(str(nb), str(tmp), parameters={"run_dir": str(Path(run_dir).resolve()),
                                                                    "out_dir": str(out.resolve()), "quiet": quiet},
                                    kernel_name="python3", progress_bar=False, cwd=str(out))
            records.atomic_write(html, lambda p: p.write_text(notebook_to_html(executed)))
            written.append(html)
        except Exception as exc:  # noqa: BLE001 - one broken summary must not hide the others
            ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
            failed[nb.name] = f"{ename}: {evalue}"
            print(f"summary {nb.name} failed: {ename}: {evalue}", file=sys.stderr)
    if failed:
        records.write_json(failed, out / "failed.json")
    elif (out / "failed.json").exists():
        (out / "failed.json").unlink()
    return written


def notebook_to_html(path: str | os.PathLike) -> str:
    """An executed notebook as a standalone HTML page (inputs shown, outputs embedded)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(path), as_version=4)
    body, _ = HTMLExporter().from_notebook_node(nb)
    return body


# --------------------------------------------------------------------------- reading back
def sweep_status(run_dir: str | os.PathLike, config: str | os.PathLike | None = None) -> pd.DataFrame:
    """Every cell of a sweep: ``cell_id, stage, status, seconds, error``.

    ``status`` is done, failed, pending, or stale (a folder of a cell that the current
    config no longer has).

    Without ``config``, the sweep's own ``sweep.json`` names it; cells are then listed
    from the config (so pending ones show) plus any folder found on disk.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    expected: list[Cell] = []
    meta_path = run_dir / "sweep.json"
    if config is None and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        try:
            cfg = load_config(meta["config"], scale=meta["scale"])
            expected = [c for c in cfg.cells() if c.stage in set(meta.get("stages", [c.stage]))]
        except (SweepConfigError, KeyError):
            expected = []
    elif config is not None:
        expected = load_config(config, scale=json.loads(meta_path.read_text())["scale"]
                               if meta_path.is_file() else "quick").cells()
    ids = {c.id: c.stage for c in expected}
    stale = set()
    for d in sorted(run_dir.iterdir()):
        if d.is_dir() and "--" in d.name and d.name not in ids:
            ids[d.name] = d.name.split("--")[0]
            stale.add(d.name)
    rows = []
    for cid, stage in ids.items():
        d = run_dir / cid
        m = {}
        if (d / records.METRICS).is_file():
            m = json.loads((d / records.METRICS).read_text())
        if cid in stale and expected:
            status = "stale"  # left by an earlier config of this run directory; ignored by collect
        else:
            status = "done" if is_done(d) else ("failed" if m.get("status") == "failed" else "pending")
        rows.append({"cell_id": cid, "stage": stage, "status": status, "seconds": m.get("seconds"),
                     "error": m.get("error") if status == "failed" else None})
    return pd.DataFrame(rows, columns=["cell_id", "stage", "status", "seconds", "error"])


def current_cells(run_dir: str | os.PathLike) -> set[str] | None:
    """Ids of the cells of the config last run into ``run_dir`` (None if unknown)."""
    meta = Path(run_dir) / "sweep.json"
    if not meta.is_file():
        return None
    cells = json.loads(meta.read_text()).get("cells")
    return set(cells) if cells is not None else None


def cell_dirs(run_dir: str | os.PathLike, stage: str, *, done_only: bool = True,
              current_only: bool = True) -> list[Path]:
    """Folders of a stage's cells (done ones only by default), sorted by id.

    With ``current_only``, cells left by an earlier config of the same run directory
    (other parameters, so other ids) are ignored when ``sweep.json`` lists the current ones.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist; run the sweep first")
    keep = current_cells(run_dir) if current_only else None
    return sorted(d for d in run_dir.glob(f"{stage}--*")
                  if d.is_dir() and (not done_only or is_done(d)) and (keep is None or d.name in keep))


def collect(run_dir: str | os.PathLike, stage: str, **where: Any) -> pd.DataFrame:
    """The records of every done cell of ``stage``, concatenated (one tidy table).

    ``where`` keeps the rows whose columns equal the given values, e.g.
    ``collect(run_dir, "x_subsets", dataset="mnist", size=30)``.
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

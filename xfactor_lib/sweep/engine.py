"""Resumable papermill sweeps.

A config (YAML, see :mod:`.config`) lists stages, each a template
notebook over a grid of parameters; every name in it is checked against the template
before anything runs. Every cell of a stage's grid runs as papermill into
``<runs_root>/<sweep>/<cell-id>/`` (``notebook.ipynb``, ``records.parquet``,
``metrics.json``). A cell is done when its records read back and match the row count and
checksum its ``metrics.json`` recorded (:func:`records.check_records`); anything else runs
again, so an interrupted sweep reruns only what is missing or broken. After the stages,
summary notebooks run over the collected records and are rendered to HTML in
``<runs_root>/<sweep>/summaries/``.

One sweep at a time owns a run directory: it holds ``.sweep.lock`` (an OS file lock, with
the holder's pid and host written in it) while it runs; a second sweep on the same folder
refuses, or waits with ``wait=True``. The OS releases the lock when its holder dies.

Cells of one stage run in parallel (``workers`` local processes, or a dask distributed
cluster given by ``scheduler``); stages run in order, so a stage may read earlier ones
with :func:`.results.collect`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .. import records
from ..records import sweep_lock
from . import guard as sweep_guard
from .config import Cell, SweepConfig, check_stages, load_config
from .results import is_done

__all__ = ["NOTEBOOK", "SUMMARIES", "execute_notebook", "run_cell", "run_sweep", "render_summaries", "notebook_to_html"]

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
NOTEBOOK = "notebook.ipynb"
SUMMARIES = "summaries"
REPORT_COLUMNS = ["cell_id", "stage", "status", "seconds", "skipped", "error", "redo"]
# The kernel's own log is transport chatter ("Kernel is running over TCP without
# encryption", and "KeyboardInterrupt caught in kernel" when jupyter_client interrupts it on
# shutdown); a cell's real errors reach the sweep through the executed notebook instead.
_KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]


def execute_notebook(template: Path, output: Path, params: dict[str, Any], cwd: Path, **options: Any) -> None:
    """Run ``template`` with papermill into ``output`` (kernel logs quiet), parameters ``params``, in ``cwd``."""
    import papermill as pm

    pm.execute_notebook(
        str(template),
        str(output),
        parameters=params,
        kernel_name="python3",
        progress_bar=False,
        cwd=str(cwd),
        extra_arguments=_KERNEL_ARGS,
        **options,
    )


def _error_line(exc: BaseException) -> str:
    """``"ValueError: message"`` of a failed notebook (papermill's message holds the whole traceback)."""
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    return f"{ename}: {evalue}"


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
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sweep's to handle (it stops the workers)


@contextlib.contextmanager
def _stop_workers_on_interrupt(pool: ProcessPoolExecutor):
    """On Ctrl-C, end the pool's workers at once (their cells rerun next time) and re-raise."""
    try:
        yield
    except KeyboardInterrupt:
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise


def _redo_reason(out: Path) -> str | None:
    """Why a cell folder that exists is run again (None for a fresh cell)."""
    if not out.exists():
        return None
    metrics = records.read_json(out / records.METRICS)
    if metrics.get("status") == "failed":
        return f"failed before: {str(metrics.get('error')).splitlines()[0]}"
    if (out / records.RECORDS).is_file():
        return records.check_records(out)
    return "interrupted before writing its records"


def run_cell(
    cell: Cell,
    run_dir: str | os.PathLike,
    *,
    quiet: bool = True,
    threads: int | None = None,
    inputs: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Execute one cell with papermill unless it is done; returns its report row.

    A folder from an interrupted, failed or unverifiable try is cleared first (the
    reason is the row's ``redo``). ``metrics.json`` is written before the notebook runs
    and completed after; a failure keeps the executed notebook and writes the error there;
    it does not raise. ``threads`` sets the BLAS / torch threads of the cell's kernel.
    ``inputs`` are the fingerprints of the data files the cell reads
    (:func:`sweep_guard.cell_inputs`), recorded in ``metrics.json``: a done cell whose
    recorded fingerprints differ runs again (``redo``: "input data changed"). A cell folder
    that cannot be cleared or written is a failed cell, not an error of the sweep.
    """
    if threads is not None:
        for var in _THREAD_VARS:
            os.environ[var] = str(threads)
    out = Path(run_dir) / cell.id
    changed = sweep_guard.inputs_changed(out, inputs)
    if not changed and is_done(out):
        return {"cell_id": cell.id, "stage": cell.stage, "status": "done", "skipped": True}
    redo = "input data changed" if changed else _redo_reason(out)
    params = dict(cell.params, run_dir=str(Path(run_dir).resolve()), out_dir=str(out.resolve()), quiet=quiet)
    metrics: dict[str, Any] = {
        "cell_id": cell.id,
        "stage": cell.stage,
        "template": str(cell.template),
        "params": cell.params,
        "started": time.time(),
        "status": "running",
        "threads": threads or os.cpu_count(),
        "host": socket.gethostname(),
    }
    if inputs:
        metrics[sweep_guard.INPUTS] = inputs
    try:
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        records.write_json(metrics, out / records.METRICS)
    except OSError as exc:  # this cell's folder cannot be cleared or written: this cell fails
        error = f"cannot prepare the cell folder {out}: {type(exc).__name__}: {exc}"
        row = {"cell_id": cell.id, "stage": cell.stage, "status": "failed", "seconds": 0.0, "error": error}
        return row | {"skipped": False, "redo": redo}
    t0 = time.perf_counter()
    result: dict[str, Any] = {"status": "done"}
    try:
        execute_notebook(cell.template, out / NOTEBOOK, params, out, log_output=False)
        why = records.check_records(out)
        if why is not None:
            raise RuntimeError(f"template {cell.template.name} finished but its records are not valid: {why}")
    except Exception as exc:  # noqa: BLE001 - a failed cell is reported, not fatal
        result = {"status": "failed", "error": _error_line(exc)[:2000], "traceback": traceback.format_exc()[-4000:]}
    result["seconds"] = time.perf_counter() - t0
    records.update_json(out / records.METRICS, **result)
    return {
        "cell_id": cell.id,
        "stage": cell.stage,
        "status": result["status"],
        "seconds": result["seconds"],
        "error": result.get("error"),
        "skipped": False,
        "redo": redo,
    }


def _run_cell_args(args: tuple) -> dict[str, Any]:
    cell, run_dir, quiet, threads, inputs = args
    return run_cell(cell, run_dir, quiet=quiet, threads=threads, inputs=inputs)


# --------------------------------------------------------------------------- sweeps
def run_sweep(
    config: str | os.PathLike | SweepConfig,
    *,
    scale: str = "quick",
    runs_root: str | os.PathLike = "runs",
    name: str | None = None,
    workers: int = 1,
    scheduler: str | Any | None = None,
    quiet: bool = False,
    summaries: bool = True,
    stages: Iterable[str] | None = None,
    wait: bool = False,
) -> pd.DataFrame:
    """Run every cell not yet done, stage by stage, then render the summaries.

    Parameters
    ----------
    config : path or SweepConfig
        Checked in full (:func:`load_config`) before any cell runs.
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
        Only these stages (each must be a stage of the config).
    wait : bool
        When another sweep holds the run directory, wait for it instead of refusing.

    Returns
    -------
    DataFrame
        One row per cell of this run: ``cell_id, stage, status, seconds, skipped, error,
        redo`` (``redo``: why a cell that had a folder ran again).

    Raises
    ------
    SweepConfigError
        The config or a stage name is invalid (nothing ran).
    SweepLockedError
        Another sweep holds the run directory and ``wait`` is False.
    """
    cfg = config if isinstance(config, SweepConfig) else load_config(config, scale=scale)
    wanted = check_stages(cfg, stages)
    what = f"{cfg.path.name}: name" if name is None else "run name (--name)"
    name = sweep_guard.check_run_name(cfg.name if name is None else name, what)
    run_dir = Path(runs_root) / name
    with sweep_lock(run_dir, wait=wait):
        sweep_guard.remove_sweep_partials(run_dir, [s.name for s in cfg.stages])  # only dead writers' ones
        records.write_json(
            {
                "config": str(cfg.path),
                "scale": cfg.scale,
                "name": name,
                "stages": [s.name for s in cfg.stages],
                "cells": [c.id for c in cfg.cells()],
                "summaries": [str(p) for p in cfg.summaries],
            },
            run_dir / "sweep.json",
        )
        rows = _run_stages(cfg, run_dir, wanted, workers=workers, scheduler=scheduler, quiet=quiet)
        if summaries and cfg.summaries:
            render_summaries(cfg, run_dir, quiet=quiet, workers=1 if scheduler is not None else workers)
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def _run_stages(cfg: SweepConfig, run_dir: Path, wanted: set[str] | None, *, workers: int, scheduler, quiet: bool):
    from tqdm.auto import tqdm

    chosen = [s for s in cfg.stages if wanted is None or s.name in wanted]
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=sum(len(s.cells(cfg.scale)) for s in chosen), desc=f"sweep {cfg.name}", unit="cell", disable=quiet)
    client = _dask_client(scheduler) if scheduler is not None else None
    todo: dict[str, list[Cell]] = {}
    inputs = sweep_guard.cell_inputs(c for s in chosen for c in s.cells(cfg.scale))
    for stage in chosen:
        cells = stage.cells(cfg.scale)
        todo[stage.name] = [
            c for c in cells if not is_done(run_dir / c.id) or sweep_guard.inputs_changed(run_dir / c.id, inputs[c.id])
        ]
        for c in cells:
            if c not in todo[stage.name]:
                rows.append({"cell_id": c.id, "stage": c.stage, "status": "done", "skipped": True})
                bar.update(1)

    def report(res: dict[str, Any]) -> None:
        rows.append(res)
        if res["status"] == "failed":  # one line per failed cell, as it happens
            bar.write(f"FAILED {res['cell_id']}: {str(res['error']).splitlines()[0]}", file=sys.stderr)
        bar.update(1)

    try:
        if client is None and workers > 1:
            names = [s.name for s in chosen]
            needs = {n: [d for d in cfg.dependencies(n) if d in names] for n in names}
            todo = {n: todo[n] for n in cfg.priority() if n in todo}
            for res in _execute_graph(todo, needs, run_dir, workers=workers, quiet=quiet, bar=bar, inputs=inputs):
                report(res)
        else:  # one stage after another (one process, or a dask cluster)
            for stage in chosen:
                bar.set_postfix_str(stage.name)
                for res in _execute(todo[stage.name], run_dir, client=client, quiet=quiet, inputs=inputs):
                    report(res)
    finally:
        bar.close()
        if client is not None and isinstance(scheduler, str):
            client.close()
    return rows


def _execute_graph(
    todo: dict[str, list[Cell]], needs: dict[str, list[str]], run_dir: Path, *, workers, quiet, bar, inputs=None
):
    """Run the cells of ``todo`` (stage -> cells, in priority order) on ``workers`` local processes.

    A stage's cells start once every stage it ``needs`` has finished (all its cells ran,
    whatever their status, as one stage after another would). At most ``workers`` cells
    are in flight, and a free worker takes the ready cell that comes first in ``todo``
    (the config's ``order``, else its stage order), so the stages of one study keep their
    order and an independent study fills the gaps (e.g. study E's surrogate beside study
    X's training cells, and its coresets beside study Q's measures at the end).
    """
    order = {name: i for i, name in enumerate(todo)}
    left = {name: len(cells) for name, cells in todo.items()}
    finished = {name for name, n in left.items() if n == 0}
    started: set[str] = set()
    ready: list[tuple[int, int, Cell]] = []

    def release() -> None:
        for name in todo:
            if name not in started and all(d in finished for d in needs[name]):
                started.add(name)
                ready.extend((order[name], i, c) for i, c in enumerate(todo[name]))
        ready.sort(key=lambda t: t[:2])

    # Each worker gets an equal share of the cores, fixed by --workers alone: torch's CPU
    # results depend on its thread count, so a resumed sweep must use the same one.
    threads = max(1, (os.cpu_count() or 1) // workers)
    release()
    pool_options = {"max_workers": workers, "initializer": _worker_init, "initargs": (threads,)}
    with ProcessPoolExecutor(**pool_options) as pool, _stop_workers_on_interrupt(pool):
        running: dict[Any, Cell] = {}
        while ready or running:
            while ready and len(running) < workers:
                cell = ready.pop(0)[2]
                args = (cell, run_dir, quiet, threads, (inputs or {}).get(cell.id))
                running[pool.submit(_run_cell_args, args)] = cell
                bar.set_postfix_str(cell.stage)
            done, _ = wait(set(running), return_when=FIRST_COMPLETED)
            for f in done:
                cell = running.pop(f)
                try:
                    row = f.result()
                except Exception as exc:  # noqa: BLE001 - the worker lost this cell: it failed, the rest go on
                    row = {"cell_id": cell.id, "stage": cell.stage, "status": "failed", "error": _error_line(exc)}
                    row |= {"seconds": 0.0, "skipped": False, "redo": None}
                yield row
                left[cell.stage] -= 1
                if left[cell.stage] == 0:
                    finished.add(cell.stage)
            release()


def _dask_client(scheduler: str | Any):
    from dask.distributed import Client

    return scheduler if isinstance(scheduler, Client) else Client(scheduler)


def _execute(cells: list[Cell], run_dir: Path, *, client, quiet: bool, inputs=None):
    """Run ``cells`` on a dask cluster (``client``) or one after another in this process."""
    if client is None:
        for c in cells:
            yield run_cell(c, run_dir, quiet=quiet, inputs=(inputs or {}).get(c.id))
        return
    from dask.distributed import as_completed

    futures = [
        client.submit(
            run_cell,
            c,
            str(run_dir),
            quiet=quiet,
            inputs=(inputs or {}).get(c.id),
            pure=False,
            key=f"{c.id}-{time.time_ns()}",
        )
        for c in cells
    ]
    for fut in as_completed(futures):
        yield fut.result()


# --------------------------------------------------------------------------- summaries
def render_summaries(
    cfg: SweepConfig, run_dir: str | os.PathLike, *, quiet: bool = True, workers: int = 1
) -> list[Path]:
    """Execute the summary notebooks over ``run_dir`` and render them to HTML.

    Returns the HTML files written, in the config's order. ``workers`` summaries run at once,
    each in its own process (papermill changes the working directory of the process that
    runs it). A summary that fails loses its old HTML (a stale page must not pass for a
    result), keeps its executed notebook with the error, is reported on stderr and listed in
    ``summaries/failed.json`` (removed once all succeed).
    """
    out = Path(run_dir).resolve() / SUMMARIES
    out.mkdir(parents=True, exist_ok=True)
    params = {"run_dir": str(out.parent), "out_dir": str(out), "quiet": quiet}
    jobs = [(Path(nb).resolve(), out, params) for nb in cfg.summaries]
    workers = max(1, min(int(workers), len(jobs) or 1))
    if workers == 1:
        results = [_render_summary(*job) for job in jobs]
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_render_summary, *zip(*jobs)))
    written = [html for html, _ in results if html is not None]
    failed = {nb.name: error for nb, (_, error) in zip(cfg.summaries, results) if error is not None}
    for name, error in failed.items():
        print(f"summary {name} FAILED: {error.splitlines()[0]}", file=sys.stderr)
    if failed:
        records.write_json(failed, out / "failed.json")
    elif (out / "failed.json").exists():
        (out / "failed.json").unlink()
    return written


def _render_summary(nb: Path, out: Path, params: dict[str, Any]) -> tuple[Path | None, str | None]:
    """Execute one summary notebook into ``out`` and write its HTML: ``(html, None)`` or ``(None, error)``."""
    executed = out / nb.name
    html = executed.with_suffix(".html")
    tmp = out / f"{records.TMP_PREFIX}{os.getpid()}-{nb.name}"
    try:
        execute_notebook(nb, tmp, params, out)
        os.replace(tmp, executed)
        page = notebook_to_html(executed)
        records.atomic_write(html, lambda p, page=page: p.write_text(page))
        return html, None
    except Exception as exc:  # noqa: BLE001 - one broken summary must not hide the others
        html.unlink(missing_ok=True)
        if tmp.exists():
            os.replace(tmp, executed)  # the executed notebook shows where it broke
        return None, _error_line(exc)


def notebook_to_html(path: str | os.PathLike) -> str:
    """An executed notebook as a standalone HTML page (inputs shown, outputs embedded)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(path), as_version=4)
    body, _ = HTMLExporter().from_notebook_node(nb)
    return body

"""Guards of the sweep engine around the user's files (new layout: ``sweep/``).

- :func:`check_run_name`: a run name (config ``name:``, ``--name``) is a plain folder name,
  so ``<runs_root>/<name>`` never lies outside the runs root.
- :func:`remove_sweep_partials`: temporaries left by dead writers are removed only in the
  sweep's own folders (its run directory's own files, ``summaries/`` and its cell folders),
  never anywhere else below the run directory.
- :func:`cell_inputs` / :func:`inputs_changed`: the fingerprint of the data files a cell reads
  (:func:`xfactor_lib.data_identity.dataset_fingerprint` of its dataset parameters) is
  recorded in its ``metrics.json``; a done cell whose data changed since runs again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from .. import records
from ..data.identity import dataset_fingerprint
from .config import Cell, SweepConfigError

__all__ = ["cell_inputs", "check_run_name", "inputs_changed", "remove_sweep_partials"]

INPUTS = "inputs"  # the key of the data fingerprints in a cell's metrics.json


def check_run_name(name: Any, what: str = "run name") -> str:
    """``name`` if it is a plain folder name: non-empty, no path separator, not ``.`` or ``..``.

    Raises
    ------
    SweepConfigError
        The message names the value and the rule.
    """
    if not isinstance(name, str):
        raise SweepConfigError(f"{what} must be a string, got {name!r}")
    bad = (
        not name.strip()
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or (os.altsep is not None and os.altsep in name)
        or Path(name).is_absolute()
    )
    if bad:
        raise SweepConfigError(
            f"{what} {name!r} is not a plain folder name: it must be non-empty, without '/' or '\\', "
            "and not '.' or '..' (the run directory is <runs_root>/<name>; choose the location with --runs-root)"
        )
    return name


def remove_sweep_partials(run_dir: str | os.PathLike, stages: Iterable[str]) -> list[Path]:
    """Remove dead writers' temporaries in the sweep's own folders only.

    Those are: files directly in ``run_dir`` (``sweep.json``...), ``run_dir/summaries`` and
    every cell folder ``run_dir/<stage>--*`` of the given stages (with their sub-folders).

    Returns
    -------
    list of Path
        The files removed.
    """
    run_dir = Path(run_dir)
    removed = records.remove_partials(run_dir, recursive=False)
    if (run_dir / "summaries").is_dir():
        removed += records.remove_partials(run_dir / "summaries")
    for stage in stages:
        for cell in sorted(run_dir.glob(f"{stage}--*")):
            if cell.is_dir() and not cell.is_symlink():
                removed += records.remove_partials(cell)
    return removed


def cell_inputs(cells: Iterable[Cell]) -> dict[str, dict[str, str]]:
    """Per cell id: ``{parameter: fingerprint}`` of the parameters that name dataset files.

    A parameter counts when its value (or an item of its list value) is a dataset name
    :func:`dataset_fingerprint` knows; a cell's ``root`` parameter is the data root searched
    first. Each distinct name is fingerprinted once.
    """
    memo: dict[tuple[str, str | None], str | None] = {}
    out: dict[str, dict[str, str]] = {}
    for c in cells:
        root = c.params.get("root") or None
        prints: dict[str, str] = {}
        for key, value in sorted(c.params.items()):
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items):
                if not isinstance(item, str):
                    continue
                mk = (item, root if isinstance(root, str) else None)
                if mk not in memo:
                    memo[mk] = dataset_fingerprint(item, root=mk[1])
                if memo[mk] is not None:
                    prints[key if not isinstance(value, list) else f"{key}[{i}]"] = f"{item}|{memo[mk]}"
        out[c.id] = prints
    return out


def inputs_changed(cell_dir: str | os.PathLike, inputs: dict[str, str] | None) -> bool:
    """Whether a cell folder's recorded data fingerprints differ from ``inputs``.

    A cell run before fingerprints were recorded (no ``inputs`` in its ``metrics.json``) is
    taken as unchanged: it cannot be checked, and rerunning every old cell is not wanted.
    """
    if not inputs:
        return False
    recorded = records.read_json(Path(cell_dir) / records.METRICS).get(INPUTS)
    if not isinstance(recorded, dict):
        return False
    return any(recorded.get(k) != v for k, v in inputs.items()) or any(k not in inputs for k in recorded)

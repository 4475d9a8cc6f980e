"""Resumable papermill sweeps.

- :mod:`.config` — the YAML config (includes, scales, grids), checked against the templates'
  papermill parameters before anything runs; :class:`Cell`, :class:`Stage`, :func:`cell_id`;
- :mod:`.results` — reading a run back: :func:`is_done`, :func:`sweep_status`,
  :func:`collect`, :func:`read_note`;
- :mod:`.engine` — running it: :func:`run_sweep` (one sweep per run directory, cells in
  worker processes or on a dask cluster, stages ordered by ``needs``), :func:`run_cell`,
  :func:`render_summaries`.
"""

from ..records import SweepLockedError, sweep_lock
from .config import SCALES, Cell, Stage, SweepConfig, SweepConfigError, cell_id, load_config
from .engine import NOTEBOOK, SUMMARIES, execute_notebook, notebook_to_html, render_summaries, run_cell, run_sweep
from .results import cell_dirs, collect, current_cells, is_done, read_note, sweep_status

__all__ = [
    "SCALES",
    "NOTEBOOK",
    "SUMMARIES",
    "Cell",
    "Stage",
    "SweepConfig",
    "SweepConfigError",
    "SweepLockedError",
    "cell_dirs",
    "cell_id",
    "execute_notebook",
    "collect",
    "current_cells",
    "is_done",
    "load_config",
    "notebook_to_html",
    "read_note",
    "render_summaries",
    "run_cell",
    "run_sweep",
    "sweep_lock",
    "sweep_status",
]

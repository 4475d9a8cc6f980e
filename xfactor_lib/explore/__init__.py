"""Explore the subsets of a run: :class:`SubsetExplorer` and the run it reads.

- :mod:`.runs` — reading a run directory (:func:`load_run`), picker options, scores,
  features and comparisons of subsets (plain functions, testable without a widget);
- :mod:`.tiles` — image mosaics as PNG bytes;
- :mod:`.widget` — :class:`SubsetExplorer`, the ipywidgets front end;
- :mod:`.demo` — :func:`write_demo_run`, a small real run built with :mod:`xfactor_lib.subsets`.

In a notebook::

    from xfactor_lib.explore import SubsetExplorer, run_or_demo
    SubsetExplorer(run_or_demo("runs/default", demo_dir="runs/demo"))
"""

from .demo import run_or_demo, write_demo_run
from .runs import RunData, load_run
from .widget import SubsetExplorer

__all__ = ["SubsetExplorer", "RunData", "load_run", "run_or_demo", "write_demo_run"]

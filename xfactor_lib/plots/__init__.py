"""Figures: one function per figure, each returns a matplotlib Figure.

One submodule per study (``plots.data``, ``plots.study_x``, ``plots.study_a``,
``plots.study_e``); study X's figure functions are also re-exported here. Figures are
built on ``matplotlib.figure.Figure`` (no pyplot state); importing this package inside
IPython / Jupyter registers a PNG formatter for them, so a notebook cell that ends in a
``plots.*`` call shows the figure.
"""

from . import data, study_a, study_e, study_q, study_x
from .study_x import class_spearman_heatmaps, error_vs_size, overlap_heatmaps, r2_heatmaps, zscore_cdfs, zscore_scatter

__all__ = [
    "data",
    "study_a",
    "study_e",
    "study_q",
    "study_x",
    "class_spearman_heatmaps",
    "error_vs_size",
    "overlap_heatmaps",
    "r2_heatmaps",
    "zscore_cdfs",
    "zscore_scatter",
    "show_figures_inline",
]


def show_figures_inline() -> bool:
    """Render returned Figures as PNG in the running IPython shell (no-op elsewhere)."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import print_figure
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    from matplotlib.figure import Figure

    png = shell.display_formatter.formatters["image/png"]
    png.for_type(Figure, lambda fig: print_figure(fig, "png", bbox_inches="tight", dpi=96))
    return True


show_figures_inline()

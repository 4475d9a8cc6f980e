"""Figures: one function per figure, each returns a matplotlib Figure.

One submodule per study (``plots.study_x``, ...); the figure functions are re-exported
here so a notebook cell is one ``plots.<figure>(...)`` call.
"""

from . import data, study_a, study_x
from .study_x import (
    class_spearman_heatmaps,
    error_vs_size,
    overlap_heatmaps,
    r2_heatmaps,
    zscore_cdfs,
    zscore_scatter,
)
from . import study_e  # noqa: F401

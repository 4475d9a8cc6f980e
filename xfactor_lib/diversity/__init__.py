"""LCR similarity-sensitive diversity of labelled image sets (Reeve et al.; greylock-exact).

- :mod:`.power_means` — weighted power means and Hill numbers (as greylock keeps them);
- :mod:`.lcr` — :func:`diversity_table` (greylock's table, to 1e-9 relative, in one pass over
  ``Z``), :func:`measures` of images, :func:`class_balance` (the only class balance);
- :mod:`.feature_set` — the paper's 27 :func:`features`, :func:`systematic_features`,
  :func:`subset_features`.
"""

from .feature_set import (
    FEATURE_NAMES,
    feature_names,
    features,
    features_from_similarity,
    features_from_table,
    subset_features,
    systematic_features,
)
from .lcr import COLUMNS, DEFAULT_QS, MEASURES, class_balance, diversity_table, measures
from .power_means import hill_number, power_mean

__all__ = [
    "MEASURES",
    "COLUMNS",
    "FEATURE_NAMES",
    "DEFAULT_QS",
    "power_mean",
    "hill_number",
    "class_balance",
    "diversity_table",
    "measures",
    "features",
    "features_from_table",
    "features_from_similarity",
    "feature_names",
    "systematic_features",
    "subset_features",
]

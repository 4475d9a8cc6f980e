"""Study Q (SPEC 5): what makes a training set good, measured before training.

The pipeline, in the order the sweep runs it:

1. ``q_measures`` (one cell per dataset, after studies X and A trained):
   :func:`measure_dataset` draws the reference sample, trains (or loads) the reference
   encoder, computes every training-free measure (:mod:`xfactor_lib.quality`) of every
   study X and study A subset of the dataset, and joins the targets: study X the subset's
   mean Z over the non-GNB models (:func:`x_targets`), study A its BACC, ACC and AUC
   (:func:`a_targets`). One record per subset, every parameter a column, ``group`` the id
   of the subsets that share candidates (grouped cross-validation keeps them in one fold).
2. The summary (``notebooks/40_study_q``): :func:`load`, then :func:`single_table`,
   :func:`cv_table` (nested out-of-sample R^2 by measure family, for all subsets and for
   random subsets alone, beside the noise ceiling; bootstrap CI over groups),
   :func:`importance_table`, :func:`a_gain`, :func:`transfer_table`, :func:`weights_table`
   and :func:`verdict`.

Modules, bottom first: :mod:`.design` (targets, design rows, measure columns), :mod:`.measure`
(the stage), :mod:`.cv` (the one nested predictor behind every R^2), :mod:`.summary`.

Within study X a comparison is within one (dataset, n); within study A within one
(dataset, size) for the predictor, and across sizes for the gain over size + class balance.
"""

from ...records import save_table
from .._common import save
from .cv import HEADLINE, KINDS, ceiling, fit_cell, model_columns
from .design import (
    DESIGN_COLUMNS,
    DESIGN_KINDS,
    FAMILY_SETS,
    MIN_CV_SUBSETS,
    STAGES,
    TARGETS,
    a_targets,
    group_ids,
    load,
    measure_columns,
    overview,
    x_targets,
)
from .measure import measure_dataset
from .summary import (
    a_gain,
    cv_predictions,
    cv_table,
    importance_table,
    kind_table,
    optimized_check,
    single_table,
    transfer_table,
    verdict,
    weights_table,
)

__all__ = [
    "STAGES",
    "FAMILY_SETS",
    "TARGETS",
    "group_ids",
    "x_targets",
    "a_targets",
    "measure_dataset",
    "overview",
    "load",
    "measure_columns",
    "single_table",
    "cv_table",
    "cv_predictions",
    "a_gain",
    "transfer_table",
    "weights_table",
    "kind_table",
    "importance_table",
    "verdict",
    "save",
    "save_table",
    "DESIGN_COLUMNS",
    "DESIGN_KINDS",
    "MIN_CV_SUBSETS",
    "HEADLINE",
    "KINDS",
    "ceiling",
    "fit_cell",
    "model_columns",
    "optimized_check",
]

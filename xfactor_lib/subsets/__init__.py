"""Subsets of a training split: study X's random, selected and optimized subsets, study A's
class-balance designs, their ids and manifests.

- :mod:`.rules` — the X paper's selection rules (uniqueness, global / other / own mean),
  one class at a time;
- :mod:`.design` — the manifests: :func:`random_subsets`, :func:`selected_subsets`,
  :func:`study_x_manifest`, :func:`balance_subsets`, :data:`MANIFEST_COLUMNS`;
- :mod:`.optimized` — study X subsets built by study Q's training-free optimizers
  (``kind="optimized"``: coverage or A_q maximisation).

Vocabulary: a *selected* subset is one of the X paper's rule subsets (``kind="selected"``);
choosing a coreset is :func:`xfactor_lib.coresets.select`.
"""

from .design import (
    DIRECTIONS,
    MANIFEST_COLUMNS,
    MS,
    NS,
    SKIPPED_COLUMNS,
    STRATEGIES,
    balance_subsets,
    candidate_indices,
    keep_indices,
    manifest_indices,
    random_subsets,
    selected_subsets,
    skipped_subsets,
    study_x_manifest,
    subset_id,
)
from .optimized import OPTIMIZED_METHODS, SOURCES, optimized_subsets

__all__ = [
    "STRATEGIES",
    "DIRECTIONS",
    "MS",
    "NS",
    "MANIFEST_COLUMNS",
    "SKIPPED_COLUMNS",
    "keep_indices",
    "candidate_indices",
    "subset_id",
    "random_subsets",
    "selected_subsets",
    "skipped_subsets",
    "study_x_manifest",
    "balance_subsets",
    "manifest_indices",
    "OPTIMIZED_METHODS",
    "SOURCES",
    "optimized_subsets",
]

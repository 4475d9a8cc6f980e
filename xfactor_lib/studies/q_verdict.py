"""The verdict that opens the quality report and the ``select`` summary (issue 23).

New layout: ``studies/q_report`` (beside :mod:`xfactor_lib.studies.q_report`, whose
:func:`~xfactor_lib.studies.q_report.report_measures` table it reads).

:func:`verdict` turns a subset's measures table (its values and percentiles among random
subsets of the same class counts) into a short markdown text: how many of the key measures
are better than the typical random subset, each key measure's percentile, and the
predictor's estimate when a run provides one. :data:`LABEL_FREE_KEYS` are the key measures
that need no labels (an unlabeled pool is measured as one class).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import q_report

__all__ = ["LABEL_FREE_KEYS", "good_percentile", "key_lines", "verdict"]

#: Key measures that read no label, and whether lower values are better.
LABEL_FREE_KEYS = {
    "q_cov_rmsd_mean": ("mean RMSD from a reference image to its nearest subset image", True),
    "q_cov_fl_mean": ("facility-location coverage of the reference", False),
    "q_td_A_0": ("LCR diversity A_0 at tau_data", False),
    "q_vendi_1_mean": ("Vendi score (effective number of distinct images)", False),
}


def good_percentile(table: pd.DataFrame, keys: dict[str, tuple[str, bool]]) -> pd.Series:
    """Per key measure present in ``table``: the share of random subsets the subset beats, in %.

    Parameters
    ----------
    table : DataFrame
        :func:`~xfactor_lib.studies.q_report.report_measures` (``measure``, ``percentile``).
    keys : dict
        Measure name -> (description, lower is better).

    Returns
    -------
    Series indexed by measure: ``100 - percentile`` where lower is better, else ``percentile``.
    """
    pct = table.set_index("measure")["percentile"]
    return pd.Series({m: (100.0 - pct[m]) if low else pct[m] for m, (_, low) in keys.items() if m in pct.index})


def key_lines(table: pd.DataFrame, keys: dict[str, tuple[str, bool]]) -> list[str]:
    """Markdown bullets: each key measure's value and percentile among the random subsets."""
    t = table.set_index("measure")
    good = good_percentile(table, keys)
    out = []
    for m, g in good.items():
        word = "better" if g > 50 else "worse" if g < 50 else "as good as"
        out.append(
            f"- {keys[m][0]} (`{m}`): {t.loc[m, 'value']:.4g}, percentile {t.loc[m, 'percentile']:.0f} among random "
            f"subsets ({word} than the typical one)"
        )
    return out


def verdict(
    table: pd.DataFrame,
    *,
    dataset: str,
    pool: int,
    counts: Any,
    n_random: int,
    estimate: dict[str, Any] | None = None,
    labelled: bool = True,
) -> str:
    """The verdict of a subset's quality, computed from its measures table alone.

    Parameters
    ----------
    table : DataFrame
        :func:`~xfactor_lib.studies.q_report.report_measures` of the subset.
    dataset : str
    pool : int
        Training images the subset was drawn from.
    counts : ndarray, shape (K,)
        The subset's images per class (one entry when unlabeled).
    n_random : int
        Random subsets in the comparison.
    estimate : dict, optional
        :func:`~xfactor_lib.studies.q_report.report_prediction` (labelled only).
    labelled : bool
        False: the pool was measured as one class; the label-free key measures are used.

    Returns
    -------
    str, markdown starting with ``## Verdict``
    """
    counts = np.asarray(counts, dtype=np.int64)
    keys = q_report.KEY_MEASURES if labelled else LABEL_FREE_KEYS
    good = good_percentile(table, keys)
    better = int((good > 50).sum())
    same = "size and class counts" if labelled else "size (uniform draws, no labels read)"
    if labelled:
        sizes = (
            f"{counts.sum():,} images, {int(counts.min())}..{int(counts.max())} per class over {counts.size} classes"
        )
    else:
        sizes = f"{counts.sum():,} images (unlabeled)"
    head = (
        f"**Better than the typical random subset on {better} of {good.size} key measures** "
        f"({n_random} random subsets of the same {same}; percentile 50 is typical)."
    )
    lines = ["## Verdict", "", f"{dataset}: a subset of {sizes} from {pool:,} training images.", "", head, ""]
    if labelled:
        lines.append(q_report.prediction_text(estimate or {"available": False, "note": "no run given"}, table))
    else:
        lines.extend(key_lines(table, keys))
        lines.append("\nNo predictor estimate: the study X predictor reads labelled measures.")
    return "\n".join(lines)

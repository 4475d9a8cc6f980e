"""The verdict that opens the quality report and the ``select`` summary (issue 23).

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

__all__ = ["LABEL_FREE_KEYS", "good_percentile", "standing", "key_lines", "verdict"]

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


def standing(table: pd.DataFrame, keys: dict[str, tuple[str, bool]]) -> pd.Series:
    """Per key measure: :func:`~xfactor_lib.studies.q_report.standing_word` of its percentile and
    95 % interval (``percentile_lo`` .. ``percentile_hi`` of
    :func:`~xfactor_lib.studies.q_report.report_measures`; without them, the percentile alone).
    """
    t = table.set_index("measure")
    out = {}
    for m, (_, low) in keys.items():
        if m not in t.index:
            continue
        lo, hi = (t.loc[m, "percentile_lo"], t.loc[m, "percentile_hi"]) if "percentile_lo" in t else (None, None)
        out[m] = q_report.standing_word(t.loc[m, "percentile"], lo, hi, lower_better=low)
    return pd.Series(out, dtype=object)


def key_lines(table: pd.DataFrame, keys: dict[str, tuple[str, bool]]) -> list[str]:
    """Markdown bullets: each key measure's value, percentile (with its interval) and standing."""
    t = table.set_index("measure")
    words = standing(table, keys)
    out = []
    for m, word in words.items():
        interval = (
            f" [{t.loc[m, 'percentile_lo']:.0f}, {t.loc[m, 'percentile_hi']:.0f}]" if "percentile_lo" in t else ""
        )
        text = "indistinguishable from random" if word == "indistinguishable" else f"{word} than random"
        out.append(
            f"- {keys[m][0]} (`{m}`): {t.loc[m, 'value']:.4g}, percentile {t.loc[m, 'percentile']:.0f}{interval} "
            f"among random subsets ({text})"
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
    words = standing(table, keys)
    better, worse = int((words == "better").sum()), int((words == "worse").sum())
    same = "size and class counts" if labelled else "size (uniform draws, no labels read)"
    if labelled:
        sizes = (
            f"{counts.sum():,} images, {int(counts.min())}..{int(counts.max())} per class over {counts.size} classes"
        )
    else:
        sizes = f"{counts.sum():,} images (unlabeled)"
    head = (
        f"**Better than random subsets beyond noise on {better} of {words.size} key measures, worse on {worse}** "
        f"({n_random} random subsets of the same {same}; percentile 50 is typical, and a measure whose "
        "95 % interval covers 50 is indistinguishable from random)."
    )
    lines = ["## Verdict", "", f"{dataset}: a subset of {sizes} from {pool:,} training images.", "", head, ""]
    if labelled and (counts == 0).any():
        missing = ", ".join(str(k) for k in np.flatnonzero(counts == 0))
        lines += [f"**Missing class(es) {missing}**: the subset has no image of them, so they are not covered.", ""]
    if labelled:
        lines.append(q_report.prediction_text(estimate or {"available": False, "note": "no run given"}, table))
    else:
        lines.extend(key_lines(table, keys))
        lines.append("\nNo predictor estimate: the study X predictor reads labelled measures.")
    return "\n".join(lines)

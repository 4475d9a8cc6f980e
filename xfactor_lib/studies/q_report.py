"""The quality report of a user's own data (``notebooks/quality_report``), study Q's measures
applied to one dataset and one subset without any training run.

:func:`report_data` loads the training split and draws its reference; :func:`report_subset`
resolves the subset a user names (an indices file, a list, or a seeded random draw);
:func:`report_classes`, :func:`report_duplicates` and :func:`report_least_covered` describe
the data; :func:`report_measures` places the subset's measures among random subsets of the
same class counts (percentiles); :func:`report_prediction` applies a run's study X
predictor (``q_measures`` records) to the subset's measures.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import data, quality, sweep
from .._validation import check_indices, check_int
from ..quality import nested
from . import q
from .q import cv as q_nested

__all__ = [
    "ReportData",
    "report_data",
    "report_subset",
    "report_classes",
    "report_duplicates",
    "report_least_covered",
    "report_measures",
    "report_prediction",
    "prediction_text",
    "missing_classes",
    "standing_word",
    "wilson_interval",
]


@dataclass
class ReportData:
    """A training split, its reference sample and (optionally) its embeddings."""

    dataset: str
    X: np.ndarray
    y: np.ndarray
    classes: list
    reference: quality.Reference
    E: np.ndarray | None


def report_data(
    dataset: str, *, per_class: int = 1000, probe_per_class: int = 200, seed: int = 0, embedding: str = ""
) -> ReportData:
    """Load ``dataset``'s training split and draw its reference sample.

    Parameters
    ----------
    dataset : str
        Any name :func:`data.load_dataset` accepts (``npz:<path>``, ``folder:<path>``, ...).
    per_class, probe_per_class, seed
        The reference (:func:`quality.make_reference`).
    embedding : str
        Path of a ``.npy`` array ``(N, d)`` of embeddings of the training split (rows in
        its order), e.g. a foundation model's features; empty: pixel measures only.
    """
    train = data.load_dataset(dataset, "train")
    E = None
    if embedding:
        E = np.load(embedding)
        if E.shape[0] != len(train.labels):
            raise ValueError(f"{embedding} has {E.shape[0]} rows; the training split has {len(train.labels)} images")
    ref = quality.make_reference(
        train.images, train.labels, per_class=per_class, probe_per_class=probe_per_class, seed=seed, embed=E
    )
    return ReportData(dataset, train.images, train.labels, list(train.classes), ref, E)


def _draw(y: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random images with ``counts[k]`` of class k."""
    parts = [rng.choice(np.flatnonzero(y == k), int(c), replace=False) for k, c in enumerate(counts) if c]
    return np.sort(np.concatenate(parts))


def report_subset(rd: ReportData, subset: Any = "", *, n: int = 10, seed: int = 0) -> np.ndarray:
    """Training-split indices of the subset to report on.

    Parameters
    ----------
    rd : ReportData
    subset : str, path or sequence of int
        A ``.npy`` / ``.txt`` / ``.csv`` file of indices, a comma-separated string of
        indices, a sequence of indices, or empty: a seeded random draw of ``n`` per class.
    n, seed
        The random draw (when ``subset`` is empty).

    Returns
    -------
    ndarray, sorted distinct int64 indices
    """
    if isinstance(subset, (str, os.PathLike)) and str(subset).strip() == "":
        n = check_int(n, "n", low=1)
        counts = np.bincount(rd.y, minlength=rd.reference.K)
        if n > counts.min():
            raise ValueError(f"n = {n} per class exceeds the smallest class ({counts.min()} images)")
        return _draw(rd.y, np.full(rd.reference.K, n), np.random.default_rng(seed))
    if isinstance(subset, (str, os.PathLike)) and Path(subset).is_file():
        path = Path(subset)
        idx = (
            np.load(path)
            if path.suffix == ".npy"
            else np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None)
        )
        idx = np.ravel(idx)
    elif isinstance(subset, os.PathLike) or (isinstance(subset, str) and _looks_like_a_path(subset)):
        raise ValueError(
            f"subset file {subset} does not exist; give an existing .npy / .txt / .csv file of indices, "
            "a comma-separated list such as '3,17,42', or nothing for a random draw"
        )
    elif isinstance(subset, str):
        tokens = [t for t in subset.replace(" ", "").split(",") if t]
        try:
            idx = np.array([float(t) for t in tokens])
        except ValueError:
            raise ValueError(
                f"subset {subset!r} is neither an existing indices file nor a comma-separated list of indices"
            ) from None
    else:
        idx = subset
    idx = check_indices(idx, "the subset", n=rd.y.size)
    if idx.size == 0:
        raise ValueError("the subset must be a non-empty list of integer indices into the training split")
    if np.unique(idx).size != idx.size:
        raise ValueError("the subset repeats an index; a subset is a set of distinct images")
    return np.sort(idx)


def _looks_like_a_path(text: str) -> bool:
    """A subset string meant as a file: a folder separator or an indices file suffix."""
    return "/" in text or "\\" in text or Path(text.strip()).suffix.lower() in (".npy", ".txt", ".csv")


def report_classes(rd: ReportData, idx: np.ndarray) -> pd.DataFrame:
    """Per class: training images, then the subset's coverage, diversity, ambiguity and typicality."""
    E = None if rd.E is None else rd.E[idx]
    table = quality.class_table(rd.X[idx], rd.y[idx], reference=rd.reference, embed=E, index=idx)
    table.insert(1, "name", [rd.classes[k] for k in table["class"]])
    table.insert(2, "train_images", np.bincount(rd.y, minlength=rd.reference.K)[table["class"]])
    return table


def report_duplicates(rd: ReportData, *, top: int = 12) -> pd.DataFrame:
    """The closest within-class pairs of the reference sample (training-split indices ``i, j``)."""
    pairs = quality.near_duplicates(rd.reference.X, rd.reference.y, top=top)
    return pairs.assign(i=rd.reference.index[pairs["i"]], j=rd.reference.index[pairs["j"]])


def report_least_covered(rd: ReportData, idx: np.ndarray, *, top: int = 16) -> pd.DataFrame:
    """Reference images farthest from the subset's images of their class."""
    return quality.least_covered(rd.X[idx], rd.y[idx], reference=rd.reference, top=top)


def report_measures(rd: ReportData, idx: np.ndarray, *, n_random: int = 30, seed: int = 0) -> pd.DataFrame:
    """The subset's measures against ``n_random`` random subsets of the same class counts.

    Returns
    -------
    DataFrame
        One row per measure: ``measure, family, value, random_mean, random_sd, percentile``
        (the share of random subsets with a lower value, ties counted half, in %),
        ``percentile_lo, percentile_hi`` (its 95 % Wilson interval from ``n_random`` draws:
        the subset is indistinguishable from random where it covers 50) and ``n_random``.
    """
    n_random = check_int(n_random, "n_random", low=1)
    counts = np.bincount(rd.y[idx], minlength=rd.reference.K)
    rng = np.random.default_rng(seed + 1)
    sets = {"subset": idx, **{f"random{i}": _draw(rd.y, counts, rng) for i in range(n_random)}}
    table = quality.measures_table(sets, rd.X, rd.y, reference=rd.reference, embed=rd.E).set_index("subset_id")
    own, rand = table.loc["subset"], table.drop(index="subset")
    rows = []
    for m in table.columns:
        lower = (rand[m] < own[m]).mean() + 0.5 * (rand[m] == own[m]).mean()
        rows.append({"measure": m, "family": quality.family(m), "value": own[m], "random_mean": rand[m].mean(),
                     "random_sd": rand[m].std(), "percentile": 100 * lower})  # fmt: skip
    table = pd.DataFrame(rows)
    lo, hi = wilson_interval(table["percentile"].to_numpy() / 100, n_random)
    return table.assign(percentile_lo=100 * lo, percentile_hi=100 * hi, n_random=n_random)


def wilson_interval(share: np.ndarray, n: int, *, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of proportions ``share`` observed in ``n`` draws (95 % at z = 1.96).

    Parameters
    ----------
    share : ndarray, shape (m,), in [0, 1]
    n : int
        Draws behind each share.

    Returns
    -------
    lo, hi : ndarray, shape (m,)
    """
    share = np.asarray(share, dtype=np.float64)
    z2n = z * z / n
    centre = (share + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * np.sqrt(share * (1 - share) / n + z2n / (4 * n))
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def missing_classes(classes: pd.DataFrame) -> list[str]:
    """Names of the classes a :func:`report_classes` table shows without images."""
    empty = classes[classes["images"] == 0]
    return [str(n) for n in (empty["name"] if "name" in empty else empty["class"])]


def report_prediction(run_dir: str | os.PathLike, measures: pd.DataFrame, *, n: int | None = None) -> dict[str, Any]:
    """A run's study X predictor applied to the subset: its expected mean Z.

    Parameters
    ----------
    run_dir : path
        A run with ``q_measures`` records (empty: no prediction).
    measures : DataFrame
        :func:`report_measures` of the subset.
    n : int, optional
        Images per class of the run's cell to fit on (default: the closest to the subset's).

    Returns
    -------
    dict
        ``available`` (bool), and when available ``dataset, n, predicted_z, measures,
        cv_r2`` and a ``note`` that the predictor was fitted on another dataset's subsets.
    """
    if not run_dir:
        return {"available": False, "note": "no run_dir given: no predictor"}
    try:
        recs = sweep.collect(run_dir, "q_measures")
    except FileNotFoundError as exc:
        return {"available": False, "note": str(exc)}
    x = recs[(recs["study"] == "x") & recs["z_mean"].notna()]
    if x.empty:
        return {"available": False, "note": "the run has no study X targets"}
    value = measures.set_index("measure")["value"]
    size = value["q_size"] / value["q_cb_1"] if "q_cb_1" in value else value["q_size"]
    ns = np.array(sorted(x["n"].unique()))
    n = int(ns[np.argmin(np.abs(np.log(ns) - np.log(max(size, 1))))]) if n is None else n
    part = q.design.design_rows(x[x["n"] == n])
    part = part.loc[:, [c in value.index or not c.startswith("q_") for c in part.columns]]  # the subset's measures
    # the study Q headline predictor (choices by grouped inner CV on the cell), and its nested-CV R^2
    fitted, cols = q_nested.fit_cell(part, "z_mean")
    cv = nested.cross_validated(
        part, cols, "z_mean", groups=part["group"].to_numpy(), families=q_nested.HEADLINE_MODELS, n_boot=200
    )
    return {
        "available": True,
        "dataset": ", ".join(sorted(part["dataset"].unique())),
        "n": n,
        "predicted_z": float(fitted.predict(value[cols].to_numpy(float)[None, :])[0]),
        "measures": len(cols),
        "cv_r2": cv.r2,
        "note": "fitted on the run's own subsets: on other data it is a transfer, expect it to be rough",
    }


#: Measures the report's text names, and whether lower values are better.
KEY_MEASURES = {
    "q_cov_rmsd_mean": ("mean RMSD from a reference image to its nearest subset image of its class", True),
    "q_cov_nn_err": ("error of the subset's 1-nearest-neighbour classifier on the reference probe", True),
    "q_cov_nll": ("cross-entropy of the subset's kernel classifier on the probe", True),
    "q_td_A_0": ("LCR diversity A_0 at tau_data", False),
    "q_ambiguity": ("share of label-ambiguous images", True),
}


def standing_word(percentile: float, lo: float | None, hi: float | None, *, lower_better: bool) -> str:
    """``"better"``, ``"worse"`` or ``"indistinguishable"``: a measure's standing among random subsets.

    Beyond noise only: the 95 % interval ``lo .. hi`` of the percentile (from the number of
    random draws) must exclude 50; without an interval (None) the percentile is compared
    with 50 itself. ``lower_better``: a low value (low percentile) is the better one.
    """
    lo, hi = (percentile, percentile) if lo is None or hi is None else (lo, hi)
    if lo <= 50 <= hi:
        return "indistinguishable"
    return "better" if (lo > 50) != lower_better else "worse"


def prediction_text(estimate: dict[str, Any], measures: pd.DataFrame, *, classes: pd.DataFrame | None = None) -> str:
    """Markdown: missing classes, where the subset's key measures fall among random subsets, the estimate.

    A measure is "indistinguishable from random" where the 95 % interval of its percentile
    covers 50, else better or worse than a typical random subset. ``classes`` (the
    :func:`report_classes` table) names the classes the subset lacks first: the random
    subsets share its class counts, so their percentiles cannot show a missing class.
    """
    table = measures.set_index("measure")
    lines = []
    missing = missing_classes(classes) if classes is not None else []
    if missing:
        lines.append(
            f"**The subset has no image of {len(missing)} class(es): {', '.join(missing)}.** They are uncovered "
            "(coverage 0, worst-class measures at their worst); the random subsets below have the same class "
            "counts, so the percentiles do not show this. Add images of these classes.\n"
        )
    for m, (what, lower_better) in KEY_MEASURES.items():
        if m in table.index:
            p = table.loc[m, "percentile"]
            if "percentile_lo" in table.columns:
                lo, hi, n = table.loc[m, "percentile_lo"], table.loc[m, "percentile_hi"], int(table.loc[m, "n_random"])
                spread = f" (95 % interval {lo:.0f} to {hi:.0f}, from {n} random subsets)"
            else:
                lo = hi = p
                spread = ""
            word = standing_word(p, lo, hi, lower_better=lower_better)
            verdict = f"{word} than a typical random subset" if word != "indistinguishable" else f"{word} from random"
            lines.append(
                f"- {what} (`{m}`): {table.loc[m, 'value']:.4g}, percentile {p:.0f}{spread} among random subsets "
                f"of the same class counts: {verdict}"
            )
    if estimate.get("available"):
        lines.append(
            f"\n**Predicted mean Z: {estimate['predicted_z']:+.2f}** (negative: lower error than a random subset "
            f"of the same size), from the study X predictor fitted on {estimate['dataset']}'s n = {estimate['n']} "
            f"subsets ({estimate['measures']} measures; its own out-of-sample R² {estimate['cv_r2']:.2f}); "
            f"{estimate['note']}."
        )
    else:
        lines.append(f"\nNo predictor estimate: {estimate.get('note', 'not available')}.")
    return "\n".join(lines)

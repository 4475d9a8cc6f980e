"""What the subset explorer reads from a run directory, and the choices it offers.

The explorer reads only what the study stages leave in a run directory
(``docs/architecture.md``, "Study stages"): the manifests of ``x_subsets`` and
``a_subsets`` (which images each subset holds; for a selected subset also its ``n + m``
candidates; :data:`xfactor_lib.subsets.MANIFEST_COLUMNS`), the records of ``x_train``
(errors, from which Z-scores are computed per (dataset, size, model) as in
:func:`stats.zscores`) and of ``a_train`` (metrics and the LCR features). Any stage may be
missing: :func:`load_run` says what is not there instead of failing.

Everything here is a plain function of data frames and index arrays; the widget
(:mod:`.widget`) only wires them to pickers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import stats, sweep
from ..diversity import FEATURE_NAMES

__all__ = [
    "SUBSET_STAGES",
    "RESULT_STAGES",
    "QUALITY_STAGE",
    "PICKERS",
    "RunData",
    "load_run",
    "filter_subsets",
    "picker_options",
    "subset_parts",
    "per_class",
    "compare_subsets",
    "parameter_differences",
    "subset_scores",
    "subset_features",
]

SUBSET_STAGES = ("x_subsets", "a_subsets")
RESULT_STAGES = ("x_train", "a_train")
#: Study Q's measures and targets per subset (optional: listed in ``missing`` when absent).
QUALITY_STAGE = "q_measures"
#: Pickers in cascade order, and the manifest column each one selects on.
PICKERS = ("study", "dataset", "size", "kind", "rule", "direction", "m", "subset")
COLUMNS = {
    "study": "study",
    "dataset": "dataset",
    "size": "size",
    "kind": "kind",
    "rule": "strategy",
    "direction": "direction",
    "m": "m",
    "subset": "subset_id",
}
_KIND_ORDER = {"random": 0, "selected": 1, "balance": 2}
_SYSTEMATIC = ("pixels", "channels", "classes")
_METRICS = ("error", "acc", "bacc", "auc_macro")


# --------------------------------------------------------------------------- reading a run
@dataclass
class RunData:
    """What the explorer found in a run directory.

    Attributes
    ----------
    run_dir : Path
    subsets : DataFrame
        The manifests of ``x_subsets`` and ``a_subsets``, one row per subset, with a
        ``candidates`` column (= ``indices`` where a manifest has none).
    results : DataFrame
        The records of ``x_train`` and ``a_train`` (one row per (subset, model, seed)) with
        ``stage`` and ``z`` (the Z-score; NaN where it is undefined, e.g. study A).
    features : DataFrame
        LCR features per ``subset_id`` (index): the 27 features and ``pixels, channels,
        classes`` from any results that carry them (mean over seeds and models).
    found : dict
        Rows per stage found.
    missing : list of str
        Stages with no finished cell.
    notes : list of str
        What could not be computed, and why.
    quality : DataFrame
        The ``q_measures`` records (study Q: measures, ``group`` and targets per subset);
        empty when the run has none.
    quality_predictions : DataFrame or None
        Out-of-fold predictions of the targets, computed by the explorer when first shown.
    """

    run_dir: Path
    subsets: pd.DataFrame
    results: pd.DataFrame
    features: pd.DataFrame
    found: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    quality: pd.DataFrame = field(default_factory=pd.DataFrame)
    quality_predictions: pd.DataFrame | None = None


def _feature_columns(columns: Sequence[str]) -> list[str]:
    names = [c for c in FEATURE_NAMES if c != "size"] + list(_SYSTEMATIC)
    present = [c for c in names if c in columns]
    return present if any(c in columns for c in FEATURE_NAMES if c != "size") else []


def _robust_zscores(results: pd.DataFrame, notes: list[str]) -> pd.Series:
    """Z per row, cell by cell, so one cell without a random baseline only blanks itself."""
    z = pd.Series(np.nan, index=results.index, name="z")
    need = ["kind", "error", "dataset", "size", "model"]
    if results.empty or any(c not in results.columns for c in need):
        return z
    # size (total images) splits a study X run like n does: one K per data set
    by = ["stage", "dataset", "size", "model"] if "stage" in results.columns else need[2:]
    for key, cell in results.groupby(by, sort=False):
        if not (cell["kind"] == "random").any():
            continue  # e.g. study A (kind "balance"): Z-scores are not defined there
        try:
            z.loc[cell.index] = stats.zscores(cell, by=["model"])
        except ValueError as exc:
            notes.append(f"no Z-scores for ({', '.join(by)}) = {key}: {exc}")
    return z


def load_run(run_dir: str | os.PathLike) -> RunData:
    """Read the manifests and records of a run directory.

    Parameters
    ----------
    run_dir : path
        A sweep folder (``runs/<sweep>``) or any folder in that layout.

    Returns
    -------
    RunData

    Raises
    ------
    FileNotFoundError
        ``run_dir`` does not exist. Missing stages are not an error: they are listed in
        ``RunData.missing``.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(
            f"run directory {run_dir} does not exist; run a sweep (make run) "
            "or write a demo run with xfactor_lib.explore.write_demo_run"
        )
    found: dict[str, int] = {}
    missing: list[str] = []
    notes: list[str] = []
    frames: dict[str, pd.DataFrame] = {}
    for stage in SUBSET_STAGES + RESULT_STAGES + (QUALITY_STAGE,):
        try:
            frames[stage] = sweep.collect(run_dir, stage)
            found[stage] = len(frames[stage])
        except FileNotFoundError:
            missing.append(stage)
        except Exception as exc:  # noqa: BLE001 - a broken stage must not hide the others
            missing.append(stage)
            notes.append(f"stage {stage} could not be read: {type(exc).__name__}: {exc}")
    parts = []
    for stage in SUBSET_STAGES:
        if stage in frames:
            f = frames[stage].copy()
            if "candidates" not in f.columns:
                f["candidates"] = f["indices"]
            f["candidates"] = [
                i if c is None or (np.ndim(c) == 0 and pd.isna(c)) else c for i, c in zip(f["indices"], f["candidates"])
            ]
            if stage == "x_subsets" and "n" not in f.columns:  # a run written before n / size split
                f["n"], f["size"] = f["size"], f["indices"].map(len)
            f["stage"] = stage
            parts.append(f)
    subsets = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=[*COLUMNS.values(), "indices", "candidates", "stage"])
    )
    for col, default in (("strategy", "none"), ("direction", "none"), ("m", 0)):
        if col in subsets.columns:
            subsets[col] = subsets[col].fillna(default)
    res = [frames[s].assign(stage=s) for s in RESULT_STAGES if s in frames]
    results = pd.concat(res, ignore_index=True) if res else pd.DataFrame(columns=["subset_id", "model", "stage"])
    results["z"] = _robust_zscores(results, notes)
    fcols = _feature_columns(results.columns)
    if fcols:
        have = results.dropna(subset=[fcols[0]])
        features = have.groupby("subset_id", sort=False)[fcols].mean()
    else:
        features = pd.DataFrame(index=pd.Index([], name="subset_id"))
    quality = frames.get(QUALITY_STAGE, pd.DataFrame())
    return RunData(run_dir, subsets, results, features, found, missing, notes, quality)


# --------------------------------------------------------------------------- choosing
def native(v: Any) -> Any:
    """A numpy scalar as the Python value (picker options compare and print as plain values)."""
    return v.item() if isinstance(v, np.generic) else v


def _sort_key(v: Any) -> tuple:
    if isinstance(v, str) and v in _KIND_ORDER:
        return (0, _KIND_ORDER[v], "")
    if isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
        return (1, float(v), "")
    return (2, 0.0, str(v))


def _column(picker: str) -> str:
    if picker in COLUMNS:
        return COLUMNS[picker]
    if picker in COLUMNS.values():
        return picker
    raise ValueError(f"unknown picker {picker!r}; use one of {', '.join(PICKERS)}")


def filter_subsets(manifest: pd.DataFrame, **choices: Any) -> pd.DataFrame:
    """The manifest rows that match every given choice.

    Parameters
    ----------
    manifest : DataFrame
        One row per subset (e.g. ``RunData.subsets``).
    **choices
        Picker names of :data:`PICKERS` (``rule`` selects ``strategy``, ``subset``
        selects ``subset_id``) or manifest column names; ``None`` means any value.

    Returns
    -------
    DataFrame
        The matching rows, in manifest order.
    """
    mask = np.ones(len(manifest), dtype=bool)
    for name, value in choices.items():
        if value is None:
            continue
        col = _column(name)
        if col not in manifest.columns:
            raise ValueError(f"the manifest has no column {col!r} (picker {name!r}); columns: {list(manifest.columns)}")
        mask &= (manifest[col] == value).to_numpy()
    return manifest[mask]


def picker_options(manifest: pd.DataFrame, choices: Mapping[str, Any] | None = None) -> dict[str, tuple[list, Any]]:
    """Options and chosen value of every picker, each one filtered by those before it.

    Parameters
    ----------
    manifest : DataFrame
    choices : mapping, optional
        Wanted values by picker name; a value that is not among its picker's options
        (given the pickers before it) falls back to the first option.

    Returns
    -------
    dict
        ``picker -> (options, value)`` for every picker of :data:`PICKERS`, in order;
        options sorted (kinds as random, selected, balance; numbers numerically;
        subsets by repeat, then id); ``([], None)`` where nothing matches.
    """
    choices = dict(choices or {})
    out: dict[str, tuple[list, Any]] = {}
    rows = manifest
    for picker in PICKERS:
        col = COLUMNS[picker]
        if col not in rows.columns or rows.empty:
            out[picker] = ([], None)
            continue
        if picker == "subset":
            order = rows.sort_values(["repeat", "subset_id"] if "repeat" in rows.columns else ["subset_id"])
            options = list(dict.fromkeys(order["subset_id"].tolist()))
        else:
            options = sorted({native(v) for v in rows[col].tolist()}, key=_sort_key)
        wanted = choices.get(picker)
        value = wanted if wanted is not None and wanted in options else options[0]
        out[picker] = (options, value)
        rows = rows[(rows[col] == value).to_numpy()]
    return out


# --------------------------------------------------------------------------- one subset
def subset_parts(row: Mapping[str, Any] | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Kept and discarded training indices of one manifest row.

    Returns
    -------
    kept : ndarray, shape (size,), int64
        ``indices``.
    discarded : ndarray, int64
        ``candidates`` minus ``indices`` (empty for a random or balance subset).
    """
    kept = np.asarray(row["indices"], dtype=np.int64)
    cands = row.get("candidates") if hasattr(row, "get") else None
    if cands is None or (np.ndim(cands) == 0 and pd.isna(cands)):
        return kept, np.empty(0, dtype=np.int64)
    return kept, np.setdiff1d(np.asarray(cands, dtype=np.int64), kept)


def per_class(indices: np.ndarray, y: np.ndarray, K: int, limit: int | None = None) -> list[np.ndarray]:
    """The indices of each class (sorted), the first ``limit`` of each.

    Parameters
    ----------
    indices : ndarray, int, into the split whose labels are ``y``
    y : ndarray, shape (N,), int
    K : int
    limit : int, optional

    Returns
    -------
    list of K ndarrays, int64
    """
    idx = np.sort(np.asarray(indices, dtype=np.int64))
    labels = y[idx]
    return [idx[labels == k][:limit] for k in range(K)]


def compare_subsets(
    a: np.ndarray, b: np.ndarray, *, y: np.ndarray | None = None, K: int | None = None
) -> dict[str, Any]:
    """What two subsets share and where they differ.

    Parameters
    ----------
    a, b : ndarray, int
        Training-split indices of the two subsets.
    y : ndarray, shape (N,), int, optional
        Labels of the split; with it, a per-class table is added.
    K : int, optional
        Number of classes (default ``y.max() + 1``).

    Returns
    -------
    dict
        ``overlap`` (images in both), ``only_a``, ``only_b`` (sorted index arrays),
        ``pct_of_a``, ``pct_of_b`` (100 * overlap / subset size; as in
        :func:`stats.subset_overlap`), ``jaccard``; with ``y`` also ``per_class``: a
        DataFrame indexed by class with ``n_a, n_b, shared, only_a, only_b``.
    """
    a = np.unique(np.asarray(a, dtype=np.int64))
    b = np.unique(np.asarray(b, dtype=np.int64))
    shared = np.intersect1d(a, b)
    union = len(a) + len(b) - len(shared)
    out: dict[str, Any] = {
        "overlap": int(len(shared)),
        "only_a": np.setdiff1d(a, b),
        "only_b": np.setdiff1d(b, a),
        "pct_of_a": 100.0 * len(shared) / len(a) if len(a) else float("nan"),
        "pct_of_b": 100.0 * len(shared) / len(b) if len(b) else float("nan"),
        "jaccard": len(shared) / union if union else float("nan"),
    }
    if y is not None:
        y = np.asarray(y)
        K = int(y.max()) + 1 if K is None else int(K)

        def count(idx: np.ndarray) -> np.ndarray:
            return np.bincount(y[idx], minlength=K)

        out["per_class"] = pd.DataFrame(
            {
                "n_a": count(a),
                "n_b": count(b),
                "shared": count(shared),
                "only_a": count(out["only_a"]),
                "only_b": count(out["only_b"]),
            },
            index=pd.RangeIndex(K, name="class"),
        )
    return out


def parameter_differences(
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    columns: Sequence[str] = ("study", "dataset", "n", "size", "kind", "strategy", "direction", "m", "repeat", "seed"),
) -> dict[str, tuple]:
    """Manifest parameters on which two subsets differ: ``column -> (value_a, value_b)``.

    A column missing in both (NaN, e.g. ``n`` of two study A subsets) does not differ.
    """
    return {
        c: (native(a[c]), native(b[c]))
        for c in columns
        if c in a and c in b and native(a[c]) != native(b[c]) and not (pd.isna(a[c]) and pd.isna(b[c]))
    }


def subset_scores(run: RunData, subset_id: str) -> pd.DataFrame:
    """Results of one subset per model: mean Z-score and metrics over seeds.

    Returns
    -------
    DataFrame
        Index ``model``; columns ``z`` and those of ``error, acc, bacc, auc_macro`` the
        records have, and ``seeds`` (rows averaged). Empty when the subset has no results.
    """
    res = run.results
    if res.empty or "subset_id" not in res.columns:
        return pd.DataFrame(columns=["z", "seeds"])
    rows = res[res["subset_id"] == subset_id]
    if rows.empty:
        return pd.DataFrame(columns=["z", "seeds"])
    cols = ["z"] + [c for c in _METRICS if c in rows.columns]
    table = rows.groupby("model", sort=True)[cols].mean()
    table["seeds"] = rows.groupby("model", sort=True).size()
    return table


def subset_features(run: RunData, subset_id: str) -> pd.Series | None:
    """The LCR features of one subset, or None when they were not computed for it."""
    if subset_id in run.features.index:
        return run.features.loc[subset_id]
    return None

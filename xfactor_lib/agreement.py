"""Agreement between models across subsets: R^2 of Z-scores and per-class Spearman rho.

The X-factor test (SPEC 1): if a subset's quality is intrinsic, its Z-scored error under
one model predicts its error under another. Built on :mod:`xfactor_lib.stats` (Z-scores,
bootstrap); plots and :mod:`xfactor_lib.studies.x` read these tables.

Choices the paper and SPEC section 1 leave open, fixed here:

- **Several seeds** of one (subset, model): every row gets its own Z-score; R^2 and
  Spearman first average over seeds, so each subset is one observation.
- **R^2** is Pearson r squared of two models' Z-scores over the subsets both have (pairwise
  deletion), pooled over datasets and sizes. Pairs with fewer than 3 shared subsets give NaN
  (two points always give r^2 = 1).
- **Bootstrap** of R^2: resample subsets (:func:`stats.bootstrap_weights`); a resample in
  which a pair has no spread gives NaN for that pair and is left out of its percentiles.
- **Per-class Spearman** (Fig. 7) is computed within each ``(dataset, n)`` and then
  averaged over them: pooled over sizes, every pair correlates because accuracy grows
  with n.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ._validation import check_choice, check_frame, check_rate
from .stats import CELL, KINDS, bootstrap_weights, percentile_interval, select_kind, zscores

CLASS_COLUMN = re.compile(r"^acc_class_(\d+)$")
MIN_SHARED = 3  # fewest shared subsets for which a correlation is reported


def model_order(records: pd.DataFrame, models: Sequence[str] | None = None, exclude: Iterable[str] = ()) -> list[str]:
    """Models in ``models`` order (default: first appearance in ``records``), ``exclude`` left out."""
    check_frame(records, ["model"], what="records")
    present = list(pd.unique(records["model"]))
    order = present if models is None else list(models)
    unknown = sorted(set(order) - set(present))
    if unknown:
        raise ValueError(f"models {unknown} are not in records; present: {present}")
    return [m for m in order if m not in set(exclude)]


# --------------------------------------------------------------------------- R^2


def _weighted_r(x: np.ndarray, valid: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pairwise-complete weighted Pearson r between all columns, for every weight row.

    x : (S, P) centred values, 0 where missing; valid : (S, P) 0/1; w : (B, S) weights.
    Returns (B, P, P). Every moment is a (B, S) @ (S, P) product, so all resamples and
    all pairs are computed at once.
    """
    B, P = w.shape[0], x.shape[1]
    r = np.empty((B, P, P))
    x2 = x * x
    for a in range(P):
        va, xa = valid[:, a : a + 1], x[:, a : a + 1]
        n = w @ (va * valid)
        sa, sb = w @ (xa * valid), w @ (va * x)
        saa, sbb = w @ (xa * xa * valid), w @ (va * x2)
        sab = w @ (xa * x)
        var_a, var_b = n * saa - sa * sa, n * sbb - sb * sb
        # cancellation leaves ~1e-16 relative noise where a resample has no spread
        flat = (var_a <= 1e-12 * n * saa) | (var_b <= 1e-12 * n * sbb) | (n < 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            ra = (n * sab - sa * sb) / np.sqrt(var_a * var_b)
        r[:, a, :] = np.where(flat, np.nan, np.clip(ra, -1.0, 1.0))
    return r


def zscore_table(
    records: pd.DataFrame,
    *,
    kind: str = "all",
    value: str = "error",
    models: Sequence[str] | None = None,
    exclude: Iterable[str] = (),
) -> pd.DataFrame:
    """Z-scores as a subsets x models table (mean over seeds).

    Z is computed on all of ``records`` (the random subsets are the baseline) and then
    restricted to ``kind``.

    Parameters
    ----------
    records : DataFrame
        Needs ``subset_id, dataset, n, kind, model`` and ``value``.
    kind : {"all", "selected", "random"}
    value : str
    models : sequence of str, optional
        Models (columns) in this order; default: order of first appearance.
    exclude : iterable of str
        Models to leave out (absent ones are ignored).

    Returns
    -------
    DataFrame, shape (S, P)
        Index ``subset_id``, columns models, NaN where a subset lacks a model.
    """
    check_choice(kind, "kind", KINDS)
    check_frame(records, ["subset_id", *CELL, "kind", value], what="records")
    order = model_order(records, models, exclude)
    z = zscores(records, value=value)
    frame = pd.DataFrame(
        {"subset_id": records["subset_id"], "model": records["model"], "z": z, "kind": records["kind"]}
    )
    frame = select_kind(frame, kind)
    frame = frame[frame["model"].isin(order)]
    if frame.empty:
        raise ValueError(
            f"no records of kind {kind!r} for models {order}; kinds present: {sorted(records['kind'].unique())}"
        )
    table = frame.groupby(["subset_id", "model"], sort=False)["z"].mean().unstack("model")
    return table.reindex(columns=[m for m in order if m in table.columns])


def _r2_boot(table: pd.DataFrame, *, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point R^2 (P, P), bootstrap R^2 (n_boot, P, P) and shared counts (P, P)."""
    z = table.to_numpy(dtype=float)
    valid = np.isfinite(z).astype(float)
    x = np.where(valid > 0, z - np.nanmean(z, axis=0), 0.0)  # centring: less cancellation
    shared = valid.T @ valid
    point = _weighted_r(x, valid, np.ones((1, len(z))))[0] ** 2
    w = bootstrap_weights(len(z), n_boot=n_boot, seed=seed)
    boot = _weighted_r(x, valid, w) ** 2
    few = shared < MIN_SHARED
    point[few] = np.nan
    boot[:, few] = np.nan
    return point, boot, shared


def r2_matrix(
    records: pd.DataFrame,
    *,
    kind: str = "all",
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    exclude: Iterable[str] = (),
    models: Sequence[str] | None = None,
    value: str = "error",
) -> pd.DataFrame:
    """R^2 between every two models: Pearson r^2 of their Z-scores over shared subsets.

    Parameters
    ----------
    records : DataFrame
        Needs ``subset_id, dataset, n, kind, model`` and ``value``.
    kind : {"all", "selected", "random"}
        Which subsets enter the correlation (Z always uses the random baseline).
    n_boot : int
        Bootstrap resamples of subsets (:func:`bootstrap_indices` with ``seed``); 0 gives
        NaN intervals.
    seed : int
    ci : float in (0, 1]
    exclude : iterable of str
        Models to leave out.
    models : sequence of str, optional
        Model order; default: order of first appearance in ``records``.
    value : str
        Measurement to standardize.

    Returns
    -------
    DataFrame, shape (P * P, 6)
        Columns ``model_a, model_b, r2, lo, hi, n`` for every ordered pair (the diagonal
        included), ``n`` = subsets both models have; ``r2, lo, hi`` NaN where ``n < 3``.
    """
    check_rate(ci, "ci")
    table = zscore_table(records, kind=kind, value=value, models=models, exclude=exclude)
    point, boot, shared = _r2_boot(table, n_boot=n_boot, seed=seed)
    lo, hi = percentile_interval(boot, ci=ci)
    names = list(table.columns)
    P = len(names)
    return pd.DataFrame(
        {
            "model_a": np.repeat(names, P),
            "model_b": np.tile(names, P),
            "r2": point.ravel(),
            "lo": lo.ravel(),
            "hi": hi.ravel(),
            "n": shared.ravel().astype(np.int64),
        }
    )


def mean_r2(
    records: pd.DataFrame,
    *,
    kind: str = "all",
    exclude: Iterable[str] = ("gnb",),
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    models: Sequence[str] | None = None,
    value: str = "error",
) -> dict[str, float]:
    """Mean R^2 over all pairs of distinct models, with a bootstrap CI of the mean.

    Each resample of subsets is shared by all pairs, and the statistic is the mean over
    pairs of that resample's R^2 (pairs NaN in a resample are left out of its mean).

    Parameters
    ----------
    records : DataFrame
    kind : {"all", "selected", "random"}
    exclude : iterable of str
        Models to leave out; default GNB, as in the paper.
    n_boot, seed, ci, models, value
        As in :func:`r2_matrix`.

    Returns
    -------
    dict
        ``r2, lo, hi`` (floats), ``n_pairs`` (model pairs), ``n_subsets``.
    """
    check_rate(ci, "ci")
    table = zscore_table(records, kind=kind, value=value, models=models, exclude=exclude)
    P = table.shape[1]
    if P < 2:
        raise ValueError(
            f"mean R^2 needs at least 2 models after excluding {tuple(exclude)}; got {list(table.columns)}"
        )
    point, boot, _ = _r2_boot(table, n_boot=n_boot, seed=seed)
    iu = np.triu_indices(P, 1)
    pairs_point, pairs_boot = point[iu], boot[:, iu[0], iu[1]]
    estimate = float(np.nanmean(pairs_point)) if np.isfinite(pairs_point).any() else np.nan
    finite = np.isfinite(pairs_boot).any(axis=1)
    boot_mean = np.full(n_boot, np.nan)
    boot_mean[finite] = np.nanmean(pairs_boot[finite], axis=1)
    lo, hi = percentile_interval(boot_mean, ci=ci)
    return {"r2": estimate, "lo": float(lo), "hi": float(hi), "n_pairs": int(len(iu[0])), "n_subsets": int(len(table))}


# --------------------------------------------------------------------------- Spearman


def class_columns(records: pd.DataFrame) -> dict[int, str]:
    """Per-class accuracy columns ``acc_class_<k>`` of ``records``, by class ``k``."""
    cols = {int(m.group(1)): c for c in records.columns if (m := CLASS_COLUMN.match(str(c)))}
    if not cols:
        raise ValueError(
            "records have no per-class accuracy columns 'acc_class_<k>'; record per-class accuracy in training.evaluate"
        )
    return dict(sorted(cols.items()))


def _mean_over_cells(matrices: list[np.ndarray]) -> np.ndarray:
    stack = np.stack(matrices)
    count = np.isfinite(stack).sum(axis=0)
    total = np.nansum(stack, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def class_spearman(
    records: pd.DataFrame,
    *,
    models: Sequence[str] | None = None,
    kind: str = "all",
    exclude: Iterable[str] = (),
    within: Sequence[str] = ("dataset", "n"),
    standardize: bool = False,
) -> dict[int, pd.DataFrame]:
    """Spearman rho between models of per-class accuracy over subsets, one matrix per class.

    Within each ``within`` cell (default: each dataset and n, SPEC 1) the subsets x models
    table of ``acc_class_k`` (mean over seeds) is correlated pairwise (subsets both models
    have; NaN where fewer than 3); the matrices are then averaged over the cells where a
    pair is defined.

    Parameters
    ----------
    records : DataFrame
        Needs ``subset_id, kind, model``, the ``within`` columns and ``acc_class_<k>``.
    models : sequence of str, optional
        Model order; default: order of first appearance.
    kind : {"all", "selected", "random"}
    exclude : iterable of str
    within : sequence of str
        Columns whose cells are correlated separately; ``()`` pools every row (then every
        pair correlates merely because accuracy grows with n).
    standardize : bool
        Z-score each class's accuracy per (dataset, n, model) against the random subsets
        first (as for error); another way to remove the size effect from pooled rows.

    Returns
    -------
    dict of int -> DataFrame, shape (P, P)
        Class k -> models x models Spearman rho.
    """
    within = list(within)
    check_frame(records, ["subset_id", "kind", "model", *within], what="records")
    cols = list(class_columns(records).items())
    order = model_order(records, models, exclude)
    values = records[[c for _, c in cols]]
    if standardize:
        values = pd.DataFrame({c: zscores(records, value=c) for _, c in cols})
    frame = pd.concat([records[["subset_id", "model", "kind", *within]], values], axis=1)
    frame = select_kind(frame, kind)
    frame = frame[frame["model"].isin(order)]
    if frame.empty:
        raise ValueError(f"no records of kind {kind!r} for models {order}")
    names = [m for m in order if m in set(frame["model"])]
    parts = [frame] if not within else [part for _, part in frame.groupby(within, sort=True)]
    wides = [
        part.groupby(["subset_id", "model"], sort=False)[[c for _, c in cols]].mean().unstack("model") for part in parts
    ]
    out = {}
    for k, c in cols:
        mats = [w[c].reindex(columns=names).corr(method="spearman", min_periods=MIN_SHARED).to_numpy() for w in wides]
        out[k] = pd.DataFrame(
            _mean_over_cells(mats), index=pd.Index(names, name="model"), columns=pd.Index(names, name="model")
        )
    return out

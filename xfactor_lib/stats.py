"""Statistics of study X: Z-scores, R^2 matrices, bootstrap CIs, KS, variance, overlap.

Every function takes the tidy records frame (one row per (subset, model, seed); see
``docs/architecture.md``) or a manifest, and returns a tidy frame or a small dict.

Choices the paper and SPEC section 1 leave open, fixed here:

- **Z-score** ``(error - mean_random) / sd_random`` per (dataset, size, model); ``sd`` is the
  *sample* standard deviation (``ddof=1``), the usual estimate of a population's spread from
  the random subsets drawn from it. A cell needs at least 2 random subsets with distinct
  errors.
- **Several seeds** of one (subset, model): every row gets its own Z-score; R^2 and
  Spearman first average over seeds, so each subset is one observation.
- **R^2** is Pearson r squared of two models' Z-scores over the subsets both have (pairwise
  deletion), pooled over datasets and sizes. Pairs with fewer than 3 shared subsets give NaN
  (two points always give r^2 = 1).
- **Bootstrap**: resample subsets with replacement; the resample indices come from
  :func:`bootstrap_indices` (``numpy.random.default_rng(seed).integers``), so they can be
  reproduced; the CI is the percentile interval. A resample in which a pair has no spread
  gives NaN for that pair and is left out of that pair's percentiles.
- **Variance explained**: OLS of ``log(error)`` (Fig. 2's straight lines are on log-log
  axes: size and model act multiplicatively on error, and the log keeps GNB's high errors
  from dominating the sums of squares) on ``C(model) + C(size) + C(model):C(size)``;
  shares are sequential (type I) sums of squares over the total. The interaction is in by
  default because each model has its own slope in Fig. 2 and the paper's "residual
  variance" is the spread within a (model, size) cell, the same spread a Z-score divides by.
"""

from __future__ import annotations

import warnings

import re
from typing import Callable, Iterable, NamedTuple, Sequence

import numpy as np
import pandas as pd
import scipy.stats

KINDS = ("all", "selected", "random")
CLASS_COLUMN = re.compile(r"^acc_class_(\d+)$")
MIN_SHARED = 3  # fewest shared subsets for which a correlation is reported


class BootstrapCI(NamedTuple):
    """Point estimate with a percentile bootstrap interval."""

    estimate: float
    lo: float
    hi: float


# --------------------------------------------------------------------------- checks


def _require(frame: pd.DataFrame, columns: Iterable[str], *, what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} lack the column(s) {missing}; present: {list(frame.columns)}. "
            f"Pass a frame with these columns (records come from sweep.collect)."
        )


def _check_ci(ci: float) -> None:
    if not 0 < ci < 1:
        raise ValueError(f"ci must lie strictly between 0 and 1 (e.g. 0.95), got {ci}")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _finite_values(records: pd.DataFrame, value: str) -> np.ndarray:
    try:
        v = records[value].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {value!r} must be numeric: {exc}") from None
    if not np.isfinite(v).all():
        bad = records.index[~np.isfinite(v)][:5].tolist()
        raise ValueError(
            f"column {value!r} has non-finite values (rows {bad}...); drop failed runs "
            f"before computing statistics"
        )
    return v


def _select_kind(records: pd.DataFrame, kind: str) -> pd.DataFrame:
    _check_kind(kind)
    if kind == "all":
        return records
    return records[records["kind"] == kind]


def _cells(frame: pd.DataFrame, by: Sequence[str], limit: int = 5) -> list:
    return [tuple(r) for r in frame[list(by)].head(limit).itertuples(index=False)]


# --------------------------------------------------------------------------- Z-scores


def zscores(
    records: pd.DataFrame,
    *,
    value: str = "error",
    by: Sequence[str] = ("dataset", "size", "model"),
) -> pd.Series:
    """Z-score of every row against the random subsets of its cell.

    ``Z = (value - mean_random) / sd_random`` where mean and sample sd (``ddof=1``) are
    taken over the rows with ``kind == "random"`` of the same ``by`` cell; random and
    selected rows alike are scored.

    Parameters
    ----------
    records : DataFrame, one row per (subset, model, seed)
        Needs the columns ``kind``, ``value`` and ``by``.
    value : str
        Column to standardize (``"error"``, or e.g. ``"acc_class_3"``).
    by : sequence of str
        Columns that define a cell.

    Returns
    -------
    Series, shape (len(records),), named ``"z"``, aligned with ``records.index``.

    Raises
    ------
    ValueError
        A missing column, a non-finite value, or a cell with no, one, or only identical
        random values (mean or sd undefined / sd zero).
    """
    by = list(by)
    _require(records, ["kind", value, *by], what="records")
    v = _finite_values(records, value)
    frame = records[by].copy()
    frame["_v"] = v
    random = frame[records["kind"].to_numpy() == "random"]
    base = random.groupby(by, sort=False, dropna=False)["_v"].agg(["mean", "std", "count"])
    base = base.reset_index()
    merged = frame.merge(base, on=by, how="left", validate="many_to_one")

    no_random = merged["count"].isna()
    if no_random.any():
        raise ValueError(
            f"{int(no_random.sum())} row(s) have no random subsets in their {tuple(by)} cell, "
            f"e.g. {_cells(merged[no_random], by)}; Z-scores need the random subsets of "
            f"every cell (include kind='random' records)"
        )
    few = base[base["count"] < 2]
    if len(few):
        raise ValueError(
            f"{len(few)} {tuple(by)} cell(s) have fewer than 2 random subsets, so the sd is "
            f"undefined, e.g. {_cells(few, by)}; generate at least 2 random subsets per cell"
        )
    flat = base[~(base["std"] > 0)]
    if len(flat):
        raise ValueError(
            f"{len(flat)} {tuple(by)} cell(s) have identical {value!r} on all their random "
            f"subsets (sd = 0), e.g. {_cells(flat, by)}; Z-scores are undefined there "
            f"(use a larger test split or more random subsets)"
        )
    z = (merged["_v"].to_numpy() - merged["mean"].to_numpy()) / merged["std"].to_numpy()
    return pd.Series(z, index=records.index, name="z")


# --------------------------------------------------------------------------- bootstrap


def bootstrap_indices(n: int, *, n_boot: int, seed: int) -> np.ndarray:
    """Resample indices with replacement, reproducible from ``seed``.

    Parameters
    ----------
    n : int
        Number of observations (subsets).
    n_boot : int
        Number of resamples.
    seed : int

    Returns
    -------
    ndarray, shape (n_boot, n), int64
        Row b holds the observations of resample b:
        ``numpy.random.default_rng(seed).integers(0, n, size=(n_boot, n))``.
    """
    if n < 1:
        raise ValueError(f"cannot bootstrap {n} observations; need at least 1")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n), dtype=np.int64)


def bootstrap_weights(n: int, *, n_boot: int, seed: int) -> np.ndarray:
    """How often each observation is drawn in each resample of :func:`bootstrap_indices`.

    Returns
    -------
    ndarray, shape (n_boot, n), float
        ``w[b, i]`` = count of ``i`` in resample ``b``; rows sum to ``n``.
    """
    idx = bootstrap_indices(n, n_boot=n_boot, seed=seed)
    offset = idx + n * np.arange(n_boot)[:, None]
    return np.bincount(offset.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(float)


def percentile_interval(boot: np.ndarray, *, ci: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the resample axis (0), ignoring NaN resamples.

    Parameters
    ----------
    boot : ndarray, shape (n_boot, ...)
    ci : float in (0, 1)

    Returns
    -------
    lo, hi : ndarray, shape boot.shape[1:]
        ``numpy.nanquantile`` (linear) at ``(1 - ci) / 2`` and ``(1 + ci) / 2``; NaN where
        there are no finite resamples.
    """
    _check_ci(ci)
    boot = np.asarray(boot, dtype=float)
    alpha = (1 - ci) / 2
    if boot.shape[0] == 0:
        nan = np.full(boot.shape[1:], np.nan)
        return nan, nan.copy()
    finite = np.isfinite(boot).any(axis=0)
    safe = np.where(finite[None], boot, 0.0)  # all-NaN columns would warn; masked below
    lo, hi = np.nanquantile(safe, [alpha, 1 - alpha], axis=0)
    return np.where(finite, lo, np.nan), np.where(finite, hi, np.nan)


def bootstrap_ci(
    values: np.ndarray,
    stat: Callable[..., np.ndarray],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> BootstrapCI:
    """Percentile bootstrap CI of a statistic of observations (rows of ``values``).

    Parameters
    ----------
    values : array_like, shape (S,) or (S, d)
        One row per observation (e.g. subset); rows are resampled with replacement.
    stat : callable
        Vectorized statistic called as ``stat(batch, axis=1)`` on a batch of shape
        ``(B, S)`` or ``(B, S, d)`` and returning shape ``(B,)``; ``numpy.mean`` and
        ``numpy.median`` qualify. The estimate is ``stat(values[None], axis=1)[0]``.
    n_boot : int
        Number of resamples; the resample indices are :func:`bootstrap_indices`
        ``(S, n_boot=n_boot, seed=seed)``.
    seed : int
    ci : float in (0, 1)

    Returns
    -------
    BootstrapCI
        ``(estimate, lo, hi)``.
    """
    _check_ci(ci)
    values = np.asarray(values, dtype=float)
    if values.ndim not in (1, 2) or values.shape[0] == 0:
        raise ValueError(
            f"values must have shape (S,) or (S, d) with S >= 1, got shape {values.shape}"
        )
    estimate = np.asarray(stat(values[None], axis=1))
    if estimate.shape != (1,):
        raise ValueError(
            f"stat must reduce axis 1 of a (B, S, ...) batch to shape (B,); on a batch of "
            f"shape {values[None].shape} it returned shape {estimate.shape}"
        )
    idx = bootstrap_indices(values.shape[0], n_boot=n_boot, seed=seed)
    boot = np.asarray(stat(values[idx], axis=1), dtype=float).reshape(n_boot)
    lo, hi = percentile_interval(boot, ci=ci)
    return BootstrapCI(float(estimate[0]), float(lo), float(hi))


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
        Needs ``subset_id, dataset, size, kind, model`` and ``value``.
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
    _check_kind(kind)
    _require(records, ["subset_id", "dataset", "size", "kind", "model", value], what="records")
    z = zscores(records, value=value)
    frame = pd.DataFrame(
        {"subset_id": records["subset_id"], "model": records["model"], "z": z}
    )
    frame = _select_kind(frame.assign(kind=records["kind"]), kind)
    exclude = set(exclude)
    order = list(pd.unique(records["model"])) if models is None else list(models)
    unknown = sorted(set(order) - set(records["model"]))
    if unknown:
        raise ValueError(f"models {unknown} are not in records; present: {order}")
    order = [m for m in order if m not in exclude]
    frame = frame[frame["model"].isin(order)]
    if frame.empty:
        raise ValueError(
            f"no records of kind {kind!r} for models {order}; kinds present: "
            f"{sorted(records['kind'].unique())}"
        )
    table = frame.groupby(["subset_id", "model"], sort=False)["z"].mean().unstack("model")
    return table.reindex(columns=[m for m in order if m in table.columns])


def _r2_boot(
    table: pd.DataFrame, *, n_boot: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        Needs ``subset_id, dataset, size, kind, model`` and ``value``.
    kind : {"all", "selected", "random"}
        Which subsets enter the correlation (Z always uses the random baseline).
    n_boot : int
        Bootstrap resamples of subsets (:func:`bootstrap_indices` with ``seed``); 0 gives
        NaN intervals.
    seed : int
    ci : float in (0, 1)
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
    _check_ci(ci)
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
    _check_ci(ci)
    table = zscore_table(records, kind=kind, value=value, models=models, exclude=exclude)
    P = table.shape[1]
    if P < 2:
        raise ValueError(
            f"mean R^2 needs at least 2 models after excluding {tuple(exclude)}; "
            f"got {list(table.columns)}"
        )
    point, boot, _ = _r2_boot(table, n_boot=n_boot, seed=seed)
    iu = np.triu_indices(P, 1)
    pairs_point, pairs_boot = point[iu], boot[:, iu[0], iu[1]]
    estimate = float(np.nanmean(pairs_point)) if np.isfinite(pairs_point).any() else np.nan
    finite = np.isfinite(pairs_boot).any(axis=1)
    boot_mean = np.full(n_boot, np.nan)
    boot_mean[finite] = np.nanmean(pairs_boot[finite], axis=1)
    lo, hi = percentile_interval(boot_mean, ci=ci)
    return {
        "r2": estimate,
        "lo": float(lo),
        "hi": float(hi),
        "n_pairs": int(len(iu[0])),
        "n_subsets": int(len(table)),
    }


# --------------------------------------------------------------------------- KS


def ks_normal(
    records: pd.DataFrame, *, value: str = "error", exclude: Iterable[str] = ()
) -> dict[str, float]:
    """Kolmogorov-Smirnov test of the pooled random-subset Z-scores against N(0, 1).

    Every random row (all models, sizes, seeds) enters once. Z is standardized with its
    own cell's mean and sd, so N(0, 1) is not a fully pre-specified null; the p-value is
    conservative (Lilliefors), as in the paper.

    Parameters
    ----------
    records : DataFrame
    value : str
    exclude : iterable of str
        Models to leave out.

    Returns
    -------
    dict
        ``statistic``, ``p`` (``scipy.stats.kstest(z, "norm")``) and ``n`` (rows pooled).
    """
    _require(records, ["kind", "model"], what="records")
    z = zscores(records, value=value)
    keep = (records["kind"] == "random") & ~records["model"].isin(set(exclude))
    zr = z[keep].to_numpy()
    if len(zr) == 0:
        raise ValueError("no random-subset rows to test; records need kind='random' rows")
    res = scipy.stats.kstest(zr, "norm")
    return {"statistic": float(res.statistic), "p": float(res.pvalue), "n": int(len(zr))}


# --------------------------------------------------------------------------- ANOVA


def variance_explained(
    records: pd.DataFrame,
    *,
    kind: str = "random",
    value: str = "error",
    log: bool = True,
    interaction: bool = True,
    exclude: Iterable[str] = (),
    by: str | None = None,
) -> pd.DataFrame:
    """Share of the variance of error explained by model and size (two-way OLS).

    Fits ``y ~ C(model) + C(size) [+ C(model):C(size)]`` with statsmodels, ``y = log(value)``
    (default) or ``value``, and divides the sequential (type I, model first) ANOVA sums of
    squares by the total sum of squares. With ``by="model"`` (or ``"size"``) one fit per
    level of that column with the other factor only: e.g. how much of each model's error
    size explains.

    Parameters
    ----------
    records : DataFrame
        Needs ``kind, model, size`` and ``value``.
    kind : {"random", "selected", "all"}
    value : str
    log : bool
        Regress ``log(value)``; values must then be > 0.
    interaction : bool
        Include ``C(model):C(size)`` (then the residual is the within-cell spread).
    exclude : iterable of str
        Models to leave out.
    by : {None, "model", "size"}

    Returns
    -------
    DataFrame
        Columns ``[by,] term, sum_sq, df, share``; ``term`` in ``model, size, model:size,
        residual, explained`` (explained = total minus residual, ``share`` = 1 - residual
        share).
    """
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    _require(records, ["kind", "model", "size", value], what="records")
    if by not in (None, "model", "size"):
        raise ValueError(f"by must be None, 'model' or 'size', got {by!r}")
    rows = _select_kind(records, kind)
    rows = rows[~rows["model"].isin(set(exclude))]
    if rows.empty:
        raise ValueError(f"no records of kind {kind!r} after excluding {tuple(exclude)}")
    y = _finite_values(rows, value)
    if log:
        if (y <= 0).any():
            raise ValueError(
                f"log=True needs {value!r} > 0, but {int((y <= 0).sum())} row(s) are <= 0 "
                f"(a perfect test score); pass log=False to regress {value!r} itself"
            )
        y = np.log(y)
    data = pd.DataFrame(
        {"y": y, "model": rows["model"].astype(str).to_numpy(), "size": rows["size"].to_numpy()}
    )
    factors = [f for f in ("model", "size") if f != by]
    groups = [(None, data)] if by is None else list(data.groupby(by, sort=True))
    out = []
    for level, part in groups:
        for f in factors:
            if part[f].nunique() < 2:
                where = "" if by is None else f" for {by}={level!r}"
                raise ValueError(
                    f"{f} has a single level{where} in kind={kind!r}; variance explained by "
                    f"{f} needs at least 2 levels"
                )
        terms = [f"C({f})" for f in factors]
        if interaction and len(factors) == 2:
            terms.append("C(model):C(size)")
        with warnings.catch_warnings():
            # an unbalanced grid (a model run at some sizes only) leaves empty interaction
            # cells: the design is rank-deficient by construction, and the sequential sums
            # of squares are still well defined
            warnings.filterwarnings("ignore", message="The design matrix is rank-deficient")
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            fit = smf.ols("y ~ " + " + ".join(terms), data=part).fit()
            table = anova_lm(fit, typ=1)
        total = float(((part["y"] - part["y"].mean()) ** 2).sum())
        if not total > 0:
            raise ValueError(f"{value!r} is constant{'' if by is None else f' for {by}={level!r}'}; "
                             f"there is no variance to explain")
        names = [re.sub(r"C\((\w+)\)", r"\1", t) for t in table.index[:-1]] + ["residual"]
        frame = pd.DataFrame(
            {
                "term": names,
                "sum_sq": table["sum_sq"].to_numpy(),
                "df": table["df"].to_numpy(),
            }
        )
        resid = frame.iloc[-1]
        explained = {
            "term": "explained",
            "sum_sq": total - resid["sum_sq"],
            "df": float(frame["df"].iloc[:-1].sum()),
        }
        frame = pd.concat([frame, pd.DataFrame([explained])], ignore_index=True)
        frame["share"] = frame["sum_sq"] / total
        if by is not None:
            frame.insert(0, by, level)
        out.append(frame)
    return pd.concat(out, ignore_index=True)


# --------------------------------------------------------------------------- Spearman


def class_columns(records: pd.DataFrame) -> dict[int, str]:
    """Per-class accuracy columns ``acc_class_<k>`` of ``records``, by class ``k``."""
    cols = {int(m.group(1)): c for c in records.columns if (m := CLASS_COLUMN.match(str(c)))}
    if not cols:
        raise ValueError(
            "records have no per-class accuracy columns 'acc_class_<k>'; record per-class "
            "accuracy in training.evaluate"
        )
    return dict(sorted(cols.items()))


def class_spearman(
    records: pd.DataFrame,
    *,
    models: Sequence[str] | None = None,
    kind: str = "all",
    exclude: Iterable[str] = (),
    standardize: bool = False,
) -> dict[int, pd.DataFrame]:
    """Spearman rho between models of per-class accuracy over subsets, one matrix per class.

    Per class k the subsets x models table of ``acc_class_k`` (mean over seeds) is
    correlated pairwise (subsets both models have; NaN where fewer than 3).

    Parameters
    ----------
    records : DataFrame
        Needs ``subset_id, kind, model`` and ``acc_class_<k>`` columns.
    models : sequence of str, optional
        Model order; default: order of first appearance.
    kind : {"all", "selected", "random"}
    exclude : iterable of str
    standardize : bool
        Z-score each class's accuracy per (dataset, size, model) against the random
        subsets first (as for error). Pooled over sizes, raw accuracy correlates across
        models partly because every model improves with size; standardizing removes that.

    Returns
    -------
    dict of int -> DataFrame, shape (P, P)
        Class k -> models x models Spearman rho.
    """
    _require(records, ["subset_id", "kind", "model"], what="records")
    cols = class_columns(records)
    order = list(pd.unique(records["model"])) if models is None else list(models)
    unknown = sorted(set(order) - set(records["model"]))
    if unknown:
        raise ValueError(f"models {unknown} are not in records; present: {order}")
    order = [m for m in order if m not in set(exclude)]
    values = records[list(cols.values())]
    if standardize:
        values = pd.DataFrame({c: zscores(records, value=c) for c in cols.values()})
    frame = pd.concat([records[["subset_id", "model", "kind"]], values], axis=1)
    frame = _select_kind(frame, kind)
    frame = frame[frame["model"].isin(order)]
    if frame.empty:
        raise ValueError(f"no records of kind {kind!r} for models {order}")
    wide = frame.groupby(["subset_id", "model"], sort=False)[list(cols.values())].mean()
    wide = wide.unstack("model")
    out = {}
    for k, c in cols.items():
        table = wide[c].reindex(columns=[m for m in order if m in wide[c].columns])
        out[k] = table.corr(method="spearman", min_periods=MIN_SHARED)
    return out


# --------------------------------------------------------------------------- overlap


def subset_overlap(
    manifest: pd.DataFrame, *, size: int | None = None, dataset: str | None = None
) -> pd.DataFrame:
    """Percent of images each pair of subsets of one size shares.

    ``overlap[i, j] = 100 * |A_i & A_j| / |A_i|`` (the subsets of one size have equal
    sizes, so the table is symmetric; duplicate indices count once). Computed as the
    product of a sparse subsets x images incidence matrix with its transpose.

    Parameters
    ----------
    manifest : DataFrame
        Needs ``subset_id, size, indices`` (and ``dataset`` when it holds several).
    size : int, optional
        Which size; required when the manifest holds several.
    dataset : str, optional
        Which dataset; required when the manifest holds several.

    Returns
    -------
    DataFrame, shape (S, S)
        Index and columns ``subset_id`` in manifest order; diagonal 100.
    """
    import scipy.sparse

    _require(manifest, ["subset_id", "size", "indices"], what="manifest")
    rows = manifest
    if dataset is not None or ("dataset" in rows.columns and rows["dataset"].nunique() > 1):
        if dataset is None:
            raise ValueError(
                f"manifest holds datasets {sorted(rows['dataset'].unique())}; pass dataset="
            )
        rows = rows[rows["dataset"] == dataset]
    sizes = sorted(rows["size"].unique())
    if size is None:
        if len(sizes) != 1:
            raise ValueError(f"manifest holds sizes {sizes}; pass size= one of them")
        size = sizes[0]
    rows = rows[rows["size"] == size]
    if rows.empty:
        raise ValueError(f"no subsets of size {size} (sizes present: {sizes})")
    if rows["subset_id"].duplicated().any():
        raise ValueError("manifest has duplicate subset_id values; one row per subset")
    lists = [np.asarray(ix, dtype=np.int64).ravel() for ix in rows["indices"]]
    lengths = np.array([len(ix) for ix in lists])
    if (lengths == 0).any():
        empty = rows["subset_id"].to_numpy()[lengths == 0][:5].tolist()
        raise ValueError(f"subsets {empty} have no indices; overlap percent is undefined")
    flat = np.concatenate(lists)
    if flat.min() < 0:
        raise ValueError("indices must be >= 0 (indices into the training split)")
    S = len(lists)
    incidence = scipy.sparse.csr_matrix(
        (np.ones(len(flat)), (np.repeat(np.arange(S), lengths), flat)),
        shape=(S, int(flat.max()) + 1),
    )
    incidence.sum_duplicates()
    incidence.data[:] = 1.0
    shared = (incidence @ incidence.T).toarray()
    percent = 100.0 * shared / np.diag(shared)[:, None]
    ids = rows["subset_id"].to_numpy()
    return pd.DataFrame(
        percent, index=pd.Index(ids, name="subset_id"), columns=pd.Index(ids, name="subset_id")
    )


# --------------------------------------------------------------------------- headline


def headline_table(
    records: pd.DataFrame,
    *,
    exclude: Iterable[str] = ("gnb",),
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    log: bool = True,
) -> pd.DataFrame:
    """The headline numbers of study X in one tidy table.

    Rows: mean R^2 (models in ``exclude`` left out) with CI for all / selected / random
    subsets; the KS statistic and p of pooled random Z (all models); the variance of error
    explained by model, size, their interaction, and in total (:func:`variance_explained`,
    ``exclude`` left out, as the paper excepts GNB) for random and selected subsets. Kinds
    absent from ``records`` are skipped.

    Parameters
    ----------
    records : DataFrame
    exclude : iterable of str
    n_boot, seed, ci
        Bootstrap of the mean R^2.
    log : bool
        Passed to :func:`variance_explained`.

    Returns
    -------
    DataFrame
        Columns ``quantity, subsets, value, lo, hi, n`` (``n``: subsets for R^2, rows for
        KS and variance; ``lo, hi`` NaN where there is no interval).
    """
    _require(records, ["kind"], what="records")
    exclude = tuple(exclude)
    present = set(records["kind"].unique())
    rows = []
    for kind in KINDS:
        if kind != "all" and kind not in present:
            continue
        m = mean_r2(records, kind=kind, exclude=exclude, n_boot=n_boot, seed=seed, ci=ci)
        rows.append(("mean_r2", kind, m["r2"], m["lo"], m["hi"], m["n_subsets"]))
    ks = ks_normal(records)
    rows.append(("ks_statistic", "random", ks["statistic"], np.nan, np.nan, ks["n"]))
    rows.append(("ks_p", "random", ks["p"], np.nan, np.nan, ks["n"]))
    for kind in ("random", "selected"):
        if kind not in present:
            continue
        ve = variance_explained(records, kind=kind, exclude=exclude, log=log)
        n = int(((records["kind"] == kind) & ~records["model"].isin(set(exclude))).sum())
        for term, share in zip(ve["term"], ve["share"]):
            if term != "residual":
                rows.append((f"variance_{term}", kind, share, np.nan, np.nan, n))
    return pd.DataFrame(rows, columns=["quantity", "subsets", "value", "lo", "hi", "n"])

"""General statistics of records: Z-scores, bootstrap CIs, KS, variance explained, overlap.

Every function takes a tidy records frame (one row per (subset, model, seed); see
``docs/architecture.md``) or a manifest, and returns a tidy frame or a small dict. The
agreement between models built on these (R^2 of Z-scores, per-class Spearman) is in
:mod:`xfactor_lib.agreement`; study X's headline numbers and verdict in
:mod:`xfactor_lib.studies.x`. A *cell* is ``(dataset, n, model)``: one model on the subsets
of ``n`` images per class.

Choices the paper and SPEC section 1 leave open, fixed here:

- **Z-score** ``(error - mean_random) / sd_random`` per cell; ``sd`` is the *sample*
  standard deviation (``ddof=1``). A cell needs at least 2 random subsets whose values
  differ by more than rounding (``sd > 1e-9 * max |value|``).
- **Bootstrap**: resample observations with replacement; the resample indices come from
  :func:`bootstrap_indices` (``numpy.random.default_rng(seed).integers``), so they can be
  reproduced; the CI is the percentile interval, NaN resamples left out.
- **Variance explained**: OLS of ``log(error)`` (Fig. 2's straight lines are on log-log
  axes: n and model act multiplicatively on error, and the log keeps GNB's high errors
  from dominating the sums of squares) on ``C(model) + C(n) + C(model):C(n)``; shares are
  sequential (type I) sums of squares over the total. The paper reports it per model
  (``by="model"``: the share of one model's variance that n explains).
"""

from __future__ import annotations

import re
import warnings
from typing import Callable, Iterable, NamedTuple, Sequence

import numpy as np
import pandas as pd
import scipy.stats

from ._validation import check_choice, check_frame, check_rate

KINDS = ("all", "selected", "random")
CELL = ("dataset", "n", "model")
SD_RTOL = 1e-9  # an sd below this fraction of the values' magnitude is rounding noise


class BootstrapCI(NamedTuple):
    """Point estimate with a percentile bootstrap interval."""

    estimate: float
    lo: float
    hi: float


def _finite_values(records: pd.DataFrame, value: str) -> np.ndarray:
    try:
        v = records[value].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"column {value!r} must be numeric: {exc}") from None
    if not np.isfinite(v).all():
        bad = records.index[~np.isfinite(v)][:5].tolist()
        raise ValueError(
            f"column {value!r} has non-finite values (rows {bad}...); drop failed runs before computing statistics"
        )
    return v


def select_kind(records: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The rows of one ``kind`` of subset; ``"all"`` keeps every row."""
    check_choice(kind, "kind", KINDS)
    return records if kind == "all" else records[records["kind"] == kind]


def _cells(frame: pd.DataFrame, by: Sequence[str], limit: int = 5) -> list:
    return [tuple(r) for r in frame[list(by)].head(limit).itertuples(index=False)]


# --------------------------------------------------------------------------- Z-scores


def zscores(records: pd.DataFrame, *, value: str = "error", by: Sequence[str] = CELL) -> pd.Series:
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
        A missing column, a non-finite value, or a cell with no, one, or only (nearly)
        identical random values: mean or sd undefined, or sd at most ``1e-9`` times the
        largest magnitude of the cell's random values (rounding noise would become Z ~ 1e15).
    """
    by = list(by)
    check_frame(records, ["kind", value, *by], what="records")
    v = _finite_values(records, value)
    frame = records[by].copy()
    frame["_v"] = v
    frame["_abs"] = np.abs(v)
    random = frame[records["kind"].to_numpy() == "random"]
    grouped = random.groupby(by, sort=False, dropna=False)
    base = grouped["_v"].agg(["mean", "std", "count"]).join(grouped["_abs"].max().rename("scale")).reset_index()
    merged = frame.merge(base, on=by, how="left", validate="many_to_one")

    no_random = merged["count"].isna()
    if no_random.any():
        raise ValueError(
            f"{int(no_random.sum())} row(s) have no random subsets in their {tuple(by)} cell, e.g. "
            f"{_cells(merged[no_random], by)}; Z-scores need the random subsets of every cell "
            f"(include kind='random' records)"
        )
    few = base[base["count"] < 2]
    if len(few):
        raise ValueError(
            f"{len(few)} {tuple(by)} cell(s) have fewer than 2 random subsets, so the sd is undefined, e.g. "
            f"{_cells(few, by)}; generate at least 2 random subsets per cell"
        )
    flat = base[~(base["std"] > SD_RTOL * base["scale"])]
    if len(flat):
        raise ValueError(
            f"{len(flat)} {tuple(by)} cell(s) have (nearly) identical {value!r} on all their random subsets "
            f"(sd = {flat['std'].iloc[0]:.3g} <= {SD_RTOL:g} x their magnitude), e.g. {_cells(flat, by)}; "
            f"Z-scores are undefined there (use a larger test split or more random subsets)"
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
    ci : float in (0, 1]

    Returns
    -------
    lo, hi : ndarray, shape boot.shape[1:]
        ``numpy.nanquantile`` (linear) at ``(1 - ci) / 2`` and ``(1 + ci) / 2``; NaN where
        there are no finite resamples.
    """
    alpha = (1 - check_rate(ci, "ci")) / 2
    boot = np.asarray(boot, dtype=float)
    if boot.shape[0] == 0:
        nan = np.full(boot.shape[1:], np.nan)
        return nan, nan.copy()
    finite = np.isfinite(boot).any(axis=0)
    safe = np.where(finite[None], boot, 0.0)  # all-NaN columns would warn; masked below
    lo, hi = np.nanquantile(safe, [alpha, 1 - alpha], axis=0)
    return np.where(finite, lo, np.nan), np.where(finite, hi, np.nan)


def bootstrap_ci(
    values: np.ndarray, stat: Callable[..., np.ndarray], *, n_boot: int = 1000, seed: int = 0, ci: float = 0.95
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
    ci : float in (0, 1]

    Returns
    -------
    BootstrapCI
        ``(estimate, lo, hi)``.
    """
    check_rate(ci, "ci")
    values = np.asarray(values, dtype=float)
    if values.ndim not in (1, 2) or values.shape[0] == 0:
        raise ValueError(f"values must have shape (S,) or (S, d) with S >= 1, got shape {values.shape}")
    estimate = np.asarray(stat(values[None], axis=1))
    if estimate.shape != (1,):
        raise ValueError(
            f"stat must reduce axis 1 of a (B, S, ...) batch to shape (B,); on a batch of shape "
            f"{values[None].shape} it returned shape {estimate.shape}"
        )
    idx = bootstrap_indices(values.shape[0], n_boot=n_boot, seed=seed)
    boot = np.asarray(stat(values[idx], axis=1), dtype=float).reshape(n_boot)
    lo, hi = percentile_interval(boot, ci=ci)
    return BootstrapCI(float(estimate[0]), float(lo), float(hi))


# --------------------------------------------------------------------------- KS


def ks_normal(records: pd.DataFrame, *, value: str = "error", exclude: Iterable[str] = ()) -> dict[str, float]:
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
    check_frame(records, ["kind", "model"], what="records")
    z = zscores(records, value=value)
    keep = (records["kind"] == "random") & ~records["model"].isin(set(exclude))
    zr = z[keep].to_numpy()
    if len(zr) == 0:
        raise ValueError("no random-subset rows to test; records need kind='random' rows")
    res = scipy.stats.kstest(zr, "norm")
    return {"statistic": float(res.statistic), "p": float(res.pvalue), "n": int(len(zr))}


# --------------------------------------------------------------------------- ANOVA


def _anova_shares(part: pd.DataFrame, factors: Sequence[str], interaction: bool) -> pd.DataFrame:
    """Sequential sums of squares of ``y ~ C(f) + ... [+ interaction]`` over the total."""
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    terms = [f"C({f})" for f in factors]
    if interaction and len(factors) == 2:
        terms.append(":".join(terms))
    with warnings.catch_warnings():
        # an unbalanced grid (a model run at some sizes only) leaves empty interaction cells:
        # the design is rank-deficient by construction, and the sequential sums of squares
        # are still well defined
        warnings.filterwarnings("ignore", message="The design matrix is rank-deficient")
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        table = anova_lm(smf.ols("y ~ " + " + ".join(terms), data=part).fit(), typ=1)
    total = float(((part["y"] - part["y"].mean()) ** 2).sum())
    names = [re.sub(r"C\((\w+)\)", r"\1", t) for t in table.index[:-1]] + ["residual"]
    frame = pd.DataFrame({"term": names, "sum_sq": table["sum_sq"].to_numpy(), "df": table["df"].to_numpy()})
    explained = {"term": "explained", "sum_sq": total - frame["sum_sq"].iloc[-1], "df": frame["df"].iloc[:-1].sum()}
    frame = pd.concat([frame, pd.DataFrame([explained])], ignore_index=True)
    frame["share"] = frame["sum_sq"] / total
    return frame


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
    """Share of the variance of error explained by model and n (two-way OLS).

    Fits ``y ~ C(model) + C(n) [+ C(model):C(n)]`` with statsmodels, ``y = log(value)``
    (default) or ``value``, and divides the sequential (type I, model first) ANOVA sums of
    squares by the total sum of squares. With ``by="model"`` (or ``"n"``) one fit per level
    of that column with the other factor only: ``by="model"`` is the paper's number, the
    share of each model's variance that n explains.

    Parameters
    ----------
    records : DataFrame
        Needs ``kind, model, n`` and ``value``.
    kind : {"random", "selected", "all"}
    value : str
    log : bool
        Regress ``log(value)``; values must then be > 0.
    interaction : bool
        Include ``C(model):C(n)`` (then the residual is the within-cell spread).
    exclude : iterable of str
        Models to leave out.
    by : {None, "model", "n"}

    Returns
    -------
    DataFrame
        Columns ``[by,] term, sum_sq, df, share``; ``term`` in ``model, n, model:n, residual,
        explained`` (explained = total minus residual).
    """
    check_frame(records, ["kind", "model", "n", value], what="records")
    if by is not None:
        check_choice(by, "by", ("model", "n"))
    rows = select_kind(records, kind)
    rows = rows[~rows["model"].isin(set(exclude))]
    if rows.empty:
        raise ValueError(f"no records of kind {kind!r} after excluding {tuple(exclude)}")
    y = _finite_values(rows, value)
    if log:
        if (y <= 0).any():
            raise ValueError(
                f"log=True needs {value!r} > 0, but {int((y <= 0).sum())} row(s) are <= 0 (a perfect test "
                f"score); pass log=False to regress {value!r} itself"
            )
        y = np.log(y)
    data = pd.DataFrame({"y": y, "model": rows["model"].astype(str).to_numpy(), "n": rows["n"].to_numpy()})
    factors = [f for f in ("model", "n") if f != by]
    out = []
    for level, part in [(None, data)] if by is None else data.groupby(by, sort=True):
        where = "" if by is None else f" for {by}={level!r}"
        for f in factors:
            if part[f].nunique() < 2:
                raise ValueError(
                    f"{f} has a single level{where} in kind={kind!r}; variance explained by {f} needs at least 2 levels"
                )
        if not np.ptp(part["y"].to_numpy()) > 0:
            raise ValueError(f"{value!r} is constant{where}; there is no variance to explain")
        frame = _anova_shares(part, factors, interaction)
        if by is not None:
            frame.insert(0, by, level)
        out.append(frame)
    return pd.concat(out, ignore_index=True)


# --------------------------------------------------------------------------- overlap


def subset_overlap(manifest: pd.DataFrame, *, n: int | None = None, dataset: str | None = None) -> pd.DataFrame:
    """Percent of images each pair of subsets of one ``n`` (images per class) shares.

    ``overlap[i, j] = 100 * |A_i & A_j| / |A_i|`` (the subsets of one n have equal sizes,
    so the table is symmetric; duplicate indices count once). Computed as the product of a
    sparse subsets x images incidence matrix with its transpose.

    Parameters
    ----------
    manifest : DataFrame
        Needs ``subset_id, n, indices`` (and ``dataset`` when it holds several).
    n : int, optional
        Which n; required when the manifest holds several.
    dataset : str, optional
        Which dataset; required when the manifest holds several.

    Returns
    -------
    DataFrame, shape (S, S)
        Index and columns ``subset_id`` in manifest order; diagonal 100.
    """
    import scipy.sparse

    check_frame(manifest, ["subset_id", "n", "indices"], what="manifest")
    rows = manifest
    if dataset is not None or ("dataset" in rows.columns and rows["dataset"].nunique() > 1):
        if dataset is None:
            raise ValueError(f"manifest holds datasets {sorted(rows['dataset'].unique())}; pass dataset=")
        rows = rows[rows["dataset"] == dataset]
    ns = sorted(rows["n"].unique())
    if n is None:
        if len(ns) != 1:
            raise ValueError(f"manifest holds n = {ns}; pass n= one of them")
        n = ns[0]
    rows = rows[rows["n"] == n]
    if rows.empty:
        raise ValueError(f"no subsets of n = {n} (present: {ns})")
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
        (np.ones(len(flat)), (np.repeat(np.arange(S), lengths), flat)), shape=(S, int(flat.max()) + 1)
    )
    incidence.sum_duplicates()
    incidence.data[:] = 1.0
    shared = (incidence @ incidence.T).toarray()
    percent = 100.0 * shared / np.diag(shared)[:, None]
    ids = pd.Index(rows["subset_id"].to_numpy(), name="subset_id")
    return pd.DataFrame(percent, index=ids, columns=ids.copy())

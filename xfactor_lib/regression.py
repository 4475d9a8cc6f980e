"""Which diversity features explain performance: OLS on log features (study A, SPEC 2).

Every regression is ordinary least squares (with an intercept) of a performance column
(``bacc`` by default; ``acc``, ``auc_macro`` ... alike) on the logs of the chosen features
plus the logs of the 3 systematic features ``pixels``, ``channels``, ``classes``, pooled
over all rows (all datasets). :func:`fit_all_subsets` scores every single feature, every
pair, every triple (``C(27, 3) = 2925``) and named groups by adjusted R^2.

Choices, fixed here
-------------------
- **Logs** of features and systematic features (the paper: logs let the regression find
  scaling relations such as class balance per class). A non-positive value is an error.
- **Constant columns** (a systematic feature that does not vary, e.g. ``channels`` when every
  dataset is greyscale; a feature constant over the rows) are dropped: their log is collinear
  with the intercept and adds nothing. Systematic columns collinear with each other (two
  datasets pooled: pixels and channels each take two values) are kept; the fit then uses
  the pseudo-inverse and the model's degrees of freedom are the design's rank, exactly as
  statsmodels' ``OLS`` does (``df_resid = n - rank``).
- **Adjusted R^2** is statsmodels' ``rsquared_adj``: ``1 - (n - 1) / (n - rank) * (1 - R^2)``;
  ``NaN`` when ``n <= rank``.
- **Speed**: the systematic block is projected out once; each subset's residual sum of
  squares then comes from a batched QR of its (projected) columns. Subsets whose columns
  are (nearly) collinear, every named group, and the top ``validate`` of each kind are
  fitted with statsmodels; validated values must agree with the batched ones to 1e-8 (a
  RuntimeError otherwise), and the table then reports statsmodels' numbers
  (``method == "statsmodels"``).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_frame
from .diversity import FEATURE_NAMES

__all__ = [
    "FEATURE_NAMES",
    "FEATURE_GROUPS",
    "SYSTEMATIC",
    "KINDS",
    "ols",
    "fit_all_subsets",
    "top_table",
    "fit_targets",
    "top_tables",
    "feature_r2_matrix",
]

SYSTEMATIC = ("pixels", "channels", "classes")
KINDS = ("single", "pair", "triple", "group")
_SIZE_KIND = {1: "single", 2: "pair", 3: "triple"}
_DEGENERATE = 1e-7  # |R_ii| / |column| below this: leave the subset to statsmodels
_AGREE = 1e-8


def _family(name: str) -> tuple[str, ...]:
    head = {"alpha": "A", "rho": "R", "gamma": "G"}[name]
    return tuple(f for f in FEATURE_NAMES if f.startswith(f"{name}_") or f.split("_")[0] == head)


FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "all alphas": _family("alpha"),
    "all rhos": _family("rho"),
    "all gammas": _family("gamma"),
    "class balances": ("CB_1", "CB_inf"),
    "size + class balances": ("size", "CB_1", "CB_inf"),
    "all 27": FEATURE_NAMES,
}


# --------------------------------------------------------------------------- checks
def _as_names(x: Any, what: str) -> tuple[str, ...]:
    if isinstance(x, str):
        return (x,)
    try:
        names = tuple(x)
    except TypeError as exc:
        raise TypeError(f"{what} must be a column name or a sequence of them, got {x!r}") from exc
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"{what} must be column names (str), got {names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} has duplicates: {names}")
    return names


def _logs(df: pd.DataFrame, names: Sequence[str], what: str) -> np.ndarray:
    if not names:
        return np.empty((len(df), 0))
    try:
        V = df[list(names)].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} {list(names)} must be numeric columns") from exc
    bad = ~np.isfinite(V) | (V <= 0)
    if bad.any():
        cols = [names[j] for j in np.flatnonzero(bad.any(axis=0))]
        raise ValueError(
            f"{what} {cols} must be finite and > 0 (the regression uses their logs); "
            f"{int(bad.any(axis=1).sum())} row(s) are not: drop those rows or fix the values"
        )
    return np.log(V)


def _target(df: pd.DataFrame, target: str) -> np.ndarray:
    check_frame(df, [target], what="df")
    try:
        y = df[target].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"target {target!r} must be a numeric column") from exc
    if not np.isfinite(y).all():
        raise ValueError(
            f"target {target!r} has {int((~np.isfinite(y)).sum())} non-finite value(s); drop those rows first"
        )
    if len(y) < 2:
        raise ValueError(f"need at least 2 rows to regress, got {len(y)}")
    return y


def _nonconstant(L: np.ndarray) -> np.ndarray:
    return np.ptp(L, axis=0) > 0 if L.shape[0] else np.zeros(L.shape[1], dtype=bool)


def _adj(r2: np.ndarray | float, n: int, rank: np.ndarray | int) -> np.ndarray:
    rank = np.asarray(rank, dtype=np.float64)
    df_resid = n - rank
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 - (n - 1.0) / df_resid * (1.0 - np.asarray(r2, dtype=np.float64))
    return np.where(df_resid > 0, out, np.nan)


def _close(a: float, b: float) -> bool:
    return bool(np.isnan(a) and np.isnan(b)) or abs(a - b) <= _AGREE


# --------------------------------------------------------------------------- statsmodels fit
def ols(
    df: pd.DataFrame, features: str | Sequence[str], *, target: str = "bacc", systematic: Sequence[str] = SYSTEMATIC
):
    """statsmodels OLS of ``target`` on ``log(features)`` + ``log(systematic)`` + intercept.

    Parameters
    ----------
    df : DataFrame
        One row per subset (pooled over datasets).
    features : str or sequence of str
    target : str
        Performance column (not logged).
    systematic : sequence of str
        Always included (logged); constant ones are dropped.

    Returns
    -------
    statsmodels RegressionResults
        ``model.exog_names`` lists the columns actually used.
    """
    import statsmodels.api as sm

    feats = _as_names(features, "features")
    sys_ = _as_names(systematic, "systematic")
    check_frame(df, list(feats) + list(sys_), what="df")
    y = _target(df, target)
    names = list(sys_) + [f for f in feats if f not in sys_]
    L = _logs(df, names, "features/systematic")
    keep = _nonconstant(L)
    exog = pd.DataFrame(L[:, keep], columns=[f"log_{n}" for n, k in zip(names, keep) if k], index=df.index)
    exog.insert(0, "const", 1.0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The design matrix is rank-deficient")
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        return sm.OLS(pd.Series(y, index=df.index, name=target), exog).fit()


# --------------------------------------------------------------------------- all subsets
def _sys_basis(Ls: np.ndarray) -> np.ndarray:
    """Orthonormal basis of span{1, log systematic}, of the design's rank."""
    M0 = np.concatenate([np.ones((Ls.shape[0], 1)), Ls[:, _nonconstant(Ls)]], axis=1)
    r0 = np.linalg.matrix_rank(M0)
    U = np.linalg.svd(M0, full_matrices=False)[0]
    return U[:, :r0]


def _batched_rss(
    Ft: np.ndarray, yt: np.ndarray, norms: np.ndarray, combos: np.ndarray, chunk_elems: int = 1 << 22
) -> tuple[np.ndarray, np.ndarray]:
    """Residual sums of squares of ``yt`` on each combination of the columns of ``Ft``.

    Returns (rss, degenerate) with shapes (n_combos,).
    """
    n = Ft.shape[0]
    n_combo, k = combos.shape
    rss = np.empty(n_combo)
    degenerate = np.zeros(n_combo, dtype=bool)
    step = max(1, chunk_elems // max(n * k, 1))
    yy = float(yt @ yt)
    for s in range(0, n_combo, step):
        c = combos[s : s + step]
        Xb = np.moveaxis(Ft[:, c], 0, 1)  # (B, n, k)
        Q, R = np.linalg.qr(Xb)
        proj = np.einsum("bnk,n->bk", Q, yt)
        rss[s : s + step] = yy - np.einsum("bk,bk->b", proj, proj)
        diag = np.abs(np.diagonal(R, axis1=1, axis2=2))
        degenerate[s : s + step] = ((diag <= _DEGENERATE * norms[c]) | (norms[c] == 0)).any(axis=1)
    return np.maximum(rss, 0.0), degenerate


def fit_all_subsets(
    df: pd.DataFrame,
    *,
    target: str = "bacc",
    features: Sequence[str] = FEATURE_NAMES,
    systematic: Sequence[str] = SYSTEMATIC,
    max_size: int = 3,
    groups: Mapping[str, Sequence[str]] | None = None,
    validate: int = 10,
) -> pd.DataFrame:
    """Adjusted R^2 of every single feature, pair, triple (up to ``max_size``) and group.

    Parameters
    ----------
    df : DataFrame
        One row per subset with the ``features``, ``systematic`` and ``target`` columns.
    target : str
        Performance column: ``bacc`` (default), ``acc``, ``auc_macro``, ...
    features : sequence of str
        Candidate features (default: the 27 of :data:`xfactor_lib.diversity.FEATURE_NAMES`).
    systematic : sequence of str
        Included (logged) in every regression; constant ones dropped.
    max_size : int
        Largest combination size (1..3 give singles, pairs, triples).
    groups : mapping name -> features, optional
        Default :data:`FEATURE_GROUPS` restricted to groups inside ``features``; pass ``{}``
        for none.
    validate : int
        Refit the top ``validate`` of each kind with statsmodels and report its numbers.

    Returns
    -------
    DataFrame
        One row per regression: ``kind`` (single/pair/triple/group), ``label``
        (``"A_0 + size"`` or the group name), ``features`` (tuple), ``k`` (features chosen),
        ``r2``, ``adj_r2``, ``n_obs``, ``df_model`` (rank - 1), ``target``, ``method``
        (``numpy`` or ``statsmodels``); sorted by kind, then ``adj_r2`` descending.
    """
    feats = _as_names(features, "features")
    sys_ = _as_names(systematic, "systematic")
    if not feats:
        raise ValueError("features is empty; pass at least one feature column")
    if isinstance(max_size, bool) or not isinstance(max_size, (int, np.integer)) or max_size < 0:
        raise ValueError(f"max_size must be an int >= 0, got {max_size!r}")
    overlap = sorted(set(feats) & set(sys_))
    if overlap:
        raise ValueError(f"{overlap} are both features and systematic; list each column once")
    check_frame(df, list(feats) + list(sys_), what="df")
    if groups is None:
        groups = {g: m for g, m in FEATURE_GROUPS.items() if set(m) <= set(feats)}
    else:
        if not isinstance(groups, Mapping):
            raise TypeError(f"groups must be a mapping name -> feature names, got {type(groups).__name__}")
        groups = {str(g): _as_names(m, f"group {g!r}") for g, m in groups.items()}
        check_frame(df, sorted({f for m in groups.values() for f in m}), what="df")
    y = _target(df, target)
    n = len(y)
    F = _logs(df, feats, "features")
    Ls = _logs(df, sys_, "systematic")

    Q0 = _sys_basis(Ls)
    r0 = Q0.shape[1]
    yt = y - Q0 @ (Q0.T @ y)
    Ft = F - Q0 @ (Q0.T @ F)
    tss = float(np.sum((y - y.mean()) ** 2))
    if tss == 0:
        raise ValueError(f"target {target!r} is constant over the rows; R^2 is undefined")
    norms = np.linalg.norm(F - F.mean(axis=0), axis=0)

    rows: list[dict[str, Any]] = []
    fallback: list[int] = []
    for size in range(1, min(max_size, len(feats)) + 1):
        combos = np.array(list(itertools.combinations(range(len(feats)), size)), dtype=np.intp)
        rss, degenerate = _batched_rss(Ft, yt, norms, combos)
        r2 = 1.0 - rss / tss
        adj = _adj(r2, n, r0 + size)
        for c, a, b, d in zip(combos, r2, adj, degenerate):
            names = tuple(feats[i] for i in c)
            if d:
                fallback.append(len(rows))
            rows.append(
                {
                    "kind": _SIZE_KIND.get(size, f"{size}-set"),
                    "label": " + ".join(names),
                    "features": names,
                    "k": size,
                    "r2": float(a),
                    "adj_r2": float(b),
                    "n_obs": n,
                    "df_model": r0 + size - 1,
                    "target": target,
                    "method": "numpy",
                }
            )
    for g, members in groups.items():
        fallback.append(len(rows))
        rows.append(
            {
                "kind": "group",
                "label": g,
                "features": tuple(members),
                "k": len(members),
                "r2": np.nan,
                "adj_r2": np.nan,
                "n_obs": n,
                "df_model": np.nan,
                "target": target,
                "method": "numpy",
            }
        )

    def refit(i: int, check: bool) -> None:
        res = ols(df, rows[i]["features"], target=target, systematic=sys_)
        r2, adj = float(res.rsquared), float(_adj(res.rsquared, n, res.model.rank))
        if check and not (_close(r2, rows[i]["r2"]) and _close(adj, rows[i]["adj_r2"])):
            raise RuntimeError(
                f"batched least squares and statsmodels disagree for {rows[i]['label']}: "
                f"R^2 {rows[i]['r2']!r} vs {r2!r}; the features may be nearly collinear"
            )
        rows[i].update(r2=r2, adj_r2=adj, df_model=float(res.model.rank - 1), method="statsmodels")

    for i in fallback:
        refit(i, check=False)
    out = pd.DataFrame(rows)
    if validate:
        for kind in out["kind"].unique():
            part = out[(out["kind"] == kind) & (out["method"] == "numpy")]
            for i in part.sort_values("adj_r2", ascending=False, kind="stable").index[:validate]:
                refit(int(i), check=True)
        out = pd.DataFrame(rows)
    order = {k: j for j, k in enumerate(KINDS)}
    out["_kind"] = out["kind"].map(lambda k: order.get(k, len(order)))
    out = out.sort_values(["_kind", "adj_r2", "label"], ascending=[True, False, True], kind="stable")
    return out.drop(columns="_kind").reset_index(drop=True)


def top_table(results: pd.DataFrame, kind: str, *, k: int = 10) -> pd.DataFrame:
    """The ``k`` best regressions of one kind by adjusted R^2 (the paper's Fig. 4 bars).

    Parameters
    ----------
    results : DataFrame
        From :func:`fit_all_subsets`.
    kind : {"single", "pair", "triple", "group"}
    k : int

    Returns
    -------
    DataFrame
        ``rank`` (1 = best), ``label``, ``features``, ``adj_r2``, ``r2``, ``n_obs``, ``target``.
    """
    check_frame(results, ["kind", "label", "features", "adj_r2", "r2", "n_obs", "target"], what="results")
    kinds = list(results["kind"].unique())
    if kind not in kinds:
        raise ValueError(f"no results of kind {kind!r}; present: {kinds}")
    part = results[results["kind"] == kind].sort_values(["adj_r2", "label"], ascending=[False, True], kind="stable")
    part = part.head(int(k))[["label", "features", "adj_r2", "r2", "n_obs", "target"]].reset_index(drop=True)
    part.insert(0, "rank", np.arange(1, len(part) + 1))
    return part


def feature_r2_matrix(df: pd.DataFrame, features: Iterable[str] = FEATURE_NAMES, *, log: bool = True) -> pd.DataFrame:
    """R^2 (squared Pearson r) between every pair of features (the paper's Fig. 5).

    Parameters
    ----------
    df : DataFrame
    features : sequence of str
    log : bool
        Correlate the logs (as the regressions use them); default True.

    Returns
    -------
    DataFrame, shape (p, p)
        Symmetric, ones on the diagonal; NaN for a constant feature.
    """
    feats = _as_names(features, "features")
    check_frame(df, feats, what="df")
    V = _logs(df, feats, "features") if log else df[list(feats)].to_numpy(dtype=np.float64)
    if not np.isfinite(V).all():
        raise ValueError("features must be finite")
    C = V - V.mean(axis=0)
    s = np.sqrt(np.sum(C * C, axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        R = (C.T @ C) / np.outer(s, s)
    R = np.clip(R, -1.0, 1.0)
    R2 = R * R
    const = s == 0
    R2[const, :] = np.nan
    R2[:, const] = np.nan
    np.fill_diagonal(R2, np.where(const, np.nan, 1.0))
    return pd.DataFrame(R2, index=list(feats), columns=list(feats))


def fit_targets(
    df: pd.DataFrame, targets: Sequence[str] = ("bacc", "acc", "auc_macro"), **kwargs: Any
) -> dict[str, pd.DataFrame]:
    """:func:`fit_all_subsets` for each performance column that is defined on every row.

    A target with missing values (e.g. AUC of a model without probabilities) is left out
    with a warning naming it, instead of failing the whole table.

    Returns
    -------
    dict
        target -> results of :func:`fit_all_subsets`.
    """
    out = {}
    for t in targets:
        check_frame(df, [t], what="df")
        if df[t].isna().any():
            warnings.warn(f"target {t!r} is missing on {int(df[t].isna().sum())} row(s); left out", stacklevel=2)
            continue
        out[t] = fit_all_subsets(df, target=t, **kwargs)
    if not out:
        raise ValueError(f"none of the targets {list(targets)} is defined on every row")
    return out


def top_tables(results: Mapping[str, pd.DataFrame], *, k: int = 10) -> pd.DataFrame:
    """The top ``k`` of every kind for every target, as one tidy table.

    Returns
    -------
    DataFrame
        ``target, kind, rank, label, features, adj_r2, r2, n_obs``.
    """
    parts = []
    for target, res in results.items():
        for kind in KINDS:
            if kind in set(res["kind"]):
                part = top_table(res, kind, k=k).drop(columns="target")
                part.insert(0, "kind", kind)
                part.insert(0, "target", target)
                parts.append(part)
    return pd.concat(parts, ignore_index=True)

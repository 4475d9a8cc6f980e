"""Predicting a subset's measured quality from its training-free measures (study Q).

Within each group of comparable subsets (one dataset and size), a measure explains its
target by the squared Pearson correlation (:func:`single_r2`); several measures together
predict it out of sample (:func:`cross_validated`): a standardized ridge (fixed penalty
:data:`ALPHA`) on the measures
(raw by default; ``log=True`` takes logs of those positive throughout), scored by grouped K-fold so that subsets
sharing candidates never straddle folds, with a percentile bootstrap CI over subsets of the
out-of-fold R^2. :func:`transfer` fits on one frame and scores on another; :func:`weights`
says what a fitted predictor leans on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import _validation as v

__all__ = [
    "CVResult",
    "candidate_groups",
    "cross_validated",
    "design",
    "fit",
    "predict",
    "r2_score",
    "single_r2",
    "transfer",
    "weights",
]

#: Ridge penalty on standardized measures. Fixed rather than chosen by leave-one-out: the
#: subsets of one candidate pool are near-copies of each other, so an inner leave-one-out
#: (or an inner grouped K-fold over a handful of groups) picks a penalty that is too small or
#: unstable; a fixed moderate penalty keeps every measure's weight small when many measures
#: are correlated (see docs/decisions.md, study Q).
ALPHA = 10.0


def design(
    frame: pd.DataFrame, measures: Sequence[str], *, log: bool | Sequence[str] = False
) -> tuple[np.ndarray, list[str]]:
    """Feature matrix: each measure, raw or as its log.

    Parameters
    ----------
    frame : DataFrame
        One row per subset.
    measures : sequence of str
        Columns to use; constant ones are dropped.
    log : bool or sequence of str
        ``False`` (default): no logs. ``True``: the log of every measure positive in every
        row. A sequence: logs of those columns (pass the training frame's choice when
        transforming another frame). Logs are off by default: shares and error rates near
        0 (ambiguity, 1-NN error) become far outliers as logs, and a ridge extrapolates them.

    Returns
    -------
    F : ndarray, shape (n_subsets, n_used), float64
    logged : list of str
        The measures used as logs.
    """
    v.check_frame(frame, measures, what="frame")
    F = frame[list(measures)].to_numpy(dtype=np.float64, copy=True)
    if not np.isfinite(F).all():
        bad = [m for m, ok in zip(measures, np.isfinite(F).all(axis=0)) if not ok]
        raise ValueError(f"measures {bad} have NaN or infinite values; drop those subsets or measures")
    if isinstance(log, bool):
        log = [m for m, col in zip(measures, F.T) if (col > 0).all()] if log else []
    bad = [m for m, col in zip(measures, F.T) if m in log and not (col > 0).all()]
    if bad:
        raise ValueError(f"measures {bad} are not positive in every row; their logs are undefined")
    for j, m in enumerate(measures):
        if m in log:
            F[:, j] = np.log(F[:, j])
    return F, list(log)


def candidate_groups(manifest: pd.DataFrame) -> pd.Series:
    """One id per set of candidates: subsets drawn from the same candidates share it.

    Study X subsets carry ``candidates`` (a random subset's are its own images); a manifest
    without them (study A) or a row without candidates is its own group.

    Returns
    -------
    Series of str, named ``group``, aligned with ``manifest.index``.
    """
    import hashlib

    v.check_frame(manifest, ["subset_id"], what="manifest")
    if "candidates" not in manifest.columns:
        return manifest["subset_id"].astype(str).rename("group")
    ids = []
    for sid, cands in zip(manifest["subset_id"], manifest["candidates"]):
        if cands is None or np.ndim(cands) == 0:
            ids.append(str(sid))
            continue
        digest = hashlib.sha1(np.sort(np.asarray(cands, dtype=np.int64)).tobytes()).hexdigest()[:12]
        ids.append(f"c{digest}")
    return pd.Series(ids, index=manifest.index, name="group")


def r2_score(y: Any, yhat: Any) -> float:
    """Out-of-sample R^2: ``1 - SS_res / SS_tot`` (may be negative)."""
    y, yhat = np.asarray(y, float), np.asarray(yhat, float)
    ss = ((y - y.mean()) ** 2).sum()
    return float(1.0 - ((y - yhat) ** 2).sum() / ss) if ss > 0 else float("nan")


def single_r2(
    frame: pd.DataFrame, measures: Sequence[str], target: str, *, by: Sequence[str] = (), log: bool = False
) -> pd.DataFrame:
    """Squared Pearson correlation of each measure (its log with ``log=True``) with the target.

    Parameters
    ----------
    frame : DataFrame
    measures : sequence of str
    target : str
    by : sequence of str
        Group columns (e.g. ``("dataset", "n")``); one R^2 per group and measure.

    Returns
    -------
    DataFrame
        Columns ``*by, measure, r, r2, n_subsets``, sorted by group and descending ``r2``.
    """
    v.check_frame(frame, [*measures, target, *by], what="frame")
    rows = []
    groups = frame.groupby(list(by), sort=True) if by else [((), frame)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        F, _ = design(part, measures, log=log)
        t = part[target].to_numpy(float)
        for m, col in zip(measures, F.T):
            ok = col.std() > 0 and t.std() > 0
            r = float(np.corrcoef(col, t)[0, 1]) if ok else float("nan")
            rows.append({**dict(zip(by, key)), "measure": m, "r": r, "r2": r * r, "n_subsets": len(part)})
    out = pd.DataFrame(rows)
    return out.sort_values([*by, "r2"], ascending=[True] * len(by) + [False], kind="stable").reset_index(drop=True)


def fit(F: np.ndarray, t: np.ndarray, *, alpha: float = ALPHA) -> Any:
    """A standardized ridge (penalty ``alpha``) fitted on ``F`` (n, p) and ``t`` (n,)."""
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    keep = F.std(axis=0) > 0
    # every measure constant on these rows: predict their mean
    model = make_pipeline(StandardScaler(), Ridge(alpha=alpha) if keep.any() else DummyRegressor())
    model.fit(F[:, keep] if keep.any() else np.zeros((len(t), 1)), t)
    model.keep_ = keep
    return model


def predict(model: Any, F: np.ndarray) -> np.ndarray:
    return model.predict(F[:, model.keep_] if model.keep_.any() else np.zeros((len(F), 1)))


@dataclass(frozen=True)
class CVResult:
    """Out-of-fold predictions and their R^2 with a bootstrap CI."""

    r2: float
    ci_low: float
    ci_high: float
    predicted: np.ndarray
    measured: np.ndarray
    folds: int


def cross_validated(
    frame: pd.DataFrame,
    measures: Sequence[str],
    target: str,
    *,
    groups: Any = None,
    folds: int = 5,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = ALPHA,
    log: bool = False,
) -> CVResult:
    """Out-of-sample R^2 of the ridge predictor by grouped K-fold.

    The folds are K-fold over *groups* (their order shuffled by ``seed``); the ridge is
    refitted on each training part (measures standardized there, logs as in :func:`design`).

    Parameters
    ----------
    frame : DataFrame
        One row per subset of one comparable group (e.g. one dataset and size).
    measures : sequence of str
    target : str
    groups : str or array-like, optional
        A column name or one label per row; rows of a group stay in one fold (subsets that
        share candidates). Default: every row its own group.
    folds : int
        K (at most the number of groups).
    n_boot : int
        Bootstrap resamples of subsets for the CI of the out-of-fold R^2.
    seed : int
        Fold assignment and bootstrap.
    alpha : float
        Ridge penalty (:data:`ALPHA`).
    log : bool
        Logs of the positive measures (:func:`design`).

    Returns
    -------
    CVResult
    """
    from sklearn.model_selection import GroupKFold

    v.check_frame(frame, [*measures, target], what="frame")
    g = np.arange(len(frame)) if groups is None else np.asarray(frame[groups] if isinstance(groups, str) else groups)
    if g.shape != (len(frame),):
        raise ValueError(f"groups must give one label per row ({len(frame)}), got shape {g.shape}")
    n_groups = np.unique(g).size
    folds = v.check_int(folds, "folds", low=2)
    if n_groups < 2:
        raise ValueError(f"cross-validation needs at least 2 groups of subsets, got {n_groups}")
    folds = min(folds, n_groups)
    F, _ = design(frame, measures, log=log)
    t = frame[target].to_numpy(float)
    # shuffle group labels (seeded) so GroupKFold's size-balancing does not follow row order
    rng = np.random.default_rng(seed)
    uniq, inv = np.unique(g, return_inverse=True)
    shuffled = rng.permutation(uniq.size)[inv]
    pred = np.empty_like(t)
    for train, test in GroupKFold(n_splits=folds).split(F, t, shuffled):
        pred[test] = predict(fit(F[train], t[train], alpha=alpha), F[test])
    r2 = r2_score(t, pred)
    idx = rng.integers(0, t.size, size=(n_boot, t.size))
    boot = np.array([r2_score(t[i], pred[i]) for i in idx])
    lo, hi = np.nanpercentile(boot, [2.5, 97.5])
    return CVResult(r2=r2, ci_low=float(lo), ci_high=float(hi), predicted=pred, measured=t, folds=folds)


def transfer(
    train: pd.DataFrame,
    test: pd.DataFrame,
    measures: Sequence[str],
    target: str,
    *,
    alpha: float = ALPHA,
    log: bool = False,
) -> tuple[float, np.ndarray]:
    """Fit on one frame (e.g. one dataset), score R^2 on another.

    Returns
    -------
    r2 : float
    predicted : ndarray, shape (len(test),)
    """
    positive = [m for m in measures if log and (train[m] > 0).all() and (test[m] > 0).all()]  # defined on both
    F, _ = design(train, measures, log=positive)
    model = fit(F, train[target].to_numpy(float), alpha=alpha)
    G, _ = design(test, measures, log=positive)
    pred = predict(model, G)
    return r2_score(test[target].to_numpy(float), pred), pred


def weights(
    frame: pd.DataFrame, measures: Sequence[str], target: str, *, alpha: float = ALPHA, log: bool = False
) -> pd.DataFrame:
    """Standardized ridge coefficients of a predictor fitted on the whole frame.

    Returns
    -------
    DataFrame
        Columns ``measure, weight, logged``, sorted by descending ``|weight|``.
    """
    F, logged = design(frame, measures, log=log)
    model = fit(F, frame[target].to_numpy(float), alpha=alpha)
    used = [m for m, k in zip(measures, model.keep_) if k]
    coef = model[-1].coef_
    out = pd.DataFrame({"measure": used, "weight": coef, "logged": [m in logged for m in used]})
    return out.reindex(out["weight"].abs().sort_values(ascending=False).index).reset_index(drop=True)

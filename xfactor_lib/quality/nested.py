"""The study Q predictor with every choice made inside the training folds (issue 21).

New layout: ``quality/predictor_nested.py`` (beside ``quality/predictor.py``).

:func:`cross_validated` scores the prediction of a target (e.g. study X's mean Z) from
training-free measures out of sample by grouped K-fold (subsets that share candidates stay in
one fold). Within each outer training part, a grouped inner K-fold scores every configuration
of :data:`TRANSFORMS` x :data:`SCREENS` x model family (ridge over :data:`ALPHAS`, PLS over
:data:`PLS_COMPONENTS`; gradient boosting on request) by pooled inner out-of-fold R^2; each
family's :data:`TOP` best are refitted on the whole outer training part, their predictions
averaged per family and the families' averages averaged (:func:`fit_selected`), for the held-out
fold. Transforms, screening and standardization are fitted on training rows only (also inside
the inner folds). The CI of the out-of-fold R^2 is a percentile bootstrap over *groups*
(:func:`group_bootstrap`). :func:`noise_ceiling` is the split-half reliability of the target
over models; :func:`transfer` fits on one frame and scores another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import _validation as v
from .predictor import r2_score
from .resampling import group_bootstrap, group_folds, noise_ceiling, two_facet_ceiling

__all__ = [
    "ALPHAS",
    "DEFAULT_FAMILIES",
    "MODEL_FAMILIES",
    "Choice",
    "NestedResult",
    "cross_validated",
    "fit_selected",
    "group_bootstrap",
    "group_folds",
    "group_interval",
    "linear_weights",
    "set_indices",
    "noise_ceiling",
    "transfer",
    "two_facet_ceiling",
]

#: Ridge penalties searched (on standardized measures).
ALPHAS = tuple(float(a) for a in np.logspace(-2, 4, 13))
#: PLS components searched.
PLS_COMPONENTS = (1, 2, 3)
#: Feature transforms: ``none``, ``log`` (log of every measure positive on the training rows) or
#: ``logit`` (logit of every measure inside (0, 1) on the training rows, a proportion such as an
#: error rate or a coverage; log of the other positive ones). Held-out values are kept at least
#: half the training minimum (and, for a proportion, half the training minimum of ``1 - x``)
#: away from 0 (and 1). A proportion near 1 (coverage) varies on the scale of ``1 - x``: raw or
#: logged, a held-out subset that covers much less lies tens of training SDs out and a linear
#: model extrapolates it wildly (issue 21b).
TRANSFORMS = ("none", "logit")
#: Screening: keep the k measures with the largest |Pearson r| with the target on the training
#: rows (0: keep all).
SCREENS = (5, 10, 20, 0)
MODEL_FAMILIES = ("ridge", "pls", "gbr")
#: Families fitted by default: gradient boosting cannot extrapolate to the extreme targets of
#: rule-selected subsets held out as a group, and on random subsets alone it was no better than
#: ridge on MNIST and worse on digits (issue 21b); it stays available on request.
DEFAULT_FAMILIES = ("ridge", "pls")
#: Gradient boosting (small: tens of subsets per cell); searched on these screens only and
#: untransformed (trees do not see monotone transforms).
GBR_PARAMS = {"n_estimators": 60, "max_depth": 2, "learning_rate": 0.1, "subsample": 0.8}
GBR_SCREENS = (10,)
#: Configurations averaged by :func:`fit_selected` (the inner CV's leaders).
TOP = 5


@dataclass(frozen=True)
class Choice:
    """One predictor configuration: transform, screen (0 = all), family, its parameter."""

    transform: str
    screen: int
    family: str
    param: float
    features: str = "all"

    def __str__(self) -> str:
        p = f"{self.param:g}" if self.family != "gbr" else "-"
        on = "" if self.features == "all" else f" of {self.features}"
        return f"{self.family}({p}) {self.transform} top{self.screen or 'all'}{on}"


@dataclass(frozen=True)
class NestedResult:
    """Out-of-fold predictions, their R^2 with a group-bootstrap CI, and what was chosen.

    ``importance`` has columns ``measure, importance, selected`` (mean over outer folds of the
    normalized |standardized coefficient| or tree importance, 0 when screened out; share of
    folds whose model used the measure), descending ``importance``.
    """

    r2: float
    ci_low: float
    ci_high: float
    predicted: np.ndarray
    measured: np.ndarray
    fold: np.ndarray
    folds: int
    choices: list = field(default_factory=list)
    importance: pd.DataFrame | None = None


# --------------------------------------------------------------------------- groups
def _transform_fit(F: np.ndarray, transform: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: 0 kept, 1 logged, 2 logit; the floor of ``x`` and of ``1 - x`` on held-out rows."""
    if transform not in ("none", "log", "logit"):
        raise ValueError(f"unknown transform {transform!r}; use 'none', 'log' or 'logit'")
    kind = np.zeros(F.shape[1], dtype=np.int8)
    if transform != "none":
        kind[(F > 0).all(axis=0)] = 1
        if transform == "logit":
            kind[((F > 0) & (F < 1)).all(axis=0)] = 2
    floor = np.where(kind > 0, np.where(F > 0, F, np.inf).min(axis=0) / 2, 0.0)
    top = np.where(kind == 2, np.where(F < 1, 1 - F, np.inf).min(axis=0) / 2, 0.0)
    return kind, floor, top


def _transform_apply(F: np.ndarray, state: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    kind, floor, top = state
    if not kind.any():
        return F
    out = F.copy()
    log, unit = kind == 1, kind == 2
    out[:, log] = np.log(np.maximum(F[:, log], floor[log]))
    x = np.clip(F[:, unit], floor[unit], 1 - top[unit])
    out[:, unit] = np.log(x) - np.log1p(-x)
    return out


def _set(sets: dict | None, name: str, p: int) -> np.ndarray:
    """Column indices of the measure set ``name`` (``"all"``: every column)."""
    if name == "all" or not sets:
        return np.arange(p)
    return np.asarray(sets[name], dtype=np.int64)


def _screen_within(F: np.ndarray, t: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The columns ``cols`` of ``F`` by descending |r| with ``t`` (:func:`_screen` on them)."""
    return cols[_screen(F[:, cols], t)] if cols.size < F.shape[1] else _screen(F, t)


def _screen(F: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Columns of ``F`` by descending |Pearson r| with ``t`` (constant columns last, ties by index)."""
    Fc = F - F.mean(axis=0)
    tc = t - t.mean()
    den = np.sqrt((Fc**2).sum(axis=0) * (tc**2).sum())
    r = np.divide(np.abs(tc @ Fc), den, out=np.full(F.shape[1], -1.0), where=den > 0)
    return np.lexsort((np.arange(F.shape[1]), -r))


def _standardize(F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = F.mean(axis=0), F.std(axis=0)
    return mu, np.where(sd > 0, sd, 1.0)


def _ridge_path(X: np.ndarray, t: np.ndarray, alphas: Sequence[float]) -> tuple[np.ndarray, float]:
    """Ridge coefficients of standardized ``X`` for every alpha: (n_alpha, p), and the intercept."""
    tm = t.mean()
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    Ut = U.T @ (t - tm)
    a = np.asarray(alphas)[:, None]
    return (s / (s**2 + a) * Ut) @ Vt, tm


def _pls_path(X: np.ndarray, t: np.ndarray, components: int) -> tuple[np.ndarray, float]:
    """PLS1 (NIPALS, one target) on centred ``X``: coefficients with 1..components components.

    Returns
    -------
    coef : ndarray, shape (c, p)
        ``c <= components`` (fewer when ``X`` is exhausted); the last row repeats when stopped early.
    intercept : float
    """
    tm = t.mean()
    Xk, yk = X - X.mean(axis=0), t - tm
    W, P, q, coefs = [], [], [], []
    for _ in range(components):
        w = Xk.T @ yk
        nw = np.linalg.norm(w)
        if nw <= 1e-12 * max(1.0, np.abs(X).max()):
            break
        w = w / nw
        sc = Xk @ w
        ss = sc @ sc
        p, qa = Xk.T @ sc / ss, (yk @ sc) / ss
        Xk, yk = Xk - np.outer(sc, p), yk - qa * sc
        W.append(w)
        P.append(p)
        q.append(qa)
        Wm, Pm = np.array(W).T, np.array(P).T
        coefs.append(Wm @ np.linalg.solve(Pm.T @ Wm, np.array(q)))
    if not coefs:
        coefs = [np.zeros(X.shape[1])]
    while len(coefs) < components:
        coefs.append(coefs[-1])
    coef = np.array(coefs)
    return coef, tm - float(X.mean(axis=0) @ coef[-1])


def _fit_one(choice: Choice, X: np.ndarray, t: np.ndarray, seed: int) -> Any:
    """Fit one family on standardized ``X``; returns an object with ``predict`` and ``weights_``."""
    if choice.family == "ridge":
        coef, b = _ridge_path(X, t, [choice.param])
        return _Linear(coef[0], b)
    if choice.family == "pls":
        coef, b = _pls_path(X, t, int(choice.param))
        return _Linear(coef[-1], b)
    if choice.family == "gbr":
        from sklearn.ensemble import GradientBoostingRegressor

        m = GradientBoostingRegressor(random_state=seed, **GBR_PARAMS).fit(X, t)
        m.weights_ = m.feature_importances_
        return m
    raise ValueError(f"unknown model family {choice.family!r}; use one of {MODEL_FAMILIES}")


class _Linear:
    def __init__(self, coef: np.ndarray, intercept: float, model: Any = None) -> None:
        self.coef, self.intercept, self.model = coef, intercept, model
        self.weights_ = np.abs(coef)

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.model is not None:
            return np.ravel(self.model.predict(X))
        return X @ self.coef + self.intercept


@dataclass
class Fitted:
    """A chosen predictor fitted on training rows: transform, screen, standardization, model."""

    choice: Choice
    state: tuple
    cols: np.ndarray
    mu: np.ndarray
    sd: np.ndarray
    model: Any

    def predict(self, F: np.ndarray) -> np.ndarray:
        X = (_transform_apply(F, self.state)[:, self.cols] - self.mu) / self.sd
        return self.model.predict(X)


def _fit_choice(choice: Choice, F: np.ndarray, t: np.ndarray, seed: int, sets: dict | None = None) -> Fitted:
    state = _transform_fit(F, choice.transform)
    G = _transform_apply(F, state)
    order = _screen_within(G, t, _set(sets, choice.features, F.shape[1]))
    cols = np.sort(order[: choice.screen] if choice.screen else order)
    mu, sd = _standardize(G[:, cols])
    return Fitted(choice, state, cols, mu, sd, _fit_one(choice, (G[:, cols] - mu) / sd, t, seed))


def _choices(families: Sequence[str], p: int, sets: dict | None = None) -> list[tuple[str, int, str, tuple, str]]:
    """(transform, screen, family, params, measure set) blocks to search; a screen of the set's
    size or more is 0 (all of the set)."""
    for fam in families:
        if fam not in MODEL_FAMILIES:
            raise ValueError(f"unknown model family {fam!r}; use some of {MODEL_FAMILIES}")
    params = {"ridge": ALPHAS, "pls": PLS_COMPONENTS, "gbr": (0.0,)}
    out = []
    for name in ["all", *[k for k in (sets or {}) if k != "all"]]:
        q = _set(sets, name, p).size
        screens = sorted({s if 0 < s < q else 0 for s in SCREENS})
        gbr_screens = {s if 0 < s < q else 0 for s in GBR_SCREENS}
        out += [
            (tr, s, fam, params[fam], name)
            for tr in TRANSFORMS
            for s in screens
            for fam in families
            if fam != "gbr" or (s in gbr_screens and tr == "none")
        ]
    return out


def _inner_predictions(
    F: np.ndarray, t: np.ndarray, fold: np.ndarray, k: int, blocks: list, seed: int, sets: dict | None = None
) -> dict:
    """Out-of-fold predictions of every configuration of ``blocks`` over the inner folds ``fold``."""
    preds: dict[Choice, np.ndarray] = {}
    names = list(dict.fromkeys(b[4] for b in blocks))
    for f in range(k):
        tr, va = fold != f, fold == f
        for transform in TRANSFORMS:
            state = _transform_fit(F[tr], transform)
            Gtr, Gva = _transform_apply(F[tr], state), _transform_apply(F[va], state)
            orders = {name: _screen_within(Gtr, t[tr], _set(sets, name, F.shape[1])) for name in names}
            for tr_name, s, fam, params, name in blocks:
                if tr_name != transform:
                    continue
                order = orders[name]
                cols = np.sort(order[:s] if s else order)
                mu, sd = _standardize(Gtr[:, cols])
                Xtr, Xva = (Gtr[:, cols] - mu) / sd, (Gva[:, cols] - mu) / sd
                if fam in ("ridge", "pls"):
                    if fam == "ridge":
                        coef, b = _ridge_path(Xtr, t[tr], params)
                    else:
                        coef, b = _pls_path(Xtr, t[tr], int(max(params)))
                        coef = coef[np.asarray(params, dtype=int) - 1]
                        b = t[tr].mean() - Xtr.mean(axis=0) @ coef.T
                    out = Xva @ coef.T + b  # (n_va, n_params)
                    for j, a in enumerate(params):
                        preds.setdefault(Choice(transform, s, fam, a, name), np.empty(t.size))[va] = out[:, j]
                else:
                    for a in params:
                        c = Choice(transform, s, fam, a, name)
                        preds.setdefault(c, np.empty(t.size))[va] = _fit_one(c, Xtr, t[tr], seed).predict(Xva)
    return preds


def _select(
    F: np.ndarray, t: np.ndarray, g: np.ndarray, *, families: Sequence[str], inner: int, seed: int, top: int = 1,
    sets: dict | None = None,
) -> list[Choice]:  # fmt: skip
    """Per model family (in the order of ``families``) and measure set, its ``top`` configurations
    with the best pooled out-of-fold R^2 by grouped inner K-fold on these rows."""
    blocks = _choices(families, F.shape[1], sets)
    k = min(inner, np.unique(g).size)
    preds = _inner_predictions(F, t, group_folds(g, k, seed=seed + 1), k, blocks, seed, sets)
    scores = {c: r2_score(t, p) for c, p in preds.items()}
    ranked = sorted(scores, key=lambda c: (-np.nan_to_num(scores[c], nan=-np.inf), _complexity(c)))
    arms = dict.fromkeys((fam, c.features) for fam in dict.fromkeys(families) for c in ranked if c.family == fam)
    return [c for arm in arms for c in [c for c in ranked if (c.family, c.features) == arm][:top]]


def _complexity(c: Choice) -> float:
    """Ties go to the simpler model: fewer measures, then a larger penalty or fewer components."""
    size = c.screen or 1e6
    if c.family == "ridge":
        return size - np.log10(c.param) / 100
    return size + (c.param / 100 if c.family == "pls" else 0.5)


def fit_selected(
    F: np.ndarray,
    t: np.ndarray,
    groups: Any,
    *,
    families: Sequence[str] = DEFAULT_FAMILIES,
    inner: int = 8,
    seed: int = 0,
    top: int | None = None,
    sets: dict | None = None,
) -> Fitted | Ensemble:
    """Choose by grouped inner K-fold on these rows, then fit on all of them.

    Every model family of ``families`` is tuned by the inner CV: its best ``top`` (default
    :data:`TOP`) configurations are fitted and their predictions averaged, and the families'
    averages are averaged with equal weight (:class:`Ensemble`). The choice among many
    configurations on a few dozen subsets is noisy: an average of the leaders is steadier than
    the single winner, and ridge and PLS (two shrinkages of one linear model) than either.
    ``sets`` (name -> column indices) adds measure sets beside all columns (study Q:
    :data:`xfactor_lib.studies.q.cv.MEASURE_SETS`): each (family, set) is tuned on its own and
    the predictions of all of them are averaged with equal weight. Averaging was steadier than
    choosing a set by the inner CV: on the default run and digits (issue 21, session 3) the
    choice reached 0.95 at MNIST n = 100 but fell from 0.54 to 0.32 at digits n = 100; the
    average gained or held in all but one cell.
    """
    g = np.asarray(groups)
    top = TOP if top is None else top
    chosen = _select(F, t, g, families=families, inner=inner, seed=seed, top=top, sets=sets)
    per_family = []
    for arm in dict.fromkeys((c.family, c.features) for c in chosen):
        fits = [_fit_choice(c, F, t, seed, sets) for c in chosen if (c.family, c.features) == arm]
        per_family.append(fits[0] if len(fits) == 1 else Ensemble(fits, F.shape[1]))
    return per_family[0] if len(per_family) == 1 else Ensemble(per_family, F.shape[1])


class Ensemble:
    """The mean prediction of several fitted configurations or ensembles (``cols``, ``model.weights_``,
    ``choice`` summarise them: the union of their measures, their mean normalized importance, the
    leader of each family)."""

    def __init__(self, fits: list[Fitted | Ensemble], p: int) -> None:
        self.fits = fits
        w = np.zeros(p)
        for f in fits:
            fw = np.asarray(f.model.weights_, dtype=np.float64)
            if fw.sum() > 0:
                w[f.cols] += fw / fw.sum() / len(fits)
        self.cols = np.flatnonzero(w > 0) if (w > 0).any() else np.arange(p)
        self.model = type("Weights", (), {"weights_": w[self.cols]})()
        if all(isinstance(f, Fitted) and f.choice.family == fits[0].choice.family for f in fits):
            self.choice = f"mean of {len(fits)}: {fits[0].choice} ..."  # one family's leaders
        else:
            self.choice = " + ".join(str(f.choice) for f in fits)  # the families' means

    def predict(self, F: np.ndarray) -> np.ndarray:
        return np.mean([f.predict(F) for f in self.fits], axis=0)


def linear_weights(fit: Fitted | Ensemble, p: int) -> np.ndarray:
    """The signed coefficient of each of ``p`` measures in a fitted linear predictor: shape (p,).

    Each measure's coefficient on its transformed, standardized value, averaged as the
    predictions are (over a family's leaders, then over families; 0 where a configuration
    screened it out). NaN for a member without a linear coefficient (gradient boosting).
    """
    if isinstance(fit, Ensemble):
        return np.mean([linear_weights(f, p) for f in fit.fits], axis=0)
    w = np.zeros(p)
    w[fit.cols] = getattr(fit.model, "coef", np.nan)
    return w


def _matrix(frame: pd.DataFrame, measures: Sequence[str]) -> np.ndarray:
    v.check_frame(frame, list(measures), what="frame")
    F = frame[list(measures)].to_numpy(dtype=np.float64)
    if not np.isfinite(F).all():
        bad = [m for m, ok in zip(measures, np.isfinite(F).all(axis=0)) if not ok]
        raise ValueError(f"measures {bad} have NaN or infinite values; drop those subsets or measures")
    return F


def group_interval(measured: Any, predicted: Any, groups: Any, n_boot: int, *, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of the R^2 of ``predicted`` over group-bootstrap resamples (NaN, NaN
    when ``n_boot`` is 0). Reads the predictions only: the fits never depend on ``n_boot``."""
    t, pred = np.asarray(measured, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    boot = [r2_score(t[i], pred[i]) for i in group_bootstrap(groups, n_boot, seed=seed)] if n_boot else [np.nan]
    lo, hi = np.nanpercentile(boot, [2.5, 97.5]) if np.isfinite(boot).any() else (np.nan, np.nan)
    return float(lo), float(hi)


def set_indices(measures: Sequence[str], sets: dict | None) -> dict | None:
    """Measure sets as column indices of ``measures`` (empty sets dropped)."""
    if not sets:
        return None
    where = {m: i for i, m in enumerate(measures)}
    out = {}
    for name, members in sets.items():
        unknown = [m for m in members if m not in where]
        if unknown:
            raise ValueError(f"measure set {name!r} names measures not among the measures: {unknown[:3]}")
        if members:
            out[name] = np.array(sorted(where[m] for m in members), dtype=np.int64)
    return out or None


def cross_validated(
    frame: pd.DataFrame,
    measures: Sequence[str],
    target: str,
    *,
    groups: Any = None,
    folds: int = 5,
    inner: int = 8,
    families: Sequence[str] = DEFAULT_FAMILIES,
    n_boot: int = 1000,
    seed: int = 0,
    sets: dict | None = None,
) -> NestedResult:
    """Out-of-sample R^2 by grouped K-fold, every choice made inside the training folds.

    Parameters
    ----------
    frame : DataFrame
        One row per subset of one comparable cell (one dataset and size).
    measures : sequence of str
        Measure columns (finite everywhere).
    target : str
    groups : str or array-like, optional
        A column or one label per row; a group never straddles folds (outer or inner), nor is
        split by the bootstrap. Default: every row its own group.
    folds, inner : int
        Outer and inner K (capped at the number of groups).
    families : sequence of str
        Model families fitted and averaged (some of :data:`MODEL_FAMILIES`).
    n_boot : int
        Group-bootstrap resamples of the out-of-fold R^2.
    seed : int
    sets : dict, optional
        Measure sets the inner CV may choose besides all measures: name -> measure names
        (each a subset of ``measures``).

    Returns
    -------
    NestedResult
    """
    F = _matrix(frame, measures)
    v.check_frame(frame, [target], what="frame")
    t = frame[target].to_numpy(float)
    sets = set_indices(measures, sets)
    g = np.arange(len(frame)) if groups is None else np.asarray(frame[groups] if isinstance(groups, str) else groups)
    if g.shape != (len(frame),):
        raise ValueError(f"groups must give one label per row ({len(frame)}), got shape {g.shape}")
    folds = v.check_int(folds, "folds", low=2)
    n_groups = np.unique(g).size
    if n_groups < 3:
        raise ValueError(f"nested cross-validation needs at least 3 groups of subsets, got {n_groups}")
    folds = min(folds, n_groups)
    fold = group_folds(g, folds, seed=seed)
    pred = np.empty_like(t)
    imp = np.zeros((folds, F.shape[1]))
    used = np.zeros((folds, F.shape[1]), dtype=bool)
    choices = []
    for f in range(folds):
        tr, te = fold != f, fold == f
        fitted = fit_selected(F[tr], t[tr], g[tr], families=families, inner=inner, seed=seed, sets=sets)
        pred[te] = fitted.predict(F[te])
        w = np.asarray(fitted.model.weights_, dtype=np.float64)
        if w.sum() > 0:
            imp[f, fitted.cols] = w / w.sum()
        used[f, fitted.cols[w > 0]] = True
        choices.append(str(fitted.choice))
    lo, hi = group_interval(t, pred, g, n_boot, seed=seed)
    importance = pd.DataFrame(
        {"measure": list(measures), "importance": imp.mean(axis=0), "selected": used.mean(axis=0)}
    )
    importance = importance.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
    return NestedResult(
        r2=r2_score(t, pred), ci_low=float(lo), ci_high=float(hi), predicted=pred, measured=t, fold=fold,
        folds=folds, choices=choices, importance=importance,
    )  # fmt: skip


def transfer(
    train: pd.DataFrame,
    test: pd.DataFrame,
    measures: Sequence[str],
    target: str,
    *,
    groups: Any = None,
    families: Sequence[str] = DEFAULT_FAMILIES,
    within: bool = True,
    seed: int = 0,
    sets: dict | None = None,
) -> tuple[float, np.ndarray, str]:
    """Fit on one frame (e.g. one dataset; choices by grouped inner K-fold there), score another.

    Parameters
    ----------
    within : bool
        Standardize every measure within each frame first (default): pixel distances of two
        datasets live on different scales, so what transfers is a measure's rank within its
        own candidates. Uses the test frame's measures only, never its target.

    Returns
    -------
    r2 : float
    predicted : ndarray, shape (len(test),)
    choice : str
    """
    F, G = _matrix(train, measures), _matrix(test, measures)
    if within:
        F = (F - F.mean(axis=0)) / np.where(F.std(axis=0) > 0, F.std(axis=0), 1.0)
        G = (G - G.mean(axis=0)) / np.where(G.std(axis=0) > 0, G.std(axis=0), 1.0)
    t = train[target].to_numpy(float)
    g = np.arange(len(train)) if groups is None else np.asarray(train[groups] if isinstance(groups, str) else groups)
    fitted = fit_selected(F, t, g, families=families, seed=seed, sets=set_indices(measures, sets))
    pred = fitted.predict(G)
    return r2_score(test[target].to_numpy(float), pred), pred, str(fitted.choice)

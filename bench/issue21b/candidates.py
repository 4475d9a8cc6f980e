"""Issue 21b: candidate predictor rules, out of fold on the same outer grouped folds as q.cv_table.

usage: python bench/issue21b/candidates.py RUN_DIR [RULE ...]
"""

import sys
import time

import numpy as np
import pandas as pd

from xfactor_lib.quality import nested as pn
from xfactor_lib.quality.predictor import r2_score
from xfactor_lib.studies import q
from xfactor_lib.studies.q import cv as qcv

pd.set_option("display.width", 200)


TRANSFORM = ["log"]


def logit_fit(F):
    unit = ((F > 0) & (F < 1)).all(axis=0)
    pos = (F > 0).all(axis=0) & ~unit
    lo = np.where(F > 0, F, np.inf).min(axis=0) / 2
    hi = np.where(F < 1, 1 - F, np.inf).min(axis=0) / 2
    return unit, pos, lo, hi


def logit_apply(F, st):
    unit, pos, lo, hi = st
    out = F.copy()
    p = np.clip(F[:, unit], lo[unit], 1 - hi[unit])
    out[:, unit] = np.log(p) - np.log1p(-p)
    out[:, pos] = np.log(np.maximum(F[:, pos], lo[pos]))
    return out


def logt(Ftr, Fte):
    if TRANSFORM[0] == "logit":
        st = logit_fit(Ftr)
        return logit_apply(Ftr, st), logit_apply(Fte, st)
    st = pn._transform_fit(Ftr, "log")
    return pn._transform_apply(Ftr, st), pn._transform_apply(Fte, st)


CLIP = [np.inf]


def std(Ftr, Fte):
    mu, sd = pn._standardize(Ftr)
    a, b = (Ftr - mu) / sd, (Fte - mu) / sd
    c = CLIP[0]
    if np.isfinite(c):
        lo, hi = a.min(axis=0), a.max(axis=0)
        span = hi - lo
        b = np.clip(b, lo - c * span, hi + c * span)
    return a, b


ALPHAS = np.logspace(-2, 5, 15)


def inner_ridge_scores(X, t, g, alphas, k=8, seed=1):
    """Pooled inner OOF R^2 per alpha (grouped), X already transformed (standardized inside)."""
    k = min(k, np.unique(g).size)
    fold = pn.group_folds(g, k, seed=seed)
    P = np.empty((t.size, len(alphas)))
    for f in range(k):
        tr, va = fold != f, fold == f
        Xtr, Xva = std(X[tr], X[va])
        coef, b = pn._ridge_path(Xtr, t[tr], alphas)
        P[va] = Xva @ coef.T + b
    return np.array([r2_score(t, P[:, j]) for j in range(len(alphas))]), P


def rule_ridge(transform="log", pick="argmax", k=8):
    def fit(Ftr, ttr, gtr, Fte):
        Xtr, Xte = logt(Ftr, Fte) if transform == "log" else (Ftr, Fte)
        sc, _ = inner_ridge_scores(Xtr, ttr, gtr, ALPHAS, k=k)
        Str, Ste = std(Xtr, Xte)
        coef, b = pn._ridge_path(Str, ttr, ALPHAS)
        if pick == "argmax":
            j = [int(np.nanargmax(sc))]
        elif pick.startswith("top"):
            j = list(np.argsort(-np.nan_to_num(sc, nan=-9))[: int(pick[3:])])
        elif pick == "within05":  # every alpha within 0.05 of the best inner R^2
            j = list(np.flatnonzero(sc >= np.nanmax(sc) - 0.05))
        return np.mean(Ste @ coef[j].T + b, axis=1)

    return fit


def rule_current(families=pn.MODEL_FAMILIES, top=None, repeats=1):
    """pn.fit_selected (families averaged since issue 21b); ``repeats`` > 1 needs the removed
    pn.INNER_REPEATS (the repeated inner folds tried here: no gain on MNIST or digits)."""

    def fit(Ftr, ttr, gtr, Fte):
        if repeats != 1:
            raise NotImplementedError("repeated inner folds were removed after this comparison")
        return pn.fit_selected(Ftr, ttr, gtr, families=families, seed=0, top=top).predict(Fte)

    return fit


def rule_pls(transform="log", k=8, maxc=6):
    def fit(Ftr, ttr, gtr, Fte):
        Xtr, Xte = logt(Ftr, Fte) if transform == "log" else (Ftr, Fte)
        kk = min(k, np.unique(gtr).size)
        fold = pn.group_folds(gtr, kk, seed=1)
        P = np.empty((ttr.size, maxc))
        for f in range(kk):
            tr, va = fold != f, fold == f
            a, bva = std(Xtr[tr], Xtr[va])
            coef, b = pn._pls_path(a, ttr[tr], maxc)
            P[va] = bva @ coef.T + (ttr[tr].mean() - a.mean(axis=0) @ coef.T)
        sc = [r2_score(ttr, P[:, j]) for j in range(maxc)]
        c = int(np.nanargmax(sc))
        a, bte = std(Xtr, Xte)
        coef, b = pn._pls_path(a, ttr, maxc)
        return bte @ coef[c] + (ttr.mean() - a.mean(axis=0) @ coef[c])

    return fit


RULES = {
    "current": rule_current(),
    "current_lin": rule_current(("ridge", "pls")),
    "current_ridge": rule_current(("ridge",)),
    "current_top1": rule_current(top=1),
    "current_r3": rule_current(repeats=3),
    "current_lin_r3": rule_current(("ridge", "pls"), repeats=3),
    "current_ridge_r3": rule_current(("ridge",), repeats=3),
    "current_lin_top1_r3": rule_current(("ridge", "pls"), top=1, repeats=3),
    "current_lin_top10_r3": rule_current(("ridge", "pls"), top=10, repeats=3),
    "current_lin_top1": rule_current(("ridge", "pls"), top=1),
    "ridge_log": rule_ridge("log"),
    "ridge_none": rule_ridge("none"),
    "ridge_log_top3": rule_ridge("log", "top3"),
    "ridge_log_w05": rule_ridge("log", "within05"),
    "ridge_log_k5": rule_ridge("log", k=5),
    "pls_log": rule_pls("log"),
    "pls_none": rule_pls("none"),
}


def oof(part, target, rule, folds=5, seed=0):
    cols = [c for c in q.measure_columns(part) if part[c].std() > 0]
    F = part[cols].to_numpy(float)
    t = part[target].to_numpy(float)
    g = part["group"].to_numpy()
    fold = pn.group_folds(g, min(folds, np.unique(g).size), seed=seed)
    pred = np.empty_like(t)
    for f in np.unique(fold):
        tr, te = fold != f, fold == f
        pred[te] = rule(F[tr], t[tr], g[tr], F[te])
    return r2_score(t, pred)


def main():
    run = sys.argv[1]
    names = sys.argv[2:] or list(RULES)
    if names[0].startswith("clip="):
        CLIP[0] = float(names.pop(0)[5:])
    if names[0].startswith("transform="):
        TRANSFORM[0] = names.pop(0)[10:]
    recs = q.load(run)
    recs = recs[recs["study"] == "x"]
    rows = []
    for (_s, dataset, _size, kind), part, target in qcv.cells(recs, kinds=("all", "random")):
        n = part["n"].iloc[0]
        rows.append({"dataset": dataset, "kinds": kind, "n": n, "rule": "ceiling", "r2": qcv.ceiling(part)})
        for name in names:
            t0 = time.time()
            r2 = oof(part, target, RULES[name])
            rows.append({"dataset": dataset, "kinds": kind, "n": n, "rule": name, "r2": r2, "s": time.time() - t0})
    d = pd.DataFrame(rows)
    print(d.pivot_table(index=["dataset", "kinds", "rule"], columns="n", values="r2", sort=False).round(2).to_string())
    print(d.groupby("rule")["s"].sum().round(1).to_string())


def grid_inner(F, t, g, transforms=("log",), screens=(5, 10, 20, 0), k=8, seed=1):
    """Inner OOF predictions of every (transform, screen, alpha): dict config -> column."""
    kk = min(k, np.unique(g).size)
    fold = pn.group_folds(g, kk, seed=seed)
    P = {}
    for f in range(kk):
        tr, va = fold != f, fold == f
        for trn in transforms:
            Xtr, Xva = logt(F[tr], F[va]) if trn == "log" else (F[tr], F[va])
            o = pn._screen(Xtr, t[tr])
            for s in screens:
                c = np.sort(o[:s] if s and s < F.shape[1] else o)
                a, b_ = std(Xtr[:, c], Xva[:, c])
                coef, b = pn._ridge_path(a, t[tr], ALPHAS)
                out = b_ @ coef.T + b
                for j, al in enumerate(ALPHAS):
                    P.setdefault((trn, s, al), np.empty(t.size))[va] = out[:, j]
    return {c: r2_score(t, p) for c, p in P.items()}


def fit_config(F, t, Fte, c):
    trn, s, al = c
    Xtr, Xte = logt(F, Fte) if trn == "log" else (F, Fte)
    o = pn._screen(Xtr, t)
    cols = np.sort(o[:s] if s and s < F.shape[1] else o)
    a, b_ = std(Xtr[:, cols], Xte[:, cols])
    coef, b = pn._ridge_path(a, t, [al])
    return b_ @ coef[0] + b


def rule_grid(agg="argmax", transforms=("log",), screens=(5, 10, 20, 0), k=8):
    def fit(Ftr, ttr, gtr, Fte):
        sc = grid_inner(Ftr, ttr, gtr, transforms, screens, k)
        keys = sorted(sc, key=lambda c: -np.nan_to_num(sc[c], nan=-9))
        if agg == "argmax":
            chosen = keys[:1]
        elif agg.startswith("top"):
            chosen = keys[: int(agg[3:])]
        elif agg == "perscreen":  # best alpha of every screen, averaged
            chosen = [
                max((c for c in sc if c[1] == s and c[0] == tr), key=lambda c: np.nan_to_num(sc[c], nan=-9))
                for s in screens
                for tr in transforms
            ]
        elif agg.startswith("within"):
            best = max(sc.values())
            chosen = [c for c in keys if sc[c] >= best - float(agg[6:])]
        return np.mean([fit_config(Ftr, ttr, Fte, c) for c in chosen], axis=0)

    return fit


RULES.update(
    {
        "g_argmax": rule_grid("argmax"),
        "g_top5": rule_grid("top5"),
        "g_top10": rule_grid("top10"),
        "g_perscreen": rule_grid("perscreen"),
        "g_within02": rule_grid("within0.02"),
        "g_within05": rule_grid("within0.05"),
        "g2_top5": rule_grid("top5", ("none", "log")),
        "g2_perscreen": rule_grid("perscreen", ("none", "log")),
        "g_small_perscreen": rule_grid("perscreen", screens=(3, 10, 30, 0)),
    }
)


def rule_family_mean(families):
    def fit(Ftr, ttr, gtr, Fte):
        return np.mean([pn.fit_selected(Ftr, ttr, gtr, families=(f,), seed=0).predict(Fte) for f in families], axis=0)

    return fit


RULES.update(
    {
        "mean_ridge_pls": rule_family_mean(("ridge", "pls")),
        "mean_ridge_pls_gbr": rule_family_mean(("ridge", "pls", "gbr")),
        "current_pls": rule_current(("pls",)),
        "current_gbr": rule_current(("gbr",)),
    }
)


if __name__ == "__main__":
    main()

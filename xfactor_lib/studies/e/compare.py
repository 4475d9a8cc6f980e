"""Study E's fair comparisons: method families, paired differences over seeds, the papers' claims.

Belongs to ``studies/e/summary`` in the new layout. Everything here reads the ``e_coreset``
records (one row per method x rate x seed) and nothing else.

**Pairing.** Every method's coreset at seed i trains with seed i (and random / CCS draws
use it), so the accuracies of two methods at the same (dataset, arch, rate) pair by seed.
A comparison is a **paired t-test over the seeds both methods ran**
(:func:`scipy.stats.ttest_rel`, two-sided, n - 1 degrees of freedom) with a 95 % t
interval of the mean difference; fewer than two pairs leave it untested (NaN).

**Claims** (:func:`claims`), each a family of comparisons, **Holm-corrected within its
family** (:func:`holm`):

- ``eva_vs_random``: EVA against the papers' uniform Random, at each rate;
- ``ccs_vs_random``: CCS against Random, at each rate;
- ``free_vs_balanced``: **every** training-free method against class-balanced Random at
  each rate (so that naming the best one afterwards is covered by the correction);
- ``free_vs_anchors``: every training-free method against each anchor (TypiClust,
  ProbCover) present, at each rate.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..._validation import check_frame

__all__ = [
    "FAMILIES",
    "FAMILY_ORDER",
    "REFERENCE",
    "family_of",
    "methods_of",
    "add_family",
    "holm",
    "paired_differences",
    "claims",
    "CLAIMS",
]

#: The fair reference of every class-budgeted method (SPEC 5).
REFERENCE = "random_balanced"
#: The facets of study E, in display order.
FAMILY_ORDER = ("reference", "papers' methods", "training-free", "anchors")
#: Which family each method belongs to; a method not listed is ``"other"``.
FAMILIES = {
    "full": "reference",
    "random": "reference",
    "random_balanced": "reference",
    **dict.fromkeys(
        ("forgetting", "entropy", "el2n", "aum", "ccs", "eva", "var_s", "exp_s", "var_d", "exp_d"), "papers' methods"
    ),
    **dict.fromkeys(
        ("coverage", "coverage_wide", "herding", "coverage_emb", "coverage_clean", "a_max", "k_center"),
        "training-free",
    ),
    **dict.fromkeys(("typiclust", "typiclust_emb", "probcover", "probcover_emb"), "anchors"),
}
#: The families of comparisons :func:`claims` builds.
CLAIMS = ("eva_vs_random", "ccs_vs_random", "free_vs_balanced", "free_vs_anchors")


def family_of(method: str) -> str:
    """The family of ``method`` (:data:`FAMILIES`; ``"other"`` when unlisted)."""
    return FAMILIES.get(method, "other")


def methods_of(family: str) -> tuple[str, ...]:
    """The methods of ``family``, in :data:`FAMILIES` order."""
    return tuple(m for m, f in FAMILIES.items() if f == family)


def add_family(summary: pd.DataFrame) -> pd.DataFrame:
    """``summary`` with a ``family`` column after ``method`` (for ``30_study_e_summary.csv``)."""
    check_frame(summary, ["method"], what="summary")
    out = summary.copy()
    out.insert(out.columns.get_loc("method") + 1, "family", [family_of(m) for m in out["method"]])
    return out


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), shape (m,); NaN stays NaN, not counted in m.

    ``p_(i)`` sorted ascending becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``.
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size:
        order = ok[np.argsort(p[ok], kind="stable")]
        m = ok.size
        adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
        out[order] = np.maximum.accumulate(adj)
    return out


def _keys(records: pd.DataFrame) -> list[str]:
    return [k for k in ("dataset", "arch") if k in records.columns]


def paired_differences(
    records: pd.DataFrame,
    *,
    reference: str = REFERENCE,
    metric: str = "acc",
    methods: Sequence[str] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Each method minus ``reference``, paired by seed, per (dataset, arch, rate).

    Parameters
    ----------
    records : DataFrame
        ``e_coreset`` records: ``method, rate, seed, metric`` (and ``dataset, arch``).
    reference : str
        The method subtracted (default class-balanced Random).
    metric : str
    methods : sequence of str, optional
        Methods compared (default every method but ``reference`` and ``"full"``).
    level : float
        Confidence level of the t interval.

    Returns
    -------
    DataFrame
        The present ``dataset, arch`` columns, ``method, reference, rate, n`` (paired
        seeds), ``mean, ref_mean`` (means over those seeds), ``diff, sd_diff, ci_low,
        ci_high, t, p`` (paired t-test, two-sided). With fewer than two pairs, or paired
        differences without spread (sd 0, where a t-test would claim p = 0 or nothing), t,
        p and the interval are NaN (the interval collapses to the difference when sd is 0).
        Rates where either method has no record are left out.
    """
    check_frame(records, ["method", "rate", "seed", metric], what="coreset records")
    keys = _keys(records)
    df = records[records["method"] != "full"]
    ref = df[df["method"] == reference].set_index([*keys, "rate", "seed"])[metric]
    if ref.index.duplicated().any():
        raise ValueError(f"{reference!r} has several records for one (dataset, arch, rate, seed)")
    chosen = [m for m in df["method"].unique() if m != reference] if methods is None else list(methods)
    rows = []
    for key, part in df[df["method"].isin(chosen)].groupby([*keys, "method", "rate"], sort=True):
        key = key if isinstance(key, tuple) else (key,)
        *group, method, rate = key
        own = part.set_index("seed")[metric]
        if own.index.duplicated().any():
            raise ValueError(f"{method!r} has several records for one (dataset, arch, rate, seed)")
        sel = tuple(group) + (rate,)
        try:
            base = ref.xs(sel, level=[*keys, "rate"]) if keys else ref.xs(rate, level="rate")
        except KeyError:
            continue
        seeds = sorted(set(own.index) & set(base.index))
        if not seeds:
            continue
        a, b = own.loc[seeds].to_numpy(float), base.loc[seeds].to_numpy(float)
        d = a - b
        n = len(d)
        sd = float(d.std(ddof=1)) if n > 1 else np.nan
        t = p = lo = hi = np.nan
        if n > 1 and sd > 1e-12:  # floating noise in equal differences is no spread
            res = stats.ttest_rel(a, b)
            t, p = float(res.statistic), float(res.pvalue)
            half = stats.t.ppf(0.5 + level / 2, df=n - 1) * sd / np.sqrt(n)
            lo, hi = d.mean() - half, d.mean() + half
        elif n > 1:
            lo = hi = float(d.mean())
        rows.append(
            {**dict(zip(keys, group)), "method": method, "reference": reference, "rate": float(rate), "n": n,
             "mean": a.mean(), "ref_mean": b.mean(), "diff": d.mean(), "sd_diff": sd, "ci_low": lo,
             "ci_high": hi, "t": t, "p": p}
        )  # fmt: skip
    cols = [*keys, "method", "reference", "rate", "n", "mean", "ref_mean", "diff", "sd_diff", "ci_low", "ci_high"]
    return pd.DataFrame(rows, columns=[*cols, "t", "p"])


def claims(records: pd.DataFrame, *, metric: str = "acc", alpha: float = 0.05) -> pd.DataFrame:
    """The papers' claims as families of paired comparisons, Holm-corrected within each family.

    Parameters
    ----------
    records : DataFrame
        ``e_coreset`` records.
    metric : str
    alpha : float
        Family-wise error rate for the ``outcome`` words.

    Returns
    -------
    DataFrame
        :func:`paired_differences` columns plus ``claim`` (one of :data:`CLAIMS`), ``m``
        (comparisons in its family), ``p_holm`` and ``outcome``: ``"better"`` /
        ``"worse"`` (the method against its reference, ``p_holm < alpha``), ``"no
        difference shown"``, or ``"untested"`` (fewer than two paired seeds or no spread).
        Families whose methods or references have no records are absent.
    """
    check_frame(records, ["method", "rate", "seed", metric], what="coreset records")
    present = set(records["method"])
    free = [m for m in methods_of("training-free") if m in present]
    anchors = [m for m in methods_of("anchors") if m in present]
    parts = []

    def add(claim: str, reference: str, methods: list[str]) -> None:
        if reference in present and methods:
            parts.append(
                paired_differences(records, reference=reference, metric=metric, methods=methods).assign(claim=claim)
            )

    add("eva_vs_random", "random", ["eva"] if "eva" in present else [])
    add("ccs_vs_random", "random", ["ccs"] if "ccs" in present else [])
    add("free_vs_balanced", REFERENCE, free)
    for anchor in anchors:
        add("free_vs_anchors", anchor, free)
    if not parts:
        return pd.DataFrame(columns=["claim", "m", "p_holm", "outcome"])
    out = pd.concat(parts, ignore_index=True)
    if out.empty:
        return out.assign(m=0, p_holm=np.nan, outcome="")
    out["m"] = out.groupby("claim")["p"].transform(lambda s: int(s.notna().sum()))
    out["p_holm"] = np.nan
    for _, idx in out.groupby("claim").groups.items():
        out.loc[idx, "p_holm"] = holm(out.loc[idx, "p"].to_numpy())
    sig = out["p_holm"] < alpha
    out["outcome"] = np.where(
        out["p_holm"].isna(),
        "untested",
        np.where(sig & (out["diff"] > 0), "better", np.where(sig & (out["diff"] < 0), "worse", "no difference shown")),
    )
    return out

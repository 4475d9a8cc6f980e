"""Study Q, the summary: single-measure R^2, the predictor's out-of-sample R^2 (all subsets and
random subsets alone, beside the noise ceiling), study A's gain over size + class balance,
transfer, the optimized subsets scored out of design, and the verdict.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ... import quality, regression
from ..._validation import check_frame
from ...quality import nested as pn
from ...quality import predictor
from .._common import interval, listing
from . import cv as q_nested
from .design import (
    FAMILY_SETS,
    cell_label,
    design_cells,
    measure_columns,
)


def single_table(recs: pd.DataFrame) -> pd.DataFrame:
    """R^2 of each single measure with the target, per (study, dataset, size).

    Returns
    -------
    DataFrame
        ``study, dataset, size, n, measure, family, r, r2, n_subsets``, descending ``r2``
        within each cell.
    """
    frames = []
    for (study, dataset, size), part, target in design_cells(recs):
        cols = [c for c in measure_columns(part) if part[c].std() > 0]
        t = predictor.single_r2(part, cols, target)
        t.insert(0, "size", size)
        t.insert(0, "dataset", dataset)
        t.insert(0, "study", study)
        t.insert(3, "n", cell_label(part)["n"])
        t.insert(5, "family", [quality.family(m) for m in t["measure"]])
        frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _family_measures(part: pd.DataFrame, fam: str) -> list[str]:
    return measure_columns(part, family=fam)


def cv_table(
    recs: pd.DataFrame,
    *,
    families: Sequence[str] = FAMILY_SETS,
    kinds: Sequence[str] = q_nested.KINDS,
    n_boot: int = 1000,
    seed: int = 0,
    folds: int = 5,
) -> pd.DataFrame:
    """Out-of-sample R^2 per (study, dataset, size), row set (``kinds``) and measure family.

    Nested grouped K-fold (penalty, transform, screening and model family chosen inside the
    training folds), group-bootstrap CI, beside the target's noise ceiling
    (:func:`q_nested.cv_table`; the headline predictor is family ``all``).

    Returns
    -------
    DataFrame
        ``study, dataset, size, n, kinds, family, measures, r2, lo, hi, ceiling, ceiling_test, ceiling_both, subsets,
        groups, folds, chosen``.
    """
    return q_nested.cv_table(recs, families=families, kinds=kinds, n_boot=n_boot, seed=seed, folds=folds)


def cv_predictions(
    recs: pd.DataFrame, *, family: str = "all", kinds: str = "all", seed: int = 0, folds: int = 5
) -> pd.DataFrame:
    """Out-of-fold predictions of the target for every subset (nested grouped K-fold per cell).

    Returns
    -------
    DataFrame
        ``subset_id, study, dataset, size, kind, direction, n, measured, predicted``.
    """
    return q_nested.cv_predictions(recs, family=family, kinds=kinds, seed=seed, folds=folds)


#: What the headline predictor leans on (:func:`q_nested.importance_table`).
importance_table = q_nested.importance_table


def a_gain(recs: pd.DataFrame, *, target: str = "bacc") -> pd.DataFrame:
    """Study A: adjusted R^2 over sizes of size + class balance, and its gain from each measure.

    OLS of ``target`` on ``log(size) + log(CB_1)`` (the baseline) and on the baseline plus
    ``log(measure)`` (:func:`regression.ols`), per dataset, measures positive throughout.

    Returns
    -------
    DataFrame
        ``dataset, measure, family, adj_r2, baseline, gain``, descending ``gain``.
    """
    rows = []
    a = recs[(recs["study"] == "a") & recs[target].notna()] if target in recs.columns else recs.iloc[:0]
    for dataset, part in a.groupby("dataset", sort=True):
        if len(part) < 6:
            continue
        base = regression.ols(part, ["q_size"], target=target, systematic=("q_size", "q_cb_1")).rsquared_adj
        for m in measure_columns(part):
            if quality.family(m) == "size" or not (part[m] > 0).all() or part[m].std() == 0:
                continue
            adj = regression.ols(part, [m], target=target, systematic=("q_size", "q_cb_1")).rsquared_adj
            rows.append({"dataset": dataset, "measure": m, "family": quality.family(m), "adj_r2": adj,
                         "baseline": base, "gain": adj - base})  # fmt: skip
    out = pd.DataFrame(rows, columns=["dataset", "measure", "family", "adj_r2", "baseline", "gain"])
    return out.sort_values(["dataset", "gain"], ascending=[True, False], kind="stable").reset_index(drop=True)


def transfer_table(recs: pd.DataFrame, *, family: str = "all") -> pd.DataFrame:
    """Fit the predictor on one dataset, score R^2 on another (same study, size and row set).

    Returns
    -------
    DataFrame
        ``study, size, n, kinds, train, test, r2, ceiling, subsets, chosen`` (empty with fewer
        than two datasets; :func:`q_nested.transfer_table`).
    """
    return q_nested.transfer_table(recs, family=family)


def weights_table(recs: pd.DataFrame, *, family: str = "all", top: int = 8) -> pd.DataFrame:
    """The ``top`` signed weights of the headline predictor fitted on each whole cell.

    The predictor is :func:`q_nested.fit_cell` (the one the quality report and the explorer
    use); a weight is a measure's coefficient on its transformed, standardized value, averaged
    over the ensemble (:func:`predictor_nested.linear_weights`).

    Returns
    -------
    DataFrame
        ``study, dataset, size, n, measure, family, weight`` (largest ``|weight|`` first).
    """
    frames = []
    for (study, dataset, size), part, target in design_cells(recs):
        fitted, measures = q_nested.fit_cell(part, target, family=family)
        w = pd.DataFrame({"measure": measures, "weight": pn.linear_weights(fitted, len(measures))})
        w = w[w["weight"] != 0].reindex(w["weight"].abs().sort_values(ascending=False).index).head(top)
        w = w.dropna().reset_index(drop=True)
        w.insert(0, "n", cell_label(part)["n"])
        w.insert(0, "size", size)
        w.insert(0, "dataset", dataset)
        w.insert(0, "study", study)
        w["family"] = [quality.family(m) for m in w["measure"]]
        frames.append(w)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def optimized_check(recs: pd.DataFrame, *, family: str = "all") -> pd.DataFrame:
    """Predict study X's optimized subsets from a predictor fitted on the design subsets.

    Returns
    -------
    DataFrame
        ``dataset, n, subset_id, strategy, candidates, measured, predicted`` (one row per
        optimized subset; ``candidates`` is "whole class" or "n + m"; empty when there are none).
    """
    cols = ["dataset", "n", "subset_id", "strategy", "candidates", "measured", "predicted"]
    if "kind" not in recs.columns:
        return pd.DataFrame(columns=cols)
    opt = recs[(recs["kind"] == "optimized") & (recs["study"] == "x")]
    rows = []
    for (_, dataset, size), part, target in design_cells(recs, "x"):
        test = opt[(opt["dataset"] == dataset) & (opt["size"] == size) & opt[target].notna()]
        if test.empty:
            continue
        fitted, measures = q_nested.fit_cell(part, target, family=family)
        if not test[measures].notna().all().all():
            continue
        pred = fitted.predict(test[measures].to_numpy(float))
        for (_, r), p in zip(test.iterrows(), pred):
            pool = f"n + {int(r['m'])}" if r.get("m", 0) else "whole class"
            rows.append({"dataset": dataset, "n": r["n"], "subset_id": r["subset_id"], "strategy": r["strategy"],
                         "candidates": pool, "measured": r[target], "predicted": p})  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def kind_table(recs: pd.DataFrame) -> pd.DataFrame:
    """Study X mean Z per (dataset, n, kind): random, selected and (when run) optimized subsets."""
    x = recs[(recs["study"] == "x") & recs["z_mean"].notna()]
    if x.empty:
        return pd.DataFrame(columns=["dataset", "n", "kind", "subsets", "z_mean", "z_min", "z_max"])
    out = x.groupby(["dataset", "n", "kind"]).agg(
        subsets=("subset_id", "count"), z_mean=("z_mean", "mean"), z_min=("z_mean", "min"), z_max=("z_mean", "max")
    )
    return out.reset_index()


# --------------------------------------------------------------------------- verdict
def verdict(recs: pd.DataFrame, *, cv: pd.DataFrame | None = None, note: str = "") -> str:
    """The verdict of study Q as markdown, computed from the records alone.

    Parameters
    ----------
    recs : DataFrame
        ``q_measures`` records.
    cv : DataFrame, optional
        :func:`cv_table` of ``recs`` (computed when not given).
    note : str
        :func:`sweep.read_note` of the run (first line).

    Returns
    -------
    str
        What was measured; per study and dataset the out-of-sample R^2 (95 % CI) of all
        measures at each size and the best measure family per size; the reference encoder's
        accuracy; for study A the largest gain in adjusted R^2 over size + class balance;
        the optimized subsets' mean Z when there are any.
    """
    check_frame(recs, ["study", "dataset", "size", "subset_id"], what="records")
    cv = cv_table(recs) if cv is None else cv
    lines = [note] if note else []
    studies = {"x": "study X (target: mean Z over the non-GNB models)", "a": "study A (target: BACC)"}
    what = [f"{(recs['study'] == s).sum():,} subsets of {studies[s]}" for s in studies if (recs["study"] == s).any()]
    ref = recs.drop_duplicates("dataset").set_index("dataset")
    refs = []
    for d, r in ref.iterrows():
        enc = f"encoder held-out accuracy {r['encoder_acc']:.3f}" if np.isfinite(r["encoder_acc"]) else "no encoder"
        refs.append(f"{d}: {int(r['ref_images']):,} images (up to {int(r['ref_per_class']):,} per class), "
                    f"tau_data {r['tau_data']:.3f}, {enc}")  # fmt: skip
    lines.append(f"**What was measured.** {listing(what)}; reference samples: {'; '.join(refs)}.")
    groups = list(cv.groupby(["study", "dataset"], sort=True)) if len(cv) else []
    for (study, dataset), whole in sorted(groups, key=lambda g: (g[0][0] != "x", g[0][1])):  # study X first
        unit = "n" if study == "x" else "size"
        part = whole[whole["kinds"] == "all"] if "kinds" in whole.columns else whole
        sets = []
        n_all = part.loc[part["family"] == "all", "measures"].max()

        def at(rows: pd.DataFrame, unit: str = unit) -> str:
            return "; ".join(
                f"{unit} = {int(r[unit])}: {interval(r['r2'], r['lo'], r['hi'])}"
                + (f" (ceiling {r['ceiling']:.2f}" if np.isfinite(r.get("ceiling", np.nan)) else "")
                + (f", test-split {r['ceiling_test']:.2f}" if np.isfinite(r.get("ceiling_test", np.nan)) else "")
                + (f", both {r['ceiling_both']:.2f}" if np.isfinite(r.get("ceiling_both", np.nan)) else "")
                + (")" if np.isfinite(r.get("ceiling", np.nan)) else "")
                for _, r in rows.iterrows()
            )

        for fam, label in (("all", "all measures"), ("pixel", "pixel measures only")):
            rows = part[part["family"] == fam]
            if len(rows) and (fam == "all" or rows["measures"].max() < n_all):  # "pixel" only beside an embedding
                sets.append(f"{label}: {at(rows)}")
        if "kinds" in whole.columns:
            rows = whole[(whole["kinds"] == "random") & (whole["family"] == "all")]
            if len(rows):
                sets.append(f"**random subsets alone**, all measures: {at(rows)}")
        size_info = part[part["family"] == "all"]
        counts = listing(
            sorted({f"{int(r['subsets'])} subsets in {int(r['groups'])} groups" for _, r in size_info.iterrows()})
        )
        fams = part[~part["family"].isin(["all", "pixel"])].sort_values("r2", ascending=False).drop_duplicates("size")
        fams = fams.sort_values("size")
        best = [f"{unit} = {int(r[unit])}: {r['family']} ({r['r2']:.2f})" for _, r in fams.iterrows()]
        lines.append(
            f"**Can quality be predicted before training? ({studies[study].split(' (')[0]}, {dataset}).** "
            f"Out-of-sample R² of the headline predictor (nested grouped "
            f"{listing(sorted(set(size_info['folds'])))}-fold: penalty, transform, screening and model family "
            f"chosen inside the training folds; {counts} per cell; 95 % group-bootstrap CI; ceiling: split-half "
            f"reliability of the target over models; test-split: over the two halves of the test sample; both: "
            f"the share of its variance shared by models and test halves alike, what a measure of the training "
            f"split can reach at most), {'; '.join(sets)}. "
            f"Best single family: {'; '.join(best)}."
        )
    gain = a_gain(recs)
    if len(gain):
        top = gain.drop_duplicates("dataset")
        items = [f"{r['dataset']}: {r['measure']} {r['baseline']:.2f} → {r['adj_r2']:.2f}" for _, r in top.iterrows()]
        lines.append(f"**Study A: gain over size + class balance (adjusted R²).** {'; '.join(items)}.")
    check = optimized_check(recs)
    if len(check):
        rho = check["measured"].corr(check["predicted"], method="spearman")
        items = [
            f"{r['strategy']} ({r['candidates']}) n = {int(r['n'])}: measured {r['measured']:+.2f}, "
            f"predicted {r['predicted']:+.2f}"
            for _, r in check.sort_values(["n", "strategy", "candidates"]).iterrows()
        ]
        lines.append(
            "**Optimized subsets (study X, mean Z; negative is better than random).** They are chosen by "
            "maximising training-free measures, so the predictor above is fitted on random and selected "
            "subsets only and scores them out of design: Spearman rho between predicted and measured Z "
            f"{rho:.2f} over {len(check)} subsets. {'; '.join(items)}."
        )
    return "\n\n".join(lines)

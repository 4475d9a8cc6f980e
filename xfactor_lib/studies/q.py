"""Study Q (SPEC 5): what makes a training set good, measured before training.

The pipeline, in the order the sweep runs it:

1. ``q_measures`` (one cell per dataset, after studies X and A trained):
   :func:`measure_dataset` draws the reference sample, trains (or loads) the reference
   encoder, computes every training-free measure (:mod:`xfactor_lib.quality`) of every
   study X and study A subset of the dataset, and joins the targets: study X the subset's
   mean Z over the non-GNB models (:func:`x_targets`), study A its BACC, ACC and AUC
   (:func:`a_targets`). One record per subset, every parameter a column, ``group`` the id
   of the subsets that share candidates (grouped cross-validation keeps them in one fold).
2. The summary (``notebooks/40_study_q``): :func:`load`, then :func:`single_table`,
   :func:`cv_table` (out-of-sample R^2 by measure family, grouped K-fold, bootstrap CI),
   :func:`a_gain`, :func:`transfer_table`, :func:`weights_table` and :func:`verdict`.

Within study X a comparison is within one (dataset, n); within study A within one
(dataset, size) for the predictor, and across sizes for the gain over size + class balance.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import data, encoder, predictor, quality, regression, stats, sweep
from .._validation import check_frame
from . import q_nested
from ._common import interval, listing, save, save_table

__all__ = [
    "STAGES",
    "FAMILY_SETS",
    "TARGETS",
    "group_ids",
    "x_targets",
    "a_targets",
    "measure_dataset",
    "overview",
    "load",
    "measure_columns",
    "single_table",
    "cv_table",
    "cv_predictions",
    "a_gain",
    "transfer_table",
    "weights_table",
    "kind_table",
    "importance_table",
    "verdict",
    "save",
    "save_table",
]

STAGES = ("q_measures",)
#: Measure sets the predictor is scored on: each family, every pixel measure (no embedding),
#: then all measures together.
FAMILY_SETS = ("lcr", "coverage", "vendi", "ambiguity", "typicality", "probe", "pixel", "all")
#: The target of each study (study A also records ``acc`` and ``auc_macro``).
TARGETS = {"x": "z_mean", "a": "bacc"}
_DESIGN = ("study", "dataset", "n", "size", "kind", "strategy", "direction", "m", "repeat", "subset_id")


# --------------------------------------------------------------------------- 1. measures
#: One group id per set of candidates (:func:`predictor.candidate_groups`).
group_ids = predictor.candidate_groups


def x_targets(recs: pd.DataFrame, *, exclude: Iterable[str] = ("gnb",)) -> pd.DataFrame:
    """Study X target per subset: mean Z (error, against the cell's random subsets) over models.

    Returns
    -------
    DataFrame
        ``subset_id, z_mean, z_models`` (models averaged), and one ``zm_<model>`` column per
        model (its Z, mean over seeds): the noise ceiling splits the models in halves.
    """
    check_frame(recs, ["subset_id", "model", "kind", "error", "dataset", "n"], what="x_train records")
    kept = recs[~recs["model"].isin(set(exclude))].copy()
    kept["z"] = stats.zscores(kept)
    out = kept.groupby("subset_id").agg(z_mean=("z", "mean"), z_models=("model", "nunique"))
    per_model = kept.pivot_table(index="subset_id", columns="model", values="z", aggfunc="mean")
    out = out.join(per_model.rename(columns=lambda m: f"zm_{m}"))
    return out.reset_index()


def a_targets(recs: pd.DataFrame) -> pd.DataFrame:
    """Study A targets per subset: BACC, ACC and AUC (mean over models and seeds)."""
    check_frame(recs, ["subset_id", "bacc"], what="a_train records")
    cols = [c for c in ("bacc", "acc", "auc_macro") if c in recs.columns]
    return recs.groupby("subset_id")[cols].mean().reset_index()


def _collect(run_dir: str | os.PathLike, stage: str, dataset: str) -> pd.DataFrame | None:
    try:
        return sweep.collect(run_dir, stage, dataset=dataset)
    except (FileNotFoundError, KeyError):
        return None


def _study_frames(run_dir: str | os.PathLike, dataset: str) -> list[tuple[pd.DataFrame, pd.DataFrame | None]]:
    """Per study with subsets of ``dataset``: (manifest with ``group``, targets or None)."""
    out = []
    for subsets_stage, train_stage, targets in (
        ("x_subsets", "x_train", x_targets),
        ("a_subsets", "a_train", a_targets),
    ):
        manifest = _collect(run_dir, subsets_stage, dataset)
        if manifest is None:
            continue
        recs = _collect(run_dir, train_stage, dataset)
        out.append((manifest.assign(group=group_ids(manifest)), None if recs is None else targets(recs)))
    return out


def measure_dataset(
    run_dir: str | os.PathLike,
    dataset: str,
    *,
    per_class: int = 2000,
    probe_per_class: int = 200,
    seed: int = 0,
    encoder_per_class: int = 1000,
    encoder_epochs: int = 3,
    cache_dir: str | os.PathLike = "",
    device: str = "auto",
    scale: str = "quick",
    quiet: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Measures and targets of every study X and study A subset of ``dataset`` in a run.

    Parameters
    ----------
    run_dir : path
        The sweep's run directory (its ``x_subsets``/``a_subsets`` and ``x_train``/``a_train``).
    dataset : str
    per_class, probe_per_class, seed
        The reference sample (:func:`quality.make_reference`).
    encoder_per_class, encoder_epochs
        The reference encoder (:func:`encoder.load_or_train`); ``encoder_epochs = 0``: no
        embedding measures.
    cache_dir : path
        Where the encoder is cached (the cell's folder); empty: a temporary folder.
    device, scale, quiet
        Torch device of the encoder; recorded scale; no progress bars.

    Returns
    -------
    records : DataFrame
        One row per subset: the design (``study, dataset, n, size, kind, strategy,
        direction, m, repeat, subset_id``), ``group``, ``scale``, every ``q_`` measure and
        the targets (``z_mean``, ``z_models`` for X; ``bacc, acc, auc_macro`` and ``cb_1``
        for A; NaN where a study's training records are missing).
    info : dict
        Reference size, ``tau_data``, probe size, the encoder's held-out accuracy.
    """
    import tempfile

    frames = _study_frames(run_dir, dataset)
    if not frames:
        raise FileNotFoundError(f"no study X or study A subsets of {dataset!r} in {run_dir}; run those stages first")
    manifest = pd.concat([m for m, _ in frames], ignore_index=True)
    train = data.load_dataset(dataset, "train")
    X, y = train.images, train.labels
    ref = quality.make_reference(X, y, per_class=per_class, probe_per_class=probe_per_class, seed=seed)
    info: dict[str, Any] = {
        "dataset": dataset,
        "reference": int(ref.y.size),
        "probe": int(ref.probe.size),
        "tau_data": ref.tau,
        "encoder_acc": np.nan,
    }
    E = None
    if encoder_epochs:
        needed = np.union1d(ref.index, np.concatenate([np.asarray(i) for i in manifest["indices"]]))
        with tempfile.TemporaryDirectory() as tmp:
            E, enc = encoder.load_or_train(
                cache_dir or tmp,
                X,
                y,
                dataset=dataset,
                per_class=encoder_per_class,
                epochs=encoder_epochs,
                seed=seed,
                device=device,
                progress=not quiet,
                rows=needed,
            )
        info["encoder_acc"] = enc.heldout_acc
        ref = quality.make_reference(X, y, per_class=per_class, probe_per_class=probe_per_class, seed=seed, embed=E)
    table = quality.measures_table(manifest, X, y, reference=ref, embed=E, progress=not quiet)
    design = manifest[[c for c in (*_DESIGN, "group", "cb_1") if c in manifest.columns]]
    recs = design.merge(table, on="subset_id", how="left", validate="one_to_one")
    targets = [t for _, t in frames if t is not None]
    for t in targets:
        recs = recs.merge(t, on="subset_id", how="left")
    for col in ("n", "z_mean", "bacc"):  # every design and target column, NaN where undefined
        if col not in recs.columns:
            recs[col] = np.nan
    recs = recs.assign(
        scale=scale,
        ref_per_class=per_class,
        ref_images=int(ref.y.size),
        probe_per_class=probe_per_class,
        tau_data=ref.tau,
        encoder_acc=info["encoder_acc"],
    )
    return recs, info


def overview(recs: pd.DataFrame) -> pd.DataFrame:
    """Subsets per (study, dataset, size, kind), with their mean target."""
    check_frame(recs, ["study", "dataset", "size", "kind", "subset_id"], what="records")
    out = recs.groupby(["study", "dataset", "size", "kind"]).agg(
        subsets=("subset_id", "count"), z_mean=("z_mean", "mean"), bacc=("bacc", "mean")
    )
    return out.round(3)


# --------------------------------------------------------------------------- 2. analysis
def load(run_dir: str | os.PathLike) -> pd.DataFrame:
    """The ``q_measures`` records of a run."""
    return sweep.collect(run_dir, "q_measures")


def measure_columns(recs: pd.DataFrame, *, family: str = "all") -> list[str]:
    """The ``q_`` columns of ``recs`` defined on every row: of one family, ``"pixel"`` (all
    but the embedding measures) or ``"all"``."""
    cols = [c for c in recs.columns if c.startswith("q_") and recs[c].notna().all()]
    if family == "all":
        return cols
    if family == "pixel":
        return [c for c in cols if "emb" not in c]
    return [c for c in cols if quality.family(c) == family]


#: Study X subsets the predictor is fitted and scored on: the paper's design. Optimized subsets
#: are chosen by maximising the very measures the predictor reads (a Goodhart test, not a
#: sample of the design), so :func:`optimized_check` scores them apart.
DESIGN_KINDS = ("random", "selected", "balance")


def _design(recs: pd.DataFrame) -> pd.DataFrame:
    return recs[recs["kind"].isin(DESIGN_KINDS)] if "kind" in recs.columns else recs


def _cells(recs: pd.DataFrame, study: str | None = None):
    """``((study, dataset, size), part)`` of design subsets with a defined target, in order."""
    check_frame(recs, ["study", "dataset", "size"], what="records")
    for key, part in _design(recs).groupby(["study", "dataset", "size"], sort=True):
        if study is not None and key[0] != study:
            continue
        target = TARGETS.get(key[0])
        if target is None or target not in part.columns:
            continue
        part = part[part[target].notna()]
        if len(part) >= 4:
            yield key, part, target


def _label(part: pd.DataFrame) -> dict[str, Any]:
    n = part["n"].iloc[0] if "n" in part.columns and part["n"].notna().all() else np.nan
    return {"n": n, "subsets": len(part), "groups": part["group"].nunique() if "group" in part else len(part)}


#: A cell is cross-validated when it has this many subsets in at least 3 groups (fewer:
#: a fold's standardization rests on a handful of rows and the R^2 means nothing).
MIN_CV_SUBSETS = 8


def _can_cross_validate(part: pd.DataFrame) -> bool:
    return len(part) >= MIN_CV_SUBSETS and part["group"].nunique() >= 3


def single_table(recs: pd.DataFrame) -> pd.DataFrame:
    """R^2 of each single measure with the target, per (study, dataset, size).

    Returns
    -------
    DataFrame
        ``study, dataset, size, n, measure, family, r, r2, n_subsets``, descending ``r2``
        within each cell.
    """
    frames = []
    for (study, dataset, size), part, target in _cells(recs):
        cols = [c for c in measure_columns(part) if part[c].std() > 0]
        t = predictor.single_r2(part, cols, target)
        t.insert(0, "size", size)
        t.insert(0, "dataset", dataset)
        t.insert(0, "study", study)
        t.insert(3, "n", _label(part)["n"])
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
        ``study, dataset, size, n, kinds, family, measures, r2, lo, hi, ceiling, subsets,
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
    """The ``top`` standardized ridge weights of the predictor fitted on each whole cell.

    Returns
    -------
    DataFrame
        ``study, dataset, size, n, measure, family, weight, logged``.
    """
    frames = []
    for (study, dataset, size), part, target in _cells(recs):
        w = predictor.weights(part, _family_measures(part, family), target).head(top)
        w.insert(0, "n", _label(part)["n"])
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
    for (_, dataset, size), part, target in _cells(recs, "x"):
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
                + (f" (ceiling {r['ceiling']:.2f})" if np.isfinite(r.get("ceiling", np.nan)) else "")
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
            f"reliability of the target over models), {'; '.join(sets)}. Best single family: {'; '.join(best)}."
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

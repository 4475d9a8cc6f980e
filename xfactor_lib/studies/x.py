"""Study X (SPEC 1): is quality a property of the data set, shared by every model?

The pipeline, in the order the sweep runs it:

1. ``x_subsets`` (one cell per dataset and ``n`` images per class): :func:`make_subsets`
   draws the random subsets and the selected grid (:func:`subsets.study_x_manifest`).
2. ``x_train`` (one cell per dataset, ``n`` and model): :func:`load_subsets` then
   :func:`train` fits the model on every subset and scores it on the test split.
3. The summary (``notebooks/10_study_x``): :func:`load` the records, :func:`headline_table`
   (mean R^2 between models with CIs, KS of random Z, variance explained, on the paper's
   random and selected subsets: :func:`paper_records`), :func:`optimized_table` (Z of the
   ``kind = "optimized"`` subsets beside random and selected ones, per model) and
   :func:`verdict`, a text computed from the records alone.

Records carry ``n`` (images per class) and ``size = n * K`` (total images).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from .. import agreement, data, stats, subsets, sweep
from .._validation import check_frame
from ..records import save_table
from ._common import (
    grid_deviation,
    interval,
    listing,
    paper_protocol,
    save,
    test_deviations,
    train_subsets,
    training_deviations,
)
from ._common import what_ran as _what_ran

__all__ = [
    "STAGES",
    "PAPER",
    "make_subsets",
    "subset_counts",
    "load_subsets",
    "train",
    "error_table",
    "load",
    "headline_table",
    "paper_records",
    "optimized_table",
    "verdict",
    "save",
    "save_table",
]

STAGES = ("x_subsets", "x_train")
#: The paper's grid and protocol, the reference the verdict names deviations from.
PAPER = {
    "n": subsets.NS,
    "models": ("gnb", "rf", "svc", "mlp-1", "mlp-2", "mlp-3", "mlp-4", "mlp-5", "resnet18", "resnet34"),
    "random": 100,
    "selected": 400,
    "training": paper_protocol(),
    "mean_r2": "0.82 [0.80, 0.84]",
    "variance_random": "> 98 %",
    "variance_selected": "59-83 %",
}


# --------------------------------------------------------------------------- 1. subsets
def make_subsets(
    dataset: str,
    n: int,
    *,
    n_random: int,
    ms: Sequence[int] = subsets.MS,
    strategies: Sequence[str] = subsets.STRATEGIES,
    directions: Sequence[str] = subsets.DIRECTIONS,
    repeats: int = 5,
    seed: int = 0,
    scale: str = "quick",
    optimizers: Sequence[str] = (),
    optimized_sources: Sequence[str] = subsets.SOURCES,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every study X subset of ``n`` images per class of ``dataset``'s training split.

    ``optimizers`` (e.g. ``["coverage", "a_max"]``) adds ``kind = "optimized"`` subsets
    chosen by those training-free objectives from each of ``optimized_sources`` (the whole
    class; the selected grid's candidates): :func:`subsets.optimized_subsets`.

    Returns
    -------
    manifest : DataFrame
        :func:`subsets.study_x_manifest` plus a ``scale`` column: ``n_random`` random
        subsets, then the selected grid (strategies x directions x ``ms`` x ``repeats``),
        then the optimized subsets.
    skipped : DataFrame
        The selected combinations left out (``n + m`` above a class's size), with reasons.
    """
    train = data.load_dataset(dataset, "train")
    grid = dict(ms=ms, strategies=strategies, directions=directions, repeats=repeats, seed=seed, dataset=dataset)
    manifest = subsets.study_x_manifest(train.images, train.labels, n, n_random=n_random, **grid)
    if optimizers:
        opt = subsets.optimized_subsets(
            train.images, train.labels, n, methods=optimizers, sources=optimized_sources, ms=ms, repeats=repeats,
            seed=seed, dataset=dataset,
        )  # fmt: skip
        manifest = pd.concat([manifest, opt], ignore_index=True)
    skipped = subsets.skipped_subsets(train.labels, n, **grid)
    return manifest.assign(scale=scale), skipped


def subset_counts(manifest: pd.DataFrame) -> pd.DataFrame:
    """Subsets per (kind, strategy, direction) of a manifest."""
    check_frame(manifest, ["kind", "strategy", "direction"], what="manifest")
    return manifest.groupby(["kind", "strategy", "direction"]).size().rename("subsets").to_frame()


# --------------------------------------------------------------------------- 2. training
def load_subsets(run_dir: str | os.PathLike, *, dataset: str, n: int) -> pd.DataFrame:
    """The manifest the ``x_subsets`` cell of (``dataset``, ``n``) wrote."""
    return sweep.collect(run_dir, "x_subsets", dataset=dataset, n=n)


#: Fit a model on every subset of :func:`load_subsets` and score it on the test split
#: (the shared trainer of studies X and A; records carry ``n`` and ``size``).
train = train_subsets


def error_table(recs: pd.DataFrame) -> pd.DataFrame:
    """Test error per (kind, strategy, direction): count, mean, sd, quartiles."""
    check_frame(recs, ["kind", "strategy", "direction", "error"], what="records")
    return recs.groupby(["kind", "strategy", "direction"])["error"].describe().round(3)


# --------------------------------------------------------------------------- 3. summary
def load(run_dir: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``x_train`` records and the ``x_subsets`` manifests of a run."""
    return sweep.collect(run_dir, "x_train"), sweep.collect(run_dir, "x_subsets")


def paper_records(recs: pd.DataFrame) -> pd.DataFrame:
    """The rows of the paper's design (random and selected subsets), without optimized ones.

    The headline numbers and the paper's figures are computed on these, so they stay
    comparable with the paper; the optimized subsets are summarised by :func:`optimized_table`.
    """
    check_frame(recs, ["kind"], what="records")
    return recs[recs["kind"].isin(["random", "selected"])]


def _group(recs: pd.DataFrame) -> pd.Series:
    """``random``, ``selected`` or ``<method> (<source>)`` per row."""
    source = recs["source"] if "source" in recs else pd.Series("class", index=recs.index)
    label = recs["strategy"].astype(str) + " (" + source.astype(str) + ")"
    return label.where(recs["kind"] == "optimized", recs["kind"].astype(str))


def optimized_table(recs: pd.DataFrame, *, exclude: Iterable[str] = ("gnb",)) -> pd.DataFrame:
    """Mean Z of error per subset group and model: optimized subsets beside random and selected.

    Z is taken against the random subsets of each (dataset, n, model) cell
    (:func:`stats.zscores`), for every kind alike; below 0 means lower error than the
    average random subset of the same size.

    Parameters
    ----------
    recs : DataFrame
        ``x_train`` records (``kind, strategy, source, model, n, error, subset_id``).
    exclude : iterable of str
        Models left out of the ``"all models"`` rows and of ``every_model`` (the paper: GNB).

    Returns
    -------
    DataFrame
        Columns ``group`` (``random``, ``selected``, ``coverage (class)``, ``a_max
        (candidates)``, ...), ``model`` (a model, or ``"all models"``), ``mean_z``,
        ``sd_z`` (over subsets and n), ``subsets`` (rows averaged), ``every_model``
        (group rows: whether the mean Z is below 0 for every model not excluded, else NA).
    """
    check_frame(recs, ["kind", "strategy", "model", "n", "error", "subset_id"], what="records")
    frame = recs.assign(group=_group(recs), z=stats.zscores(recs).to_numpy())
    per = frame.groupby(["group", "model"], sort=False)["z"].agg(mean_z="mean", sd_z="std", subsets="count")
    per = per.reset_index()
    kept = frame[~frame["model"].isin(set(exclude))]
    pooled = kept.groupby("group", sort=False)["z"].agg(mean_z="mean", sd_z="std", subsets="count").reset_index()
    every = per[~per["model"].isin(set(exclude))].groupby("group")["mean_z"].apply(lambda z: bool((z < 0).all()))
    pooled = pooled.assign(model="all models", every_model=pooled["group"].map(every))
    order = {g: i for i, g in enumerate(["random", "selected", *sorted(set(frame["group"]) - {"random", "selected"})])}
    out = pd.concat([pooled, per.assign(every_model=pd.NA)], ignore_index=True)
    out = out.assign(_o=out["group"].map(order), _m=out["model"] != "all models")
    return (
        out.sort_values(["_o", "_m"], kind="stable")
        .drop(columns=["_o", "_m"])
        .reset_index(drop=True)[["group", "model", "mean_z", "sd_z", "subsets", "every_model"]]
    )


def _optimized_line(table: pd.DataFrame, exclude: tuple) -> str:
    pooled = table[table["model"] == "all models"].set_index("group")
    parts = []
    for group, row in pooled.iterrows():
        if group in ("random", "selected"):
            parts.append(f"{group} {row['mean_z']:+.2f}")
            continue
        models = table[(table["group"] == group) & (table["model"] != "all models")]
        models = models[~models["model"].isin(set(exclude))]
        better = int((models["mean_z"] < 0).sum())
        parts.append(
            f"{group} {row['mean_z']:+.2f} (below the random mean for {better} of {len(models)} models"
            f"{': every model' if row['every_model'] else ''})"
        )
    return "; ".join(parts)


def headline_table(
    recs: pd.DataFrame,
    *,
    exclude: Iterable[str] = ("gnb",),
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    log: bool = True,
) -> pd.DataFrame:
    """The headline numbers of study X in one tidy table.

    Rows: ``mean_r2`` (models in ``exclude`` left out) with CI for all / selected / random
    subsets; ``ks_statistic`` and ``ks_p`` of pooled random Z (all models); the share of
    the variance of error explained by model, n, their interaction and in total
    (:func:`stats.variance_explained`, ``exclude`` left out, as the paper excepts GNB) for
    random and selected subsets; and, as the paper reports it, per model the share n
    explains (``variance_by_n``, column ``model``). Kinds absent from ``recs`` are skipped.

    Returns
    -------
    DataFrame
        Columns ``quantity, subsets, model, value, lo, hi, n`` (``n``: subsets for R^2, rows
        otherwise; ``model`` empty for pooled rows; ``lo, hi`` NaN without an interval).
    """
    check_frame(recs, ["kind", "model"], what="records")
    recs = paper_records(recs)
    exclude = tuple(exclude)
    present = set(recs["kind"])
    kept = recs[~recs["model"].isin(set(exclude))]
    rows = []
    for kind in stats.KINDS:
        if kind == "all" or kind in present:
            m = agreement.mean_r2(recs, kind=kind, exclude=exclude, n_boot=n_boot, seed=seed, ci=ci)
            rows.append(("mean_r2", kind, "", m["r2"], m["lo"], m["hi"], m["n_subsets"]))
    ks = stats.ks_normal(recs)
    rows.append(("ks_statistic", "random", "", ks["statistic"], np.nan, np.nan, ks["n"]))
    rows.append(("ks_p", "random", "", ks["p"], np.nan, np.nan, ks["n"]))
    for kind in ("random", "selected"):
        part = kept[kept["kind"] == kind]
        if part["model"].nunique() >= 2 and part["n"].nunique() >= 2:
            ve = stats.variance_explained(part, kind=kind, log=log)
            for term, share in zip(ve["term"], ve["share"]):
                if term != "residual":
                    rows.append((f"variance_{term}", kind, "", share, np.nan, np.nan, len(part)))
        levels = part.groupby("model", sort=False)["n"].nunique()
        for model in levels.index[levels >= 2]:  # a model run at one n has no n effect to explain
            one = part[part["model"] == model]
            ve = stats.variance_explained(one, kind=kind, log=log, by="model").set_index("term")
            rows.append(("variance_by_n", kind, model, ve.loc["n", "share"], np.nan, np.nan, len(one)))
    return pd.DataFrame(rows, columns=["quantity", "subsets", "model", "value", "lo", "hi", "n"])


def _deviations(recs: pd.DataFrame) -> list[str]:
    ns = sorted(int(v) for v in recs["n"].unique())
    out = [grid_deviation("n =", ns, PAPER["n"])]
    per_n = recs.drop_duplicates("subset_id").groupby(["dataset", "n", "kind"]).size()
    for kind in ("random", "selected"):
        counts = sorted(set(per_n.xs(kind, level="kind"))) if kind in per_n.index.get_level_values("kind") else [0]
        if counts != [PAPER[kind]]:
            out.append(f"{listing(counts)} {kind} subsets per n (paper: {PAPER[kind]})")
    for model, part in recs.groupby("model", sort=False):
        own = sorted(int(v) for v in part["n"].unique())
        if own != ns:
            out.append(f"{model} trained only at n = {', '.join(map(str, own))}")
    missing = [m for m in PAPER["models"] if m not in set(recs["model"])]
    if missing:
        out.append(f"models not run: {listing(missing)}")
    out += training_deviations(recs, PAPER["training"]) + test_deviations(recs)
    return [d for d in out if d]


def verdict(
    recs: pd.DataFrame, *, headline: pd.DataFrame | None = None, note: str = "", exclude: Iterable[str] = ("gnb",)
) -> str:
    """The verdict of study X as markdown, computed from the records alone.

    Parameters
    ----------
    recs : DataFrame
        ``x_train`` records.
    headline : DataFrame, optional
        :func:`headline_table` of ``recs`` (computed when not given).
    note : str
        :func:`sweep.read_note` of the run: how many cells the summary read (first line).
    exclude : iterable of str
        Models left out of the mean R^2 (the paper: GNB).

    Returns
    -------
    str
        What ran; deviations from the paper at this scale; mean R^2 (excl. GNB) with 95 %
        CIs for selected, random and all subsets; whether the random Z-scores depart from
        N(0, 1) (KS at the 5 % level); the share of each model's variance that n explains
        (all on :func:`paper_records`); with optimized subsets, their mean Z beside random
        and selected ones and for how many models it is below the random mean.
    """
    check_frame(recs, ["dataset", "model", "n", "kind", "subset_id"], what="records")
    exclude = tuple(exclude)
    optimized = (recs["kind"] == "optimized").any()
    table = headline_table(recs, exclude=exclude) if headline is None else headline
    everything, recs = recs, paper_records(recs)
    hl = table.set_index(["quantity", "subsets", "model"])
    lines = [note] if note else []
    lines.append(f"**What ran.** {_what_ran(recs)}")
    deviations = _deviations(recs)
    if deviations:
        lines.append("**Deviations from the paper at this scale.** " + "; ".join(deviations) + ".")
    r2 = []
    for kind in ("selected", "random", "all"):
        if ("mean_r2", kind, "") in hl.index:
            row = hl.loc[("mean_r2", kind, "")]
            r2.append(f"{kind} subsets {interval(row['value'], row['lo'], row['hi'])}")
    left_out = f", {listing(exclude)} excluded" if exclude else ""
    lines.append(
        f"**Is quality shared across models?** Mean R² of Z-scored error over model pairs{left_out} "
        f"(95 % bootstrap CI): {'; '.join(r2)} (paper, all subsets: {PAPER['mean_r2']})."
    )
    ks_p, ks_d = hl.loc[("ks_p", "random", ""), "value"], hl.loc[("ks_statistic", "random", ""), "value"]
    departs = "depart from" if ks_p < 0.05 else "are consistent with"
    lines.append(
        f"**Random Z-scores against N(0, 1).** KS D = {ks_d:.3f}, p = {ks_p:.2g} over "
        f"{int(hl.loc[('ks_p', 'random', ''), 'n']):,} pooled random Z: they {departs} N(0, 1) at the 5 % "
        f"level (paper: p < 1e-6, slightly flattened)."
    )
    shares = []
    for kind in ("random", "selected"):
        per = table[(table["quantity"] == "variance_by_n") & (table["subsets"] == kind)]
        if len(per):
            lo, hi = 100 * per["value"].min(), 100 * per["value"].max()
            shares.append(f"{lo:.0f}-{hi:.0f} % on {kind} subsets (paper: {PAPER[f'variance_{kind}']})")
    if shares:
        lines.append(f"**Variance of log error that n explains, per model{left_out}.** {'; '.join(shares)}.")
    if optimized:
        line = _optimized_line(optimized_table(everything, exclude=exclude), exclude)
        lines.append(
            f"**Subsets chosen for a training-free objective** (mean Z of error against random subsets over "
            f"models{left_out} and n; below 0 = better than the average random subset): {line}."
        )
    return "\n\n".join(lines)

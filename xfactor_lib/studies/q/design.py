"""Study Q's design and targets: which subsets a comparison reads, their targets, the measure
columns; the bottom of :mod:`xfactor_lib.studies.q` (every other module of it imports this one).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ... import quality, stats, sweep
from ..._validation import check_frame
from ...quality import predictor

STAGES = ("q_measures",)
#: Measure sets the predictor is scored on: each family, every pixel measure (no embedding),
#: then all measures together.
FAMILY_SETS = ("lcr", "coverage", "vendi", "ambiguity", "typicality", "probe", "pixel", "all")
#: The target of each study (study A also records ``acc`` and ``auc_macro``).
TARGETS = {"x": "z_mean", "a": "bacc"}
DESIGN_COLUMNS = ("study", "dataset", "n", "size", "kind", "strategy", "direction", "m", "repeat", "subset_id")


#: One group id per set of candidates (:func:`predictor.candidate_groups`).
group_ids = predictor.candidate_groups


def x_targets(recs: pd.DataFrame, *, exclude: Iterable[str] = ("gnb",)) -> pd.DataFrame:
    """Study X target per subset: mean Z (error, against the cell's random subsets) over models.

    Returns
    -------
    DataFrame
        ``subset_id, z_mean, z_models`` (models averaged), and one ``zm_<model>`` column per
        model (its Z, mean over seeds): the noise ceiling splits the models in halves. With the
        records' half-test errors (``error_even``, ``error_odd``) also ``zt_even``, ``zt_odd``:
        the target measured on each half of the test sample (the test-split reliability), and
        per model ``zme_<model>``, ``zmo_<model>`` (its Z on each half: both facets at once).
    """
    check_frame(recs, ["subset_id", "model", "kind", "error", "dataset", "n"], what="x_train records")
    kept = recs[~recs["model"].isin(set(exclude))].copy()
    kept["z"] = stats.zscores(kept)
    agg = {"z_mean": ("z", "mean"), "z_models": ("model", "nunique")}
    halves = {"even": "error_even", "odd": "error_odd"}
    if all(c in kept.columns and kept[c].notna().all() for c in halves.values()):
        try:
            for half, col in halves.items():
                kept[f"zt_{half}"] = stats.zscores(kept, value=col)
                agg[f"zt_{half}"] = (f"zt_{half}", "mean")
        except ValueError:  # a half with (nearly) constant random errors: no test-split reliability
            agg = {k: a for k, a in agg.items() if not k.startswith("zt_")}
    out = kept.groupby("subset_id").agg(**agg)
    per_model = kept.pivot_table(index="subset_id", columns="model", values="z", aggfunc="mean")
    out = out.join(per_model.rename(columns=lambda m: f"zm_{m}"))
    if "zt_even" in agg:
        for half, prefix in (("even", "zme_"), ("odd", "zmo_")):
            part = kept.pivot_table(index="subset_id", columns="model", values=f"zt_{half}", aggfunc="mean")
            out = out.join(part.rename(columns=lambda m, p=prefix: f"{p}{m}"))
    return out.reset_index()


def a_targets(recs: pd.DataFrame) -> pd.DataFrame:
    """Study A targets per subset: BACC, ACC and AUC (mean over models and seeds)."""
    check_frame(recs, ["subset_id", "bacc"], what="a_train records")
    cols = [c for c in ("bacc", "acc", "auc_macro") if c in recs.columns]
    return recs.groupby("subset_id")[cols].mean().reset_index()


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
    q_cols = [c for c in recs.columns if c.startswith("q_")]
    defined = recs[q_cols].notna().all().to_numpy() if q_cols else np.zeros(0, dtype=bool)
    cols = [c for c, ok in zip(q_cols, defined) if ok]
    if family == "all":
        return cols
    if family == "pixel":
        return [c for c in cols if "emb" not in c]
    return [c for c in cols if quality.family(c) == family]


#: Study X subsets the predictor is fitted and scored on: the paper's design. Optimized subsets
#: are chosen by maximising the very measures the predictor reads (a Goodhart test, not a
#: sample of the design), so :func:`optimized_check` scores them apart.
DESIGN_KINDS = ("random", "selected", "balance")


def design_rows(recs: pd.DataFrame) -> pd.DataFrame:
    return recs[recs["kind"].isin(DESIGN_KINDS)] if "kind" in recs.columns else recs


def design_cells(recs: pd.DataFrame, study: str | None = None):
    """``((study, dataset, size), part)`` of design subsets with a defined target, in order."""
    check_frame(recs, ["study", "dataset", "size"], what="records")
    for key, part in design_rows(recs).groupby(["study", "dataset", "size"], sort=True):
        if study is not None and key[0] != study:
            continue
        target = TARGETS.get(key[0])
        if target is None or target not in part.columns:
            continue
        part = part[part[target].notna()]
        if len(part) >= 4:
            yield key, part, target


def cell_label(part: pd.DataFrame) -> dict[str, Any]:
    n = part["n"].iloc[0] if "n" in part.columns and part["n"].notna().all() else np.nan
    return {"n": n, "subsets": len(part), "groups": part["group"].nunique() if "group" in part else len(part)}


#: A cell is cross-validated when it has this many subsets in at least 3 groups (fewer:
#: a fold's standardization rests on a handful of rows and the R^2 means nothing).
MIN_CV_SUBSETS = 8


def can_cross_validate(part: pd.DataFrame) -> bool:
    return len(part) >= MIN_CV_SUBSETS and part["group"].nunique() >= 3

"""Study Q's honest protocol (SPEC 5, issue 21): the one predictor every study Q table calls.

Every R^2 is out of sample with every choice made inside
the training folds (:mod:`xfactor_lib.quality.nested`), for all design subsets and for random
subsets alone (column ``kinds``: ``all`` | ``random``), beside the target's noise ceiling
(``ceiling``: split-half reliability over models of the per-model Z columns ``zm_<model>``
that :func:`xfactor_lib.studies.q.x_targets` writes; NaN where they are missing, e.g. study A).
:func:`cv_table`, :func:`cv_predictions`, :func:`importance_table` and :func:`transfer_table`
share :func:`cells`; :func:`fit_cell` is the predictor the quality report and the explorer use.
"""

from __future__ import annotations

import hashlib
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ... import quality
from ..._validation import check_frame
from ...quality import nested as pn
from .design import design_cells, measure_columns

__all__ = [
    "HEADLINE",
    "KINDS",
    "cells",
    "ceiling",
    "ceiling_both",
    "ceiling_test",
    "cv_predictions",
    "cv_table",
    "fit_cell",
    "importance_table",
    "model_columns",
    "transfer_table",
]

#: Row sets every R^2 is reported for.
KINDS = ("all", "random")
#: The headline predictor's measure family.
HEADLINE = "all"
#: Model families fitted (each tuned by grouped inner CV, then averaged): ridge and PLS for the
#: headline predictor and the per-family rows (:data:`quality.nested.DEFAULT_FAMILIES`).
HEADLINE_MODELS = pn.DEFAULT_FAMILIES
FAMILY_MODELS = pn.DEFAULT_FAMILIES
#: Measure sets the headline predictor is also fitted on, beside all measures (SPEC 5: feature
#: families inside the folds): the labelled probes, and every pixel measure. Each (model family,
#: set) is tuned by the inner CV, and their predictions are averaged
#: (:func:`predictor_nested.fit_selected`). On the default run these sets alone had beaten all
#: measures out of sample (n = 10 / 30 / 100: probe 0.87 / 0.82 / 0.95, pixel 0.91 / 0.91 /
#: 0.90, all 0.89 / 0.90 / 0.85): a hundred measures on a few dozen subsets dilute the few that
#: extrapolate.
MEASURE_SETS = ("probe", "pixel")
#: Subsets and groups a cell needs to be cross-validated.
MIN_SUBSETS, MIN_GROUPS = 8, 3


def model_columns(part: pd.DataFrame) -> list[str]:
    """The per-model target columns (``zm_<model>``) defined on every row of ``part``."""
    return [c for c in part.columns if c.startswith("zm_") and part[c].notna().all()]


def ceiling(part: pd.DataFrame) -> float:
    """Split-half reliability over models of the target of these rows (NaN without per-model columns)."""
    cols = model_columns(part)
    return pn.noise_ceiling(part[cols].to_numpy(float)) if len(cols) >= 2 else float("nan")


def ceiling_test(part: pd.DataFrame) -> float:
    """Test-split reliability of the target of these rows: the correlation of the target measured
    on the two halves of the test sample (``zt_even``, ``zt_odd``), Spearman-Brown corrected.

    A measure of the training split cannot predict which test images a subset happens to get
    right; when this is well below :func:`ceiling`, the models share test-split luck that no
    such measure can reach. NaN without the half columns (records from before they existed).
    """
    cols = ["zt_even", "zt_odd"]
    if not all(c in part.columns and part[c].notna().all() for c in cols):
        return float("nan")
    return pn.noise_ceiling(part[cols].to_numpy(float))


def ceiling_both(part: pd.DataFrame) -> float:
    """Share of the target's variance shared by models and by the two halves of the test sample
    (:func:`predictor_nested.two_facet_ceiling` of ``zm_``, ``zme_``, ``zmo_`` per model): what a
    measure of the training split can explain at most. NaN without the half columns."""
    models = [c[3:] for c in model_columns(part)]
    models = [m for m in models if all(f"{p}{m}" in part.columns and part[f"{p}{m}"].notna().all()
                                       for p in ("zme_", "zmo_"))]  # fmt: skip
    if len(models) < 2:
        return float("nan")
    Z = [part[[f"{p}{m}" for m in models]].to_numpy(float) for p in ("zm_", "zme_", "zmo_")]
    return pn.two_facet_ceiling(*Z)


def cells(recs: pd.DataFrame, *, kinds: Sequence[str] = KINDS, study: str | None = None):
    """``((study, dataset, size, kinds), part, target)`` of every cross-validatable cell.

    ``kinds = "random"`` keeps the random subsets of a cell alone.
    """
    for (st, dataset, size), part, target in design_cells(recs, study):
        for kind in kinds:
            rows = part if kind == "all" else part[part["kind"] == kind] if "kind" in part.columns else part.iloc[:0]
            if len(rows) >= MIN_SUBSETS and rows["group"].nunique() >= MIN_GROUPS:
                yield (st, dataset, size, kind), rows, target


def _measures(part: pd.DataFrame, family: str) -> list[str]:
    cols = measure_columns(part, family=family)
    varies = part[cols].std().to_numpy() > 0 if cols else np.zeros(0, dtype=bool)
    return [c for c, ok in zip(cols, varies) if ok]


def _models(family: str) -> Sequence[str]:
    return HEADLINE_MODELS if family == HEADLINE else FAMILY_MODELS


def _sets(part: pd.DataFrame, family: str, cols: Sequence[str]) -> dict[str, list[str]] | None:
    """The :data:`MEASURE_SETS` among ``cols`` for the headline family (None for the others);
    a set equal to all of ``cols`` or empty is left out."""
    if family != HEADLINE:
        return None
    keep = set(cols)
    sets = {name: [c for c in measure_columns(part, family=name) if c in keep] for name in MEASURE_SETS}
    sets = {name: m for name, m in sets.items() if 0 < len(m) < len(cols)}
    return sets or None


#: Fitted nested CVs of this process, keyed by :func:`_key` (least recently used dropped first):
#: ``cv_table``, ``cv_predictions`` and ``importance_table`` of one summary refit nothing.
_MEMO: OrderedDict[str, pn.NestedResult] = OrderedDict()
MEMO_SIZE = 256  # a summary of 8 families x ~15 cells x 2 row sets fits


def _key(
    part: pd.DataFrame, cols: Sequence[str], target: str, families: Sequence[str], folds: int, seed: int,
    sets: dict | None = None,
) -> str:  # fmt: skip
    """Content hash of everything a nested CV of this cell reads: the used columns' values, the
    target, the groups, the measures' names and the search (families, grid, folds, seed)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(part[list(cols) + [target]].to_numpy(np.float64)).tobytes())
    h.update(pd.util.hash_array(part["group"].astype(str).to_numpy()).tobytes())
    search = (tuple(cols), target, tuple(families), folds, seed, pn.ALPHAS, pn.PLS_COMPONENTS, pn.TRANSFORMS,
              pn.SCREENS, pn.GBR_SCREENS, sorted(pn.GBR_PARAMS.items()), pn.TOP,
              sorted((k, tuple(v)) for k, v in (sets or {}).items()))  # fmt: skip
    h.update(repr(search).encode())
    return h.hexdigest()


def _run(part: pd.DataFrame, family: str, target: str, *, folds: int, n_boot: int, seed: int) -> pn.NestedResult:
    """The nested CV of one cell, fitted once per process (:data:`_MEMO`); the group-bootstrap
    interval is recomputed from the stored predictions, so ``n_boot`` never changes them."""
    cols, models = _measures(part, family), _models(family)
    sets = _sets(part, family, cols)
    key = _key(part, cols, target, models, folds, seed, sets)
    res = _MEMO.get(key)
    if res is None:
        res = pn.cross_validated(part, cols, target, groups=part["group"].to_numpy(), folds=folds,
                                 families=models, n_boot=0, seed=seed, sets=sets)  # fmt: skip
        for a in (res.predicted, res.measured, res.fold):
            a.flags.writeable = False  # shared by every later call
        _MEMO[key] = res
        while len(_MEMO) > MEMO_SIZE:
            _MEMO.popitem(last=False)
    else:
        _MEMO.move_to_end(key)
    lo, hi = pn.group_interval(res.measured, res.predicted, part["group"].to_numpy(), n_boot, seed=seed)
    return replace(res, ci_low=lo, ci_high=hi, importance=res.importance.copy())


def cv_table(
    recs: pd.DataFrame,
    *,
    families: Sequence[str] = ("all",),
    kinds: Sequence[str] = KINDS,
    n_boot: int = 1000,
    seed: int = 0,
    folds: int = 5,
) -> pd.DataFrame:
    """Out-of-sample R^2 (nested CV, group-bootstrap CI) per cell, row set and measure family.

    Returns
    -------
    DataFrame
        ``study, dataset, size, n, kinds, family, measures, r2, lo, hi, ceiling, ceiling_test,
        ceiling_both, subsets, groups, folds, chosen`` (``chosen``: the configuration most outer
        folds chose; ``ceiling_test``, ``ceiling_both``: :func:`ceiling_test`, :func:`ceiling_both`).
    """
    rows = []
    for (study, dataset, size, kind), part, target in cells(recs, kinds=kinds):
        ceil, ceil_test, ceil_both = ceiling(part), ceiling_test(part), ceiling_both(part)
        n = part["n"].iloc[0] if "n" in part.columns and part["n"].notna().all() else np.nan
        for fam in families:
            cols = _measures(part, fam)
            if not cols:
                continue
            res = _run(part, fam, target, folds=folds, n_boot=n_boot, seed=seed)
            chosen, count = Counter(res.choices).most_common(1)[0]
            rows.append(
                {"study": study, "dataset": dataset, "size": size, "n": n, "kinds": kind, "family": fam,
                 "measures": len(cols), "r2": res.r2, "lo": res.ci_low, "hi": res.ci_high, "ceiling": ceil,
                 "ceiling_test": ceil_test, "ceiling_both": ceil_both, "subsets": len(part),
                 "groups": part["group"].nunique(), "folds": res.folds,
                 "chosen": f"{chosen} ({count}/{res.folds})"}
            )  # fmt: skip
    cols = ["study", "dataset", "size", "n", "kinds", "family", "measures", "r2", "lo", "hi", "ceiling", "ceiling_test",
            "ceiling_both", "subsets", "groups", "folds", "chosen"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def cv_predictions(
    recs: pd.DataFrame, *, family: str = HEADLINE, kinds: str = "all", seed: int = 0, folds: int = 5
) -> pd.DataFrame:
    """Out-of-fold predictions of every subset of every cell (``kinds`` rows).

    Returns
    -------
    DataFrame
        ``subset_id, study, dataset, size, kind, direction, n, measured, predicted``.
    """
    frames = []
    for _, part, target in cells(recs, kinds=(kinds,)):
        res = _run(part, family, target, folds=folds, n_boot=0, seed=seed)
        keep = [c for c in ("subset_id", "study", "dataset", "size", "kind", "direction") if c in part.columns]
        n = part["n"].iloc[0] if "n" in part.columns else np.nan
        frames.append(part[keep].assign(n=n, measured=res.measured, predicted=res.predicted))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def importance_table(
    recs: pd.DataFrame, *, family: str = HEADLINE, kinds: Sequence[str] = KINDS, top: int = 10, seed: int = 0
) -> pd.DataFrame:
    """What the predictor leans on: mean over outer folds of each measure's normalized importance.

    Returns
    -------
    DataFrame
        ``study, dataset, size, n, kinds, measure, family, importance, selected, r``
        (``r``: Pearson correlation of the measure with the target over the cell, for the
        direction), the ``top`` measures per cell.
    """
    frames = []
    for (study, dataset, size, kind), part, target in cells(recs, kinds=kinds):
        res = _run(part, family, target, folds=5, n_boot=0, seed=seed)
        imp = res.importance.head(top).copy()
        imp["r"] = [float(np.corrcoef(part[m], part[target])[0, 1]) for m in imp["measure"]]
        imp["family"] = [quality.family(m) for m in imp["measure"]]
        n = part["n"].iloc[0] if "n" in part.columns else np.nan
        frames.append(imp.assign(study=study, dataset=dataset, size=size, n=n, kinds=kind))
    cols = ["study", "dataset", "size", "n", "kinds", "measure", "family", "importance", "selected", "r"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def transfer_table(
    recs: pd.DataFrame, *, family: str = HEADLINE, kinds: Sequence[str] = KINDS, seed: int = 0
) -> pd.DataFrame:
    """Fit on one dataset (choices by grouped inner CV there), score another, same study, size, rows.

    Measures are standardized within each dataset's cell (:func:`predictor_nested.transfer`).

    Returns
    -------
    DataFrame
        ``study, size, n, kinds, train, test, r2, ceiling, subsets, chosen`` (``ceiling`` of the
        test cell); empty with fewer than two datasets.
    """
    found = {key: (part, target) for key, part, target in cells(recs, kinds=kinds)}
    rows = []
    for (study, d1, size, kind), (p1, target) in found.items():
        for (s2, d2, size2, kind2), (p2, _) in found.items():
            if (s2, size2, kind2) != (study, size, kind) or d2 == d1:
                continue
            in_test = set(_measures(p2, family))
            cols = [c for c in _measures(p1, family) if c in in_test]
            r2, _, chosen = pn.transfer(p1, p2, cols, target, groups=p1["group"].to_numpy(),
                                        families=_models(family), seed=seed, sets=_sets(p1, family, cols))  # fmt: skip
            n = p2["n"].iloc[0] if "n" in p2.columns else np.nan
            rows.append({"study": study, "size": size, "n": n, "kinds": kind, "train": d1, "test": d2, "r2": r2,
                         "ceiling": ceiling(p2), "subsets": len(p2), "chosen": chosen})  # fmt: skip
    cols = ["study", "size", "n", "kinds", "train", "test", "r2", "ceiling", "subsets", "chosen"]
    return pd.DataFrame(rows, columns=cols)


def fit_cell(part: pd.DataFrame, target: str, *, family: str = HEADLINE, seed: int = 0) -> tuple[Any, list[str]]:
    """The headline predictor fitted on one cell (choices by grouped inner CV on it).

    Returns
    -------
    fitted : predictor_nested.Fitted
        ``fitted.predict(F)`` on a matrix of the returned measures.
    measures : list of str
    """
    check_frame(part, [target, "group"], what="cell")
    cols = _measures(part, family)
    F = part[cols].to_numpy(float)
    sets = pn.set_indices(cols, _sets(part, family, cols))
    return pn.fit_selected(F, part[target].to_numpy(float), part["group"].to_numpy(), families=_models(family),
                           seed=seed, sets=sets), cols  # fmt: skip

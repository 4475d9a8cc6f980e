"""Study A (SPEC 2): does LCR diversity explain performance better than size and class balance?

The pipeline, in the order the sweep runs it:

1. ``a_subsets`` (one cell per dataset and total ``size``): :func:`make_subsets` draws
   class-count vectors over the whole class-balance range (:func:`subsets.balance_subsets`).
2. ``a_train`` (one cell per dataset and size): :func:`load_subsets` then :func:`train`
   fits the model on every subset, scores it on the test split and adds the 27 diversity
   features and 3 systematic features of the subset (:func:`diversity.subset_features`).
3. The summary (``notebooks/20_study_a``): :func:`load`, :func:`fit_regressions` (OLS of
   performance on log features, adjusted R^2 of every single, pair, triple and group),
   :func:`top_table` and :func:`verdict`.

``size`` is the total number of images of a subset. Class balance is one column, ``CB_1``
(:func:`diversity.class_balance`, also what the subsets were binned by).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from .. import data, diversity, regression, subsets, sweep
from .._validation import check_frame
from ..records import save_table
from ._common import (
    grid_deviation,
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
    "subset_table",
    "load_subsets",
    "train",
    "feature_table",
    "load",
    "overview",
    "fit_regressions",
    "top_table",
    "verdict",
    "save",
    "save_table",
]

STAGES = ("a_subsets", "a_train")
#: The paper's grid and protocol, the reference the verdict names deviations from.
PAPER = {
    "datasets": ("bloodmnist", "pathmnist", "organamnist", "organcmnist"),
    "sizes": (64, 128, 256, 384, 512, 768, 1024, 2048),
    "model": "resnet18",
    "per_size": 100,  # 25 CB_1 bins x 4 subsets
    "training": paper_protocol(max_epochs=1000),
}
#: What the best diversity features are weighed against.
BASELINES = {"single": ("size", "CB_1"), "group": ("size + class balances", "class balances")}


# --------------------------------------------------------------------------- 1. subsets
def make_subsets(
    dataset: str, size: int, *, n_bins: int = 25, per_bin: int = 4, seed: int = 0, scale: str = "quick"
) -> pd.DataFrame:
    """Subsets of ``size`` images of ``dataset`` spanning class balance CB_1 from 1 to K.

    Returns
    -------
    DataFrame
        :func:`subsets.balance_subsets` (``class_counts, cb_1, cb_bin``) plus ``scale``.
    """
    train = data.load_dataset(dataset, "train")
    manifest = subsets.balance_subsets(train.labels, size, seed=seed, dataset=dataset, n_bins=n_bins, per_bin=per_bin)
    return manifest.assign(scale=scale)


def subset_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per subset: its CB_1 (rounded), bin and class counts."""
    check_frame(manifest, ["subset_id", "cb_1", "cb_bin", "class_counts"], what="manifest")
    return manifest[["subset_id", "cb_1", "cb_bin", "class_counts"]].round(3)


# --------------------------------------------------------------------------- 2. training
def load_subsets(run_dir: str | os.PathLike, *, dataset: str, size: int) -> pd.DataFrame:
    """The manifest the ``a_subsets`` cell of (``dataset``, ``size``) wrote."""
    return sweep.collect(run_dir, "a_subsets", dataset=dataset, size=size)


def train(manifest: pd.DataFrame, *, model: str = "resnet18", device: str = "auto", **options) -> pd.DataFrame:
    """Fit ``model`` on every subset, score it, and measure the subset's diversity.

    Parameters
    ----------
    manifest : DataFrame
        One dataset's study A subsets (:func:`load_subsets`).
    model : str
        Any name of :mod:`xfactor_lib.models` (the paper: resnet18).
    device : str
        Torch device for training and for the RMSD of the diversity features.
    **options
        ``seed, train_config, test_sample, pretrained, scale, quiet`` of
        :func:`xfactor_lib.studies.x.train`.

    Returns
    -------
    DataFrame
        One record per subset: the design (``size, cb_bin, ...``), the test metrics
        (``acc, bacc, auc_macro, ...``), the 27 features of :data:`diversity.FEATURE_NAMES`
        (class balance as ``CB_1`` only) and ``pixels, channels, classes``.
    """

    def features(X, y):
        return diversity.subset_features(X, y, device=device)

    recs = train_subsets(manifest, model=model, device=device, row_hook=features, **options)
    # the manifest's cb_1 is the same Hill number of the same class counts: keep one name
    return recs.drop(columns=["cb_1"], errors="ignore")


def feature_table(recs: pd.DataFrame) -> pd.DataFrame:
    """A few features and metrics per subset, rounded: a glance at one cell's records."""
    cols = ["subset_id", "CB_1", "A_0", "A_1", "G_1", "bacc", "auc_macro"]
    check_frame(recs, cols[:-1], what="records")
    return recs[[c for c in cols if c in recs.columns]].round(3)


# --------------------------------------------------------------------------- 3. summary
def load(run_dir: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``a_train`` records and the ``a_subsets`` manifests of a run."""
    return sweep.collect(run_dir, "a_train"), sweep.collect(run_dir, "a_subsets")


def overview(recs: pd.DataFrame) -> pd.DataFrame:
    """Subsets, mean BACC, mean CB_1 and mean A_0 per (dataset, size)."""
    check_frame(recs, ["dataset", "size", "subset_id", "bacc", "CB_1", "A_0"], what="records")
    table = recs.groupby(["dataset", "size"]).agg(
        subsets=("subset_id", "count"), bacc=("bacc", "mean"), CB_1=("CB_1", "mean"), A_0=("A_0", "mean")
    )
    return table.round(3)


def fit_regressions(recs: pd.DataFrame, targets: Sequence[str] = ("bacc", "acc", "auc_macro")) -> dict:
    """Adjusted R^2 of every single feature, pair, triple and group, per target.

    Returns
    -------
    dict
        target -> :func:`regression.fit_all_subsets` table (targets undefined on some row
        are left out, see :func:`regression.fit_targets`).
    """
    return regression.fit_targets(recs, list(targets))


def top_table(results: dict, *, target: str = "bacc", k: int = 10) -> pd.DataFrame:
    """The top ``k`` regressions of each kind for ``target``, rounded, indexed by (kind, rank)."""
    top = regression.top_tables({target: results[target]}, k=k)
    return top.set_index(["kind", "rank"]).drop(columns=["target", "features"]).round(3)


def _best(res: pd.DataFrame, kind: str) -> str:
    part = res[res["kind"] == kind]
    if part.empty:
        return ""
    best = part["adj_r2"].max()
    tied = part.loc[(best - part["adj_r2"]) <= 1e-6, "label"]  # exact ties (e.g. proportional features)
    return f"{kind} {listing(tied)} ({best:.2f})"


def _baseline(res: pd.DataFrame, label: str) -> str:
    row = res[res["label"] == label]
    return f"{label} {row['adj_r2'].iloc[0]:.2f}" if len(row) else ""


def _deviations(recs: pd.DataFrame) -> list[str]:
    datasets = sorted(recs["dataset"].unique())
    out = [
        grid_deviation("datasets", datasets, sorted(PAPER["datasets"])),
        grid_deviation("sizes", sorted(int(s) for s in recs["size"].unique()), PAPER["sizes"]),
    ]
    other = [m for m in pd.unique(recs["model"]) if m != PAPER["model"]]
    if other:
        out.append(f"trains {listing(other)}, not {PAPER['model']}")
    per_size = sorted(set(recs.drop_duplicates("subset_id").groupby(["dataset", "size"]).size()))
    if max(per_size) < PAPER["per_size"]:
        out.append(f"{listing(per_size)} subsets per (dataset, size) (paper: up to {PAPER['per_size']})")
    out += training_deviations(recs, PAPER["training"]) + test_deviations(recs)
    return [d for d in out if d]


def verdict(recs: pd.DataFrame, *, results: dict | None = None, note: str = "", target: str = "bacc") -> str:
    """The verdict of study A as markdown, computed from the records alone.

    Parameters
    ----------
    recs : DataFrame
        ``a_train`` records.
    results : dict, optional
        :func:`fit_regressions` of ``recs`` (computed for ``target`` when not given).
    note : str
        :func:`sweep.read_note` of the run: how many cells the summary read (first line).
    target : str
        The performance column the verdict speaks of.

    Returns
    -------
    str
        What ran; deviations from the paper at this scale; the best single, pair, triple and
        group predictors of ``target`` by adjusted R^2, beside size and class balance alone.
    """
    check_frame(recs, ["dataset", "model", "size", "subset_id"], what="records")
    res = (results or fit_regressions(recs, [target]))[target]
    lines = [note] if note else []
    lines.append(f"**What ran.** {_what_ran(recs)}")
    deviations = _deviations(recs)
    if deviations:
        lines.append("**Deviations from the paper at this scale.** " + "; ".join(deviations) + ".")
    best = [b for b in (_best(res, kind) for kind in regression.KINDS) if b]
    base = [b for b in (_baseline(res, label) for labels in BASELINES.values() for label in labels) if b]
    lines.append(
        f"**Best predictors of {target}** (adjusted R² of OLS on log features + log systematic "
        f"features, {int(res['n_obs'].iloc[0]):,} subsets pooled over datasets): {'; '.join(best)}. "
        f"Against size and class balance alone: {'; '.join(base)}."
    )
    return "\n\n".join(lines)

"""Figures of study A (LCR diversity as quality), one function per figure.

Each returns a matplotlib Figure; the numbers come from :mod:`xfactor_lib.diversity`,
:mod:`xfactor_lib.regression` and :mod:`xfactor_lib.similarity`. seaborn's clustered
heatmaps use ``fastcluster`` (a dependency) for the linkage, so they render without warnings.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .. import data, diversity, regression, similarity
from .._validation import check_frame, check_labels


def _detach(fig: Figure) -> Figure:
    """seaborn's clustermap makes a pyplot figure; release it so it is shown once, as returned."""
    import matplotlib.pyplot as plt

    plt.close(fig)
    return fig


def balance_histogram(manifest: pd.DataFrame, *, K: int | None = None) -> Figure:
    """Subsets per CB_1 value for each size (how well the class-balance range is covered).

    Parameters
    ----------
    manifest : DataFrame
        Study A manifest: ``size``, ``cb_1`` and ``class_counts``.
    K : int, optional
        Number of classes; default the length of the manifest's class-count vectors.

    Returns
    -------
    Figure
        One stacked histogram over 25 equal CB_1 bins on [1, K], one colour per size.
    """
    check_frame(manifest, ["size", "cb_1", "class_counts"], what="manifest")
    K = len(manifest["class_counts"].iloc[0]) if K is None else K
    sizes = sorted(manifest["size"].unique())
    fig = Figure(figsize=(6, 3), layout="constrained")
    ax = fig.subplots()
    ax.hist(
        [manifest.loc[manifest["size"] == s, "cb_1"] for s in sizes],
        bins=np.linspace(1, K, 26),
        stacked=True,
        label=[str(s) for s in sizes],
    )
    ax.set_xlabel("class balance CB_1 (Hill number, q = 1)")
    ax.set_ylabel("subsets")
    ax.legend(title="size", fontsize=8)
    return fig


def similarity_clustermap(X: np.ndarray, y: np.ndarray, *, classes: Sequence[str] | None = None) -> Figure:
    """Clustered heatmap of Z = exp(-RMSD) for one subset, classes as a colour bar (Fig. 2).

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W) uint8 or (N, D) float in [0, 1]
    y : ndarray, shape (N,), int
    classes : sequence of str, optional
        Class names for the legend; default the labels.

    Returns
    -------
    Figure
        seaborn's clustermap figure (average linkage) of :func:`similarity.similarity_from_rmsd`
        of :func:`similarity.pairwise_rmsd`.
    """
    import seaborn as sns

    y, _ = check_labels(y, len(X))
    Z = similarity.similarity_from_rmsd(similarity.pairwise_rmsd(X))
    labels = sorted(np.unique(y))
    palette = dict(zip(labels, sns.color_palette("tab10" if len(labels) <= 10 else "husl", len(labels))))
    colors = [palette[v] for v in y]
    grid = sns.clustermap(
        pd.DataFrame(Z),
        row_colors=colors,
        col_colors=colors,
        cmap="viridis",
        xticklabels=False,
        yticklabels=False,
        figsize=(6, 6),
        method="average",
        cbar_kws={"label": "Z = exp(-RMSD)"},
    )
    names = classes if classes is not None else [str(v) for v in labels]
    handles = [
        grid.ax_heatmap.scatter([], [], color=palette[v], label=str(names[v] if v < len(names) else v)) for v in labels
    ]
    grid.ax_heatmap.legend(handles=handles, title="class", bbox_to_anchor=(1.25, 1), loc="upper left", fontsize=7)
    grid.figure.suptitle(f"similarity of a {len(y)}-image subset", y=1.02)
    return _detach(grid.figure)


def balance_and_performance(records: pd.DataFrame, *, target: str = "bacc", bins: int = 5) -> Figure:
    """Class balance vs size, performance vs size, performance vs A_0 / K by dataset (Fig. 3).

    Parameters
    ----------
    records : DataFrame
        Study A records: ``dataset, size, CB_1, A_0, classes`` and ``target``.
    target : str
    bins : int
        A_0 / K is cut into this many quantile bins within each dataset (datasets differ in
        scale); the axis labels them Q1 (lowest) .. Q``bins``.

    Returns
    -------
    Figure
        Three axes: a strip plot and two box plots, hue = dataset.
    """
    import seaborn as sns

    check_frame(records, ["dataset", "size", "CB_1", "A_0", "classes", target], what="records")
    df = records.assign(A_0_per_class=records["A_0"] / records["classes"])
    df["A_0 / K quantile"] = (
        df.groupby("dataset")["A_0_per_class"]
        .transform(lambda v: pd.qcut(v, q=min(bins, v.nunique()), labels=False, duplicates="drop"))
        .map(lambda b: f"Q{b + 1:.0f}")
    )
    fig = Figure(figsize=(14, 4), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    sns.stripplot(data=df, x="size", y="CB_1", hue="dataset", dodge=True, size=3, ax=ax1)
    ax1.set_title("class balance CB_1 by size")
    order = sorted(df["A_0 / K quantile"].unique(), key=lambda q: int(q[1:]))
    with warnings.catch_warnings():
        # seaborn 0.13 passes matplotlib's deprecated ``vert=`` to boxplot; nothing to fix on our side
        warnings.filterwarnings("ignore", message="vert: bool was deprecated")
        sns.boxplot(data=df, x="size", y=target, hue="dataset", ax=ax2, fliersize=2)
        sns.boxplot(data=df, x="A_0 / K quantile", y=target, hue="dataset", order=order, ax=ax3, fliersize=2)
    ax2.set_title(f"{target} by size")
    ax3.set_title(f"{target} by A_0 / K (quantiles within dataset, Q1 lowest)")
    return fig


def top_regressions(results: pd.DataFrame, *, k: int = 10) -> Figure:
    """Adjusted R^2 of the top singles, pairs, triples and groups (Fig. 4).

    ``results`` is one target's :func:`regression.fit_all_subsets` table; one bar chart per kind.
    """
    kinds = [kd for kd in regression.KINDS if kd in set(results["kind"])]
    fig = Figure(figsize=(5 * len(kinds), 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(kinds)))
    for ax, kind in zip(axes, kinds):
        top = regression.top_table(results, kind, k=k)
        ax.barh(top["label"][::-1], top["adj_r2"][::-1], color="tab:blue")
        ax.set_title(f"top {kind}s")
        ax.set_xlabel("adjusted R^2")
        ax.tick_params(axis="y", labelsize=7)
    return fig


def feature_r2_clustermap(records: pd.DataFrame, *, features: Sequence[str] = diversity.FEATURE_NAMES) -> Figure:
    """Clustered heatmap of R^2 between features over the subsets (Fig. 5).

    The matrix is :func:`regression.feature_r2_matrix` of the logs of ``features``; a
    constant feature (NaN) is drawn as 0.
    """
    import seaborn as sns

    M = regression.feature_r2_matrix(records, features).fillna(0.0)
    grid = sns.clustermap(
        M,
        cmap="mako",
        vmin=0,
        vmax=1,
        figsize=(8, 8),
        method="average",
        cbar_kws={"label": "R^2"},
        xticklabels=True,
        yticklabels=True,
    )
    grid.ax_heatmap.tick_params(labelsize=7)
    return _detach(grid.figure)


def subset_clustermap(manifest: pd.DataFrame, *, size: int = 128, dataset: str | None = None) -> Figure:
    """Fig. 2 for the median-balance subset of ``size`` images (or the closest size present)."""
    check_frame(manifest, ["dataset", "size", "cb_1", "indices", "subset_id"], what="manifest")
    pool = manifest if dataset is None else manifest[manifest["dataset"] == dataset]
    if pool.empty:
        raise ValueError(
            f"no subsets of dataset {dataset!r} in the manifest; present: {sorted(manifest['dataset'].unique())}"
        )
    sizes = np.array(sorted(pool["size"].unique()))
    size = int(sizes[np.argmin(np.abs(sizes - size))])  # the closest size the run has
    part = pool[pool["size"] == size]
    ds_name = part["dataset"].iloc[0]
    part = part[part["dataset"] == ds_name].sort_values("cb_1")
    row = part.iloc[len(part) // 2]
    ds = data.load_dataset(ds_name, "train")
    idx = np.asarray(row["indices"], dtype=np.int64)
    fig = similarity_clustermap(ds.images[idx], ds.labels[idx], classes=ds.classes)
    fig.suptitle(f"{ds_name}: Z for subset {row['subset_id']} (CB_1 = {row['cb_1']:.2f})", y=1.02)
    return fig

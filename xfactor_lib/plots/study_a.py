"""Figures of study A (LCR diversity as quality), one function per figure.

Each returns a matplotlib Figure; the numbers come from :mod:`xfactor_lib.lcr`,
:mod:`xfactor_lib.regression` and :mod:`xfactor_lib.similarity`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..regression import KINDS, top_table
from ..similarity import pairwise_rmsd


def _detach(fig: Figure) -> Figure:
    """seaborn's clustermap makes a pyplot figure; release it so it is shown once, as returned."""
    import matplotlib.pyplot as plt

    plt.close(fig)
    return fig


def balance_histogram(manifest: pd.DataFrame, *, K: int) -> Figure:
    """Subsets per CB_1 value for each size (how well the balance range is covered)."""
    sizes = sorted(manifest["size"].unique())
    fig = Figure(figsize=(6, 3))
    ax = fig.subplots()
    bins = np.linspace(1, K, 26)
    ax.hist([manifest.loc[manifest["size"] == s, "cb_1"] for s in sizes], bins=bins, stacked=True,
            label=[str(s) for s in sizes])
    ax.set_xlabel("class balance CB_1 (Hill number, q = 1)")
    ax.set_ylabel("subsets")
    ax.legend(title="size", fontsize=8)
    fig.tight_layout()
    return fig


def similarity_clustermap(X: np.ndarray, y: np.ndarray, *, classes: Sequence[str] | None = None) -> Figure:
    """Clustered heatmap of Z = exp(-RMSD) for one subset, classes as a colour bar (Fig. 2)."""
    import seaborn as sns

    y = np.asarray(y)
    Z = np.exp(-pairwise_rmsd(X))
    labels = sorted(np.unique(y))
    palette = dict(zip(labels, sns.color_palette("tab10" if len(labels) <= 10 else "husl", len(labels))))
    colors = [palette[v] for v in y]
    grid = sns.clustermap(pd.DataFrame(Z), row_colors=colors, col_colors=colors, cmap="viridis",
                          xticklabels=False, yticklabels=False, figsize=(6, 6), method="average",
                          cbar_kws={"label": "Z = exp(-RMSD)"})
    names = classes if classes is not None else [str(v) for v in labels]
    handles = [grid.ax_heatmap.scatter([], [], color=palette[v], label=str(names[i] if i < len(names) else v))
               for i, v in enumerate(labels)]
    grid.ax_heatmap.legend(handles=handles, title="class", bbox_to_anchor=(1.25, 1), loc="upper left", fontsize=7)
    grid.figure.suptitle(f"similarity of a {len(y)}-image subset", y=1.02)
    return _detach(grid.figure)


def balance_and_performance(records: pd.DataFrame, *, target: str = "bacc") -> Figure:
    """Class balance vs size, performance vs size, performance vs A_0 / K by dataset (Fig. 3)."""
    import seaborn as sns

    df = records.copy()
    df["A_0_per_class"] = df["A_0"] / df["classes"]
    fig = Figure(figsize=(14, 4))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    sns.stripplot(data=df, x="size", y="CB_1", hue="dataset", dodge=True, size=3, ax=ax1)
    ax1.set_title("class balance CB_1 by size")
    sns.boxplot(data=df, x="size", y=target, hue="dataset", ax=ax2, fliersize=2)
    ax2.set_title(f"{target} by size")
    df["A_0/K bin"] = df.groupby("dataset")["A_0_per_class"].transform(
        lambda v: pd.qcut(v, q=min(5, v.nunique()), duplicates="drop").astype(str))
    order = (df.groupby("A_0/K bin")["A_0_per_class"].median().sort_values().index.tolist())
    sns.boxplot(data=df, x="A_0/K bin", y=target, hue="dataset", order=order, ax=ax3, fliersize=2)
    ax3.set_title(f"{target} by A_0 / K (quintiles within dataset)")
    ax3.tick_params(axis="x", rotation=30, labelsize=7)
    fig.tight_layout()
    return fig


def top_regressions(results: pd.DataFrame, *, k: int = 10) -> Figure:
    """Adjusted R^2 of the top singles, pairs, triples and groups (Fig. 4)."""
    kinds = [kd for kd in KINDS if kd in set(results["kind"])]
    fig = Figure(figsize=(5 * len(kinds), 4))
    axes = np.atleast_1d(fig.subplots(1, len(kinds)))
    for ax, kind in zip(axes, kinds):
        top = top_table(results, kind, k=k)
        ax.barh(top["label"][::-1], top["adj_r2"][::-1], color="tab:blue")
        ax.set_title(f"top {kind}s")
        ax.set_xlabel("adjusted R^2")
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def feature_r2_clustermap(r2: pd.DataFrame) -> Figure:
    """Clustered heatmap of R^2 between features (Fig. 5); ``r2`` from ``feature_r2_matrix``."""
    import seaborn as sns

    M = r2.fillna(0.0)
    grid = sns.clustermap(M, cmap="mako", vmin=0, vmax=1, figsize=(8, 8), method="average",
                          cbar_kws={"label": "R^2"}, xticklabels=True, yticklabels=True)
    grid.ax_heatmap.tick_params(labelsize=7)
    return _detach(grid.figure)


def subset_clustermap(manifest: pd.DataFrame, *, size: int = 128, dataset: str | None = None) -> Figure:
    """Fig. 2 for the median-balance subset of ``size`` images (or the closest size present)."""
    from ..data import flatten, load_dataset

    pool = manifest if dataset is None else manifest[manifest["dataset"] == dataset]
    if pool.empty:
        raise ValueError(f"no subsets of dataset {dataset!r} in the manifest; "
                         f"present: {sorted(manifest['dataset'].unique())}")
    sizes = np.array(sorted(pool["size"].unique()))
    size = int(sizes[np.argmin(np.abs(sizes - size))])  # the closest size the run has
    part = pool[pool["size"] == size]
    ds_name = part["dataset"].iloc[0]
    part = part[part["dataset"] == ds_name].sort_values("cb_1")
    row = part.iloc[len(part) // 2]
    ds = load_dataset(ds_name, "train")
    idx = np.asarray(row["indices"], dtype=np.int64)
    fig = similarity_clustermap(flatten(ds.images[idx]), ds.labels[idx], classes=ds.classes)
    fig.suptitle(f"{ds_name}: Z for subset {row['subset_id']} (CB_1 = {row['cb_1']:.2f})", y=1.02)
    return fig

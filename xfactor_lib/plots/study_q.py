"""Figures of study Q (SPEC 5): one function per figure, each returns a Figure.

Every number comes from :mod:`xfactor_lib.studies.q` (tables of out-of-sample R^2,
out-of-fold predictions, predictor weights) or the ``q_measures`` records themselves.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from .._validation import check_frame

KIND_COLORS = {"random": "tab:grey", "selected": "tab:blue", "optimized": "tab:red", "balance": "tab:green"}


def _panels(count: int, *, width: float = 3.6, height: float = 3.2) -> tuple[Figure, list]:
    fig = Figure(figsize=(width * max(count, 1), height), layout="constrained")
    axes = fig.subplots(1, max(count, 1), squeeze=False)[0]
    return fig, list(axes)


def _cell_title(study: str, dataset: str, size: int, n: float) -> str:
    return f"{study.upper()} {dataset} " + (f"n = {int(n)}" if np.isfinite(n) else f"size = {int(size)}")


def _empty(message: str) -> Figure:
    fig, (ax,) = _panels(1)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def predicted_vs_measured(pred: pd.DataFrame, *, study: str = "x") -> Figure:
    """Out-of-fold predicted against measured target, one panel per (dataset, size).

    Parameters
    ----------
    pred : DataFrame
        :func:`studies.q.cv_predictions` (``study, dataset, size, n, kind, measured, predicted``).
    study : str
        Which study's cells to draw.
    """
    check_frame(pred, ["study", "dataset", "size", "n", "kind", "measured", "predicted"], what="predictions")
    part = pred[pred["study"] == study]
    if part.empty:
        return _empty(f"no study {study.upper()} predictions")
    cells = list(part.groupby(["dataset", "size"], sort=True))
    fig, axes = _panels(len(cells))
    for ax, ((dataset, size), cell) in zip(axes, cells):
        for kind, k in cell.groupby("kind", sort=True):
            ax.scatter(k["measured"], k["predicted"], s=14, color=KIND_COLORS.get(kind, "k"), label=kind)
        lo = float(min(cell["measured"].min(), cell["predicted"].min()))
        hi = float(max(cell["measured"].max(), cell["predicted"].max()))
        ax.plot([lo, hi], [lo, hi], "k:", lw=1)
        t, p = cell["measured"].to_numpy(), cell["predicted"].to_numpy()
        r2 = 1 - ((t - p) ** 2).sum() / ((t - t.mean()) ** 2).sum()
        ax.set_title(f"{_cell_title(study, dataset, size, cell['n'].iloc[0])}: R² = {r2:.2f}", fontsize=9)
        ax.set_xlabel("measured")
    axes[0].set_ylabel("predicted (out of fold)")
    axes[0].legend(fontsize=7)
    return fig


def r2_by_family(cv: pd.DataFrame) -> Figure:
    """Out-of-sample R^2 (95 % CI) of each measure family at each size, one panel per (study, dataset)."""
    check_frame(cv, ["study", "dataset", "size", "family", "r2", "lo", "hi"], what="cv table")
    if "kinds" in cv.columns:  # all design subsets (random subsets alone are in the table and the verdict)
        cv = cv[cv["kinds"] == "all"]
    if cv.empty:
        return _empty("no cross-validated cells")
    cells = list(cv.groupby(["study", "dataset"], sort=True))
    fig, axes = _panels(len(cells), width=4.6)
    for ax, ((study, dataset), part) in zip(axes, cells):
        fams = list(pd.unique(part["family"]))
        sizes = sorted(part["size"].unique())
        width = 0.8 / len(sizes)
        cmap = colormaps["viridis"]
        for i, size in enumerate(sizes):
            row = part[part["size"] == size].set_index("family").reindex(fams)
            x = np.arange(len(fams)) + (i - (len(sizes) - 1) / 2) * width
            r2 = row["r2"].clip(lower=-0.5)
            err = np.vstack([(r2 - row["lo"].clip(lower=-0.5)).clip(lower=0), (row["hi"] - r2).clip(lower=0)])
            n = row["n"].dropna()
            label = f"n = {int(n.iloc[0])}" if len(n) else f"size = {int(size)}"
            ax.bar(x, r2, width, yerr=err, color=cmap(i / max(len(sizes) - 1, 1)), label=label, capsize=2)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(np.arange(len(fams)), labels=fams, rotation=45, ha="right")
        ax.set_ylim(-0.5, 1)
        ax.set_title(f"{study.upper()} {dataset}", fontsize=9)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("out-of-sample R² (clipped at -0.5)")
    return fig


def coverage_vs_diversity(
    recs: pd.DataFrame, *, coverage: str = "q_cov_rmsd_mean", diversity: str = "q_td_A_0", target: str = "z_mean"
) -> Figure:
    """Coverage against diversity of every study X subset, coloured by the target, per n."""
    check_frame(recs, ["study", "dataset", "size", coverage, diversity, target], what="records")
    part = recs[(recs["study"] == "x") & recs[target].notna()]
    if part.empty:
        return _empty("no study X subsets with a target")
    cells = list(part.groupby(["dataset", "size"], sort=True))
    fig, axes = _panels(len(cells), width=3.9)
    for ax, ((dataset, size), cell) in zip(axes, cells):
        sc = ax.scatter(cell[diversity], cell[coverage], c=cell[target], cmap="coolwarm", s=16)
        ax.set_title(_cell_title("x", dataset, size, cell["n"].iloc[0]), fontsize=9)
        ax.set_xlabel(diversity)
        fig.colorbar(sc, ax=ax, label=target)
    axes[0].set_ylabel(coverage)
    return fig


def predictor_weights(weights: pd.DataFrame, *, study: str = "x", top: int = 8) -> Figure:
    """Signed weights of the headline predictor's ``top`` measures, one panel per (dataset, size)
    (:func:`xfactor_lib.studies.q.weights_table`)."""
    check_frame(weights, ["study", "dataset", "size", "n", "measure", "weight"], what="weights")
    part = weights[weights["study"] == study]
    if part.empty:
        return _empty(f"no study {study.upper()} weights")
    cells = list(part.groupby(["dataset", "size"], sort=True))
    fig, axes = _panels(len(cells), width=4.2, height=0.3 * top + 1.2)
    for ax, ((dataset, size), cell) in zip(axes, cells):
        cell = cell.head(top).iloc[::-1]
        colors = ["tab:red" if w > 0 else "tab:blue" for w in cell["weight"]]
        ax.barh(cell["measure"], cell["weight"], color=colors)
        ax.axvline(0, color="k", lw=0.8)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(_cell_title(study, dataset, size, cell["n"].iloc[0]), fontsize=9)
        ax.set_xlabel("weight (per sd of the transformed measure)")
    return fig


def z_by_kind(recs: pd.DataFrame, *, kinds: Sequence[str] = ("random", "selected", "optimized")) -> Figure:
    """Study X mean Z of every subset by kind (random, selected, optimized when run), per n."""
    check_frame(recs, ["study", "dataset", "size", "kind", "z_mean"], what="records")
    part = recs[(recs["study"] == "x") & recs["z_mean"].notna()]
    if part.empty:
        return _empty("no study X subsets with a target")
    cells = list(part.groupby(["dataset", "size"], sort=True))
    fig, axes = _panels(len(cells), width=3.2)
    rng = np.random.default_rng(0)
    for ax, ((dataset, size), cell) in zip(axes, cells):
        present = [k for k in kinds if (cell["kind"] == k).any()]
        for i, kind in enumerate(present):
            z = cell.loc[cell["kind"] == kind, "z_mean"].to_numpy()
            ax.scatter(i + rng.uniform(-0.15, 0.15, z.size), z, s=12, color=KIND_COLORS.get(kind, "k"))
            ax.hlines(z.mean(), i - 0.3, i + 0.3, color="k")
        ax.axhline(0, color="k", lw=0.6, ls=":")
        ax.set_xticks(range(len(present)), labels=present)
        ax.set_title(_cell_title("x", dataset, size, cell["n"].iloc[0]), fontsize=9)
    axes[0].set_ylabel("mean Z (lower is better)")
    return fig


def _show(ax, img: np.ndarray, title: str) -> None:
    img = np.asarray(img)
    img = img[0] if img.ndim == 3 and img.shape[0] == 1 else np.moveaxis(img, 0, -1) if img.ndim == 3 else img
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255 if img.dtype == np.uint8 else 1)
    ax.set_title(title, fontsize=7)
    ax.set_axis_off()


def image_pairs(X: np.ndarray, pairs: pd.DataFrame, *, top: int = 8) -> Figure:
    """The ``top`` near-duplicate pairs side by side (``pairs``: ``i, j, class, rmsd``; ``X`` (N, C, H, W))."""
    check_frame(pairs, ["i", "j", "rmsd"], what="pairs")
    pairs = pairs.head(top)
    if pairs.empty:
        return _empty("no pairs")
    fig = Figure(figsize=(1.3 * len(pairs), 2.8), layout="constrained")
    axes = fig.subplots(2, len(pairs), squeeze=False)
    for col, (_, r) in enumerate(pairs.iterrows()):
        _show(axes[0, col], X[int(r["i"])], f"{int(r['i'])}")
        _show(axes[1, col], X[int(r["j"])], f"{int(r['j'])}\nRMSD {r['rmsd']:.3f}")
    return fig


def image_row(X: np.ndarray, indices: Sequence[int], titles: Sequence[str]) -> Figure:
    """Images ``X[indices]`` in one row (at most 16), each with its title."""
    indices = list(indices)[:16]
    if not indices:
        return _empty("no images")
    fig = Figure(figsize=(1.2 * len(indices), 1.6), layout="constrained")
    axes = fig.subplots(1, len(indices), squeeze=False)[0]
    for ax, i, t in zip(axes, indices, titles):
        _show(ax, X[int(i)], t)
    return fig


def least_covered(X: np.ndarray, worst: pd.DataFrame) -> Figure:
    """The reference images a subset covers worst, titled with their class and the RMSD to
    the nearest subset image of that class (``worst``: :func:`xfactor_lib.quality.least_covered`)."""
    titles = [f"class {c}\n{r:.3f}" for c, r in zip(worst["class"], worst["rmsd"])]
    return image_row(X, worst["index"], titles)


def measure_percentiles(table: pd.DataFrame, *, top: int = 20) -> Figure:
    """Percentile of the subset's measures among random subsets of its class counts (``report_measures``)."""
    check_frame(table, ["measure", "percentile"], what="measures")
    part = table.assign(dist=(table["percentile"] - 50).abs()).sort_values("dist", ascending=False).head(top)
    fig = Figure(figsize=(5.5, 0.25 * len(part) + 1), layout="constrained")
    ax = fig.subplots()
    ax.barh(part["measure"][::-1], part["percentile"][::-1] - 50, left=50, color="tab:purple")
    ax.axvline(50, color="k", lw=0.8)
    ax.set_xlim(0, 100)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("percentile among random subsets of the same class counts")
    return fig

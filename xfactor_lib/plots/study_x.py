"""Figures of study X (paper Figs. 2-7): one function per figure, each returns a Figure.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state), so they
work under any backend, in tests (Agg) and in notebooks (Jupyter displays a returned
Figure). All numbers come from :mod:`xfactor_lib.stats` and :mod:`xfactor_lib.agreement`.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.stats
from matplotlib import colormaps
from matplotlib.figure import Figure

from .. import agreement, stats
from .._validation import check_frame, check_int

PANELS = ("random", "selected")
DEFAULT_PAIRS = (("rf", "resnet18"), ("rf", "svc"))  # the paper's Fig. 4 examples
SIZE_STYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (1, 1)), (0, (3, 1, 1, 1)))


def _colors(names: Sequence) -> dict:
    cmap = colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(names)}


def _ecdf(ax, z: np.ndarray, **kwargs):
    x = np.sort(np.asarray(z, dtype=float))
    y = np.arange(1, len(x) + 1) / len(x)
    return ax.step(x, y, where="post", **kwargs)[0]


def _normal_cdf(ax, lo: float, hi: float):
    x = np.linspace(lo, hi, 200)
    return ax.plot(x, scipy.stats.norm.cdf(x), "k:", label="N(0, 1)")[0]


def _annotate(ax, im, values: np.ndarray, fmt: str = "{:.2f}") -> None:
    for i, j in np.ndindex(values.shape):
        v = values[i, j]
        if not np.isfinite(v):
            continue
        r, g, b, _ = im.cmap(im.norm(v))
        dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # perceived luminance of the cell
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7, color="white" if dark else "black")


def _label_matrix(ax, names: Sequence[str]) -> None:
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, labels=list(names), rotation=90)
    ax.set_yticks(ticks, labels=list(names))


# --------------------------------------------------------------------------- Fig. 2


def error_vs_size(
    records: pd.DataFrame,
    *,
    value: str = "error",
    models: Sequence[str] | None = None,
    exclude: Iterable[str] = (),
) -> Figure:
    """Error vs images per class on log-log axes by model, random and selected panels (Fig. 2).

    Every (subset, model, seed) row is a point; a line joins each model's mean error per n.

    Parameters
    ----------
    records : DataFrame
        Needs ``kind, n, model`` and ``value``.
    value : str
    models : sequence of str, optional
        Model order (and colours); default order of first appearance.
    exclude : iterable of str

    Returns
    -------
    Figure
        Two axes (random, selected); each has one line and one point collection per model
        with rows of that kind.
    """
    check_frame(records, ["kind", "n", "model", value], what="records")
    order = agreement.model_order(records, models, exclude)
    colors = _colors(order)
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind in zip(axes, PANELS):
        rows = records[records["kind"] == kind]
        for model in order:
            part = rows[rows["model"] == model]
            if part.empty:
                continue
            ax.scatter(part["n"], part[value], s=6, alpha=0.3, color=colors[model], linewidths=0)
            mean = part.groupby("n")[value].mean()
            ax.plot(mean.index, mean.to_numpy(), "-o", ms=3, color=colors[model], label=model)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("images per class (n)")
        ax.set_title(f"{kind} subsets" if len(rows) else f"{kind} subsets (none)")
    axes[0].set_ylabel(value)
    axes[0].legend(fontsize=7, ncols=2)
    return fig


# --------------------------------------------------------------------------- Fig. 3


def zscore_cdfs(
    records: pd.DataFrame,
    *,
    value: str = "error",
    models: Sequence[str] | None = None,
    exclude: Iterable[str] = (),
) -> Figure:
    """CDFs of Z-scores against the standard normal CDF (Fig. 3).

    Panels: random Z pooled by size (one line per n), random Z pooled by model (one line
    per model), and all selected Z pooled (gray band: the x-range of the random panels).

    Parameters
    ----------
    records : DataFrame
    value : str
    models : sequence of str, optional
    exclude : iterable of str
        Models left out of every panel.

    Returns
    -------
    Figure
        Three axes; each ends with the dotted N(0, 1) line.
    """
    order = agreement.model_order(records, models, exclude)
    z = stats.zscores(records, value=value)
    keep = records["model"].isin(order)
    random = keep & (records["kind"] == "random")
    selected = keep & (records["kind"] == "selected")
    zr = z[random].to_numpy()
    lo, hi = (float(zr.min()), float(zr.max())) if len(zr) else (-3.0, 3.0)
    lo, hi = min(lo, -3.0), max(hi, 3.0)

    fig = Figure(figsize=(13, 4), layout="constrained")
    by_size, by_model, sel = fig.subplots(1, 3)
    for i, n in enumerate(sorted(records.loc[random, "n"].unique())):
        _ecdf(
            by_size, z[random & (records["n"] == n)], color="C0", ls=SIZE_STYLES[i % len(SIZE_STYLES)], label=f"n = {n}"
        )
    colors = _colors(order)
    for model in order:
        part = z[random & (records["model"] == model)]
        if len(part):
            _ecdf(by_model, part, color=colors[model], label=model)
    for ax, title in ((by_size, "random, by size"), (by_model, "random, by model")):
        _normal_cdf(ax, lo, hi)
        ax.set_xlim(lo, hi)
        ax.set_title(title)
        ax.legend(fontsize=7)

    zs = z[selected].to_numpy()
    sel.axvspan(lo, hi, color="0.9", zorder=0)
    slo, shi = lo, hi
    if len(zs):
        _ecdf(sel, zs, color="k", label="selected")
        slo, shi = min(lo, float(zs.min())), max(hi, float(zs.max()))
    _normal_cdf(sel, slo, shi)
    sel.set_xlim(slo, shi)
    sel.set_title("selected" if len(zs) else "selected (none)")
    sel.legend(fontsize=7)
    for ax in (by_size, by_model, sel):
        ax.set_xlabel("Z-score")
    by_size.set_ylabel("cumulative fraction")
    return fig


# --------------------------------------------------------------------------- Fig. 4


def zscore_scatter(
    records: pd.DataFrame,
    *,
    pairs: Sequence[tuple[str, str]] | None = None,
    value: str = "error",
) -> Figure:
    """Z vs Z of model pairs, one point per subset, + / − marks for selected (Fig. 4).

    Random subsets are gray dots; selected subsets are ``+`` (direction ``+``) or ``_``
    (direction ``-``) coloured by strategy. The title gives the pair's R^2.

    Parameters
    ----------
    records : DataFrame
        Needs ``subset_id, dataset, n, kind, strategy, direction, model`` and ``value``.
    pairs : sequence of (str, str), optional
        (x model, y model) per panel; default the paper's (rf, resnet18) and (rf, svc)
        where present, otherwise the first two models.
    value : str

    Returns
    -------
    Figure
        One axes per pair; the points of a panel are the subsets both models have.
    """
    check_frame(records, ["strategy", "direction"], what="records")
    table = agreement.zscore_table(records, kind="all", value=value)
    names = list(table.columns)
    if pairs is None:
        pairs = [p for p in DEFAULT_PAIRS if set(p) <= set(names)]
        if not pairs:
            if len(names) < 2:
                raise ValueError(f"a Z vs Z scatter needs 2 models; records have {names}")
            pairs = [(names[0], names[1])]
    pairs = [tuple(p) for p in pairs]
    missing = sorted({m for p in pairs for m in p} - set(names))
    if missing:
        raise ValueError(f"pairs name models {missing} not in records; present: {names}")
    info = records.groupby("subset_id", sort=False)[["kind", "strategy", "direction"]].first()
    info = info.reindex(table.index)
    strategies = sorted(info.loc[info["kind"] == "selected", "strategy"].astype(str).unique())
    colors = _colors(strategies)

    fig = Figure(figsize=(4.6 * len(pairs), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(pairs)))
    for ax, (a, b) in zip(axes, pairs):
        both = table[[a, b]].dropna()
        kind = info.loc[both.index]
        rnd = kind["kind"] != "selected"
        ax.scatter(both.loc[rnd, a], both.loc[rnd, b], s=8, color="0.6", linewidths=0, label="random")
        for strategy in strategies:
            for direction, marker in (("+", "+"), ("-", "_"), ("none", "x")):
                m = ~rnd & (kind["strategy"].astype(str) == strategy) & (kind["direction"].astype(str) == direction)
                if m.any():
                    ax.scatter(
                        both.loc[m, a],
                        both.loc[m, b],
                        s=22,
                        marker=marker,
                        color=colors[strategy],
                        linewidths=1,
                        label=f"{strategy} {direction}",
                    )
        r2 = np.corrcoef(both[a], both[b])[0, 1] ** 2 if len(both) >= 3 else np.nan
        ax.set_title(f"{b} vs {a}: R² = {r2:.2f} (n = {len(both)})")
        ax.set_xlabel(f"Z ({a})")
        ax.set_ylabel(f"Z ({b})")
        ax.axhline(0, color="0.8", lw=0.5, zorder=0)
        ax.axvline(0, color="0.8", lw=0.5, zorder=0)
    axes[0].legend(fontsize=6)
    return fig


# --------------------------------------------------------------------------- Fig. 5


def overlap_heatmaps(
    manifest: pd.DataFrame,
    *,
    ns: Sequence[int] | None = None,
    dataset: str | None = None,
    vmax: float | None = None,
) -> Figure:
    """Percent of images shared by each pair of subsets, one heatmap per n (Fig. 5).

    Parameters
    ----------
    manifest : DataFrame
        Needs ``subset_id, n, indices``; subsets in manifest order.
    ns : sequence of int, optional
        Default every n in the manifest, ascending.
    dataset : str, optional
        Required when the manifest holds several datasets.
    vmax : float, optional
        Top of the colour scale; default the 99th percentile of each panel's off-diagonal
        percentages, so the scale saturates at the upper end as in the paper.

    Returns
    -------
    Figure
        One image axes per n (the image is :func:`stats.subset_overlap`), each with a
        colour bar.
    """
    check_frame(manifest, ["n"], what="manifest")
    rows = manifest if dataset is None else manifest[manifest["dataset"] == dataset]
    ns = sorted(rows["n"].unique()) if ns is None else list(ns)
    if not ns:
        raise ValueError("the manifest has no subsets to plot")
    fig = Figure(figsize=(4.4 * len(ns), 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(ns)))
    for ax, n in zip(axes, ns):
        overlap = stats.subset_overlap(rows, n=n, dataset=dataset).to_numpy()
        top = vmax
        if top is None:
            off = overlap[~np.eye(len(overlap), dtype=bool)]
            top = float(np.percentile(off, 99)) if off.size else 100.0
            top = top if top > 0 else 1.0
        im = ax.imshow(overlap, vmin=0, vmax=top, cmap="viridis", interpolation="nearest")
        fig.colorbar(im, ax=ax, label="% images shared", shrink=0.8)
        ax.set_title(f"n = {n} ({len(overlap)} subsets)")
        ax.set_xlabel("subset")
        ax.set_ylabel("subset")
    return fig


# --------------------------------------------------------------------------- Fig. 6


def r2_heatmaps(
    records: pd.DataFrame,
    *,
    kinds: Sequence[str] = ("all", "selected", "random"),
    models: Sequence[str] | None = None,
    exclude: Iterable[str] = (),
    annot: bool = True,
    value: str = "error",
) -> Figure:
    """R^2 between every two models for all / selected / random subsets (Fig. 6).

    Parameters
    ----------
    records : DataFrame
    kinds : sequence of {"all", "selected", "random"}
        One panel each.
    models : sequence of str, optional
        Row / column order; default order of first appearance.
    exclude : iterable of str
    annot : bool
        Write each R^2 in its cell.
    value : str

    Returns
    -------
    Figure
        One models x models image per kind (values of :func:`agreement.r2_matrix`) and one
        shared colour bar.
    """
    fig = Figure(figsize=(5 * len(kinds), 4.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(kinds)))
    im = None
    for ax, kind in zip(axes, kinds):
        r2 = agreement.r2_matrix(records, kind=kind, n_boot=0, models=models, exclude=exclude, value=value)
        names = list(pd.unique(r2["model_a"]))
        matrix = r2["r2"].to_numpy().reshape(len(names), len(names))
        im = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis", interpolation="nearest")
        if annot:
            _annotate(ax, im, matrix)
        _label_matrix(ax, names)
        ax.set_title(f"R² of Z-scores, {kind} subsets")
    fig.colorbar(im, ax=list(axes), label="R²", shrink=0.8)
    return fig


# --------------------------------------------------------------------------- Fig. 7


def class_spearman_heatmaps(
    records: pd.DataFrame,
    *,
    models: Sequence[str] | None = None,
    kind: str = "all",
    exclude: Iterable[str] = (),
    within: Sequence[str] = ("dataset", "n"),
    standardize: bool = False,
    annot: bool = False,
    ncols: int = 5,
) -> Figure:
    """Spearman rho between models of per-class accuracy, one heatmap per class (Fig. 7).

    rho is computed within each size and averaged over sizes (SPEC 1), so the size effect
    every model shares does not show as agreement.

    Parameters
    ----------
    records : DataFrame
        Needs ``subset_id, kind, model`` and ``acc_class_<k>`` columns.
    models, kind, exclude, within, standardize
        As in :func:`agreement.class_spearman`.
    annot : bool
        Write each rho in its cell.
    ncols : int
        Panels per row.

    Returns
    -------
    Figure
        One models x models image per class (unused grid cells removed) and one shared
        colour bar over [-1, 1].
    """
    ncols = check_int(ncols, "ncols", low=1)
    rho = agreement.class_spearman(
        records, models=models, kind=kind, exclude=exclude, within=within, standardize=standardize
    )
    K = len(rho)
    ncols = min(ncols, K)
    nrows = -(-K // ncols)
    fig = Figure(figsize=(3.2 * ncols + 1, 3.2 * nrows), layout="constrained")
    grid = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    im = None
    for ax, (k, matrix) in zip(grid, rho.items()):
        im = ax.imshow(matrix.to_numpy(), vmin=-1, vmax=1, cmap="RdBu_r", interpolation="nearest")
        if annot:
            _annotate(ax, im, matrix.to_numpy())
        _label_matrix(ax, list(matrix.columns))
        ax.tick_params(labelsize=6)
        ax.set_title(f"class {k}")
    fig.suptitle(
        "Spearman ρ of per-class accuracy, within each n, averaged over n"
        if within
        else "Spearman ρ of per-class accuracy, pooled over n"
    )
    for ax in grid[K:]:
        ax.remove()
    fig.colorbar(im, ax=list(grid[:K]), label="Spearman ρ", shrink=0.8)
    return fig


# --------------------------------------------------------------------------- optimized subsets (SPEC 5)


def optimized_z(table: pd.DataFrame) -> Figure:
    """Mean Z of error per subset group: random, selected and optimized, one marker per model.

    Parameters
    ----------
    table : DataFrame
        :func:`xfactor_lib.studies.x.optimized_table` (``group, model, mean_z``).

    Returns
    -------
    Figure
        One row per group (random, selected, then each optimized method and source): a
        coloured dot per model and a black bar at the mean over models (``"all models"``);
        a dotted line at Z = 0, the random subsets' mean.
    """
    check_frame(table, ["group", "model", "mean_z"], what="optimized table")
    groups = list(dict.fromkeys(table["group"]))
    models = [m for m in dict.fromkeys(table["model"]) if m != "all models"]
    colors = _colors(models)
    fig = Figure(figsize=(7, 0.5 * len(groups) + 1.6), layout="constrained")
    ax = fig.subplots()
    rows = {g: i for i, g in enumerate(groups)}
    for model in models:
        part = table[table["model"] == model]
        ax.scatter(part["mean_z"], part["group"].map(rows), color=colors[model], label=model, s=22, zorder=3)
    pooled = table[table["model"] == "all models"]
    ax.scatter(pooled["mean_z"], pooled["group"].map(rows), marker="|", s=300, color="k", label="all models", zorder=4)
    ax.axvline(0.0, color="gray", linestyle=":")
    ax.set_yticks(range(len(groups)), labels=groups)
    ax.invert_yaxis()
    ax.set_xlabel("mean Z of error (against random subsets; < 0 = better)")
    ax.set_title("Optimized subsets beside random and selected ones")
    ax.legend(fontsize=7, loc="best")
    return fig

"""Figures and tables of study E (EVA paper Table 1, Figs. 1, 3-5): one function per figure.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state), so they
work under any backend. Every number comes from a *summary*: the output of
:func:`xfactor_lib.studies.e.coreset_summary` (columns ``[dataset, arch,] method, rate,
mean, sd, n``; method ``"full"`` is the full-data reference at rate 1.0) or of
:func:`xfactor_lib.studies.e.window_summary`; this module only lays them out. Table 1
(:func:`coreset_table`) and the method labels live in :mod:`xfactor_lib.studies.e.summary`
and are re-exported here.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from .._validation import check_frame
from ..dynamics import Dynamics
from ..studies.e.summary import METHOD_LABELS, coreset_table, method_order, rate_label

__all__ = [
    "ABLATIONS",
    "METHOD_LABELS",
    "coreset_table",
    "accuracy_vs_rate",
    "accuracy_by_family",
    "facet_styles",
    "ablation_plot",
    "window_curves",
    "error_score_curves",
]

#: Panels of the ablation figure: (a) Fig. 3 single, (b) Fig. 3 dual, (c)-(d) Fig. 4.
ABLATION_PANELS = (("exp_s", "var_s"), ("exp_d", "var_d"), ("var_s", "var_d"), ("exp_s", "exp_d"))

#: The EVA ablation methods (Figs. 3-4): variance or mean of S, one window or two.
ABLATIONS = ("var_s", "exp_s", "var_d", "exp_d")


def _check_summary(summary: pd.DataFrame) -> None:
    check_frame(summary, ["method", "rate", "mean", "sd"], what="summary (studies.e.coreset_summary output)")


def _grid(summary: pd.DataFrame) -> tuple[list, list]:
    """Row keys (datasets) and column keys (archs) present; [None] where a column is absent."""
    rows = sorted(summary["dataset"].unique()) if "dataset" in summary.columns else [None]
    cols = sorted(summary["arch"].unique()) if "arch" in summary.columns else [None]
    return rows, cols


def _part(summary: pd.DataFrame, dataset, arch) -> pd.DataFrame:
    sel = np.ones(len(summary), dtype=bool)
    if dataset is not None:
        sel &= (summary["dataset"] == dataset).to_numpy()
    if arch is not None:
        sel &= (summary["arch"] == arch).to_numpy()
    return summary[sel]


def _title(*keys) -> str:
    return " / ".join(str(k) for k in keys if k is not None)


def _draw_methods(
    ax,
    summary: pd.DataFrame,
    methods: Sequence[str],
    rates: Sequence[float],
    *,
    colors: dict,
    styles: dict | None = None,
    percent: bool = True,
) -> None:
    scale = 100.0 if percent else 1.0
    pos = {r: i for i, r in enumerate(rates)}
    for method in methods:
        m = summary[summary["method"] == method].sort_values("rate")
        if m.empty:
            continue
        x = [pos[r] for r in m["rate"]]
        ax.errorbar(
            x,
            scale * m["mean"].to_numpy(),
            yerr=scale * m["sd"].fillna(0).to_numpy(),
            marker="o",
            ms=4,
            capsize=3,
            color=colors[method],
            ls=(styles or {}).get(method, "-"),
            label=METHOD_LABELS.get(method, method),
        )
    ax.set_xticks(range(len(rates)), labels=[rate_label(r) for r in rates])
    ax.set_xlabel("selection rate")


def accuracy_vs_rate(
    summary: pd.DataFrame, *, metric: str = "acc", methods: Sequence[str] | None = None, percent: bool = True
) -> Figure:
    """Mean ± sd of ``metric`` vs selection rate, one line per method, full data dashed.

    Parameters
    ----------
    summary : DataFrame
        :func:`~xfactor_lib.studies.e.coreset_summary` output; one panel per dataset (rows)
        and arch (columns).
    metric : str
        The summarised measurement, for the axis label.
    methods : sequence of str, optional
        Methods to draw (default all except ``"full"``, in the paper's order).
    percent : bool

    Returns
    -------
    Figure
        One axes per (dataset, arch) with one error-bar line per method and, when
        ``"full"`` rows exist, a horizontal line labelled ``"Full dataset"``.
    """
    _check_summary(summary)
    present = [m for m in method_order(summary["method"].unique()) if m != "full"]
    methods = present if methods is None else list(methods)
    unknown = sorted(set(methods) - set(present))
    if unknown:
        raise ValueError(f"methods {unknown} are not in records; present: {present}")
    cmap = colormaps["tab10"]
    colors = {m: cmap(i % 10) for i, m in enumerate(methods)}
    datasets, archs = _grid(summary)
    fig = Figure(figsize=(5.5 * len(archs), 4 * len(datasets)), layout="constrained")
    axes = fig.subplots(len(datasets), len(archs), squeeze=False)
    for (i, dataset), (j, arch) in itertools.product(enumerate(datasets), enumerate(archs)):
        ax, part = axes[i, j], _part(summary, dataset, arch)
        rates = sorted(part.loc[part["method"] != "full", "rate"].unique())
        _draw_methods(ax, part, methods, rates, colors=colors, percent=percent)
        full = part[part["method"] == "full"]
        if len(full):
            ax.axhline(
                (100.0 if percent else 1.0) * full["mean"].iloc[0],
                color="k",
                ls="--",
                lw=1,
                label=METHOD_LABELS["full"],
            )
        ax.set_ylabel(f"{metric} (%)" if percent else metric)
        ax.set_title(_title(dataset, arch) if len(part) else f"{_title(dataset, arch)} (no records)")
        if len(part):
            ax.legend(fontsize=7)
    return fig


def ablation_plot(
    summary: pd.DataFrame, *, metric: str = "acc", arch: str | None = None, percent: bool = True
) -> Figure:
    """Ablations (Figs. 3-4): EXP-S vs VAR-S, EXP-D vs VAR-D, VAR-S vs VAR-D, EXP-S vs EXP-D.

    Parameters
    ----------
    summary : DataFrame
        :func:`~xfactor_lib.studies.e.coreset_summary` output with rows of methods
        ``var_s, exp_s, var_d, exp_d`` (and ``eva``, drawn dashed black in every panel as
        the reference); one row of panels per dataset.
    metric : str
        For the axis label.
    arch : str, optional
        Architecture to draw when records hold several; default ``resnet18`` if it has
        ablation rows, else the first (alphabetically) that does.
    percent : bool

    Returns
    -------
    Figure
        Four axes per dataset titled ``"(a) EXP-S vs VAR-S"`` ... (prefixed by the dataset
        when there are several); a panel whose methods have no rows says so in its title.
    """
    _check_summary(summary)
    ablations = set(ABLATIONS)
    has = summary[summary["method"].isin(ablations)]
    if has.empty:
        raise ValueError(
            f"the summary has none of the ablation methods {sorted(ablations)}; "
            f"present: {sorted(summary['method'].unique())}"
        )
    if "arch" in summary.columns:
        candidates = sorted(has["arch"].unique())
        if arch is None:
            arch = "resnet18" if "resnet18" in candidates else candidates[0]
        elif arch not in candidates:
            raise ValueError(f"no ablation records for arch {arch!r}; archs with them: {candidates}")
        summary = summary[summary["arch"] == arch]
    datasets, _ = _grid(summary)
    colors = {"var_s": "C0", "var_d": "C1", "exp_s": "C2", "exp_d": "C3", "eva": "k"}
    fig = Figure(figsize=(13, 3.6 * len(datasets)), layout="constrained")
    axes = fig.subplots(len(datasets), 4, squeeze=False)
    for i, dataset in enumerate(datasets):
        part = _part(summary, dataset, None)
        present = set(part["method"])
        rates = sorted(part.loc[part["method"] != "full", "rate"].unique())
        for ax, letter, (a, b) in zip(axes[i], "abcd", ABLATION_PANELS):
            drawn = [m for m in (a, b) if m in present]
            _draw_methods(
                ax,
                part,
                drawn + (["eva"] if "eva" in present else []),
                rates,
                colors=colors,
                styles={"eva": "--"},
                percent=percent,
            )
            title = f"({letter}) {METHOD_LABELS[a]} vs {METHOD_LABELS[b]}"
            if len(datasets) > 1:
                title = f"{dataset}: {title}"
            missing = [METHOD_LABELS[m] for m in (a, b) if m not in drawn]
            ax.set_title(title + (f" (no rows for {', '.join(missing)})" if missing else ""))
            ax.set_ylabel(f"{metric} (%)" if percent else metric)
            if drawn:
                ax.legend(fontsize=7)
    if arch is not None:
        fig.suptitle(f"ablations, {arch}")
    return fig


def _window_label(early: int, late, window: int) -> str:
    first = f"[{early},{early + window - 1}]"
    return first if pd.isna(late) else f"{first}+[{int(late)},{int(late) + window - 1}]"


def window_curves(summary: pd.DataFrame, *, metric: str = "score", window: int = 10, percent: bool = False) -> Figure:
    """Score per window combination (Fig. 5).

    With several rates (column ``rate``): one line per combination across rates (the
    paper's layout). With one rate: a heatmap of the score, early start (rows) x late start
    (columns), single windows in the column ``"single"``. One panel per dataset.

    Parameters
    ----------
    summary : DataFrame
        :func:`~xfactor_lib.studies.e.window_summary` output: ``early_start, late_start``
        (missing for a single window), ``mean``, optionally ``rate``, ``dataset``.
    metric : str
        The summarised measurement (validation accuracy ``"score"``), for the labels.
    window : int
        Window length, for the labels.
    percent : bool

    Returns
    -------
    Figure
        Lines labelled ``"[0,9]+[50,59]"`` / ``"[0,9]"``, or an annotated heatmap.
    """
    check_frame(summary, ["early_start", "late_start", "mean"], what="window summary")
    scale = 100.0 if percent else 1.0
    panels = (
        [("", summary)]
        if "dataset" not in summary.columns or summary["dataset"].nunique() <= 1
        else [(str(k), p) for k, p in summary.groupby("dataset", sort=True)]
    )
    multi_rate = "rate" in summary.columns and summary["rate"].nunique() > 1
    fig = Figure(figsize=(6.5 * len(panels), 4.5), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, part) in zip(axes, panels):
        if multi_rate:
            rates = sorted(part["rate"].unique())
            pos = {r: i for i, r in enumerate(rates)}
            combos = part[["early_start", "late_start"]].drop_duplicates()
            combos = combos.sort_values(["early_start", "late_start"], na_position="first")
            cmap = colormaps["viridis"]
            for i, (e, lt) in enumerate(combos.itertuples(index=False)):
                sel = (part["early_start"] == e) & (
                    part["late_start"].isna() if pd.isna(lt) else part["late_start"] == lt
                )
                c = part[sel.fillna(False)].sort_values("rate")
                ax.plot(
                    [pos[r] for r in c["rate"]],
                    scale * c["mean"].to_numpy(),
                    marker="o",
                    ms=3,
                    ls=":" if pd.isna(lt) else "-",
                    color=cmap(i / max(len(combos) - 1, 1)),
                    label=_window_label(int(e), lt, window),
                )
            ax.set_xticks(range(len(rates)), labels=[rate_label(r) for r in rates])
            ax.set_xlabel("selection rate")
            ax.set_ylabel(metric)
            ax.legend(fontsize=6, ncols=2)
        else:
            early = sorted(part["early_start"].dropna().unique())
            late = sorted(part["late_start"].dropna().unique())
            has_single = part["late_start"].isna().any()
            cols = (["single"] if has_single else []) + [int(v) for v in late]
            grid = np.full((len(early), len(cols)), np.nan)
            for e, lt, mu in zip(part["early_start"], part["late_start"], part["mean"]):
                j = 0 if pd.isna(lt) else cols.index(int(lt))
                grid[early.index(e), j] = scale * mu
            im = ax.imshow(grid, cmap="viridis", aspect="auto")
            for i, j in np.ndindex(grid.shape):
                if np.isfinite(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.3g}", ha="center", va="center", fontsize=6, color="w")
            ax.set_xticks(range(len(cols)), labels=[str(c) for c in cols])
            ax.set_yticks(range(len(early)), labels=[str(int(e)) for e in early])
            ax.set_xlabel("late window start")
            ax.set_ylabel("early window start")
            fig.colorbar(im, ax=ax, label=metric)
        ax.set_title(title)
    return fig


def error_score_curves(
    dynamics: Dynamics,
    *,
    indices: Sequence[int] | None = None,
    n: int = 8,
    early_start: int | None = None,
    late_start: int | None = None,
    window: int = 10,
) -> Figure:
    """Error score S over epochs for a few samples, with the mean over all (paper Fig. 1).

    Parameters
    ----------
    dynamics : Dynamics
        ``S`` of shape (N, T).
    indices : sequence of int, optional
        Samples to draw; default ``n`` samples at evenly spaced quantiles of their variance
        of S over all epochs (from the steadiest to the most fluctuating).
    n : int
    early_start, late_start : int, optional
        Shade the two EVA windows (both needed).
    window : int
        Window length for the shading.

    Returns
    -------
    Figure
        One axes: one line per sample labelled ``"sample i"`` (y = ``S[i]``), then the mean
        over all samples (black, labelled ``"mean of N"``) with a ±1 sd band.
    """
    S = np.asarray(dynamics.S, dtype=np.float64)
    N, T = S.shape
    if indices is None:
        if n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        order = np.argsort(np.nanvar(S, axis=1), kind="stable")
        indices = order[np.unique(np.linspace(0, N - 1, min(n, N)).round().astype(int))]
    indices = [int(i) for i in indices]
    bad = [i for i in indices if not 0 <= i < N]
    if bad:
        raise ValueError(f"indices {bad} out of range 0..{N - 1}")
    epochs = np.arange(T)
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    if early_start is not None and late_start is not None:
        for start in (early_start, late_start):
            ax.axvspan(start - 0.5, start + window - 0.5, color="0.9", zorder=0)
    cmap = colormaps["viridis"]
    for k, i in enumerate(indices):
        ax.plot(epochs, S[i], lw=1, color=cmap(k / max(len(indices) - 1, 1)), label=f"sample {i}")
    mean, sd = np.nanmean(S, axis=0), np.nanstd(S, axis=0)
    ax.plot(epochs, mean, color="k", lw=2, label=f"mean of {N}")
    ax.fill_between(epochs, mean - sd, mean + sd, color="k", alpha=0.1, lw=0)
    ax.set_xlabel("epoch (0-based)")
    ax.set_ylabel("error score S")
    ax.legend(fontsize=7, ncols=2)
    return fig


# --------------------------------------------------------------------------- methods by family (issue 20)
#: Colours of the methods inside one facet (no grey: the references are black and grey).
FACET_COLORS = ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C8", "C9", "#393b79")
#: Markers of the methods inside one facet; with the colours, no two lines of a facet look alike.
FACET_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
#: How the references are drawn in every facet: (colour, marker, line style).
REFERENCE_STYLES = {"random": ("k", "x", "--"), "random_balanced": ("0.45", "+", ":")}


def facet_styles(methods: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(colour, marker) of each method of one facet, by position; distinct pairs for any number of methods."""
    return {
        m: (FACET_COLORS[i % len(FACET_COLORS)], FACET_MARKERS[(i + i // 10) % len(FACET_MARKERS)])
        for i, m in enumerate(methods)
    }


def accuracy_by_family(
    summary: pd.DataFrame,
    differences: pd.DataFrame,
    *,
    metric: str = "acc",
    reference: str = "random_balanced",
    percent: bool = True,
) -> Figure:
    """Accuracy vs rate with the methods in facets by family, and their differences from ``reference``.

    Parameters
    ----------
    summary : DataFrame
        :func:`~xfactor_lib.studies.e.coreset_summary` output.
    differences : DataFrame
        :func:`~xfactor_lib.studies.e.compare.paired_differences` output against
        ``reference`` (``method, rate, diff, ci_low, ci_high``; ``dataset, arch``).
    metric : str
        For the axis labels.
    reference : str
        The method the differences are taken from (class-balanced Random).
    percent : bool

    Returns
    -------
    Figure
        Per (dataset, arch) two rows of axes, one column per family present (papers'
        methods, training-free, anchors, then any other): the top row mean ± sd over seeds
        with Random, Random (balanced) and the full pool drawn in every facet; the bottom
        row each method minus ``reference`` with its 95 % interval over paired seeds
        (Random's too), zero dashed. Every method of a facet has its own colour and marker;
        each column's legend sits below its axes.
    """
    from ..studies.e.compare import FAMILY_ORDER, family_of

    _check_summary(summary)
    check_frame(differences, ["method", "rate", "diff", "ci_low", "ci_high"], what="differences (paired_differences)")
    scale = 100.0 if percent else 1.0
    refs = [m for m in ("random", "random_balanced") if m in set(summary["method"])]
    present = [m for m in method_order(summary["method"].unique()) if family_of(m) != "reference"]
    order = [*FAMILY_ORDER[1:], "other"]
    families = [f for f in order if any(family_of(m) == f for m in present)]
    if not families:
        raise ValueError(f"no method outside the references in the summary; present: {sorted(set(summary['method']))}")
    datasets, archs = _grid(summary)
    groups = [(d, a) for d in datasets for a in archs if len(_part(summary, d, a))]
    fig = Figure(figsize=(4.2 * len(families), 6.4 * len(groups) + 1.2), layout="constrained")
    axes = fig.subplots(2 * len(groups), len(families), squeeze=False, sharex="col")
    for g, (dataset, arch) in enumerate(groups):
        part, diffs = _part(summary, dataset, arch), _part(differences, dataset, arch)
        rates = sorted(part.loc[part["method"] != "full", "rate"].unique())
        pos = {r: i for i, r in enumerate(rates)}
        full = part[part["method"] == "full"]
        for j, family in enumerate(families):
            top, bottom = axes[2 * g, j], axes[2 * g + 1, j]
            members = [m for m in present if family_of(m) == family]
            styles = facet_styles(members)
            for m in [*refs, *members]:
                rows = part[part["method"] == m].sort_values("rate")
                color, marker, ls = (*styles[m], "-") if m in styles else REFERENCE_STYLES[m]
                top.errorbar(
                    [pos[r] for r in rows["rate"]], scale * rows["mean"].to_numpy(),
                    yerr=scale * rows["sd"].fillna(0).to_numpy(), color=color, marker=marker, ls=ls, ms=5, capsize=2,
                    lw=1.2, label=METHOD_LABELS.get(m, m),
                )  # fmt: skip
                d = diffs[diffs["method"] == m].sort_values("rate")
                if m == reference or d.empty:
                    continue
                drawn = [x for x in (*refs, *members) if x != reference]  # side by side, inside the rate's slot
                k = (drawn.index(m) - (len(drawn) - 1) / 2) * min(0.12, 0.5 / max(len(drawn) - 1, 1))
                lo = (d["diff"] - d["ci_low"]).fillna(0).to_numpy()
                hi = (d["ci_high"] - d["diff"]).fillna(0).to_numpy()
                bottom.errorbar(
                    [pos[r] + k for r in d["rate"]], scale * d["diff"].to_numpy(), yerr=scale * np.vstack([lo, hi]),
                    color=color, marker=marker, ls=ls, ms=5, capsize=2, lw=1.2, label=METHOD_LABELS.get(m, m),
                )  # fmt: skip
            if len(full):
                top.axhline(scale * full["mean"].iloc[0], color="k", lw=0.8, ls="-.", label=METHOD_LABELS["full"])
            bottom.axhline(0.0, color=REFERENCE_STYLES["random_balanced"][0], lw=1, ls=":")
            where = _title(dataset, arch)
            top.set_title(f"{family}" + (f" — {where}" if where else ""))
            top.set_ylabel(f"{metric} (%)" if percent else metric)
            ref_label = METHOD_LABELS.get(reference, reference)
            bottom.set_ylabel(f"minus {ref_label} ({'points' if percent else metric})")
            if diffs.empty:
                bottom.set_title(f"no {ref_label} records")
            bottom.set_xticks(range(len(rates)), labels=[rate_label(r) for r in rates])
            bottom.set_xlabel("selection rate")
            handles, labels = top.get_legend_handles_labels()
            bottom.legend(
                handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncols=2, fontsize=7, frameon=False
            )
    return fig

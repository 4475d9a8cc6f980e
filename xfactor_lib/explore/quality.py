"""Study Q in the explorer: a subset's training-free measures beside its Z, and a scatter of
every subset where picking a point selects that subset.

Plain functions of a :class:`.runs.RunData` (:func:`scatter_modes`, :func:`scatter_points`,
:func:`subset_quality`) and a small ipywidgets panel (:class:`QualityPanel`) whose scatter
is a CSS grid of point buttons, so a click needs no plotting extension.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from ..studies import q as study_q
from .runs import RunData

__all__ = ["PREDICTED", "KEY_MEASURES", "scatter_modes", "scatter_points", "subset_quality", "QualityPanel"]

#: The scatter mode ``(PREDICTED, study)``: predicted against measured quality (study Q's
#: out-of-fold predictions).
PREDICTED = "predicted"
#: Measures shown beside a subset's Z (when the run has them).
KEY_MEASURES = (
    "q_cov_rmsd_mean",
    "q_cov_fl_mean",
    "q_cov_nn_err",
    "q_cov_nll",
    "q_td_A_0",
    "q_vendi_1_mean",
    "q_ambiguity",
    "q_typ_own",
    "q_cov_emb_mean",
)
_TARGETS = {"x": "z_mean", "a": "bacc"}
GRID = 36  # cells per axis of the scatter
KIND_COLORS = {"random": "#999999", "selected": "#1f77b4", "optimized": "#d62728"}


def scatter_modes(run: RunData) -> list[tuple[str, Any]]:
    """``(label, mode)`` pairs: predicted vs measured (with study Q records), then Z of model pairs."""
    modes: list[tuple[str, Any]] = []
    names = {"x": "study X mean Z", "a": "study A BACC"}
    for study in ("x", "a"):
        if not run.quality.empty and (run.quality["study"] == study).any():
            modes.append((f"{names[study]}: predicted vs measured (study Q, out of fold)", (PREDICTED, study)))
    res = run.results
    if not res.empty and "z" in res.columns:
        models = [m for m in pd.unique(res.loc[res["z"].notna(), "model"])]
        modes += [(f"Z: {a} vs {b}", (a, b)) for a, b in combinations(models, 2)]
    return modes


def _predictions(q: pd.DataFrame) -> pd.DataFrame:
    """Out-of-fold predictions of study Q's headline predictor (:func:`studies.q.cv_predictions`), as x / y."""
    pred = study_q.cv_predictions(q) if {"study", "dataset", "size", "group"} <= set(q.columns) else pd.DataFrame()
    if pred.empty:
        return pd.DataFrame(columns=["subset_id", "x", "y"])
    return pd.DataFrame({"subset_id": pred["subset_id"].to_numpy(), "x": pred["measured"], "y": pred["predicted"]})


def scatter_points(run: RunData, mode: Any) -> pd.DataFrame:
    """One row per subset with both coordinates: ``subset_id, x, y`` plus its manifest columns.

    ``mode`` is ``(PREDICTED, study)`` (x: the study's measured target, y: predicted out of
    fold, per (dataset, size)) or a pair of models ``(a, b)`` (x: Z under a, y: Z under b).
    """
    if mode[0] == PREDICTED:
        if run.quality_predictions is None:
            run.quality_predictions = _predictions(run.quality)
        pts = run.quality_predictions
        ids = set(run.subsets.loc[run.subsets["study"] == mode[1], "subset_id"])
        pts = pts[pts["subset_id"].isin(ids)]
    else:
        a, b = mode
        z = run.results.dropna(subset=["z"]).groupby(["subset_id", "model"])["z"].mean().unstack()
        if a not in z.columns or b not in z.columns:
            return pd.DataFrame(columns=["subset_id", "x", "y"])
        pts = z[[a, b]].dropna().rename(columns={a: "x", b: "y"}).reset_index()
    keep = ["subset_id", "study", "dataset", "size", "kind"]
    return pts.merge(run.subsets[keep], on="subset_id", how="inner")


def subset_quality(run: RunData, subset_id: str) -> pd.DataFrame:
    """The subset's key measures, its target, and each one's percentile among its cell's subsets.

    Returns
    -------
    DataFrame
        Index: measure (``z_mean`` / ``bacc`` first); columns ``value`` and ``percentile``
        (share of the subsets of the same study, dataset and size with a lower value, %).
        Empty when the run has no study Q record of the subset.
    """
    q = run.quality
    if q.empty or subset_id not in set(q["subset_id"]):
        return pd.DataFrame(columns=["value", "percentile"])
    row = q[q["subset_id"] == subset_id].iloc[0]
    cell = q[(q["study"] == row["study"]) & (q["dataset"] == row["dataset"]) & (q["size"] == row["size"])]
    names = [t for t in ("z_mean", "bacc") if t in q.columns and pd.notna(row[t])]
    names += [m for m in KEY_MEASURES if m in q.columns and pd.notna(row[m])]
    out = []
    for m in names:
        values = cell[m].dropna()
        out.append({"measure": m, "value": float(row[m]), "percentile": 100 * float((values < row[m]).mean())})
    return pd.DataFrame(out).set_index("measure")


class QualityPanel:
    """The explorer's study Q part: a mode picker, a clickable scatter and the measures table.

    Parameters
    ----------
    run : RunData
    on_pick : callable
        ``on_pick(subset_id)``, called when a point is clicked.
    """

    def __init__(self, run: RunData, on_pick: Callable[[str], None]) -> None:
        import ipywidgets as w

        self.run = run
        self.on_pick = on_pick
        self.modes = scatter_modes(run)
        self.mode = w.Dropdown(
            description="scatter",
            options=[(label, i) for i, (label, _) in enumerate(self.modes)] or [("(no scores)", -1)],
            layout=w.Layout(width="auto"),
            style={"description_width": "62px"},
        )
        self.mode.add_class("xf-q-mode")
        self.grid = w.GridBox(
            layout=w.Layout(
                grid_template_columns=f"repeat({GRID}, 11px)",
                grid_template_rows=f"repeat({GRID}, 11px)",
                border="1px solid #bbb",
                width=f"{GRID * 11 + 2}px",
            )
        )
        self.grid.add_class("xf-q-scatter")
        self.axes = w.HTML()
        self.measures_html = w.HTML()
        self.measures_html.add_class("xf-q-measures")
        self.points = pd.DataFrame()
        self.buttons: dict[str, Any] = {}
        self.current: str | None = None
        self.widget = w.VBox(
            [
                w.HTML("<b>Study Q: quality measured before training</b>"),
                self.mode,
                w.HBox([w.VBox([self.grid, self.axes], layout=w.Layout(margin="0 28px 0 0")), self.measures_html]),
            ]
        )
        self.mode.observe(lambda change: self.draw(), names="value")
        self.draw()

    def draw(self) -> None:
        """Lay the points of the current mode out on the grid (the current subset marked)."""
        import ipywidgets as w

        self.buttons = {}
        if self.mode.value is None or self.mode.value < 0:
            self.grid.children = ()
            self.axes.value = "<i>no study Q records or Z-scores in this run</i>"
            return
        label, mode = self.modes[self.mode.value]
        self.points = pts = scatter_points(self.run, mode)
        if pts.empty:
            self.grid.children = ()
            self.axes.value = "<i>no points for this scatter</i>"
            return
        col = _cells(pts["x"].to_numpy(float))
        row = GRID - 1 - _cells(pts["y"].to_numpy(float))
        children = []
        for sid, kind, r, c in zip(pts["subset_id"], pts["kind"], row, col):
            b = w.Button(tooltip=str(sid), layout=w.Layout(width="10px", height="10px", padding="0", min_width="0"))
            b.layout.grid_area = f"{r + 1} / {c + 1}"
            b.add_class("xf-q-point")
            b.add_class(f"xf-q-{kind}")
            b.style.button_color = {"random": "#999", "selected": "#1f77b4", "optimized": "#d62728"}.get(
                kind, "#2ca02c"
            )
            b.on_click(lambda _b, sid=str(sid): self.on_pick(sid))
            self.buttons[str(sid)] = b
            children.append(b)
        self.grid.children = tuple(children)
        xlab, ylab = ("measured", "predicted") if mode[0] == PREDICTED else (f"Z {mode[0]}", f"Z {mode[1]}")
        self.axes.value = (
            f"<div style='font-size:smaller'>x: {xlab} [{pts['x'].min():.2f}, {pts['x'].max():.2f}]; "
            f"y: {ylab} [{pts['y'].min():.2f}, {pts['y'].max():.2f}]; {len(pts)} subsets (grey random, blue "
            f"selected, red optimized, green study A); click a point to open it</div>"
        )
        self.show(self.current)

    def show(self, subset_id: str | None) -> None:
        """Mark ``subset_id`` on the scatter and show its measures."""
        if self.current in self.buttons:
            self.buttons[self.current].icon = ""
            self.buttons[self.current].layout.border = None
        self.current = subset_id
        if subset_id in self.buttons:
            self.buttons[subset_id].layout.border = "2px solid black"
        table = subset_quality(self.run, subset_id) if subset_id else pd.DataFrame()
        if table.empty:
            self.measures_html.value = "<i>no study Q measures for this subset (stage q_measures)</i>"
            return
        body = table.to_html(float_format=lambda v: f"{v:.4g}", border=0, classes="xf-table")
        self.measures_html.value = (
            f"<div><b>{html.escape(subset_id)}</b>: measures and percentile within its (study, dataset, size)</div>"
            + body
        )


def _cells(v: np.ndarray) -> np.ndarray:
    lo, hi = np.nanmin(v), np.nanmax(v)
    span = hi - lo if hi > lo else 1.0
    return np.clip(((v - lo) / span * (GRID - 1)).round().astype(int), 0, GRID - 1)

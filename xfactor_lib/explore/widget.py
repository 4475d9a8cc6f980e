"""The subset explorer widget: pickers wired to :mod:`.runs` and :mod:`.tiles`."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .. import data
from .quality import QualityPanel
from .runs import (
    COLUMNS,
    PICKERS,
    RESULT_STAGES,
    RunData,
    compare_subsets,
    filter_subsets,
    load_run,
    native,
    parameter_differences,
    per_class,
    picker_options,
    subset_features,
    subset_parts,
    subset_scores,
)
from .tiles import image_grid_png, mean_images

__all__ = ["SubsetExplorer"]


def _table_html(frame: pd.DataFrame | pd.Series, *, digits: int = 3) -> str:
    if isinstance(frame, pd.Series):
        frame = frame.to_frame("value")
    return frame.to_html(float_format=lambda v: f"{v:.{digits}f}", na_rep="–", border=0, classes="xf-table")


def _note(text: str) -> str:
    return f"<div style='color:#8a5a00'>{html.escape(text)}</div>"


class SubsetExplorer:
    """Pick a subset of a run and look at it: images, class means, scores, features, study Q
    measures (with a scatter of every subset: click a point to open it), overlap.

    Parameters
    ----------
    run_dir : path
        A run directory (``runs/<sweep>``) or a :class:`RunData` already loaded.
    per_class : int
        Images shown per class in each grid (a slider changes it).
    cell : int
        Side of one shown image in pixels.
    root : path, optional
        Data root passed to :func:`data.load_dataset`.
    datasets : mapping, optional
        ``name -> Dataset`` of training splits to use instead of loading them.
    **choices
        Initial picker values by name (:data:`PICKERS`); by default the first option of
        each; without choices, it opens on a selected subset when the run has one.

    Attributes
    ----------
    run : RunData
    pickers : dict
        ``name -> ipywidgets.Dropdown`` for every picker of :data:`PICKERS`.
    compare : ipywidgets.Dropdown
        A second subset of the same study and data set (``""`` = no comparison).
    kept_image, discarded_image, means_image, only_a_image, only_b_image : ipywidgets.Image
    current : Series or None
        The manifest row shown.
    shown : dict
        ``kept`` / ``discarded`` / ``only_a`` / ``only_b``: per-class index arrays shown
        in the grids (into the training split).
    scores : DataFrame
        :func:`subset_scores` of the current subset.
    features : Series or None
        :func:`subset_features` of the current subset.
    comparison : dict or None
        :func:`compare_subsets` of the current and the compared subset.
    messages : list of str
        Notes shown about missing stages and values that could not be shown.
    widget : ipywidgets.VBox
        The whole explorer (displayed by ``display(explorer)``).
    """

    def __init__(
        self,
        run_dir: str | os.PathLike | RunData,
        *,
        per_class: int = 10,
        cell: int = 32,
        root: str | os.PathLike | None = None,
        datasets: Mapping[str, data.Dataset] | None = None,
        **choices: Any,
    ) -> None:
        import ipywidgets as w

        unknown = set(choices) - set(PICKERS)
        if unknown:
            raise ValueError(f"unknown picker(s) {sorted(unknown)}; use {', '.join(PICKERS)}")
        self.run = run_dir if isinstance(run_dir, RunData) else load_run(run_dir)
        self.root = root
        self.cell = int(cell)
        self._datasets: dict[str, data.Dataset] = dict(datasets or {})
        self._split_means: dict[str, np.ndarray] = {}
        self._updating = False
        self.current: pd.Series | None = None
        self.shown: dict[str, list[np.ndarray]] = {}
        self.scores = pd.DataFrame()
        self.features: pd.Series | None = None
        self.comparison: dict[str, Any] | None = None
        self.messages: list[str] = []

        self.pickers = {
            p: w.Dropdown(
                description=p,
                layout=w.Layout(width="auto" if p == "subset" else "190px"),
                style={"description_width": "62px"},
            )
            for p in PICKERS
        }
        for p, dd in self.pickers.items():
            dd.add_class(f"xf-picker-{p}")
        self.per_class = w.IntSlider(
            value=int(per_class),
            min=1,
            max=50,
            description="per class",
            style={"description_width": "62px"},
            continuous_update=False,
        )
        self.compare = w.Dropdown(
            description="compare",
            options=[("(none)", "")],
            value="",
            layout=w.Layout(width="auto"),
            style={"description_width": "62px"},
        )
        self.compare.add_class("xf-picker-compare")

        def image(cls: str) -> w.Image:  # natural size: never stretched to the row's width
            img = w.Image(format="png", value=b"", layout=w.Layout(align_self="flex-start"))
            img.add_class(cls)
            return img

        self.kept_image, self.discarded_image = image("xf-kept"), image("xf-discarded")
        self.means_image = image("xf-means")
        self.only_a_image, self.only_b_image = image("xf-only-a"), image("xf-only-b")
        self.header = w.HTML()
        self.info = w.HTML()
        self.kept_title, self.discarded_title = w.HTML(), w.HTML()
        self.means_title = w.HTML()
        self.scores_html, self.features_html = w.HTML(), w.HTML()
        self.compare_html = w.HTML()
        self.only_a_title, self.only_b_title = w.HTML(), w.HTML()
        gap = w.Layout(margin="0 28px 0 0")  # space between side-by-side panels
        self.discarded_box = w.VBox([self.discarded_title, self.discarded_image])
        self.compare_images = w.HBox(
            [w.VBox([self.only_a_title, self.only_a_image], layout=gap), w.VBox([self.only_b_title, self.only_b_image])]
        )
        self.quality = QualityPanel(self.run, self._pick)
        self.widget = w.VBox(
            [
                self.header,
                w.HBox([self.pickers[p] for p in ("study", "dataset", "size", "kind")]),
                w.HBox([self.pickers[p] for p in ("rule", "direction", "m")] + [self.per_class]),
                self.pickers["subset"],
                self.info,
                w.HBox([w.VBox([self.kept_title, self.kept_image], layout=gap), self.discarded_box]),
                self.means_title,
                self.means_image,
                w.HBox(
                    [
                        w.VBox([w.HTML("<b>Scores per model</b>"), self.scores_html], layout=gap),
                        w.VBox([w.HTML("<b>LCR features</b>"), self.features_html]),
                    ]
                ),
                self.quality.widget,
                w.HTML("<b>Compare with a second subset</b>"),
                self.compare,
                self.compare_html,
                self.compare_images,
            ]
        )
        self.widget.add_class("xf-explorer")
        self.header.value = self._header_html()

        wanted = dict(choices)
        selected = self.run.subsets[self.run.subsets["kind"] == "selected"] if not choices else []
        if len(selected):  # open on a selected subset: it shows kept and discarded images
            first = selected.sort_values(["study", "dataset", "size"]).iloc[0]
            wanted = {p: native(first[COLUMNS[p]]) for p in ("study", "dataset", "size", "kind")}
        self._apply_options(wanted)
        for dd in self.pickers.values():
            dd.observe(self._on_picker, names="value")
        self.compare.observe(self._on_compare, names="value")
        self.per_class.observe(self._on_picker, names="value")
        self.render()

    # ---------------------------------------------------------------- display
    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _repr_mimebundle_(self, **kwargs: Any):
        return self.widget._repr_mimebundle_(**kwargs)

    def choices(self) -> dict[str, Any]:
        """The current picker values by name."""
        return {p: dd.value for p, dd in self.pickers.items()}

    def select(self, **choices: Any) -> None:
        """Set several pickers at once (names of :data:`PICKERS`) and redraw once."""
        unknown = set(choices) - set(PICKERS)
        if unknown:
            raise ValueError(f"unknown picker(s) {sorted(unknown)}; use {', '.join(PICKERS)}")
        self._apply_options({**self.choices(), **choices})
        self.render()

    # ---------------------------------------------------------------- wiring
    def _apply_options(self, wanted: Mapping[str, Any]) -> None:
        opts = picker_options(self.run.subsets, wanted)
        self._updating = True
        try:
            for p, (options, value) in opts.items():
                dd = self.pickers[p]
                if list(dd.options) != options:
                    dd.options = options
                dd.value = value
                dd.disabled = len(options) <= 1
            self._update_compare_options()
        finally:
            self._updating = False

    def _update_compare_options(self) -> None:
        c = self.choices()
        pool = (
            filter_subsets(self.run.subsets, study=c["study"], dataset=c["dataset"])
            if c["study"] is not None
            else self.run.subsets.iloc[:0]
        )
        ids = [s for s in pool["subset_id"].tolist() if s != c["subset"]]
        options = [("(none)", "")] + [(s, s) for s in ids]
        keep = self.compare.value if self.compare.value in ids else ""
        if [v for _, v in self.compare.options] != [v for _, v in options]:
            self.compare.options = options
        self.compare.value = keep

    def _on_picker(self, change: dict) -> None:
        if self._updating:
            return
        self._apply_options(self.choices())
        self.render()

    def _pick(self, subset_id: str) -> None:
        """Open the subset a scatter point stands for."""
        rows = self.run.subsets[self.run.subsets["subset_id"] == subset_id]
        if len(rows):
            self.select(**{p: native(rows.iloc[0][COLUMNS[p]]) for p in PICKERS})

    def _on_compare(self, change: dict) -> None:
        if self._updating:
            return
        self._render_comparison()

    # ---------------------------------------------------------------- data
    def _dataset(self, name: str) -> data.Dataset:
        if name not in self._datasets:
            self._datasets[name] = data.load_dataset(name, "train", self.root)
        return self._datasets[name]

    def _split_mean(self, name: str) -> np.ndarray:
        if name not in self._split_means:
            ds = self._dataset(name)
            self._split_means[name] = mean_images(ds.images, ds.labels, ds.K)
        return self._split_means[name]

    def _header_html(self) -> str:
        run = self.run
        found = ", ".join(f"{s} ({n} rows)" for s, n in run.found.items()) or "none"
        parts = [
            f"<b>Subset explorer</b> — <code>{html.escape(str(run.run_dir))}</code>",
            f"<div>stages found: {html.escape(found)}</div>",
        ]
        if run.missing:
            parts.append(_note("missing (no finished cells): " + ", ".join(run.missing)))
        if run.subsets.empty:
            parts.append(
                _note(
                    "no subset manifests (x_subsets / a_subsets) in this run: nothing to show; "
                    "run the study X or A stages, or open a demo run"
                )
            )
        parts += [_note(n) for n in run.notes[:5]]
        if len(run.notes) > 5:
            parts.append(_note(f"... and {len(run.notes) - 5} more notes"))
        return "\n".join(parts)

    # ---------------------------------------------------------------- rendering
    def _clear(self) -> None:
        for img in (self.kept_image, self.discarded_image, self.means_image):
            img.value = b""
        self.shown = {}
        self.scores = pd.DataFrame()
        self.features = None

    def render(self) -> None:
        """Redraw everything for the current pickers."""
        self.messages = []
        c = self.choices()
        rows = filter_subsets(self.run.subsets, **c) if c["subset"] is not None else self.run.subsets.iloc[:0]
        if rows.empty:
            self.current = None
            self.quality.show(None)
            self._clear()
            self.info.value = _note("no subset to show")
            self.kept_title.value = self.discarded_title.value = self.means_title.value = ""
            self.scores_html.value = self.features_html.value = ""
            self._render_comparison()
            return
        row = rows.iloc[0]
        self.current = row
        self.quality.show(str(row["subset_id"]))
        self._render_scores(row)
        try:
            ds = self._dataset(str(row["dataset"]))
            kept, discarded = subset_parts(row)
            if kept.size and (kept.max() >= ds.N or kept.min() < 0):
                raise IndexError(f"indices reach {kept.max()} but {ds.name}/train has {ds.N} images")
        except Exception as exc:  # noqa: BLE001 - shown to the user instead of breaking the widget
            self._clear()
            self._render_scores(row)
            self.info.value = _note(f"cannot show the images of {row['subset_id']}: {type(exc).__name__}: {exc}")
            self._render_comparison()
            return
        limit = int(self.per_class.value)
        labels = [str(k) for k in range(ds.K)]
        self.shown = {"kept": per_class(kept, ds.labels, ds.K, limit)}
        self.kept_image.value = image_grid_png(
            ds.images, self.shown["kept"], labels=labels, columns=limit, cell=self.cell
        )
        counts = np.bincount(ds.labels[kept], minlength=ds.K)
        self.kept_title.value = (
            f"<b>kept</b>: {len(kept)} images ({_count_text(counts)} per class); first {limit} of each class"
        )
        if discarded.size:
            self.shown["discarded"] = per_class(discarded, ds.labels, ds.K, limit)
            self.discarded_image.value = image_grid_png(
                ds.images, self.shown["discarded"], labels=labels, columns=limit, cell=self.cell
            )
            self.discarded_title.value = (
                f"<b>discarded</b> by {html.escape(str(row['strategy']))} "
                f"{html.escape(str(row['direction']))}: {len(discarded)} images "
                f"({_count_text(np.bincount(ds.labels[discarded], minlength=ds.K))} "
                "per class)"
            )
            self.discarded_box.layout.display = None
        else:
            self.discarded_image.value = b""
            self.discarded_title.value = ""
            self.discarded_box.layout.display = "none"
        means = np.concatenate([self._split_mean(ds.name), mean_images(ds.images[kept], ds.labels[kept], ds.K)])
        self.means_image.value = image_grid_png(
            means, [np.arange(ds.K), ds.K + np.arange(ds.K)], labels=["split", "subset"], cell=max(self.cell, 40)
        )
        self.means_title.value = (
            "<b>class means</b>: top, every training image of the class (the "
            "&mu;<sub>k</sub> of the mean rules); bottom, the kept images"
        )
        classes = ", ".join(f"{k} = {html.escape(str(n))}" for k, n in enumerate(ds.classes))
        params = ", ".join(
            f"{k} = {html.escape(_text(row[k]))}"
            for k in ("study", "dataset", "n", "size", "kind", "strategy", "direction", "m", "repeat", "seed")
            if k in row.index and not pd.isna(row[k])
        )
        self.info.value = (
            f"<div><b>{html.escape(str(row['subset_id']))}</b>: {params}</div>"
            f"<div style='font-size:smaller'>rows are classes: {classes}</div>"
        )
        self._render_comparison()

    def _render_scores(self, row: pd.Series) -> None:
        sid = str(row["subset_id"])
        self.scores = subset_scores(self.run, sid)
        if self.scores.empty:
            missing = [s for s in RESULT_STAGES if s in self.run.missing]
            why = f" (stage {', '.join(missing)} missing)" if missing else ""
            self.scores_html.value = _note(f"no training results for this subset{why}")
            self.messages.append("no scores")
        else:
            note = ""
            if self.scores["z"].isna().all():
                note = _note(
                    "Z-scores need random subsets of the same (dataset, size, model); none here (study A has none)"
                )
            self.scores_html.value = _table_html(self.scores) + note
        self.features = subset_features(self.run, sid)
        if self.features is None:
            self.features_html.value = _note(
                "LCR features not computed for this subset (they come with the a_train stage)"
            )
            self.messages.append("no features")
        else:
            self.features_html.value = (
                "<div style='max-height:260px;overflow-y:auto'>" + _table_html(self.features, digits=4) + "</div>"
            )

    def _render_comparison(self) -> None:
        other = self.compare.value or None
        self.comparison = None
        self.shown.pop("only_a", None)
        self.shown.pop("only_b", None)
        self.only_a_image.value = self.only_b_image.value = b""
        self.only_a_title.value = self.only_b_title.value = ""
        self.compare_images.layout.display = "none"
        if other is None or self.current is None:
            self.compare_html.value = ""
            return
        rows = filter_subsets(self.run.subsets, subset=other)
        if rows.empty:
            self.compare_html.value = _note(f"subset {other} is not in this run")
            return
        a, b = self.current, rows.iloc[0]
        try:
            ds = self._dataset(str(a["dataset"]))
            y, K = ds.labels, ds.K
        except Exception as exc:  # noqa: BLE001
            ds, y, K = None, None, None
            self.messages.append(f"no labels: {exc}")
        ia, ib = np.asarray(a["indices"], dtype=np.int64), np.asarray(b["indices"], dtype=np.int64)
        self.comparison = cmp = compare_subsets(ia, ib, y=y, K=K)
        diff = parameter_differences(a, b)
        diff_text = (
            "; ".join(f"{k}: {html.escape(str(va))} vs {html.escape(str(vb))}" for k, (va, vb) in diff.items())
            or "none"
        )
        parts = [
            f"<div>A = <code>{html.escape(str(a['subset_id']))}</code>, "
            f"B = <code>{html.escape(str(b['subset_id']))}</code></div>",
            f"<div>shared images: <b>{cmp['overlap']}</b> ({cmp['pct_of_a']:.1f}% of A, "
            f"{cmp['pct_of_b']:.1f}% of B, Jaccard {cmp['jaccard']:.3f}); only in A: {len(cmp['only_a'])}, "
            f"only in B: {len(cmp['only_b'])}</div>",
            f"<div>parameters that differ: {diff_text}</div>",
        ]
        if "per_class" in cmp:
            parts.append(_table_html(cmp["per_class"].T, digits=0))
        self.compare_html.value = "\n".join(parts)
        if ds is not None:
            limit = int(self.per_class.value)
            labels = [str(k) for k in range(K)]
            self.shown["only_a"] = per_class(cmp["only_a"], y, K, limit)
            self.shown["only_b"] = per_class(cmp["only_b"], y, K, limit)
            self.only_a_image.value = image_grid_png(
                ds.images, self.shown["only_a"], labels=labels, columns=limit, cell=self.cell
            )
            self.only_b_image.value = image_grid_png(
                ds.images, self.shown["only_b"], labels=labels, columns=limit, cell=self.cell
            )
            self.only_a_title.value = f"<b>only in A</b> ({len(cmp['only_a'])})"
            self.only_b_title.value = f"<b>only in B</b> ({len(cmp['only_b'])})"
            self.compare_images.layout.display = None


def _text(value: Any) -> str:
    """A manifest value as text; whole floats (``n`` after a concat with study A) as ints."""
    value = native(value)
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _count_text(counts: np.ndarray) -> str:
    lo, hi = int(counts.min()), int(counts.max())
    return str(lo) if lo == hi else f"{lo}–{hi}"

"""Interactive explorer of the subsets a run wrote: :class:`SubsetExplorer`.

The explorer reads only what the study stages leave in a run directory
(``docs/architecture.md``, "Study stages"): the manifests of ``x_subsets`` and
``a_subsets`` (which images each subset holds; for a selected subset also its ``n + m``
candidates), the records of ``x_train`` (errors, from which Z-scores are computed per
(dataset, size, model) as in :func:`stats.zscores`) and of ``a_train`` (metrics and the
LCR features). Any stage may be missing: the explorer shows what exists and says what is
not there. Images come from :func:`data.load_dataset` (each data set loaded once).

The logic lives in plain functions (:func:`load_run`, :func:`filter_subsets`,
:func:`picker_options`, :func:`subset_parts`, :func:`compare_subsets`,
:func:`subset_scores`, :func:`image_grid_png`); the widget only wires them to pickers.
"""

from __future__ import annotations

import html
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import data, stats, sweep

__all__ = [
    "PICKERS",
    "RunData",
    "load_run",
    "filter_subsets",
    "picker_options",
    "subset_parts",
    "per_class",
    "compare_subsets",
    "parameter_differences",
    "subset_scores",
    "subset_features",
    "image_grid_png",
    "SubsetExplorer",
]

SUBSET_STAGES = ("x_subsets", "a_subsets")
RESULT_STAGES = ("x_train", "a_train")
#: Pickers in cascade order, and the manifest column each one selects on.
PICKERS = ("study", "dataset", "size", "kind", "rule", "direction", "m", "subset")
COLUMNS = {"study": "study", "dataset": "dataset", "size": "size", "kind": "kind", "rule": "strategy",
           "direction": "direction", "m": "m", "subset": "subset_id"}
_KIND_ORDER = {"random": 0, "selected": 1, "balance": 2}
_SYSTEMATIC = ("pixels", "channels", "classes")
_METRICS = ("error", "acc", "bacc", "auc_macro")


# --------------------------------------------------------------------------- reading a run
@dataclass
class RunData:
    """What the explorer found in a run directory.

    Attributes
    ----------
    run_dir : Path
    subsets : DataFrame
        The manifests of ``x_subsets`` and ``a_subsets``, one row per subset, with a
        ``candidates`` column (= ``indices`` where a manifest has none).
    results : DataFrame
        The records of ``x_train`` and ``a_train`` (one row per (subset, model, seed)) with
        ``stage`` and ``z`` (the Z-score; NaN where it is undefined, e.g. study A).
    features : DataFrame
        LCR features per ``subset_id`` (index): the 27 features and ``pixels, channels,
        classes`` from any results that carry them (mean over seeds and models).
    found : dict
        Rows per stage found.
    missing : list of str
        Stages with no finished cell.
    notes : list of str
        What could not be computed, and why.
    """

    run_dir: Path
    subsets: pd.DataFrame
    results: pd.DataFrame
    features: pd.DataFrame
    found: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _feature_columns(columns: Sequence[str]) -> list[str]:
    from .lcr import FEATURE_NAMES

    names = [c for c in FEATURE_NAMES if c != "size"] + list(_SYSTEMATIC)
    present = [c for c in names if c in columns]
    return present if any(c in columns for c in FEATURE_NAMES if c != "size") else []


def _robust_zscores(results: pd.DataFrame, notes: list[str]) -> pd.Series:
    """Z per row, cell by cell, so one cell without a random baseline only blanks itself."""
    z = pd.Series(np.nan, index=results.index, name="z")
    need = ["kind", "error", "dataset", "size", "model"]
    if results.empty or any(c not in results.columns for c in need):
        return z
    by = ["stage", "dataset", "size", "model"] if "stage" in results.columns else need[2:]
    for key, cell in results.groupby(by, sort=False):
        if not (cell["kind"] == "random").any():
            continue  # e.g. study A (kind "balance"): Z-scores are not defined there
        try:
            z.loc[cell.index] = stats.zscores(cell)
        except ValueError as exc:
            notes.append(f"no Z-scores for ({', '.join(by)}) = {key}: {exc}")
    return z


def load_run(run_dir: str | os.PathLike) -> RunData:
    """Read the manifests and records of a run directory.

    Parameters
    ----------
    run_dir : path
        A sweep folder (``runs/<sweep>``) or any folder in that layout.

    Returns
    -------
    RunData

    Raises
    ------
    FileNotFoundError
        ``run_dir`` does not exist. Missing stages are not an error: they are listed in
        ``RunData.missing``.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist; run a sweep (make run) "
                                "or write a demo run with xfactor_lib.demo.write_demo_run")
    found: dict[str, int] = {}
    missing: list[str] = []
    notes: list[str] = []
    frames: dict[str, pd.DataFrame] = {}
    for stage in SUBSET_STAGES + RESULT_STAGES:
        try:
            frames[stage] = sweep.collect(run_dir, stage)
            found[stage] = len(frames[stage])
        except FileNotFoundError:
            missing.append(stage)
        except Exception as exc:  # noqa: BLE001 - a broken stage must not hide the others
            missing.append(stage)
            notes.append(f"stage {stage} could not be read: {type(exc).__name__}: {exc}")
    parts = []
    for stage in SUBSET_STAGES:
        if stage in frames:
            f = frames[stage].copy()
            if "candidates" not in f.columns:
                f["candidates"] = f["indices"]
            f["candidates"] = [i if c is None or (np.ndim(c) == 0 and pd.isna(c)) else c
                               for i, c in zip(f["indices"], f["candidates"])]
            f["stage"] = stage
            parts.append(f)
    subsets = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=[*COLUMNS.values(), "indices", "candidates", "stage"])
    for col, default in (("strategy", "none"), ("direction", "none"), ("m", 0)):
        if col in subsets.columns:
            subsets[col] = subsets[col].fillna(default)
    res = [frames[s].assign(stage=s) for s in RESULT_STAGES if s in frames]
    results = pd.concat(res, ignore_index=True) if res else pd.DataFrame(columns=["subset_id", "model", "stage"])
    results["z"] = _robust_zscores(results, notes)
    fcols = _feature_columns(results.columns)
    if fcols:
        have = results.dropna(subset=[fcols[0]])
        features = have.groupby("subset_id", sort=False)[fcols].mean()
    else:
        features = pd.DataFrame(index=pd.Index([], name="subset_id"))
    return RunData(run_dir, subsets, results, features, found, missing, notes)


# --------------------------------------------------------------------------- choosing
def _native(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _sort_key(v: Any) -> tuple:
    if isinstance(v, str) and v in _KIND_ORDER:
        return (0, _KIND_ORDER[v], "")
    if isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
        return (1, float(v), "")
    return (2, 0.0, str(v))


def _column(picker: str) -> str:
    if picker in COLUMNS:
        return COLUMNS[picker]
    if picker in COLUMNS.values():
        return picker
    raise ValueError(f"unknown picker {picker!r}; use one of {', '.join(PICKERS)}")


def filter_subsets(manifest: pd.DataFrame, **choices: Any) -> pd.DataFrame:
    """The manifest rows that match every given choice.

    Parameters
    ----------
    manifest : DataFrame
        One row per subset (e.g. ``RunData.subsets``).
    **choices
        Picker names of :data:`PICKERS` (``rule`` selects ``strategy``, ``subset``
        selects ``subset_id``) or manifest column names; ``None`` means any value.

    Returns
    -------
    DataFrame
        The matching rows, in manifest order.
    """
    mask = np.ones(len(manifest), dtype=bool)
    for name, value in choices.items():
        if value is None:
            continue
        col = _column(name)
        if col not in manifest.columns:
            raise ValueError(f"the manifest has no column {col!r} (picker {name!r}); columns: "
                             f"{list(manifest.columns)}")
        mask &= (manifest[col] == value).to_numpy()
    return manifest[mask]


def picker_options(manifest: pd.DataFrame, choices: Mapping[str, Any] | None = None
                   ) -> dict[str, tuple[list, Any]]:
    """Options and chosen value of every picker, each one filtered by those before it.

    Parameters
    ----------
    manifest : DataFrame
    choices : mapping, optional
        Wanted values by picker name; a value that is not among its picker's options
        (given the pickers before it) falls back to the first option.

    Returns
    -------
    dict
        ``picker -> (options, value)`` for every picker of :data:`PICKERS`, in order;
        options sorted (kinds as random, selected, balance; numbers numerically;
        subsets by repeat, then id); ``([], None)`` where nothing matches.
    """
    choices = dict(choices or {})
    out: dict[str, tuple[list, Any]] = {}
    rows = manifest
    for picker in PICKERS:
        col = COLUMNS[picker]
        if col not in rows.columns or rows.empty:
            out[picker] = ([], None)
            continue
        if picker == "subset":
            order = rows.sort_values(["repeat", "subset_id"] if "repeat" in rows.columns else ["subset_id"])
            options = list(dict.fromkeys(order["subset_id"].tolist()))
        else:
            options = sorted({_native(v) for v in rows[col].tolist()}, key=_sort_key)
        wanted = choices.get(picker)
        value = wanted if wanted is not None and wanted in options else options[0]
        out[picker] = (options, value)
        rows = rows[(rows[col] == value).to_numpy()]
    return out


# --------------------------------------------------------------------------- one subset
def subset_parts(row: Mapping[str, Any] | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Kept and discarded training indices of one manifest row.

    Returns
    -------
    kept : ndarray, shape (n * K,) or (size,), int64
        ``indices``.
    discarded : ndarray, int64
        ``candidates`` minus ``indices`` (empty for a random or balance subset).
    """
    kept = np.asarray(row["indices"], dtype=np.int64)
    cands = row.get("candidates") if hasattr(row, "get") else None
    if cands is None or (np.ndim(cands) == 0 and pd.isna(cands)):
        return kept, np.empty(0, dtype=np.int64)
    return kept, np.setdiff1d(np.asarray(cands, dtype=np.int64), kept)


def per_class(indices: np.ndarray, y: np.ndarray, K: int, limit: int | None = None) -> list[np.ndarray]:
    """The indices of each class (sorted), the first ``limit`` of each.

    Parameters
    ----------
    indices : ndarray, int, into the split whose labels are ``y``
    y : ndarray, shape (N,), int
    K : int
    limit : int, optional

    Returns
    -------
    list of K ndarrays, int64
    """
    idx = np.sort(np.asarray(indices, dtype=np.int64))
    labels = y[idx]
    return [idx[labels == k][:limit] for k in range(K)]


def compare_subsets(a: np.ndarray, b: np.ndarray, *, y: np.ndarray | None = None,
                    K: int | None = None) -> dict[str, Any]:
    """What two subsets share and where they differ.

    Parameters
    ----------
    a, b : ndarray, int
        Training-split indices of the two subsets.
    y : ndarray, shape (N,), int, optional
        Labels of the split; with it, a per-class table is added.
    K : int, optional
        Number of classes (default ``y.max() + 1``).

    Returns
    -------
    dict
        ``overlap`` (images in both), ``only_a``, ``only_b`` (sorted index arrays),
        ``pct_of_a``, ``pct_of_b`` (100 * overlap / size; as in
        :func:`stats.subset_overlap`), ``jaccard``; with ``y`` also ``per_class``: a
        DataFrame indexed by class with ``n_a, n_b, shared, only_a, only_b``.
    """
    a = np.unique(np.asarray(a, dtype=np.int64))
    b = np.unique(np.asarray(b, dtype=np.int64))
    shared = np.intersect1d(a, b)
    union = len(a) + len(b) - len(shared)
    out: dict[str, Any] = {
        "overlap": int(len(shared)),
        "only_a": np.setdiff1d(a, b),
        "only_b": np.setdiff1d(b, a),
        "pct_of_a": 100.0 * len(shared) / len(a) if len(a) else float("nan"),
        "pct_of_b": 100.0 * len(shared) / len(b) if len(b) else float("nan"),
        "jaccard": len(shared) / union if union else float("nan"),
    }
    if y is not None:
        y = np.asarray(y)
        K = int(y.max()) + 1 if K is None else int(K)

        def count(idx: np.ndarray) -> np.ndarray:
            return np.bincount(y[idx], minlength=K)

        out["per_class"] = pd.DataFrame({"n_a": count(a), "n_b": count(b), "shared": count(shared),
                                         "only_a": count(out["only_a"]), "only_b": count(out["only_b"])},
                                        index=pd.RangeIndex(K, name="class"))
    return out


def parameter_differences(a: Mapping[str, Any], b: Mapping[str, Any],
                          columns: Sequence[str] = ("study", "dataset", "size", "kind", "strategy",
                                                    "direction", "m", "repeat", "seed")) -> dict[str, tuple]:
    """Manifest parameters on which two subsets differ: ``column -> (value_a, value_b)``."""
    return {c: (_native(a[c]), _native(b[c])) for c in columns
            if c in a and c in b and _native(a[c]) != _native(b[c])}


def subset_scores(run: RunData, subset_id: str) -> pd.DataFrame:
    """Results of one subset per model: mean Z-score and metrics over seeds.

    Returns
    -------
    DataFrame
        Index ``model``; columns ``z`` and those of ``error, acc, bacc, auc_macro`` the
        records have, and ``seeds`` (rows averaged). Empty when the subset has no results.
    """
    res = run.results
    if res.empty or "subset_id" not in res.columns:
        return pd.DataFrame(columns=["z", "seeds"])
    rows = res[res["subset_id"] == subset_id]
    if rows.empty:
        return pd.DataFrame(columns=["z", "seeds"])
    cols = ["z"] + [c for c in _METRICS if c in rows.columns]
    table = rows.groupby("model", sort=True)[cols].mean()
    table["seeds"] = rows.groupby("model", sort=True).size()
    return table


def subset_features(run: RunData, subset_id: str) -> pd.Series | None:
    """The LCR features of one subset, or None when they were not computed for it."""
    if subset_id in run.features.index:
        return run.features.loc[subset_id]
    return None


# --------------------------------------------------------------------------- images
def _tile(img: np.ndarray, cell: int) -> np.ndarray:
    """One (C, H, W) uint8 image as (cell, cell, 3) uint8 RGB."""
    from PIL import Image

    img = np.asarray(img)
    rgb = np.repeat(img[0][..., None], 3, axis=2) if img.shape[0] == 1 else np.moveaxis(img[:3], 0, -1)
    H, W = rgb.shape[:2]
    if (H, W) == (cell, cell):
        return np.ascontiguousarray(rgb)
    method = Image.NEAREST if H <= cell and W <= cell else Image.BOX
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize((cell, cell), method))


def image_grid(images: np.ndarray, rows: Sequence[np.ndarray], *, labels: Sequence[str] | None = None,
               columns: int | None = None, cell: int = 32, pad: int = 2) -> np.ndarray:
    """A mosaic with one row of images per entry of ``rows``.

    Parameters
    ----------
    images : ndarray, shape (N, C, H, W), uint8
    rows : sequence of int arrays
        Indices into ``images`` shown in each row (a row may be empty).
    labels : sequence of str, optional
        Written left of each row.
    columns : int, optional
        Slots per row; default the longest row (at least 1).
    cell : int
        Side of one image in pixels (nearest-neighbour upscaling, box downscaling).
    pad : int
        Pixels between images.

    Returns
    -------
    ndarray, shape (height, width, 3), uint8
    """
    from PIL import Image, ImageDraw

    columns = max([1, *(len(r) for r in rows)]) if columns is None else max(1, int(columns))
    labels = [str(s) for s in labels] if labels is not None else []
    lw = 7 * max([0, *(len(s) for s in labels)]) + (6 if labels else 0)
    h = pad + len(rows) * (cell + pad)
    w = lw + pad + columns * (cell + pad)
    canvas = np.full((max(h, 1), w, 3), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        top = pad + i * (cell + pad)
        for j, idx in enumerate(np.asarray(row, dtype=np.int64)[:columns]):
            left = lw + pad + j * (cell + pad)
            canvas[top:top + cell, left:left + cell] = _tile(images[idx], cell)
    if labels:
        pic = Image.fromarray(canvas)
        draw = ImageDraw.Draw(pic)
        for i, text in enumerate(labels[:len(rows)]):
            draw.text((3, pad + i * (cell + pad) + cell // 2 - 5), text, fill=(0, 0, 0))
        canvas = np.asarray(pic)
    return canvas


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG encoding of an (height, width, 3) uint8 array."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG")
    return buf.getvalue()


def image_grid_png(images: np.ndarray, rows: Sequence[np.ndarray], **kwargs: Any) -> bytes:
    """:func:`image_grid` encoded as PNG bytes (for ``ipywidgets.Image``)."""
    return png_bytes(image_grid(images, rows, **kwargs))


def _means(X: np.ndarray, y: np.ndarray, K: int) -> np.ndarray:
    """Class means (K, D) in [0, 1]; a class with no image gets a blank (white) mean."""
    from .similarity import class_means

    present = np.flatnonzero(np.bincount(y, minlength=K) > 0)
    out = np.ones((K, int(np.prod(X.shape[1:]))))
    if present.size:
        remap = np.full(K, -1)
        remap[present] = np.arange(present.size)
        out[present] = class_means(X, remap[y], K=present.size)
    return out


def _as_uint8(means: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    return np.rint(np.clip(means, 0, 1) * 255).astype(np.uint8).reshape(-1, *shape)


# --------------------------------------------------------------------------- the widget
def _table_html(frame: pd.DataFrame | pd.Series, *, digits: int = 3) -> str:
    if isinstance(frame, pd.Series):
        frame = frame.to_frame("value")
    return frame.to_html(float_format=lambda v: f"{v:.{digits}f}", na_rep="–", border=0,
                         classes="xf-table")


def _note(text: str) -> str:
    return f"<div style='color:#8a5a00'>{html.escape(text)}</div>"


class SubsetExplorer:
    """Pick a subset of a run and look at it: images, class means, scores, features, overlap.

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

    def __init__(self, run_dir: str | os.PathLike | RunData, *, per_class: int = 10, cell: int = 32,
                 root: str | os.PathLike | None = None, datasets: Mapping[str, data.Dataset] | None = None,
                 **choices: Any) -> None:
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

        self.pickers = {p: w.Dropdown(description=p, layout=w.Layout(width="auto" if p == "subset" else "190px"),
                                      style={"description_width": "62px"}) for p in PICKERS}
        for p, dd in self.pickers.items():
            dd.add_class(f"xf-picker-{p}")
        self.per_class = w.IntSlider(value=int(per_class), min=1, max=50, description="per class",
                                     style={"description_width": "62px"}, continuous_update=False)
        self.compare = w.Dropdown(description="compare", options=[("(none)", "")], value="",
                                  layout=w.Layout(width="auto"), style={"description_width": "62px"})
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
        self.compare_images = w.HBox([w.VBox([self.only_a_title, self.only_a_image], layout=gap),
                                      w.VBox([self.only_b_title, self.only_b_image])])
        self.widget = w.VBox([
            self.header,
            w.HBox([self.pickers[p] for p in ("study", "dataset", "size", "kind")]),
            w.HBox([self.pickers[p] for p in ("rule", "direction", "m")] + [self.per_class]),
            self.pickers["subset"],
            self.info,
            w.HBox([w.VBox([self.kept_title, self.kept_image], layout=gap), self.discarded_box]),
            self.means_title, self.means_image,
            w.HBox([w.VBox([w.HTML("<b>Scores per model</b>"), self.scores_html], layout=gap),
                    w.VBox([w.HTML("<b>LCR features</b>"), self.features_html])]),
            w.HTML("<b>Compare with a second subset</b>"), self.compare, self.compare_html, self.compare_images,
        ])
        self.widget.add_class("xf-explorer")
        self.header.value = self._header_html()

        wanted = dict(choices)
        selected = self.run.subsets[self.run.subsets["kind"] == "selected"] if not choices else []
        if len(selected):  # open on a selected subset: it shows kept and discarded images
            first = selected.sort_values(["study", "dataset", "size"]).iloc[0]
            wanted = {p: _native(first[COLUMNS[p]]) for p in ("study", "dataset", "size", "kind")}
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
        pool = filter_subsets(self.run.subsets, study=c["study"], dataset=c["dataset"]) \
            if c["study"] is not None else self.run.subsets.iloc[:0]
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
            self._split_means[name] = _means(ds.images, ds.labels, ds.K)
        return self._split_means[name]

    def _header_html(self) -> str:
        run = self.run
        found = ", ".join(f"{s} ({n} rows)" for s, n in run.found.items()) or "none"
        parts = [f"<b>Subset explorer</b> — <code>{html.escape(str(run.run_dir))}</code>",
                 f"<div>stages found: {html.escape(found)}</div>"]
        if run.missing:
            parts.append(_note("missing (no finished cells): " + ", ".join(run.missing)))
        if run.subsets.empty:
            parts.append(_note("no subset manifests (x_subsets / a_subsets) in this run: nothing to show; "
                               "run the study X or A stages, or open a demo run"))
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
            self._clear()
            self.info.value = _note("no subset to show")
            self.kept_title.value = self.discarded_title.value = self.means_title.value = ""
            self.scores_html.value = self.features_html.value = ""
            self._render_comparison()
            return
        row = rows.iloc[0]
        self.current = row
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
        self.kept_image.value = image_grid_png(ds.images, self.shown["kept"], labels=labels, columns=limit,
                                               cell=self.cell)
        counts = np.bincount(ds.labels[kept], minlength=ds.K)
        self.kept_title.value = (f"<b>kept</b>: {len(kept)} images ({_count_text(counts)} per class); "
                                 f"first {limit} of each class")
        if discarded.size:
            self.shown["discarded"] = per_class(discarded, ds.labels, ds.K, limit)
            self.discarded_image.value = image_grid_png(ds.images, self.shown["discarded"], labels=labels,
                                                        columns=limit, cell=self.cell)
            self.discarded_title.value = (f"<b>discarded</b> by {html.escape(str(row['strategy']))} "
                                          f"{html.escape(str(row['direction']))}: {len(discarded)} images "
                                          f"({_count_text(np.bincount(ds.labels[discarded], minlength=ds.K))} "
                                          "per class)")
            self.discarded_box.layout.display = None
        else:
            self.discarded_image.value = b""
            self.discarded_title.value = ""
            self.discarded_box.layout.display = "none"
        split = self._split_mean(ds.name)
        sub = _means(ds.images[kept], ds.labels[kept], ds.K)
        self.means_image.value = image_grid_png(
            np.concatenate([_as_uint8(split, ds.shape), _as_uint8(sub, ds.shape)]),
            [np.arange(ds.K), ds.K + np.arange(ds.K)], labels=["split", "subset"], cell=max(self.cell, 40))
        self.means_title.value = ("<b>class means</b>: top, every training image of the class (the "
                                  "&mu;<sub>k</sub> of the mean rules); bottom, the kept images")
        classes = ", ".join(f"{k} = {html.escape(str(n))}" for k, n in enumerate(ds.classes))
        params = ", ".join(f"{k} = {html.escape(str(_native(row[k])))}" for k in
                           ("study", "dataset", "size", "kind", "strategy", "direction", "m", "repeat", "seed")
                           if k in row.index)
        self.info.value = (f"<div><b>{html.escape(str(row['subset_id']))}</b>: {params}</div>"
                           f"<div style='font-size:smaller'>rows are classes: {classes}</div>")
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
                note = _note("Z-scores need random subsets of the same (dataset, size, model); "
                             "none here (study A has none)")
            self.scores_html.value = _table_html(self.scores) + note
        self.features = subset_features(self.run, sid)
        if self.features is None:
            self.features_html.value = _note("LCR features not computed for this subset "
                                             "(they come with the a_train stage)")
            self.messages.append("no features")
        else:
            self.features_html.value = (
                "<div style='max-height:260px;overflow-y:auto'>" + _table_html(self.features, digits=4) + "</div>")

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
        diff_text = "; ".join(f"{k}: {html.escape(str(va))} vs {html.escape(str(vb))}" for k, (va, vb) in
                              diff.items()) or "none"
        parts = [f"<div>A = <code>{html.escape(str(a['subset_id']))}</code>, "
                 f"B = <code>{html.escape(str(b['subset_id']))}</code></div>",
                 f"<div>shared images: <b>{cmp['overlap']}</b> ({cmp['pct_of_a']:.1f}% of A, "
                 f"{cmp['pct_of_b']:.1f}% of B, Jaccard {cmp['jaccard']:.3f}); only in A: {len(cmp['only_a'])}, "
                 f"only in B: {len(cmp['only_b'])}</div>",
                 f"<div>parameters that differ: {diff_text}</div>"]
        if "per_class" in cmp:
            parts.append(_table_html(cmp["per_class"].T, digits=0))
        self.compare_html.value = "\n".join(parts)
        if ds is not None:
            limit = int(self.per_class.value)
            labels = [str(k) for k in range(K)]
            self.shown["only_a"] = per_class(cmp["only_a"], y, K, limit)
            self.shown["only_b"] = per_class(cmp["only_b"], y, K, limit)
            self.only_a_image.value = image_grid_png(ds.images, self.shown["only_a"], labels=labels,
                                                     columns=limit, cell=self.cell)
            self.only_b_image.value = image_grid_png(ds.images, self.shown["only_b"], labels=labels,
                                                     columns=limit, cell=self.cell)
            self.only_a_title.value = f"<b>only in A</b> ({len(cmp['only_a'])})"
            self.only_b_title.value = f"<b>only in B</b> ({len(cmp['only_b'])})"
            self.compare_images.layout.display = None


def _count_text(counts: np.ndarray) -> str:
    lo, hi = int(counts.min()), int(counts.max())
    return str(lo) if lo == hi else f"{lo}–{hi}"

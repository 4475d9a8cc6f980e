"""Study E, stage ``e_surrogate``: train the surrogate while recording its dynamics, search
the EVA windows per rate on validation, embed the pool, and store what ``e_coreset`` reads.

:func:`run_surrogate` is the whole stage (what the template calls); the pieces are
:func:`train_surrogate`, :func:`search_windows` (never reads a test split),
:func:`pool_embedding`, :func:`save_surrogate` / :func:`load_surrogate` and
:func:`surrogate_records`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ... import coresets, data, records, sweep, training
from ..._validation import check_frame, check_int, check_rate, resolve_device
from ...coresets.scores import eva_scores, var_single
from ...dynamics import Dynamics, DynamicsRecorder
from ...quality import encoder
from .recipe import carve, coreset_config, fit_and_score

__all__ = [
    "DYNAMICS_FILE",
    "POOL_FILE",
    "EMBED_FILE",
    "SurrogateRun",
    "run_surrogate",
    "train_surrogate",
    "window_grid",
    "window_search",
    "best_window",
    "WindowSearch",
    "search_windows",
    "pool_embedding",
    "save_surrogate",
    "surrogate_records",
    "Surrogate",
    "load_surrogate",
]

DYNAMICS_FILE, POOL_FILE, EMBED_FILE = "dynamics.npz", "pool.npz", "embed.npz"


def pool_embedding(
    train: data.Dataset,
    pool: np.ndarray,
    *,
    out_dir: str | Path = "",
    per_class: int = 1000,
    epochs: int = 3,
    seed: int = 0,
    device: str = "auto",
) -> tuple[np.ndarray, encoder.EncoderInfo]:
    """The pool's embedding by study Q's reference encoder, trained on the pool only.

    The encoder sees the same images and labels as the surrogate (a class-balanced sample
    of ``per_class`` per class of the pool, a tenth held out), so ``coverage_emb`` competes
    with the dynamics-based methods on equal data. Cached in ``out_dir``
    (:func:`encoder.load_or_train`) when given.

    Returns
    -------
    E : ndarray, shape (n_pool, d), float32
    info : EncoderInfo
    """
    X, y = train.images[pool], train.labels[pool]
    if out_dir:
        return encoder.load_or_train(
            out_dir, X, y, dataset=train.name, per_class=per_class, epochs=epochs, seed=seed, device=device
        )
    model, info = encoder.train_encoder(
        X, y, dataset=train.name, K=train.K, per_class=per_class, epochs=epochs, seed=seed, device=device
    )
    return encoder.embed(model, X, device=device), info


def save_surrogate(
    out_dir: str | Path,
    dynamics: Dynamics,
    pool: np.ndarray,
    val_idx: np.ndarray | None,
    *,
    embed: np.ndarray | None = None,
) -> None:
    """Write ``dynamics.npz``, ``pool.npz`` (pool and carved validation indices) and, when
    given, ``embed.npz`` (the pool's embedding, row i = image ``pool[i]``) atomically."""
    dynamics.save(Path(out_dir) / DYNAMICS_FILE)
    records.write_npz(
        Path(out_dir) / POOL_FILE, pool=pool, val=np.asarray(val_idx if val_idx is not None else [], dtype=np.int64)
    )
    if embed is not None:
        records.write_npz(Path(out_dir) / EMBED_FILE, embed=np.asarray(embed, dtype=np.float32))


def surrogate_records(
    search: WindowSearch,
    *,
    info: Mapping[str, Any],
    test_metrics: Mapping[str, Any],
    config: training.TrainConfig,
    search_config: training.TrainConfig,
    n_pool: int,
    n_val: int,
    device: str,
    params: Mapping[str, Any],
    out_dir: str = "",
) -> pd.DataFrame:
    """The ``e_surrogate`` records: one row per rate x window combination.

    Columns: ``cell_id`` (the name of ``out_dir``, where :func:`load_surrogate` finds the
    arrays), ``params`` (the template's parameters: dataset, seed, arch, window, step, ...),
    ``rate, early_start, late_start, score`` (validation accuracy), ``best_early,
    best_late`` (the pair chosen at that rate), ``surrogate_epochs, surrogate_steps_run,
    surrogate_train_acc, surrogate_test_acc, surrogate_seconds, pretrained, n_pool, n_val,
    device``, and both recipes as ``surrogate_*`` and ``search_*`` columns.
    """
    t = search.table.copy()
    t["best_early"] = [search.best[r][0] for r in t["rate"]]
    t["best_late"] = [search.best[r][1] for r in t["rate"]]
    const = {
        "cell_id": Path(out_dir).name if out_dir else "",
        **params,
        "surrogate_epochs": info["epochs"],
        "surrogate_steps_run": info["steps"],
        "surrogate_train_acc": info["train_acc"],
        "surrogate_test_acc": test_metrics["acc"],
        "surrogate_seconds": info["seconds"],
        "pretrained": bool(info["pretrained"]),
        "n_pool": n_pool,
        "n_val": n_val,
        "device": resolve_device(device),
        **config.record("surrogate_"),
        **search_config.record("search_"),
    }
    return t.assign(**{k: v for k, v in const.items() if not isinstance(v, (list, dict))})


@dataclass
class Surrogate:
    """What ``e_coreset`` reads of one surrogate cell (:func:`load_surrogate`).

    Attributes
    ----------
    dynamics : Dynamics
    pool : ndarray, shape (n_pool,), int64
        Training-split indices; row i of ``dynamics`` is image ``pool[i]``.
    windows : dict
        ``{rate: (early_start, late_start)}`` chosen on validation.
    window : int
        Window length.
    record : Series
        One row of the cell's records (surrogate columns).
    embed : ndarray, shape (n_pool, d), optional
        The pool's reference-encoder embedding (``coverage_emb``); None when not saved.
    """

    dynamics: Dynamics
    pool: np.ndarray
    windows: dict[float, tuple[int, int]]
    window: int
    record: pd.Series
    embed: np.ndarray | None = None

    def windows_at(self, rate: float) -> tuple[int, int]:
        """The window pair chosen at ``rate``; an error names the searched rates."""
        for r, pair in self.windows.items():
            if math.isclose(r, rate):
                return pair
        raise ValueError(
            f"no window search at rate {rate} in the e_surrogate cell (searched: "
            f"{sorted(self.windows)}); add the rate to e_surrogate's rates"
        )


def load_surrogate(run_dir: str | Path, *, dataset: str, seed: int) -> Surrogate:
    """The recorded dynamics, pool and per-rate windows of the ``e_surrogate`` cell of (dataset, seed)."""
    recs = sweep.collect(run_dir, "e_surrogate", dataset=dataset, seed=seed)
    cell = Path(run_dir) / str(recs["cell_id"].iloc[0])
    best = recs.drop_duplicates("rate")
    with np.load(cell / POOL_FILE, allow_pickle=False) as z:
        pool = z["pool"].astype(np.int64)
    embed = None
    if (cell / EMBED_FILE).exists():
        with np.load(cell / EMBED_FILE, allow_pickle=False) as z:
            embed = z["embed"]
    return Surrogate(
        Dynamics.load(cell / DYNAMICS_FILE),
        pool,
        {float(r): (int(e), int(b)) for r, e, b in zip(best["rate"], best["best_early"], best["best_late"])},
        int(recs["window"].iloc[0]),
        recs.iloc[0],
        embed,
    )


def train_surrogate(
    train: data.Dataset,
    pool: np.ndarray,
    *,
    model: str = "resnet18",
    config: training.TrainConfig | None = None,
    device: str = "auto",
    seed: int = 0,
    mode: str = "train",
    dtype: str = "float32",
    progress: bool = False,
) -> tuple[Dynamics, dict[str, Any], Any]:
    """Train the surrogate on ``train.images[pool]`` while recording its dynamics.

    Returns
    -------
    dynamics : Dynamics
        Rows in pool order (row i is image ``pool[i]``), T = the epochs run.
    info : dict
        :func:`training.fit_model`'s info (epochs, steps, train_acc, seconds, pretrained).
    model : the trained torch module
    """
    config = config or training.TrainConfig()
    X, y = train.images[pool], train.labels[pool]
    T = math.ceil(config.total_steps(len(pool)) / math.ceil(len(pool) / config.batch_size))
    kw: dict[str, Any] = {"T": T, "mode": mode, "dtype": dtype}
    if mode == "eval":
        kw.update(X=X, y=y, batch_size=config.eval_batch_size)
    recorder = DynamicsRecorder(len(pool), **kw)
    fitted, info = training.fit_model(
        model, X, y, K=train.K, config=config, device=device, seed=seed, callbacks=[recorder], progress=progress
    )
    return recorder.dynamics(), info, fitted


# --------------------------------------------------------------------------- window search
def window_grid(T: int, *, window: int = 10, step: int = 10) -> list[tuple[int, int]]:
    """All (early_start, late_start) pairs on a ``step`` grid with non-overlapping windows.

    Starts are 0, step, 2 x step, ... with ``start + window <= T``; pairs have
    ``early_start + window <= late_start``; ordered by early then late start.
    """
    T, window, step = (check_int(v, name, low=1) for v, name in ((T, "T"), (window, "window"), (step, "step")))
    starts = range(0, T - window + 1, step)
    return [(e, late) for e in starts for late in starts if e + window <= late]


def window_search(
    S: Any,
    evaluate: Callable[[np.ndarray, int, int | None], float],
    *,
    rate: float,
    window: int = 10,
    step: int = 10,
    variant: str = "sum",
    single: bool = False,
) -> pd.DataFrame:
    """Score every EVA window pair (and single window) of ``S`` at one rate.

    Parameters
    ----------
    S : ndarray, shape (N, T), or Dynamics
    evaluate : callable
        ``evaluate(indices, early_start, late_start) -> float``: trains on the coreset
        ``indices`` (sorted, shape (M,)) and returns a **validation** score (higher is
        better). ``late_start`` is None for a single window.
    rate : float in (0, 1]
    window, step : int
        Window length and grid step (paper: 10 and 10).
    variant : {"sum", "released"}
        EVA variant (:func:`~xfactor_lib.coresets.scores.eva_scores`).
    single : bool
        Also score every single window (VAR-S), for the paper's Fig. 5.

    Returns
    -------
    DataFrame
        ``rate, early_start, late_start`` (Int64, missing for single windows), ``score``.
    """
    S = S.S if isinstance(S, Dynamics) else np.asarray(S, dtype=np.float64)
    rate = check_rate(rate)
    if not callable(evaluate):
        raise TypeError("evaluate must be a callable evaluate(indices, early_start, late_start) -> float")
    combos: list[tuple[int, int | None]] = list(window_grid(S.shape[1], window=window, step=step))
    if not combos:
        raise ValueError(
            f"no window pair fits in T={S.shape[1]} epochs with window={window}, step={step}; "
            "two windows need T >= step + window"
        )
    if single:
        combos = [(s, None) for s in range(0, S.shape[1] - window + 1, step)] + combos
    rows = []
    for early, late in combos:
        if late is None:
            sc = var_single(S, start=early, window=window)
        else:
            sc = eva_scores(S, early_start=early, late_start=late, window=window, variant=variant)
        rows.append((rate, early, late, float(evaluate(coresets.select_top(sc, rate), early, late))))
    frame = pd.DataFrame(rows, columns=["rate", "early_start", "late_start", "score"])
    frame["early_start"] = frame["early_start"].astype("Int64")
    frame["late_start"] = pd.array([pd.NA if v is None else v for v in frame["late_start"]], dtype="Int64")
    return frame


def best_window(frame: pd.DataFrame) -> tuple[int, int]:
    """The (early_start, late_start) of the best-scoring window **pair** (first on ties)."""
    check_frame(frame, ["early_start", "late_start", "score"], what="window table")
    dual = frame[frame["late_start"].notna() & frame["score"].notna()]
    if dual.empty:
        raise ValueError("the window table has no scored window pair")
    row = dual.loc[dual["score"].astype(float).idxmax()]
    return int(row["early_start"]), int(row["late_start"])


@dataclass
class WindowSearch:
    """Result of :func:`search_windows`.

    Attributes
    ----------
    table : DataFrame
        ``rate, early_start, late_start, score`` (validation accuracy), one row per
        rate x window combination.
    best : dict
        ``{rate: (early_start, late_start)}``: the best pair at each rate.
    """

    table: pd.DataFrame
    best: dict[float, tuple[int, int]]


def search_windows(
    dynamics: Dynamics,
    train: data.Dataset,
    pool: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    rates: Sequence[float],
    window: int = 10,
    step: int = 10,
    arch: str = "resnet18",
    config: training.TrainConfig | None = None,
    variant: str = "sum",
    device: str = "auto",
    seed: int = 0,
    single: bool = True,
) -> WindowSearch:
    """Window starts chosen **per rate** by validation accuracy (SPEC 3); never reads a test split.

    For each rate and each window combination, ``arch`` trains on the EVA coreset of the
    pool and is scored on ``(X_val, y_val)``.
    """

    def evaluate(idx: np.ndarray, early: int, late: int | None) -> float:
        return fit_and_score(train, pool[idx], X_val, y_val, arch=arch, config=config, device=device, seed=seed)["acc"]

    tables = [
        window_search(dynamics, evaluate, rate=r, window=window, step=step, variant=variant, single=single)
        for r in rates
    ]
    return WindowSearch(
        pd.concat(tables, ignore_index=True), {float(t["rate"].iloc[0]): best_window(t) for t in tables}
    )


# --------------------------------------------------------------------------- the whole stage
RECORDED_PARAMS = (
    "dataset", "seed", "arch", "scale", "window", "step", "eva_variant", "search_arch", "pool_size",
    "record_mode", "test_sample", "full_epochs", "encoder_epochs", "encoder_per_class",
)  # fmt: skip


@dataclass
class SurrogateRun:
    """What :func:`run_surrogate` returns: the stage's records and what its figures draw.

    Attributes
    ----------
    records : DataFrame
        :func:`surrogate_records` (one row per rate x window combination).
    dynamics : Dynamics
    windows : WindowSearch
    summary : str
        Three lines: pool and validation sizes, the surrogate's fit, the encoder's accuracy.
    """

    records: pd.DataFrame
    dynamics: Dynamics
    windows: WindowSearch
    summary: str


def run_surrogate(
    train: data.Dataset,
    test: data.Dataset,
    *,
    params: Mapping[str, Any],
    out_dir: str | Path = "",
    device: str = "auto",
    progress: bool = False,
) -> SurrogateRun:
    """The ``e_surrogate`` stage: carve, train with recording, embed, search windows, store.

    Parameters
    ----------
    train, test : Dataset
        The training split (the pool and the validation images are carved from it, or the
        validation images come from the data set's own val split) and the test split (the
        surrogate's test accuracy only; nothing is chosen on it).
    params : mapping
        The template's parameters (extra keys are ignored): ``dataset, seed, arch, pool_size, val_size,
        use_val_split, train_config, record_mode, window, step, rates, eva_variant,
        search_arch, search_config, full_epochs, test_sample, encoder_per_class,
        encoder_epochs, scale``; those in ``RECORDED_PARAMS`` land in every record.
    out_dir : path, optional
        The cell's folder: the arrays (:func:`save_surrogate`), the cached encoder and the
        records' ``cell_id`` come from it; empty writes nothing.

    Returns
    -------
    SurrogateRun
    """
    p = dict(params)
    seed = int(p["seed"])
    pool, val_idx, X_val, y_val = carve(
        train,
        dataset=p["dataset"],
        use_val_split=bool(p.get("use_val_split", False)),
        pool_size=p["pool_size"],
        val_size=p["val_size"],
        seed=seed,
    )
    config = training.TrainConfig.from_dict(p["train_config"])
    search = coreset_config(p["search_config"], n_pool=len(pool), full_epochs=p["full_epochs"])
    dyn, info, fitted = train_surrogate(
        train, pool, model=p["arch"], config=config, device=device, seed=seed, mode=p["record_mode"], progress=progress
    )
    test_metrics = training.evaluate(fitted, test.images, test.labels, K=train.K, device=device)
    E, enc = pool_embedding(
        train,
        pool,
        out_dir=out_dir,
        per_class=p["encoder_per_class"],
        epochs=p["encoder_epochs"],
        seed=seed,
        device=device,
    )
    if out_dir:
        save_surrogate(out_dir, dyn, pool, val_idx, embed=E)
    windows = search_windows(
        dyn,
        train,
        pool,
        X_val,
        y_val,
        rates=p["rates"],
        window=p["window"],
        step=p["step"],
        arch=p["search_arch"],
        config=search,
        variant=p["eva_variant"],
        device=device,
        seed=seed,
    )
    recorded = {k: p[k] for k in RECORDED_PARAMS}
    recs = surrogate_records(
        windows,
        info=info,
        test_metrics=test_metrics,
        config=config,
        search_config=search,
        n_pool=len(pool),
        n_val=len(y_val),
        device=device,
        out_dir=str(out_dir),
        params={**recorded, "encoder_heldout_acc": enc.heldout_acc},
    )
    summary = "\n".join(
        [
            f"pool {len(pool)} images, validation {len(y_val)}, surrogate {p['arch']}, "
            f"search coresets {search.steps} steps",
            f"surrogate: {info['epochs']} epochs, train acc {info['train_acc']:.3f}, "
            f"test acc {test_metrics['acc']:.4f}; best windows on validation: {windows.best}",
            f"reference encoder: {enc.n_train} pool images, {enc.epochs} epochs, held-out acc {enc.heldout_acc:.3f}",
        ]
    )
    return SurrogateRun(recs, dyn, windows, summary)

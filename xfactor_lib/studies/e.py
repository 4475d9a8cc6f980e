"""Study E (SPEC 3): EVA coreset selection, from the surrogate run to the verdict.

The two templates call, in order:

``e_surrogate`` (one cell per data set x surrogate seed)
    :func:`split_pool` carves the surrogate's *pool* and a *validation* set from the
    training split (nothing is ever chosen on the test split); :func:`train_surrogate`
    trains on the pool with a :class:`~xfactor_lib.dynamics.DynamicsRecorder`;
    :func:`search_windows` scores every EVA window pair **per rate** by the validation
    accuracy of a model trained on the coreset it selects; :func:`pool_embedding` embeds
    the pool with study Q's reference encoder (trained on the pool only, for the
    training-free ``coverage_emb``); :func:`save_surrogate` and :func:`surrogate_records`
    write what the next stage reads.
``e_coreset`` (one cell per data set x method, or finer at paper scale)
    :func:`load_surrogate` reads the recorded dynamics, pool and chosen windows;
    :func:`coreset_config` gives every coreset the full-pool run's optimizer-step budget;
    :func:`evaluate_coresets` trains on each (method, rate, seed) coreset and scores it on
    the test split; ``method="full"`` is the reference, trained once per seed. The
    training-free methods (``coverage``, ``coverage_emb``, ``coverage_clean``, ``a_max``,
    ``k_center``) read the pool's images, labels and embedding, not the dynamics.

The summary calls :func:`coreset_summary`, :func:`window_summary` and :func:`verdict`
(kept in :mod:`xfactor_lib.studies.e_summary`, re-exported here, so each file stays short;
likewise the surrogate's storage in :mod:`xfactor_lib.studies.e_store`, the validation
searches in :mod:`xfactor_lib.studies.e_search` and the paired comparisons behind the
verdict in :mod:`xfactor_lib.studies.e_compare`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import coresets, data, training
from .._validation import check_frame, check_int, check_rate, resolve_device
from ..coreset_scores import eva_scores, var_single
from ..dynamics import Dynamics, DynamicsRecorder
from .e_compare import FAMILIES, add_family, claims, family_of, paired_differences
from .e_search import (
    SEARCH_SEED_OFFSET,
    BetaSearch,
    Searches,
    run_searches,
    search_betas,
    search_columns,
    search_seed,
)
from .e_store import (
    Surrogate,
    load_surrogate,
    pool_embedding,
    save_surrogate,
    surrogate_records,
)
from .e_summary import (
    PAPER_ANCHORS,
    TRAINING_FREE,
    beats_random,
    best_methods,
    coreset_summary,
    verdict,
    window_summary,
)

__all__ = [
    "PAPER_ANCHORS",
    "split_pool",
    "carve",
    "step_budget",
    "coreset_config",
    "train_surrogate",
    "window_grid",
    "window_search",
    "best_window",
    "WindowSearch",
    "search_windows",
    "SEARCH_SEED_OFFSET",
    "search_seed",
    "search_betas",
    "BetaSearch",
    "run_searches",
    "Searches",
    "search_columns",
    "pool_embedding",
    "save_surrogate",
    "surrogate_records",
    "Surrogate",
    "load_surrogate",
    "evaluate_coresets",
    "coreset_summary",
    "window_summary",
    "beats_random",
    "best_methods",
    "TRAINING_FREE",
    "FAMILIES",
    "family_of",
    "add_family",
    "paired_differences",
    "claims",
    "verdict",
]


# --------------------------------------------------------------------------- pool and recipe
def split_pool(
    train: data.Dataset, *, pool_size: int = 0, val_size: int = 0, seed: int = 0, val: data.Dataset | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Indices of the surrogate pool and of the validation images within ``train``.

    Parameters
    ----------
    train : Dataset
    pool_size : int
        Images in the pool, class-balanced (0: every training image not used for validation).
    val_size : int
        Validation images carved from ``train`` (class-balanced), disjoint from the pool;
        0 when ``val`` (a separate split) is given.
    seed : int
    val : Dataset, optional
        A separate validation split (MedMNIST's own); then the validation indices are None.

    Returns
    -------
    pool : ndarray, shape (n_pool,), int64, sorted
    val_idx : ndarray, shape (val_size,), int64, sorted, or None
    """
    pool_size, val_size = check_int(pool_size, "pool_size"), check_int(val_size, "val_size")
    if val is None and val_size == 0:
        raise ValueError(
            "give val_size > 0 (carved from train) or a separate val split: "
            "window starts must be chosen on validation data, never on the test split"
        )
    rest, val_idx = np.arange(train.N), None
    if val is None:
        rest, val_idx = data.train_val_split(train.labels, val_size, seed=seed)
    if pool_size and pool_size < len(rest):
        rest = rest[data.balanced_sample(train.labels[rest], pool_size, seed=seed + 1)]
    return np.sort(rest).astype(np.int64), val_idx


def carve(
    train: data.Dataset, *, dataset: str, use_val_split: bool, pool_size: int, val_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """The surrogate's pool and the validation images the window search scores on.

    Parameters
    ----------
    train : Dataset
        The training split of ``dataset``.
    dataset : str
        Its name (to load its own validation split when ``use_val_split``).
    use_val_split : bool
        Validate on the dataset's own ``val`` split (MedMNIST); else carve ``val_size``
        class-balanced images from ``train``, disjoint from the pool.
    pool_size, val_size, seed
        As :func:`split_pool` (``val_size`` is ignored with ``use_val_split``).

    Returns
    -------
    pool : ndarray, shape (n_pool,), int64
    val_idx : ndarray, shape (val_size,), int64, or None (own split)
    X_val : ndarray, shape (n_val, C, H, W), uint8
    y_val : ndarray, shape (n_val,), int64
    """
    val = data.load_dataset(dataset, "val") if use_val_split else None
    pool, val_idx = split_pool(train, pool_size=pool_size, val_size=0 if val else val_size, seed=seed, val=val)
    if val is not None:
        return pool, None, val.images, val.labels
    return pool, val_idx, train.images[val_idx], train.labels[val_idx]


def step_budget(n_pool: int, *, epochs: int, batch_size: int) -> int:
    """Optimizer steps of the full-pool run: ``epochs x ceil(n_pool / batch_size)``."""
    return check_int(epochs, "epochs", low=1) * math.ceil(check_int(n_pool, "n_pool", low=1) / batch_size)


def coreset_config(train_config: Mapping[str, Any], *, n_pool: int, full_epochs: int) -> training.TrainConfig:
    """The coreset recipe: ``train_config`` with the full-pool run's step budget (SPEC 3).

    Every coreset, whatever its size, then trains for the same number of optimizer steps
    as ``full_epochs`` epochs on the whole pool (CCS's ``--iterations``), the schedule laid
    over those steps. ``full_epochs=0`` keeps ``train_config`` as given.
    """
    config = training.TrainConfig.from_dict(dict(train_config))
    if full_epochs:
        config = config.with_steps(step_budget(n_pool, epochs=full_epochs, batch_size=config.batch_size))
    return config


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


def _fit_and_score(
    train: data.Dataset,
    idx: np.ndarray,
    X_eval: np.ndarray,
    y_eval: np.ndarray,
    *,
    arch: str,
    config: training.TrainConfig | None,
    device: str,
    seed: int,
) -> dict[str, Any]:
    fitted, info = training.fit_model(
        arch, train.images[idx], train.labels[idx], K=train.K, config=config, device=device, seed=seed
    )
    out = training.evaluate(fitted, X_eval, y_eval, K=train.K, device=device)
    return {**out, **training.fit_columns(info, config, model=arch)}


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
        EVA variant (:func:`~xfactor_lib.coreset_scores.eva_scores`).
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
        return _fit_and_score(train, pool[idx], X_val, y_val, arch=arch, config=config, device=device, seed=seed)["acc"]

    tables = [
        window_search(dynamics, evaluate, rate=r, window=window, step=step, variant=variant, single=single)
        for r in rates
    ]
    return WindowSearch(
        pd.concat(tables, ignore_index=True), {float(t["rate"].iloc[0]): best_window(t) for t in tables}
    )


# --------------------------------------------------------------------------- coresets
def evaluate_coresets(
    surrogate: Surrogate,
    train: data.Dataset,
    test: data.Dataset,
    *,
    methods: Sequence[str],
    rates: Sequence[float],
    seeds: Sequence[int],
    arch: str,
    config: training.TrainConfig | None = None,
    eva_variant: str = "sum",
    el2n_epoch: int = 20,
    device: str = "auto",
    quiet: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Test metrics of ``arch`` trained on each (method, rate, seed) coreset of the pool.

    ``method="full"`` trains on the whole pool once per seed (``rate`` 1.0), whatever the
    rates. The coreset of a seed-dependent method (random, random_balanced, CCS, k-center) is
    drawn with the training seed. Window methods use the windows chosen at their rate, CCS
    the beta chosen at its rate (the others record none). Training-free methods read the
    pool's images and labels (``coverage_emb`` also ``surrogate.embed``). With a step
    budget in ``config`` every coreset and the full run take the same number of
    optimizer steps.

    Returns
    -------
    DataFrame
        One row per (method, rate, seed): ``extra``, ``method, rate, seed, arch, n_pool,
        n_coreset, early_start, late_start, window, eva_variant, beta`` (CCS's cutoff; NaN
        for the others), ``search_seed`` (of the validation searches), ``n_test, device,
        select_seconds`` (time to choose the coreset), the test metrics,
        :func:`training.fit_columns`.
    """
    from tqdm.auto import tqdm

    pool, dyn = surrogate.pool, surrogate.dynamics
    inputs = {"X": train.images[pool], "y": train.labels[pool], "dynamics": dyn, "embed": surrogate.embed}
    jobs = [(m, r, s) for m in methods for s in seeds for r in ((1.0,) if m == "full" else rates)]
    rows = []
    for method, rate, seed in tqdm(jobs, desc=f"coresets ({arch})", disable=quiet, leave=False):
        windowed = method in coresets.WINDOW_METHODS  # the others need no window search at this rate
        early, late = surrogate.windows_at(rate) if windowed else (pd.NA, pd.NA)
        opts: dict[str, Any] = {"el2n": {"epoch": el2n_epoch}, "eva": {"variant": eva_variant}}.get(method, {})
        beta = np.nan
        if method == "ccs":  # the cutoff chosen on validation at this rate (issue 20), else the default rule
            beta = surrogate.beta_at(rate)
            opts["beta"] = beta = coresets.ccs_default_beta(rate) if beta is None else beta
        for key in coresets.WINDOW_METHODS.get(method, ()):
            opts[key] = {"early_start": early, "late_start": late, "start": early, "window": surrogate.window}[key]
        start = time.perf_counter()
        idx = (
            np.arange(len(pool))
            if method == "full"
            else coresets.select(method, rate=rate, seed=seed, **inputs, **opts)
        )
        took = time.perf_counter() - start
        res = _fit_and_score(
            train, pool[idx], test.images, test.labels, arch=arch, config=config, device=device, seed=seed
        )
        rows.append(
            {
                **(extra or {}),
                "method": method,
                "rate": float(rate),
                "seed": int(seed),
                "arch": arch,
                "n_pool": len(pool),
                "n_coreset": len(idx),
                "early_start": early,
                "late_start": late,
                "window": surrogate.window,
                "eva_variant": eva_variant,
                "beta": beta,
                "search_seed": surrogate.record.get("search_seed", pd.NA),
                "n_test": len(test.labels),
                "device": resolve_device(device),
                "select_seconds": took,
                **res,
            }
        )
    out = pd.DataFrame(rows)
    for col in ("early_start", "late_start"):
        out[col] = out[col].astype("Int64")
    return out

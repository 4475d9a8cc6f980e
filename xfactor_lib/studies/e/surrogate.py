"""Study E, stage ``e_surrogate``: train the surrogate while recording its dynamics, search
the EVA windows per rate on validation, embed the pool, and store what ``e_coreset`` reads.

:func:`run_surrogate` is the whole stage (what the template calls); the pieces are
:func:`train_surrogate`, :func:`search_windows` (never reads a test split),
:func:`pool_embedding`, :func:`save_surrogate` / :func:`load_surrogate` and
:func:`surrogate_records`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ... import data, records, sweep, training
from ..._validation import resolve_device
from ...dynamics import Dynamics, DynamicsRecorder
from ...quality import encoder
from .recipe import carve, coreset_config
from .search import Searches, WindowSearch, run_searches, search_columns

__all__ = [
    "DYNAMICS_FILE",
    "POOL_FILE",
    "EMBED_FILE",
    "SurrogateRun",
    "run_surrogate",
    "train_surrogate",
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
    betas : dict
        ``{rate: beta}``: CCS's cutoff chosen on validation (empty for cells run before it was searched).
    """

    dynamics: Dynamics
    pool: np.ndarray
    windows: dict[float, tuple[int, int]]
    window: int
    record: pd.Series
    embed: np.ndarray | None = None
    betas: dict[float, float] = field(default_factory=dict)

    def beta_at(self, rate: float) -> float | None:
        """CCS's cutoff chosen on validation at ``rate``; None when it was not searched."""
        return next((b for r, b in self.betas.items() if math.isclose(r, rate)), None)

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
        {float(r): float(b) for r, b in zip(best["rate"], best["best_beta"])} if "best_beta" in best else {},
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
    searches : Searches
        Both validation searches (EVA's windows, CCS's beta) and their seed.
    summary : str
        Three lines: pool and validation sizes, the surrogate's fit, the encoder's accuracy.
    """

    records: pd.DataFrame
    dynamics: Dynamics
    windows: WindowSearch
    searches: Searches
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
    searches = run_searches(
        dyn, train, pool, X_val, y_val, rates=p["rates"], window=p["window"], step=p["step"], arch=p["search_arch"],
        config=search, variant=p["eva_variant"], device=device, seed=seed,
    )  # fmt: skip
    windows = searches.windows
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
    recs = search_columns(recs, searches)
    summary = "\n".join(
        [
            f"pool {len(pool)} images, validation {len(y_val)}, surrogate {p['arch']}, "
            f"search coresets {search.steps} steps",
            f"surrogate: {info['epochs']} epochs, train acc {info['train_acc']:.3f}, "
            f"test acc {test_metrics['acc']:.4f}; on validation (candidates seeded {searches.seed}): "
            f"windows {windows.best}, CCS beta {searches.betas.best}",
            f"reference encoder: {enc.n_train} pool images, {enc.epochs} epochs, held-out acc {enc.heldout_acc:.3f}",
        ]
    )
    return SurrogateRun(recs, dyn, windows, searches, summary)

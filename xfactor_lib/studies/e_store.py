"""Study E: what the ``e_surrogate`` stage stores and the ``e_coreset`` stage reads.

Split from :mod:`xfactor_lib.studies.e` (which re-exports every name here): the pool's
reference-encoder embedding (:func:`pool_embedding`), the surrogate's arrays
(:func:`save_surrogate`, :func:`load_surrogate`, :class:`Surrogate`) and its records
(:func:`surrogate_records`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd

from .. import data, encoder, records, sweep, training
from .._validation import resolve_device
from ..dynamics import Dynamics

if TYPE_CHECKING:
    from .e import WindowSearch

__all__ = [
    "DYNAMICS_FILE",
    "POOL_FILE",
    "EMBED_FILE",
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
    arrays), ``params`` (the template's parameters: dataset, seed, model, window, step, ...),
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

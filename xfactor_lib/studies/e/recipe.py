"""Study E's recipe, shared by both stages: the pool / validation carving, the coreset step
budget and one fit-and-score call.

The bottom of :mod:`xfactor_lib.studies.e`: :mod:`.surrogate` and :mod:`.coreset` import it,
it imports neither.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from ... import data, training
from ..._validation import check_int

__all__ = ["split_pool", "carve", "step_budget", "coreset_config", "fit_and_score"]


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


def fit_and_score(
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

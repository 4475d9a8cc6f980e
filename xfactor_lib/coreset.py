"""Study E pipeline: surrogate run, window search on validation, coreset evaluation.

The pieces (recorder, scores, baselines) live in :mod:`eva` and :mod:`baselines`; this
module strings them together on a :class:`~xfactor_lib.data.Dataset`, so the template
notebooks are a few calls each.

- :func:`split_pool` carves the surrogate's training *pool* and a *validation* set from
  the training split (MNIST and digits have no validation split; MedMNIST's own ``val``
  split is used when ``val_split=True``). Nothing is chosen on the test split.
- :func:`train_surrogate` trains one model on the pool with a
  :class:`~xfactor_lib.eva.DynamicsRecorder` and returns the recorded dynamics.
- :func:`search_windows` scores every EVA window combination by the validation accuracy
  of a model trained on the coreset it selects.
- :func:`evaluate_coresets` trains ``arch`` on every (method, rate, seed) coreset and
  scores it on the test split; ``method="full"`` is the full-pool reference.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import baselines, data, eva, training

#: Window options each method takes from the chosen windows.
_WINDOW_OPTS = {
    "eva": ("early_start", "late_start", "window"),
    "var_d": ("early_start", "late_start", "window"),
    "exp_d": ("early_start", "late_start", "window"),
    "var_s": ("start", "window"),
    "exp_s": ("start", "window"),
}


def split_pool(train: data.Dataset, *, pool_size: int = 0, val_size: int = 0, seed: int = 0,
               val: data.Dataset | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Indices of the surrogate pool and of the validation images within ``train``.

    Parameters
    ----------
    train : Dataset
    pool_size : int
        Images in the pool, class-balanced (0 = every training image not used for
        validation).
    val_size : int
        Validation images carved from ``train`` (class-balanced), disjoint from the
        pool; 0 when ``val`` (a separate split) is given.
    seed : int
    val : Dataset, optional
        A separate validation split; then the returned validation indices are None.

    Returns
    -------
    pool : ndarray (int64, sorted)
    val_idx : ndarray (int64, sorted) or None
    """
    if val is None and val_size <= 0:
        raise ValueError("give val_size > 0 (carved from train) or a separate val split: "
                         "window starts must be chosen on validation data, never on the test split")
    rest = np.arange(train.N)
    val_idx = None
    if val is None:
        rest, val_idx = data.train_val_split(train.labels, int(val_size), seed=seed)
    if pool_size and pool_size < len(rest):
        rest = rest[data.balanced_sample(train.labels[rest], int(pool_size), seed=seed + 1)]
    return np.sort(rest).astype(np.int64), val_idx


def train_surrogate(train: data.Dataset, pool: np.ndarray, *, model: str = "resnet18",
                    config: training.TrainConfig | None = None, device: str = "auto", seed: int = 0,
                    mode: str = "train", dtype: str = "float32", progress: bool = False
                    ) -> tuple[eva.Dynamics, dict[str, Any], Any]:
    """Train the surrogate on ``train.images[pool]`` while recording its dynamics.

    Returns
    -------
    dynamics : eva.Dynamics
        Rows in pool order (row i is image ``pool[i]``).
    info : dict
        ``fit_model``'s info (epochs, train_acc, seconds, pretrained).
    model : the trained torch module
    """
    X, y = train.images[pool], train.labels[pool]
    T = (config or training.TrainConfig()).max_epochs
    kw: dict[str, Any] = {"T": T, "mode": mode, "dtype": dtype}
    if mode == "eval":
        kw.update(X=X, y=y, batch_size=(config or training.TrainConfig()).eval_batch_size)
    recorder = eva.DynamicsRecorder(len(pool), **kw)
    fitted, info = training.fit_model(model, X, y, K=train.K, config=config, device=device, seed=seed,
                                      callbacks=[recorder], progress=progress)
    return recorder.dynamics(), info, fitted


def _train_and_score(train: data.Dataset, idx: np.ndarray, X_eval: np.ndarray, y_eval: np.ndarray, *,
                     arch: str, config, device: str, seed: int) -> dict[str, Any]:
    fitted, info = training.fit_model(arch, train.images[idx], train.labels[idx], K=train.K, config=config,
                                      device=device, seed=seed)
    out = training.evaluate(fitted, X_eval, y_eval, K=train.K, device=device)
    out.update(epochs=info["epochs"], train_acc=info["train_acc"], seconds=info["seconds"],
               pretrained=bool(info["pretrained"]), threads=training.cpu_threads())
    return out


def search_windows(dynamics: eva.Dynamics, train: data.Dataset, pool: np.ndarray,
                   X_val: np.ndarray, y_val: np.ndarray, *, rate: float, window: int = 10, step: int = 10,
                   arch: str = "resnet18", config: training.TrainConfig | None = None,
                   device: str = "auto", seed: int = 0, single: bool = True) -> pd.DataFrame:
    """Validation accuracy of the EVA coreset of every window combination.

    Single windows (VAR-S, ``late_start`` missing) are scored too when ``single``, for
    the paper's window-combination curves (Fig. 5).

    Returns
    -------
    DataFrame
        ``early_start, late_start, score`` (validation accuracy), ``attrs["best"]`` the best
        dual window.
    """
    def evaluate(idx: np.ndarray, early: int, late: int | None) -> float:
        return _train_and_score(train, pool[idx], X_val, y_val, arch=arch, config=config, device=device,
                                seed=seed)["acc"]

    frame = eva.window_search(dynamics.S, evaluate, rate=rate, window=window, step=step, single=single)
    dual = frame[frame["late_start"].notna()]
    frame.attrs["best"] = eva.best_window(dual)
    return frame


def method_options(method: str, *, early_start: int, late_start: int, window: int,
                   el2n_epoch: int | None = None) -> dict[str, Any]:
    """The options :func:`baselines.select` takes for ``method`` from the chosen windows.

    Single-window ablations (VAR-S, EXP-S) use the early window.
    """
    opts: dict[str, Any] = {}
    for key in _WINDOW_OPTS.get(method, ()):
        opts[key] = {"early_start": early_start, "late_start": late_start, "window": window,
                     "start": early_start}[key]
    if method == "el2n" and el2n_epoch is not None:
        opts["epoch"] = el2n_epoch
    return opts


def evaluate_coresets(dynamics: eva.Dynamics, train: data.Dataset, pool: np.ndarray, test: data.Dataset, *,
                      methods: Sequence[str], rates: Sequence[float], seeds: Sequence[int], arch: str,
                      early_start: int, late_start: int, window: int, config: training.TrainConfig | None = None,
                      el2n_epoch: int | None = None, device: str = "auto", test_indices: np.ndarray | None = None,
                      quiet: bool = False, extra: dict[str, Any] | None = None) -> pd.DataFrame:
    """Test metrics of ``arch`` trained on each (method, rate, seed) coreset of the pool.

    ``method="full"`` trains on the whole pool (``rate`` recorded as 1.0, once per seed).
    The coreset of a seed-dependent method (random, CCS) is drawn with the training seed.

    Returns
    -------
    DataFrame
        One row per (method, rate, seed): ``method, rate, seed, arch, n_coreset,
        early_start, late_start, window``, the test metrics, ``epochs, seconds``.
    """
    from tqdm.auto import tqdm

    Xte, yte = test.images, test.labels
    if test_indices is not None:
        Xte, yte = Xte[np.asarray(test_indices)], yte[np.asarray(test_indices)]
    jobs = [(m, (1.0,) if m == "full" else tuple(rates), s) for m in methods for s in seeds]
    total = sum(len(r) for _, r, _ in jobs)
    rows = []
    with tqdm(total=total, desc=f"coresets ({arch})", disable=quiet, leave=False) as bar:
        for method, rs, seed in jobs:
            for rate in rs:
                if method == "full":
                    idx = np.arange(len(pool))
                else:
                    opts = method_options(method, early_start=early_start, late_start=late_start, window=window,
                                          el2n_epoch=el2n_epoch)
                    idx = baselines.select(method, dynamics, rate, seed=seed, **opts)
                res = _train_and_score(train, pool[idx], Xte, yte, arch=arch, config=config, device=device,
                                       seed=seed)
                rows.append({**(extra or {}), "method": method, "rate": float(rate), "seed": int(seed),
                             "arch": arch, "n_pool": len(pool), "n_coreset": len(idx),
                             "early_start": early_start, "late_start": late_start, "window": window,
                             "n_test": len(yte), **res})
                bar.update(1)
    return pd.DataFrame(rows)

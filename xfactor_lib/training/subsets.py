"""Train one model on every subset of a manifest: one by one, or stacked (:mod:`.stacked`).

:func:`fit_subsets` is what studies X and A call (through ``training.fit_subsets``). Subsets
of equal size that train the same batchable net run as stacks of G members
(``batch_models``); scikit-learn models fit several subsets at once in worker processes
(``n_jobs``, joblib) when the process has cores to spare; everything else trains one
subset after another with :func:`training.fit_model`. Either way each subset gets one
record, in manifest order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validation
from ..models import is_torch_model, make_model
from . import stacked
from .config import TrainConfig, check_images4, check_xy, cpu_threads, fit_columns, images_on, torch_device
from .fit import classification_metrics, evaluate, fit_model

__all__ = ["PARALLEL_SKLEARN", "RECORD_KEYS", "fit_subsets"]


#: Manifest columns copied into every record (list columns are left out).
RECORD_KEYS = (
    "subset_id",
    "study",
    "dataset",
    "n",
    "size",
    "kind",
    "strategy",
    "direction",
    "m",
    "repeat",
    "seed",
    "cb_bin",
    "cb_1",
)


def fit_subsets(
    manifest,
    train,
    test,
    *,
    model: str,
    config: TrainConfig | None = None,
    device: str = "auto",
    seed: int = 0,
    test_indices: np.ndarray | None = None,
    pretrained: bool | str = "auto",
    width: int = 512,
    quiet: bool = False,
    extra: dict[str, Any] | None = None,
    row_hook=None,
    batch_models: int | str = "auto",
    amp: bool = False,
    n_jobs: int | str = "auto",
):
    """Train ``model`` on every subset of a manifest and score it on the test split.

    Parameters
    ----------
    manifest : DataFrame
        One row per subset with an ``indices`` column (into ``train``).
    train, test : Dataset
    model : str
        A name of :mod:`xfactor_lib.models`.
    config : TrainConfig
        Neural-net protocol (ignored by scikit-learn models).
    seed : int
        Training seed (weights, batch order, random forest).
    test_indices : ndarray, optional
        Evaluate on these test images only (quick scale); default the whole test split.
    extra : dict, optional
        Constant columns added to every record (``scale``, ...).
    row_hook : callable, optional
        ``row_hook(X, y) -> dict`` of more columns per subset (e.g. ``diversity.subset_features``).
    batch_models : int or "auto"
        Subsets of equal size train as stacks of this many members
        (:mod:`xfactor_lib.training.stacked`; 1: one by one). ``"auto"``: by free memory on CUDA,
        one by one on CPU (where stacks never paid); 1 for scikit-learn and dropout nets.
    amp : bool
        bf16 autocast for stacked nets on CUDA (recorded; no effect on CPU).
    n_jobs : int or "auto"
        Worker processes fitting scikit-learn models on different subsets at once (joblib;
        results are identical to one process). ``"auto"``: for ``rf`` and ``svc``, the
        process's CPU threads (:func:`training.cpu_threads`: 1 in a sweep cell that shares
        the machine with other cells, all cores in a notebook) when there are at least
        two subsets per worker; 1 for ``gnb`` (a fit costs less than a process) and for
        neural nets, which use their threads inside each step.

    Returns
    -------
    DataFrame
        One record per subset, in manifest order: the manifest's parameter columns,
        ``model``, ``train_seed``, the metrics of :func:`classification_metrics`,
        :func:`fit_columns` (what training did and, for nets, the protocol), ``n_train,
        n_test``, ``batch_models`` (the option as given), ``stack_size`` (members trained
        together; a stacked member's ``seconds`` is its stack's time divided by that),
        ``amp`` and ``jobs`` (processes that fitted scikit-learn models; 1 for nets).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    if "indices" not in manifest.columns:
        raise ValueError("the manifest needs an 'indices' column (one array of training indices per subset)")
    if len(manifest) == 0:
        raise ValueError("the manifest is empty: no subsets to train on")
    Xte, yte = test.images, test.labels
    if test_indices is not None:
        Xte, yte = Xte[np.asarray(test_indices)], yte[np.asarray(test_indices)]
    subs = [_validation.check_indices(i, f"indices of manifest row {r}") for r, i in enumerate(manifest["indices"])]
    dev = torch_device(device) if is_torch_model(model) else "cpu"
    need = 0
    if str(dev).startswith("cuda") and batch_models == "auto" and stacked.batchable(model):
        C, H, W = train.images.shape[1:]
        probe, _ = make_model(model, C=C, H=H, W=W, K=train.K, width=width, pretrained=False)
        need = stacked.member_bytes(probe, C=C, H=H, W=W, batch_size=(config or TrainConfig()).batch_size)
    G = stacked.stack_size(batch_models, model=model, members=len(subs), device=dev, member_bytes=need)
    jobs = _jobs(n_jobs, model=model, members=len(subs))
    common = dict(extra=extra or {}, config=config, seed=seed, batch_models=str(batch_models), amp=bool(amp), jobs=jobs)
    rows: dict[int, dict[str, Any]] = {}
    bar = tqdm(total=len(subs), desc=f"{model} subsets", disable=quiet, leave=False)
    if G > 1:
        import torch

        split = (
            images_on(check_images4(train.images), dev),
            torch.from_numpy(check_xy(train.images, train.labels, train.K)).to(dev),
        )  # on the device once, uint8
        for stack in _equal_size_stacks(subs, G):
            rows.update(
                _fit_stacked(
                    stack,
                    subs,
                    manifest,
                    split,
                    train.K,
                    Xte,
                    yte,
                    model=model,
                    dev=dev,
                    width=width,
                    pretrained=pretrained,
                    **common,
                )
            )
            bar.update(len(stack))
    elif jobs > 1:
        from joblib import Parallel, delayed

        Xte4 = check_images4(Xte)
        tasks = (
            delayed(_fit_one)(model, train.images[idx], train.labels[idx], Xte4, yte, K=train.K, seed=seed)
            for idx in subs
        )
        for pos, (metrics, info) in enumerate(Parallel(n_jobs=jobs, return_as="generator")(tasks)):
            rows[pos] = _record(
                manifest.iloc[pos], metrics, info, model=model, n_train=len(subs[pos]), n_test=len(yte),
                stack_size=1, **common,
            )  # fmt: skip
            bar.update(1)
    else:
        for pos, idx in enumerate(subs):
            fitted, info = fit_model(
                model,
                train.images[idx],
                train.labels[idx],
                K=train.K,
                config=config,
                device=device,
                seed=seed,
                pretrained=pretrained,
                width=width,
            )
            metrics = evaluate(fitted, Xte, yte, K=train.K, device=device)
            rows[pos] = _record(
                manifest.iloc[pos],
                metrics,
                info,
                model=model,
                n_train=len(idx),
                n_test=len(yte),
                stack_size=1,
                **common,
            )
            bar.update(1)
    bar.close()
    if row_hook is not None:
        for pos, idx in enumerate(subs):
            rows[pos].update(row_hook(train.images[idx], train.labels[idx]))
    return pd.DataFrame([rows[pos] for pos in range(len(subs))])


#: scikit-learn models whose fits are worth a worker process each (GNB fits in milliseconds).
PARALLEL_SKLEARN = ("rf", "svc")


def _jobs(n_jobs: int | str, *, model: str, members: int) -> int:
    """Worker processes for scikit-learn fits (see ``fit_subsets``' ``n_jobs``)."""

    n_jobs = _validation.auto_or_int(n_jobs, "n_jobs")
    if n_jobs == "auto":
        if str(model).lower() not in PARALLEL_SKLEARN:
            return 1
        return max(1, min(cpu_threads(), members // 2))
    jobs = int(n_jobs)
    if jobs > 1 and is_torch_model(model):
        raise ValueError(
            f"n_jobs={jobs} applies to scikit-learn models; {model!r} is a neural net "
            "(use batch_models to train several at once, or n_jobs=1)"
        )
    return min(jobs, members)


def _fit_one(model: str, X: np.ndarray, y: np.ndarray, Xte: np.ndarray, yte: np.ndarray, *, K: int, seed: int):
    """Fit a scikit-learn ``model`` on one subset and score it (a joblib task): ``(metrics, info)``."""
    fitted, info = fit_model(model, X, y, K=K, seed=seed)
    return evaluate(fitted, Xte, yte, K=K), info


def _equal_size_stacks(subs: list[np.ndarray], G: int) -> list[list[int]]:
    """Manifest positions grouped by subset size, in chunks of at most ``G`` (manifest order within a size)."""
    by_size: dict[int, list[int]] = {}
    for pos, idx in enumerate(subs):
        by_size.setdefault(len(idx), []).append(pos)
    return [p[i : i + G] for p in by_size.values() for i in range(0, len(p), G)]


def _record(sub, metrics, info, *, model, n_train, n_test, extra, config, seed, batch_models, amp, jobs, stack_size):
    """One fit_subsets row."""
    rec = {k: sub[k] for k in RECORD_KEYS if k in sub.index}
    rec.update(extra)
    rec.update(model=model, train_seed=seed, **metrics, **fit_columns(info, config, model=model))
    rec.update(n_train=n_train, n_test=n_test, batch_models=batch_models, stack_size=stack_size, amp=amp, jobs=jobs)
    return rec


def _fit_stacked(members, subs, manifest, split, K, Xte, yte, *, model, dev, width, pretrained, **common):
    """Train the subsets at manifest positions ``members`` (equal sizes) as one stack; their rows by position.

    ``split`` is the training split on the device: ``(images (N, C, H, W) uint8, labels (N,) int64)``.
    """
    import torch

    idx = torch.from_numpy(np.stack([subs[p] for p in members])).to(dev)
    if len(idx[0]) == 0:
        raise ValueError("cannot train on an empty subset")
    stack, _, infos = stacked.fit_members(
        model,
        *split,
        idx,
        K=K,
        config=common["config"] or TrainConfig(),
        seeds=[common["seed"]] * len(members),
        device=dev,
        pretrained=pretrained,
        width=width,
        amp=common["amp"],
    )
    probs = stacked.predict_proba_stack(stack, check_images4(Xte), amp=common["amp"])
    yte = check_xy(Xte, yte, K)
    out = {}
    for g, p in enumerate(members):
        metrics = classification_metrics(yte, probs[g], K=K)
        out[p] = _record(
            manifest.iloc[p],
            metrics,
            infos[g],
            model=model,
            n_train=len(subs[p]),
            n_test=len(yte),
            stack_size=len(members),
            **common,
        )
    return out

"""Fit and evaluate one model: :func:`fit_model` (any model of :mod:`xfactor_lib.models`),
:func:`fit_torch` (the neural-net loop of :class:`~.config.TrainConfig`), :func:`evaluate`,
:func:`classification_metrics`.
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterable

import numpy as np

from .._validation import as_float
from ..models import is_torch_model, make_model
from .config import (
    FitResult,
    TrainConfig,
    as_tensor_images,
    check_images4,
    check_xy,
    full_precision,
    images_on,
    make_optimizer,
    to_device,
    torch_device,
    unit_float,
)

__all__ = ["fit_torch", "predict_proba_torch", "classification_metrics", "rank_auc", "fit_model", "evaluate"]


def fit_torch(
    model,
    X: np.ndarray,
    y: np.ndarray,
    *,
    config: TrainConfig | None = None,
    device: str = "auto",
    seed: int = 0,
    callbacks: Iterable[Any] = (),
    progress: bool = False,
) -> FitResult:
    """Train a torch model in place with ``config``'s protocol.

    Parameters
    ----------
    model : torch.nn.Module
    X : ndarray, shape (N, C, H, W), uint8 (or float in [0, 1])
    y : ndarray, shape (N,), int
    config : TrainConfig
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:i]"``.
    seed : int
        Seeds the batch order (and torch's global generator for dropout and the like).
    callbacks : iterable
        Objects with ``on_batch(epoch, idx, logits, y)`` and/or ``on_epoch_end(epoch, model)``
        (see docs/architecture.md); epochs are 0-based there.
    progress : bool
        Show a tqdm bar over epochs.

    Returns
    -------
    FitResult
        ``steps`` is the number of optimizer steps taken (``config.steps`` when set).
    """
    import torch
    import torch.nn.functional as F  # noqa: N812

    config = config or TrainConfig()
    X = check_images4(X)
    y = check_xy(X, y)
    dev = torch_device(device)
    torch.manual_seed(seed)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    Xt = images_on(X, dev)  # uint8 on the device; batches are index gathers
    yt = torch.from_numpy(y).to(dev)
    to_device(model, dev).train()
    opt = make_optimizer(model.parameters(), config)
    batch_cbs = [c for c in callbacks if hasattr(c, "on_batch")]
    epoch_cbs = [c for c in callbacks if hasattr(c, "on_epoch_end")]
    N, B = len(y), config.batch_size
    total = config.total_steps(N)
    max_epochs = math.ceil(total / math.ceil(N / B)) if config.steps else config.max_epochs
    t0 = time.perf_counter()
    history: list[dict[str, float]] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_epochs, desc="epochs", leave=False)
    epoch, step, acc, lr = 0, 0, 0.0, config.lr_schedule[0][1]
    for epoch in range(1, max_epochs + 1):
        perm = torch.randperm(N, generator=gen).to(dev)
        correct = torch.zeros((), dtype=torch.long, device=dev)
        loss_sum = torch.zeros((), dtype=torch.float32, device=dev)
        seen = 0
        for start in range(0, N, B):
            if step == total:  # a step budget can end inside an epoch
                break
            lr = config.lr_at_step(step, epoch=epoch, total=total)
            for g in opt.param_groups:
                g["lr"] = lr
            idx = perm[start : start + B]
            xb, yb = unit_float(Xt[idx]), yt[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            seen += len(idx)
            with torch.no_grad():
                detached = logits.detach()
                correct += (detached.argmax(1) == yb).sum()
                loss_sum += loss.detach() * len(idx)
                for cb in batch_cbs:
                    cb.on_batch(epoch - 1, idx, detached, yb)
        for cb in epoch_cbs:
            cb.on_epoch_end(epoch - 1, model)
            model.train()
        acc = correct.item() / seen  # one host sync per epoch
        history.append(
            {"epoch": epoch, "train_acc": acc, "train_loss": loss_sum.item() / seen, "lr": lr, "steps": step}
        )
        if bar is not None:
            bar.update(1)
            bar.set_postfix(acc=f"{acc:.3f}")
        if not config.steps and epoch >= config.min_epochs and acc >= config.target_train_acc:
            break
    if bar is not None:
        bar.close()
    return FitResult(epochs=epoch, train_acc=acc, seconds=time.perf_counter() - t0, steps=step, history=history)


def predict_proba_torch(model, X: np.ndarray, *, device: str = "auto", batch_size: int = 1000) -> np.ndarray:
    """Softmax probabilities ``(N, K)`` of a torch model in eval mode (no grad)."""
    import torch

    X = check_images4(X)
    dev = torch_device(device)
    to_device(model, dev).eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            xb = as_tensor_images(X[start : start + batch_size], dev)
            out.append(torch.softmax(full_precision(model(xb)), dim=1))
    model.train()
    return torch.cat(out).cpu().numpy().astype(np.float64)


def rank_auc(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each column from the Mann-Whitney rank sum (ties count half, as the ROC's trapezoids).

    Equal to scikit-learn's ``roc_auc_score`` per column (one-vs-rest) without its per-call
    validation, which cost ~25 ms per call on 2,000 test images.

    Parameters
    ----------
    labels : ndarray, shape (n, c), 0/1
        Each column holds both values.
    scores : ndarray, shape (n, c)

    Returns
    -------
    ndarray, shape (c,)
    """
    from scipy.stats import rankdata

    pos = np.asarray(labels, dtype=bool)
    n_pos = pos.sum(axis=0).astype(np.float64)
    n_neg = pos.shape[0] - n_pos
    ranks = rankdata(np.asarray(scores, dtype=np.float64), axis=0)  # average ranks for ties
    return ((ranks * pos).sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def classification_metrics(
    y_true: np.ndarray, scores: np.ndarray, *, K: int, probabilistic: bool = True
) -> dict[str, Any]:
    """Accuracy, error, balanced accuracy, per-class accuracy and one-vs-rest AUCs.

    Parameters
    ----------
    y_true : ndarray, shape (N,)
    scores : ndarray, shape (N, K)
        Class probabilities (or decision scores when ``probabilistic`` is False: then
        AUCs are NaN, since one-vs-rest AUC needs probabilities).
    K : int

    Returns
    -------
    dict
        ``acc, error, error_even, error_odd, bacc, auc_macro, auc_micro, acc_class_0 ..
        acc_class_{K-1}``; a class absent from ``y_true`` has NaN accuracy and is left out of
        ``bacc``. ``error_even`` / ``error_odd``: the error on the test rows at even / odd
        positions (two halves of a shuffled test sample; study Q's test-split reliability).
    """
    y_true = np.asarray(y_true)
    pred = np.asarray(scores).argmax(axis=1)
    hit = pred == y_true
    out: dict[str, Any] = {"acc": float(hit.mean()), "error": float(1 - hit.mean())}
    out["error_even"] = float(1 - hit[0::2].mean()) if hit.size else float("nan")
    out["error_odd"] = float(1 - hit[1::2].mean()) if hit.size > 1 else float("nan")
    per = np.full(K, np.nan)
    counts = np.bincount(y_true, minlength=K)
    sums = np.bincount(y_true, weights=hit, minlength=K)
    present = counts > 0
    per[present] = sums[present] / counts[present]
    out["bacc"] = float(np.nanmean(per))
    out["auc_macro"] = out["auc_micro"] = float("nan")
    if probabilistic and present.sum() >= 2:
        P = np.asarray(scores, dtype=np.float64)
        onehot = np.eye(K)[y_true]
        cols = np.flatnonzero(present)
        out["auc_macro"] = float(rank_auc(onehot[:, cols], P[:, cols]).mean())
        out["auc_micro"] = float(rank_auc(onehot[:, cols].reshape(-1, 1), P[:, cols].reshape(-1, 1))[0])
    for k in range(K):
        out[f"acc_class_{k}"] = float(per[k])
    return out


def fit_model(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    *,
    K: int,
    config: TrainConfig | None = None,
    device: str = "auto",
    seed: int = 0,
    pretrained: bool | str = "auto",
    width: int = 512,
    callbacks: Iterable[Any] = (),
    progress: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """Make and train model ``name`` on images ``X`` (uint8 ``(N, C, H, W)``) and labels ``y``.

    Returns
    -------
    model : fitted estimator or torch module
    info : dict
        ``model, pretrained, epochs, steps, train_acc, seconds, K`` (+ ``params`` for nets).
    """
    X = check_images4(X)
    y = check_xy(X, y, K)
    C, H, W = X.shape[1:]
    model, info = make_model(name, C=C, H=H, W=W, K=K, seed=seed, width=width, pretrained=pretrained)
    t0 = time.perf_counter()
    if is_torch_model(name):
        res = fit_torch(model, X, y, config=config, device=device, seed=seed, callbacks=callbacks, progress=progress)
        info.update(epochs=res.epochs, steps=res.steps, train_acc=res.train_acc, history=res.history)
    else:
        Xf = as_float(X, dtype=np.float32)
        model.fit(Xf, y)
        info.update(epochs=0, steps=0, train_acc=float((model.predict(Xf) == y).mean()))
    info["seconds"] = time.perf_counter() - t0
    info["K"] = K
    return model, info


def evaluate(
    model, X: np.ndarray, y: np.ndarray, *, K: int, device: str = "auto", batch_size: int = 1000
) -> dict[str, Any]:
    """Test metrics of a fitted model (see :func:`classification_metrics`)."""
    X = check_images4(X)
    y = check_xy(X, y, K)
    if hasattr(model, "predict") and not hasattr(model, "parameters"):
        Xf = as_float(X, dtype=np.float32)
        if hasattr(model, "predict_proba"):
            return classification_metrics(y, _full_proba(model, Xf, K), K=K)
        pred = model.predict(Xf)
        return classification_metrics(y, np.eye(K)[pred], K=K, probabilistic=False)
    return classification_metrics(y, predict_proba_torch(model, X, device=device, batch_size=batch_size), K=K)


def _full_proba(model, Xf: np.ndarray, K: int) -> np.ndarray:
    """predict_proba widened to all K classes (a subset may lack some classes)."""
    p = model.predict_proba(Xf)
    out = np.zeros((len(Xf), K))
    out[:, np.asarray(model.classes_, dtype=int)] = p
    return out

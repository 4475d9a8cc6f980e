"""The reference encoder: a small CNN trained once per dataset, whose penultimate layer
embeds images for study Q's embedding kernel (SPEC 5).

It trains on a class-balanced sample of the dataset's *training* split (never the test
split), seeded; its accuracy on held-out training images is recorded. The embedding is
the CNN's 256 pooled, rectified features, so cosine similarities lie in [0, 1]. A user's
own ``(N, d)`` embedding array (e.g. a foundation model's features) can stand in for it
everywhere an embedding is accepted.

Cached with a run: ``encoder.pt`` (the weights, loaded with ``weights_only=True``) and
``encoder.json`` (everything that made it, and its accuracy); a cache made with other
settings is retrained, never silently reused.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validation as v
from .. import records, training
from ..models import make_model

__all__ = ["EncoderInfo", "embed", "load_or_train", "train_encoder"]


@dataclass(frozen=True)
class EncoderInfo:
    """How the encoder was made and how well it classifies held-out training images."""

    dataset: str
    seed: int
    per_class: int
    epochs: int
    n_train: int
    n_heldout: int
    heldout_acc: float
    train_acc: float
    seconds: float
    dim: int
    C: int
    H: int
    W: int
    K: int


def _split(y: np.ndarray, K: int, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced training sample and a held-out tenth of it (both from the training split)."""
    rng = np.random.default_rng(seed)
    fit, held = [], []
    for k in range(K):
        members = rng.permutation(np.flatnonzero(y == k))[:per_class] if per_class else np.flatnonzero(y == k)
        cut = max(1, members.size // 10)
        held.append(members[:cut])
        fit.append(members[cut:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(held))


def train_encoder(
    X: Any,
    y: Any,
    *,
    dataset: str = "",
    K: int | None = None,
    per_class: int = 1000,
    epochs: int = 3,
    seed: int = 0,
    device: str = "auto",
    progress: bool = False,
) -> tuple[Any, EncoderInfo]:
    """Train the reference encoder on a training split.

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W), uint8
        The training split.
    y : ndarray, shape (N,), int
    dataset : str
        Recorded name.
    K : int, optional
        Number of classes (default ``y.max() + 1``).
    per_class : int
        Images per class it trains on (a seeded sample; 0 = all); a tenth is held out to
        measure its accuracy.
    epochs : int
        Adam at lr 1e-3, batch 128.
    seed, device, progress
        As :func:`xfactor_lib.training.fit_torch`.

    Returns
    -------
    model : torch.nn.Module
        The CNN (eval mode).
    info : EncoderInfo
    """
    X = np.asarray(X)
    if X.ndim != 4 or X.dtype != np.uint8:
        raise ValueError(f"X must be uint8 images (N, C, H, W), got {X.dtype} {X.shape}")
    y, K = v.check_labels(y, X.shape[0], K=K)
    epochs = v.check_int(epochs, "epochs", low=1)
    fit, held = _split(y, K, v.check_int(per_class, "per_class", low=0), seed)
    C, H, W = X.shape[1:]
    model, _ = make_model("cnn", C=C, H=H, W=W, K=K, seed=seed)
    config = training.TrainConfig.from_dict(
        {"lr_schedule": [[1, 1e-3]], "batch_size": 128, "min_epochs": epochs, "max_epochs": epochs}
    )
    result = training.fit_torch(model, X[fit], y[fit], config=config, device=device, seed=seed, progress=progress)
    proba = training.predict_proba_torch(model, X[held], device=device)
    info = EncoderInfo(
        dataset=dataset,
        seed=seed,
        per_class=per_class,
        epochs=result.epochs,
        n_train=int(fit.size),
        n_heldout=int(held.size),
        heldout_acc=float((proba.argmax(1) == y[held]).mean()),
        train_acc=float(result.train_acc),
        seconds=float(result.seconds),
        dim=_dim(model),
        C=C,
        H=H,
        W=W,
        K=K,
    )
    return model.eval(), info


def _dim(model: Any) -> int:
    return int(model[-1].in_features)


def embed(model: Any, X: Any, *, batch_size: int = 2000, device: str = "auto") -> np.ndarray:
    """Penultimate-layer features of the encoder.

    Parameters
    ----------
    model : torch.nn.Module
        From :func:`train_encoder` (a ``Sequential`` whose last layer is the classifier).
    X : ndarray, shape (N, C, H, W), uint8 or float in [0, 1]

    Returns
    -------
    ndarray, shape (N, d), float32, entries >= 0
    """
    import torch

    Xf = v.as_float(X, dtype=np.float32).reshape(np.shape(X))
    dev = v.resolve_device(device)
    body = model[:-1].to(dev).eval()
    out = np.empty((Xf.shape[0], _dim(model)), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, Xf.shape[0], batch_size):
            xb = torch.from_numpy(Xf[start : start + batch_size]).to(dev)
            out[start : start + batch_size] = body(xb).float().cpu().numpy()
    return out


def load_or_train(
    folder: str | os.PathLike,
    X: Any,
    y: Any,
    *,
    dataset: str,
    per_class: int = 1000,
    epochs: int = 3,
    seed: int = 0,
    device: str = "auto",
    progress: bool = False,
    rows: Any = None,
) -> tuple[np.ndarray, EncoderInfo]:
    """Embeddings of ``X`` from the encoder cached in ``folder`` (trained there when absent).

    Parameters
    ----------
    folder : path
        Where ``encoder.pt`` and ``encoder.json`` live (a run's cell folder).
    X, y, dataset, per_class, epochs, seed, device, progress
        As :func:`train_encoder`; a cache made with other values is retrained.
    rows : array-like of int, optional
        Embed only these images (the encoder still trains on the whole split); the other
        rows of ``E`` are 0.

    Returns
    -------
    E : ndarray, shape (N, d), float32
    info : EncoderInfo
    """
    import torch

    folder = Path(folder)
    wanted = {"dataset": dataset, "per_class": per_class, "epochs": epochs, "seed": seed}
    meta_path, weights_path = folder / "encoder.json", folder / "encoder.pt"
    X = np.asarray(X)
    if meta_path.exists() and weights_path.exists():
        meta = json.loads(meta_path.read_text())
        if {k: meta.get(k) for k in wanted} == wanted and meta.get("n_images") == len(X):
            info = EncoderInfo(**{k: meta[k] for k in EncoderInfo.__dataclass_fields__})
            model, _ = make_model("cnn", C=info.C, H=info.H, W=info.W, K=info.K, seed=seed)
            model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
            return _embed_rows(model, X, rows, device), info
    model, info = train_encoder(
        X, y, dataset=dataset, per_class=per_class, epochs=epochs, seed=seed, device=device, progress=progress
    )
    folder.mkdir(parents=True, exist_ok=True)
    with records.atomic_path(weights_path) as tmp:
        torch.save({k: t.detach().cpu() for k, t in model.state_dict().items()}, tmp)
    records.write_json({**asdict(info), "n_images": len(X)}, meta_path)
    return _embed_rows(model, X, rows, device), info


def _embed_rows(model: Any, X: np.ndarray, rows: Any, device: str) -> np.ndarray:
    if rows is None:
        return embed(model, X, device=device)
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    if rows.size and (rows[0] < 0 or rows[-1] >= len(X)):
        raise ValueError(f"rows must lie in [0, {len(X)}), got range [{rows[0]}, {rows[-1]}]")
    out = np.zeros((len(X), _dim(model)), dtype=np.float32)
    out[rows] = embed(model, X[rows], device=device)
    return out

"""Training and evaluation for every model of :mod:`xfactor_lib.models`.

Two recipes, both fields of :class:`TrainConfig`:

- **Study X / A** (the default; SPEC 1, "Training"): cross-entropy, Adam, batch 200,
  shuffled each epoch, learning rate 1e-3 in epoch 1, 1e-4 from epoch 2, 1e-5 from epoch
  300 (``schedule="steps"``); after each epoch stop when epoch >= 50 and the running
  training accuracy >= 99 %; at most 500 epochs.
- **Study E** (SPEC 3, "Training recipe", after CCS): SGD with Nesterov momentum 0.9,
  weight decay 5e-4, learning rate 0.1 annealed by a cosine over the run
  (``schedule="cosine"``), batch 256, and a step budget (``steps``): every coreset trains
  for exactly as many optimizer steps as the full-data run, so a 2 % coreset is not
  starved; its epochs follow from the budget.

Epochs are 1-based in the config (as in the paper) and 0-based in callbacks.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterable, Sequence

import numpy as np

from ._validation import as_float, check_choice, check_images, check_int, check_labels, resolve_device
from .models import is_torch_model, make_model

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "TrainConfig",
    "FitResult",
    "cpu_threads",
    "make_optimizer",
    "images_on",
    "unit_float",
    "full_precision",
    "fit_torch",
    "predict_proba_torch",
    "classification_metrics",
    "fit_model",
    "evaluate",
    "fit_columns",
    "fit_subsets",
]

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("steps", "cosine")


@dataclass
class TrainConfig:
    """Neural-net training protocol (every field lands in the records, see :meth:`record`).

    Attributes
    ----------
    lr_schedule : sequence of (first_epoch, lr)
        ``schedule="steps"``: learning rate from ``first_epoch`` (1-based) on.
        ``schedule="cosine"``: one entry ``(1, lr)``, the peak learning rate.
    batch_size, min_epochs, max_epochs : int
    target_train_acc : float
        Stop after an epoch >= ``min_epochs`` whose running training accuracy reaches it
        (only without a step budget).
    weight_decay : float
    eval_batch_size : int
    optimizer : {"adam", "sgd"}
    momentum : float
        SGD momentum (0 for Adam).
    nesterov : bool
        Nesterov momentum (SGD with momentum > 0 only).
    schedule : {"steps", "cosine"}
        ``"steps"``: the piecewise-constant ``lr_schedule`` by epoch. ``"cosine"``: step s
        of S runs at ``lr * (1 + cos(pi * s / S)) / 2``, S being the step budget (or
        ``max_epochs`` epochs of steps without one).
    steps : int
        Optimizer-step budget: train for exactly this many steps (the last epoch may be
        partial) and ignore the stop rule; 0: ``min_epochs`` / ``max_epochs`` and the
        stop rule decide.
    """

    lr_schedule: Sequence[tuple[int, float]] = ((1, 1e-3), (2, 1e-4), (300, 1e-5))
    batch_size: int = 200
    min_epochs: int = 50
    max_epochs: int = 500
    target_train_acc: float = 0.99
    weight_decay: float = 0.0
    eval_batch_size: int = 1000
    optimizer: str = "adam"
    momentum: float = 0.0
    nesterov: bool = False
    schedule: str = "steps"
    steps: int = 0

    def __post_init__(self) -> None:
        sched = sorted((int(e), float(lr)) for e, lr in self.lr_schedule)
        if not sched or sched[0][0] != 1:
            raise ValueError(f"lr_schedule must start at epoch 1, got {self.lr_schedule}")
        self.lr_schedule = tuple(sched)
        for name, low in (
            ("batch_size", 1),
            ("max_epochs", 1),
            ("min_epochs", 0),
            ("eval_batch_size", 1),
            ("steps", 0),
        ):
            setattr(self, name, check_int(getattr(self, name), name, low=low))
        if self.min_epochs > self.max_epochs:
            raise ValueError(f"min_epochs ({self.min_epochs}) exceeds max_epochs ({self.max_epochs})")
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_choice(self.schedule, "schedule", SCHEDULES)
        if self.momentum < 0 or self.weight_decay < 0:
            raise ValueError(f"momentum and weight_decay must be >= 0, got {self.momentum} and {self.weight_decay}")
        if self.optimizer == "adam" and (self.momentum or self.nesterov):
            raise ValueError("momentum and nesterov apply to optimizer='sgd' only")
        if self.nesterov and not self.momentum:
            raise ValueError("nesterov=True needs momentum > 0 (e.g. 0.9)")
        if self.schedule == "cosine" and len(self.lr_schedule) != 1:
            raise ValueError(
                f"schedule='cosine' anneals one peak learning rate: give lr_schedule=[[1, lr]], "
                f"got {[list(x) for x in self.lr_schedule]}"
            )

    def lr_at(self, epoch: int) -> float:
        """Learning rate of 1-based ``epoch`` under the piecewise schedule."""
        lr = self.lr_schedule[0][1]
        for start, value in self.lr_schedule:
            if epoch >= start:
                lr = value
        return lr

    def lr_at_step(self, step: int, *, epoch: int, total: int) -> float:
        """Learning rate of 0-based optimizer ``step`` (of ``total``) in 1-based ``epoch``."""
        if self.schedule == "cosine":
            return self.lr_schedule[0][1] * 0.5 * (1.0 + math.cos(math.pi * step / total))
        return self.lr_at(epoch)

    def total_steps(self, N: int) -> int:
        """Optimizer steps of a run on ``N`` samples: the budget, else ``max_epochs`` epochs."""
        return self.steps or self.max_epochs * math.ceil(N / self.batch_size)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "TrainConfig":
        """Build from a plain dict (e.g. notebook parameters); unknown keys are an error."""
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown training option(s) {sorted(unknown)}; valid: {sorted(cls.__dataclass_fields__)}")
        if "lr_schedule" in d:
            d["lr_schedule"] = tuple(tuple(x) for x in d["lr_schedule"])
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lr_schedule"] = [list(x) for x in self.lr_schedule]
        return d

    def with_steps(self, steps: int) -> "TrainConfig":
        """A copy with the step budget ``steps``."""
        return replace(self, steps=steps)

    def record(self, prefix: str = "") -> dict[str, Any]:
        """The protocol as flat record columns (``lr_schedule`` as ``"1:0.001 2:0.0001"``)."""
        d = self.to_dict()
        d["lr_schedule"] = " ".join(f"{e}:{lr:g}" for e, lr in self.lr_schedule)
        d["lr"] = self.lr_schedule[0][1]
        return {f"{prefix}{k}": v for k, v in d.items()}


@dataclass
class FitResult:
    """What training did: epochs run, optimizer steps, last running training accuracy, seconds."""

    epochs: int
    train_acc: float
    seconds: float
    steps: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def cpu_threads() -> int:
    """torch's CPU thread count: CPU results of a net are reproducible for the same count."""
    import torch

    return int(torch.get_num_threads())


def _to_device(model, device: str):
    """Move a model to ``device``; conv nets go channels-last (about 20 % faster on CPU here).

    With one channel, NCHW and NHWC inputs share one memory layout, so batches need no copy.
    """
    import torch

    model.to(device)
    if any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)
    return model


def _check_images4(X: Any) -> np.ndarray:
    """Images ``(N, C, H, W)``, uint8 or float in [0, 1] (checked by ``_validation``)."""
    X = np.asarray(X)
    if X.ndim != 4:
        raise ValueError(f"X must be images (N, C, H, W), got shape {X.shape}")
    check_images(X)
    return X


def unit_float(t):
    """A uint8 image tensor -> floats in [0, 1] (float input: just converted).

    The floats are torch's default dtype: float32, unless a caller (the float64
    equivalence tests of :mod:`xfactor_lib.batched`) sets ``torch.set_default_dtype``.
    """
    import torch

    dtype = torch.get_default_dtype()
    return t.to(dtype).div_(255.0) if t.dtype == torch.uint8 else t.to(dtype)


def full_precision(t):
    """Logits of an autocast (bf16 / fp16) forward pass as float32; other tensors unchanged."""
    import torch

    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


def images_on(X: np.ndarray, device: str):
    """Images ``(N, C, H, W)`` as a tensor on ``device`` in their own dtype (uint8 stays uint8: 4x less memory)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(X)).to(device)


def _as_tensor_images(X: np.ndarray, device: str):
    """uint8 (N, C, H, W) -> float32 tensor in [0, 1] on ``device`` (one copy)."""
    return unit_float(images_on(X, device))


def _check_xy(X: np.ndarray, y: Any, K: int | None = None) -> np.ndarray:
    y, _ = check_labels(y, len(X), K=K)
    if len(y) == 0:
        raise ValueError("cannot train on an empty subset")
    return y


def make_optimizer(params: Iterable[Any], config: TrainConfig, *, fused: bool = True):
    """``config``'s optimizer (Adam, or SGD with its momentum / Nesterov / weight decay) over ``params``.

    Both are elementwise, so one optimizer over stacked members' tensors
    (:mod:`xfactor_lib.batched`) is the members' own optimizers side by side. ``fused``
    (the default, for one-by-one and stacked training alike): torch's one-pass kernel, the
    same update up to float rounding with about 2x less memory traffic; it saves 15-20 % of
    an MLP-3 step on CPU (docs/benchmarks.md). Parameters on a device without fused kernels
    use the ordinary loop.
    """
    import torch

    params = list(params)
    fused = fused and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    kind = {"fused": True} if fused else {}
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr_schedule[0][1],
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
            **kind,
        )
    return torch.optim.Adam(params, lr=config.lr_schedule[0][1], weight_decay=config.weight_decay, **kind)


def _device(device: Any) -> str:
    dev = resolve_device(device)
    return "cpu" if dev == "torch:cpu" else dev


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
    X = _check_images4(X)
    y = _check_xy(X, y)
    dev = _device(device)
    torch.manual_seed(seed)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    Xt = images_on(X, dev)  # uint8 on the device; batches are index gathers
    yt = torch.from_numpy(y).to(dev)
    _to_device(model, dev).train()
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

    X = _check_images4(X)
    dev = _device(device)
    _to_device(model, dev).eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            xb = _as_tensor_images(X[start : start + batch_size], dev)
            out.append(torch.softmax(full_precision(model(xb)), dim=1))
    model.train()
    return torch.cat(out).cpu().numpy().astype(np.float64)


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
        ``acc, error, bacc, auc_macro, auc_micro, acc_class_0 .. acc_class_{K-1}``; a class
        absent from ``y_true`` has NaN accuracy and is left out of ``bacc``.
    """
    from sklearn.metrics import roc_auc_score

    y_true = np.asarray(y_true)
    pred = np.asarray(scores).argmax(axis=1)
    hit = pred == y_true
    out: dict[str, Any] = {"acc": float(hit.mean()), "error": float(1 - hit.mean())}
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
        try:
            out["auc_macro"] = float(roc_auc_score(onehot[:, cols], P[:, cols], average="macro"))
            out["auc_micro"] = float(roc_auc_score(onehot[:, cols], P[:, cols], average="micro"))
        except ValueError:
            pass
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
    X = _check_images4(X)
    y = _check_xy(X, y, K)
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
    X = _check_images4(X)
    y = _check_xy(X, y, K)
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


def fit_columns(info: dict[str, Any], config: TrainConfig | None, *, model: str) -> dict[str, Any]:
    """Record columns of one fit: ``epochs, steps, train_acc, seconds, pretrained, threads``,
    and for a neural net every :class:`TrainConfig` field (:meth:`TrainConfig.record`)."""
    out = {
        "epochs": info["epochs"],
        "steps_run": info["steps"],
        "train_acc": info["train_acc"],
        "seconds": info["seconds"],
        "pretrained": bool(info["pretrained"]),
        "weights": info["weights"],
        "threads": cpu_threads(),
    }
    if is_torch_model(model):
        out.update((config or TrainConfig()).record())
    return out


def fit_subsets(manifest, train, test, **options):
    """Train a model on every subset of a manifest: :func:`xfactor_lib.subset_training.fit_subsets`."""
    from .subset_training import fit_subsets as fit

    return fit(manifest, train, test, **options)

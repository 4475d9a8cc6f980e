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

The bottom of the package: :class:`TrainConfig`, :class:`FitResult`, the optimizer and the
tensor / input helpers that :mod:`.fit`, :mod:`.stacked` and :mod:`.subsets` share; it
imports none of them.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterable, Sequence

import numpy as np

from .._validation import check_choice, check_images, check_int, check_labels, resolve_device
from ..models import is_torch_model

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
    "as_tensor_images",
    "to_device",
    "torch_device",
    "check_images4",
    "check_xy",
    "fit_columns",
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
    """torch's CPU thread count: CPU results of a net are reproducible for the same count.

    Before torch is loaded (a scikit-learn model's cell) and with ``OMP_NUM_THREADS=1`` (a
    sweep cell when the workers take all cores), 1: torch would start with one thread, and
    importing it only to read that cost 4 s of a 14 s cell. (A larger setting is not read:
    torch caps it at the cores it sees.)
    """
    if "torch" not in sys.modules and os.environ.get("OMP_NUM_THREADS", "").strip() == "1":
        return 1
    import torch

    return int(torch.get_num_threads())


def to_device(model, device: str):
    """Move a model to ``device``; conv nets go channels-last (about 20 % faster on CPU here).

    With one channel, NCHW and NHWC inputs share one memory layout, so batches need no copy.
    """
    import torch

    model.to(device)
    if any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)
    return model


def check_images4(X: Any) -> np.ndarray:
    """Images ``(N, C, H, W)``, uint8 or float in [0, 1] (checked by ``_validation``)."""
    X = np.asarray(X)
    if X.ndim != 4:
        raise ValueError(f"X must be images (N, C, H, W), got shape {X.shape}")
    check_images(X)
    return X


def unit_float(t):
    """A uint8 image tensor -> floats in [0, 1] (float input: just converted).

    The floats are torch's default dtype: float32, unless a caller (the float64
    equivalence tests of :mod:`xfactor_lib.training.stacked`) sets ``torch.set_default_dtype``.
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


def as_tensor_images(X: np.ndarray, device: str):
    """uint8 (N, C, H, W) -> float32 tensor in [0, 1] on ``device`` (one copy)."""
    return unit_float(images_on(X, device))


def check_xy(X: np.ndarray, y: Any, K: int | None = None) -> np.ndarray:
    y, _ = check_labels(y, len(X), K=K)
    if len(y) == 0:
        raise ValueError("cannot train on an empty subset")
    return y


def make_optimizer(params: Iterable[Any], config: TrainConfig, *, fused: bool = True):
    """``config``'s optimizer (Adam, or SGD with its momentum / Nesterov / weight decay) over ``params``.

    Both are elementwise, so one optimizer over stacked members' tensors
    (:mod:`xfactor_lib.training.stacked`) is the members' own optimizers side by side. ``fused``
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


def torch_device(device: Any) -> str:
    dev = resolve_device(device)
    return "cpu" if dev == "torch:cpu" else dev


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

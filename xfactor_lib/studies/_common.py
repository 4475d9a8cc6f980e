"""What studies X and A share: training a manifest's subsets, writing tables, and the
"what ran" part of a verdict, every word of it derived from record columns."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import data, records, training
from .._validation import check_frame, resolve_device
from ..models import is_torch_model


# --------------------------------------------------------------------------- pipeline
def train_subsets(
    manifest: pd.DataFrame,
    *,
    model: str,
    seed: int = 0,
    train_config: dict | None = None,
    test_sample: int = 0,
    width: int = 512,
    pretrained: bool | str = "auto",
    device: str = "auto",
    scale: str = "quick",
    quiet: bool = False,
    row_hook: Callable[[np.ndarray, np.ndarray], dict] | None = None,
    batch_models: int | str = "auto",
    amp: bool = False,
    n_jobs: int | str = "auto",
) -> pd.DataFrame:
    """Fit ``model`` on every subset of a one-dataset manifest and score it on the test split.

    Parameters
    ----------
    manifest : DataFrame
        One dataset's subsets (a study's ``load_subsets``).
    model : str
        A name of :mod:`xfactor_lib.models`: gnb | rf | svc | mlp-1..5 | resnet18 | ...
    seed : int
        Training seed.
    train_config : dict, optional
        :class:`training.TrainConfig` fields; empty: the X-factor paper's protocol.
    test_sample : int
        Score on this many test images, class-balanced (0: the whole split).
    width, pretrained, device, scale, quiet
        MLP width; ImageNet weights for ResNets; torch device; recorded scale; no progress bars.
    row_hook : callable, optional
        ``row_hook(X, y) -> dict`` of more columns per subset.
    batch_models : int or "auto"
        Subsets of equal size train as stacks of this many nets (:mod:`xfactor_lib.training.stacked`;
        1: one by one; recorded in ``batch_models`` / ``stack_size``).
    amp : bool
        bf16 autocast of stacked nets on CUDA (recorded; no effect on CPU).
    n_jobs : int or "auto"
        Worker processes for scikit-learn fits (recorded as ``jobs``; see
        :func:`training.fit_subsets`).

    Returns
    -------
    DataFrame
        One record per subset: every scalar manifest column (the design: ``n, size, kind,
        strategy, ...``), ``scale, test_sample``, the ``device`` the model ran on (``"cpu"``
        for scikit-learn), then :func:`training.fit_subsets`' columns (``model, error, acc,
        bacc, acc_class_<k>, ...`` and the training protocol) and ``row_hook``'s.
    """
    check_frame(manifest, ["subset_id", "dataset", "indices"], what="manifest")
    datasets = sorted(manifest["dataset"].unique())
    if len(datasets) != 1:
        raise ValueError(f"a manifest of one dataset is trained at a time; this one holds {datasets}")
    train, test = data.load_train_test(datasets[0], test_sample=test_sample)
    config = training.TrainConfig.from_dict(train_config)
    ran_on = resolve_device(device) if is_torch_model(model) else "cpu"
    extra = {"scale": scale, "test_sample": test_sample, "device": ran_on}
    recs = training.fit_subsets(
        manifest,
        train,
        test,
        model=model,
        config=config,
        device=device,
        seed=seed,
        pretrained=pretrained,
        width=width,
        quiet=quiet,
        extra=extra,
        row_hook=row_hook,
        batch_models=batch_models,
        amp=amp,
        n_jobs=n_jobs,
    )
    return with_design(recs, manifest)


def with_design(recs: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """``recs`` plus the scalar manifest columns it lacks (joined on ``subset_id``), design first."""
    scalar = [c for c in manifest.columns if not isinstance(manifest[c].iloc[0], (list, tuple, np.ndarray))]
    missing = [c for c in scalar if c not in recs.columns]
    if not missing:
        return recs
    design = manifest.set_index("subset_id")[missing]
    out = recs.join(design, on="subset_id")
    first = [c for c in scalar if c in out.columns]
    return out[first + [c for c in out.columns if c not in first]]


def save(frame: pd.DataFrame, out_dir: str | os.PathLike) -> Path | None:
    """Write ``frame`` as a cell's records (atomically); nothing when ``out_dir`` is empty."""
    return records.write_records(frame, out_dir) if out_dir else None


# --------------------------------------------------------------------------- verdict text
def paper_protocol(**changes: Any) -> dict[str, Any]:
    """The X-factor paper's training protocol as record values (:meth:`TrainConfig.record`).

    ``changes`` are :class:`training.TrainConfig` fields that differ in a study's paper
    (study A: ``max_epochs=1000``).
    """
    keys = ("optimizer", "lr_schedule", "batch_size", "min_epochs", "max_epochs", "target_train_acc")
    return {k: v for k, v in training.TrainConfig(**changes).record().items() if k in keys}


def listing(values: Iterable[Any]) -> str:
    """``"a, b and c"``."""
    items = [str(v) for v in values]
    if len(items) < 2:
        return items[0] if items else "none"
    return ", ".join(items[:-1]) + " and " + items[-1]


def interval(value: float, lo: float, hi: float) -> str:
    """``"0.58 [0.46, 0.71]"`` (``"n/a"`` for NaN)."""
    if not np.isfinite(value):
        return "n/a"
    ci = f" [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
    return f"{value:.2f}{ci}"


def what_ran(recs: pd.DataFrame) -> str:
    """Datasets, models, scale, device, and for each ResNet whether it started from ImageNet weights."""
    check_frame(recs, ["dataset", "model"], what="records")
    parts = [
        f"dataset{'s' if recs['dataset'].nunique() > 1 else ''} {listing(sorted(recs['dataset'].unique()))}",
        f"model{'s' if recs['model'].nunique() > 1 else ''} {listing(pd.unique(recs['model']))}",
    ]
    for col in ("scale", "device"):
        if col in recs.columns:
            parts.append(f"{col} {listing(sorted(recs[col].astype(str).unique()))}")
    if "pretrained" in recs.columns:
        for model, flags in recs.groupby("model", sort=False)["pretrained"]:
            if str(model).startswith("resnet"):
                state = {True: "ImageNet weights", False: "random init"}
                parts.append(f"{model} from {listing(state[bool(f)] for f in sorted(flags.unique()))}")
    fits = (
        f"{recs['subset_id'].nunique():,} subsets, {len(recs):,} fits" if "subset_id" in recs else f"{len(recs):,} fits"
    )
    return f"{fits}: " + "; ".join(parts) + "."


def grid_deviation(what: str, ran: Sequence[Any], paper: Sequence[Any]) -> str | None:
    """``"n = 10, 30 (paper: 10, 30, 100)"`` when the values differ, else None."""
    if list(ran) == list(paper):
        return None
    return f"{what} {', '.join(map(str, ran))} (paper: {', '.join(map(str, paper))})"


def _plain(value: Any) -> str:
    """A record value as text; whole floats (ints that a NaN row turned float) without ``.0``."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def training_deviations(recs: pd.DataFrame, paper: dict[str, Any]) -> list[str]:
    """Where the neural nets' recorded protocol differs from the paper's, one phrase per protocol."""
    nets = recs[recs["model"].map(is_torch_model)] if "model" in recs.columns else recs.iloc[:0]
    keys = [k for k in paper if k in nets.columns]
    out = []
    if nets.empty or not keys:
        return out
    for values, part in nets.groupby(keys, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        diff = [
            f"{k} {_plain(v)} (paper: {_plain(paper[k])})"
            for k, v in zip(keys, values)
            if not pd.isna(v) and _plain(v) != _plain(paper[k])
        ]
        if diff:
            out.append(f"{listing(pd.unique(part['model']))} trained with " + ", ".join(diff))
    return out


def test_deviations(recs: pd.DataFrame) -> list[str]:
    """Which models were scored on a sample of the test split rather than all of it."""
    if "test_sample" not in recs.columns or "n_test" not in recs.columns:
        return []
    sampled = recs[recs["test_sample"].fillna(0).astype(int) > 0]
    out = []
    for n_test, part in sampled.groupby("n_test", sort=True):
        out.append(
            f"{listing(pd.unique(part['model']))} scored on a class-balanced sample of {int(n_test):,} "
            f"test images (paper: the whole test split)"
        )
    return out

"""Study Q, stage ``q_measures`` (one cell per dataset, after studies X and A trained):
:func:`measure_dataset` draws the reference sample, trains (or loads) the reference encoder,
computes every training-free measure of every study X and study A subset and joins the
targets (one record per subset; ``group`` the id of the subsets that share candidates).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from ... import data, quality, sweep
from ...quality import encoder
from .design import DESIGN_COLUMNS, a_targets, group_ids, x_targets


def _collect(run_dir: str | os.PathLike, stage: str, dataset: str) -> pd.DataFrame | None:
    try:
        return sweep.collect(run_dir, stage, dataset=dataset)
    except (FileNotFoundError, KeyError):
        return None


def _study_frames(run_dir: str | os.PathLike, dataset: str) -> list[tuple[pd.DataFrame, pd.DataFrame | None]]:
    """Per study with subsets of ``dataset``: (manifest with ``group``, targets or None)."""
    out = []
    for subsets_stage, train_stage, targets in (
        ("x_subsets", "x_train", x_targets),
        ("a_subsets", "a_train", a_targets),
    ):
        manifest = _collect(run_dir, subsets_stage, dataset)
        if manifest is None:
            continue
        recs = _collect(run_dir, train_stage, dataset)
        out.append((manifest.assign(group=group_ids(manifest)), None if recs is None else targets(recs)))
    return out


def measure_dataset(
    run_dir: str | os.PathLike,
    dataset: str,
    *,
    per_class: int = 2000,
    probe_per_class: int = 200,
    seed: int = 0,
    encoder_per_class: int = 1000,
    encoder_epochs: int = 3,
    cache_dir: str | os.PathLike = "",
    device: str = "auto",
    scale: str = "quick",
    quiet: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Measures and targets of every study X and study A subset of ``dataset`` in a run.

    Parameters
    ----------
    run_dir : path
        The sweep's run directory (its ``x_subsets``/``a_subsets`` and ``x_train``/``a_train``).
    dataset : str
    per_class, probe_per_class, seed
        The reference sample (:func:`quality.make_reference`).
    encoder_per_class, encoder_epochs
        The reference encoder (:func:`encoder.load_or_train`); ``encoder_epochs = 0``: no
        embedding measures.
    cache_dir : path
        Where the encoder is cached (the cell's folder); empty: a temporary folder.
    device, scale, quiet
        Torch device of the encoder; recorded scale; no progress bars.

    Returns
    -------
    records : DataFrame
        One row per subset: the design (``study, dataset, n, size, kind, strategy,
        direction, m, repeat, subset_id``), ``group``, ``scale``, every ``q_`` measure and
        the targets (``z_mean``, ``z_models`` for X; ``bacc, acc, auc_macro`` and ``cb_1``
        for A; NaN where a study's training records are missing).
    info : dict
        Reference size, ``tau_data``, probe size, the encoder's held-out accuracy.
    """
    import tempfile

    frames = _study_frames(run_dir, dataset)
    if not frames:
        raise FileNotFoundError(f"no study X or study A subsets of {dataset!r} in {run_dir}; run those stages first")
    manifest = pd.concat([m for m, _ in frames], ignore_index=True)
    train = data.load_dataset(dataset, "train")
    X, y = train.images, train.labels
    ref = quality.make_reference(X, y, per_class=per_class, probe_per_class=probe_per_class, seed=seed)
    info: dict[str, Any] = {
        "dataset": dataset,
        "reference": int(ref.y.size),
        "probe": int(ref.probe.size),
        "tau_data": ref.tau,
        "encoder_acc": np.nan,
    }
    E = None
    if encoder_epochs:
        needed = np.union1d(ref.index, np.concatenate([np.asarray(i) for i in manifest["indices"]]))
        with tempfile.TemporaryDirectory() as tmp:
            E, enc = encoder.load_or_train(
                cache_dir or tmp,
                X,
                y,
                dataset=dataset,
                per_class=encoder_per_class,
                epochs=encoder_epochs,
                seed=seed,
                device=device,
                progress=not quiet,
                rows=needed,
            )
        info["encoder_acc"] = enc.heldout_acc
        ref = quality.make_reference(X, y, per_class=per_class, probe_per_class=probe_per_class, seed=seed, embed=E)
    table = quality.measures_table(manifest, X, y, reference=ref, embed=E, progress=not quiet)
    design = manifest[[c for c in (*DESIGN_COLUMNS, "group", "cb_1") if c in manifest.columns]]
    recs = design.merge(table, on="subset_id", how="left", validate="one_to_one")
    targets = [t for _, t in frames if t is not None]
    for t in targets:
        recs = recs.merge(t, on="subset_id", how="left")
    for col in ("n", "z_mean", "bacc"):  # every design and target column, NaN where undefined
        if col not in recs.columns:
            recs[col] = np.nan
    recs = recs.assign(
        scale=scale,
        ref_per_class=per_class,
        ref_images=int(ref.y.size),
        probe_per_class=probe_per_class,
        tau_data=ref.tau,
        encoder_acc=info["encoder_acc"],
    )
    return recs, info

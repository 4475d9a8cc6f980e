"""A small but real run directory, written in seconds, for the explorer and its tests.

:func:`write_demo_run` lays out ``<run_dir>/<stage>--<cell>/records.parquet`` exactly as a
sweep does (``docs/architecture.md``, "Study stages"), without papermill and without neural
nets: real images of a small data set (``digits`` by default), study X manifests of 2 values
of ``n`` from :func:`subsets.study_x_manifest` (random and selected subsets), real errors of
two fast scikit-learn models (GNB, SVC) fitted on every subset and scored on the test split,
and a study A pair (``a_subsets`` from :func:`subsets.balance_subsets`, ``a_train`` with the
LCR features of :func:`diversity.subset_features`). Nothing is invented: only the grids are
much smaller than the paper's, and the study A model is GNB instead of ResNet-18 (the
records say ``model = "gnb"``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from .. import data, diversity, quality, records, subsets, sweep, training
from ..studies import q as study_q
from ..sweep.config import cell_id
from .runs import QUALITY_STAGE, RESULT_STAGES, SUBSET_STAGES

__all__ = ["write_demo_run", "run_or_demo", "DEMO_MARKER"]

#: Written last; a folder holding it with the same settings is reused as it is.
DEMO_MARKER = "demo.json"
#: Bumped whenever the demo's records change shape (an older demo folder is rewritten).
VERSION = 3
SCALE = "demo"
X_NS = (10, 30)
X_MS = (10, 30)
X_MODELS = ("gnb", "svc")
N_RANDOM = 6
A_SIZES = (64, 128)
#: CB_1 bins of a study A size, one subset kept per bin.
A_BINS = 6
A_DRAWS = 2000
A_MODEL = "gnb"
#: Study Q's reference: images per class, and per class of its probe.
Q_REFERENCE = (100, 30)


def _write_cell(run_dir: Path, stage: str, params: dict[str, Any], frame: pd.DataFrame) -> Path:
    out = run_dir / cell_id(stage, params, [k for k in params if k != "scale"])
    out.mkdir(parents=True, exist_ok=True)
    records.write_json({"cell_id": out.name, "stage": stage, "params": params, "status": "done",
                        "seconds": 0.0, "started": time.time(), "demo": True}, out / records.METRICS)  # fmt: skip
    records.write_records(frame, out, stage=stage)
    return out


def _quality(train: data.Dataset, manifests: list[pd.DataFrame], fits: list[Path]) -> pd.DataFrame:
    """Study Q records of the demo: pixel measures, candidate groups and targets per subset
    (study X: mean Z over the models other than GNB; study A: BACC)."""
    manifest = pd.concat(manifests, ignore_index=True)
    per_class, probe = Q_REFERENCE
    ref = quality.make_reference(train.images, train.labels, per_class=per_class, probe_per_class=probe)
    table = quality.measures_table(manifest, train.images, train.labels, reference=ref)
    recs = pd.concat([pd.read_parquet(f / records.RECORDS) for f in fits], ignore_index=True)
    x_targets = study_q.x_targets(recs[recs["study"] == "x"]).set_index("subset_id")[["z_mean"]]
    a_targets = study_q.a_targets(recs[recs["study"] == "a"]).set_index("subset_id")[["bacc"]]
    targets = x_targets.join(a_targets, how="outer")
    design = [c for c in study_q.DESIGN_COLUMNS if c in manifest.columns]
    out = manifest[design].assign(group=study_q.group_ids(manifest)).merge(table, on="subset_id")
    return out.join(targets, on="subset_id").assign(scale=SCALE, ref_per_class=per_class, tau_data=ref.tau)


def _is_current(marker: Path, settings: dict[str, Any]) -> bool:
    try:
        return {k: v for k, v in json.loads(marker.read_text()).items() if k in settings} == settings
    except (ValueError, OSError):
        return False


def write_demo_run(
    run_dir: str | os.PathLike, *, dataset: str = "digits", seed: int = 0, overwrite: bool = False
) -> Path:
    """Write a small, valid run directory (``x_subsets``, ``x_train``, ``a_subsets``, ``a_train``, ``q_measures``).

    Parameters
    ----------
    run_dir : path
        Created if missing. A folder already holding a demo run of the same ``dataset``,
        ``seed`` and demo version is returned as it is unless ``overwrite``; the cells of an
        older demo in it are removed first.
    dataset : str
        Any name :func:`data.load_dataset` accepts with a ``train`` and a ``test`` split
        whose smallest class has at least 60 images (``digits`` takes about 10 s).
    seed : int
        Seeds every subset draw.
    overwrite : bool
        Rewrite the records even when the folder holds this demo already.

    Returns
    -------
    Path
        ``run_dir``.

    Notes
    -----
    Study X: ``n`` = 10 and 30 images per class; per ``n`` 6 random subsets and 16 selected
    ones (4 rules x 2 directions x m in {10, 30}, 1 repeat); GNB and SVC (scikit-learn
    defaults) fitted on each and scored on the whole test split. Study A: total sizes 64
    and 128, one subset in each of 6 CB_1 bins, GNB records with the 27 LCR features and
    ``pixels, channels, classes``. Study Q: the pixel measures of every subset against a
    reference of 100 images per class, with their targets. ``scale`` is ``"demo"`` in every
    record.
    """
    run_dir = Path(run_dir)
    marker = run_dir / DEMO_MARKER
    settings = {"dataset": dataset, "seed": int(seed), "version": VERSION}
    if marker.is_file():
        if _is_current(marker, settings) and not overwrite:
            return run_dir
        for stage in SUBSET_STAGES + RESULT_STAGES + (QUALITY_STAGE,):  # a demo folder: its old cells go
            for cell in run_dir.glob(f"{stage}--*"):
                shutil.rmtree(cell)
    run_dir.mkdir(parents=True, exist_ok=True)
    train, test = data.load_dataset(dataset, "train"), data.load_dataset(dataset, "test")
    fit = partial(training.fit_subsets, train=train, test=test, seed=0, quiet=True, extra={"scale": SCALE})
    manifests, fits = [], []
    for n in X_NS:
        manifest = subsets.study_x_manifest(train.images, train.labels, n, n_random=N_RANDOM, ms=X_MS, repeats=1,
                                            seed=seed, dataset=dataset)  # fmt: skip
        base = {"dataset": dataset, "n": n, "scale": SCALE}
        _write_cell(run_dir, "x_subsets", base, manifest.assign(scale=SCALE))
        manifests.append(manifest)
        for model in X_MODELS:
            fits.append(_write_cell(run_dir, "x_train", {**base, "model": model}, fit(manifest, model=model)))
    features = partial(diversity.subset_features, device="cpu")
    for size in A_SIZES:
        manifest = subsets.balance_subsets(train.labels, size, seed=seed, dataset=dataset, n_bins=A_BINS, per_bin=1,
                                           n_draws=A_DRAWS)  # fmt: skip
        base = {"dataset": dataset, "size": size, "scale": SCALE}
        _write_cell(run_dir, "a_subsets", base, manifest.assign(scale=SCALE))
        manifests.append(manifest)
        fits.append(_write_cell(run_dir, "a_train", base, fit(manifest, model=A_MODEL, row_hook=features)))
    _write_cell(run_dir, QUALITY_STAGE, {"dataset": dataset, "scale": SCALE}, _quality(train, manifests, fits))
    note = "small demo run written by xfactor_lib.explore.write_demo_run"
    records.write_json({**settings, "written": time.time(), "note": note}, marker)
    return run_dir


def run_or_demo(run_dir: str | os.PathLike, *, demo_dir: str | os.PathLike) -> Path:
    """``run_dir`` when it holds subset manifests, else a demo run written to ``demo_dir``.

    Parameters
    ----------
    run_dir : path
        A run directory (``runs/<sweep>``); it need not exist.
    demo_dir : path
        Where :func:`write_demo_run` writes (or finds) the demo run.

    Returns
    -------
    Path
        The folder to explore; a printed line says when it is the demo.
    """
    run_dir = Path(run_dir)
    if run_dir.is_dir() and any(sweep.cell_dirs(run_dir, stage) for stage in SUBSET_STAGES):
        return run_dir
    print(f"{run_dir} holds no subset manifests (run `make run` first); showing a demo run in {demo_dir} instead")
    return write_demo_run(demo_dir)

"""A small but real run directory, written in seconds, for the explorer and its tests.

:func:`write_demo_run` lays out ``<run_dir>/<stage>--<cell>/records.parquet`` exactly as a
sweep does (``docs/architecture.md``, "Study stages"), without papermill and without neural
nets: real images of a small data set (``digits`` by default), real study X manifests
(random and selected subsets of 2 sizes), real errors of two fast scikit-learn models
(GNB, SVC) fitted on every subset and scored on the test split, and a study A pair
(``a_subsets``, ``a_train``) with the LCR features of every subset. Nothing is invented:
only the grid is much smaller than the paper's, and the study A model is GNB instead of
ResNet-18 (the records say ``model = "gnb"``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import data, records, selection, training
from .sweep import cell_id

__all__ = ["write_demo_run", "DEMO_MARKER"]

#: Written last; a folder holding it with the same settings is reused as it is.
DEMO_MARKER = "demo.json"
SCALE = "demo"
X_SIZES = (10, 30)
X_MS = (10, 30)
X_MODELS = ("gnb", "svc")
N_RANDOM = 6
A_SIZES = (64, 128)
A_PER_SIZE = 6
A_MODEL = "gnb"


def _write_cell(run_dir: Path, stage: str, params: dict[str, Any], readable: Sequence[str],
                frame: pd.DataFrame) -> Path:
    out = run_dir / cell_id(stage, params, readable)
    out.mkdir(parents=True, exist_ok=True)
    records.write_json({"cell_id": out.name, "stage": stage, "params": params, "status": "done",
                        "seconds": 0.0, "started": time.time(), "demo": True}, out / records.METRICS)
    records.write_records(frame, out)
    return out


def _x_manifest(train: data.Dataset, size: int, *, seed: int, dataset: str) -> pd.DataFrame:
    """Study X manifest of one size: random + selected subsets with their candidates."""
    rand = selection.random_subsets(train.labels, size, N_RANDOM, seed=seed, dataset=dataset)
    rand["candidates"] = rand["indices"]
    sel = selection.selected_subsets(train.images, train.labels, size, ms=X_MS, repeats=1, seed=seed,
                                     dataset=dataset)
    # selected_subsets draws its candidates with candidate_indices (same seed, same stream)
    sel["candidates"] = [np.sort(selection.candidate_indices(train.labels, size, int(r.m), int(r.repeat),
                                                             seed=seed).ravel())
                         for r in sel.itertuples()]
    for kept, cands in zip(sel["indices"], sel["candidates"]):
        if not np.isin(kept, cands).all():
            raise AssertionError("a selected subset keeps an image outside its candidates")
    manifest = pd.concat([rand, sel], ignore_index=True)
    manifest["n_images"] = [len(i) for i in manifest["indices"]]
    return manifest


def _cb_1(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def _a_manifest(train: data.Dataset, size: int, *, seed: int, dataset: str) -> pd.DataFrame:
    """Study A manifest of one size: class-count vectors from balanced to strongly skewed.

    A demo-sized version of SPEC 2: counts from Dirichlet draws of decreasing
    concentration (so ``cb_1`` spans the range), at least 1 image per class, images
    uniformly at random within a class.
    """
    K = train.K
    sizes = train.class_counts()
    members = [np.flatnonzero(train.labels == k) for k in range(K)]
    rng = np.random.default_rng([seed, 2, size])
    rows = []
    for r, alpha in enumerate(np.geomspace(50.0, 0.05, A_PER_SIZE)):
        p = rng.dirichlet(np.full(K, alpha))
        counts = np.ones(K, dtype=np.int64) + rng.multinomial(size - K, p)
        while (over := counts > sizes).any():  # move the excess to classes with room
            extra = int((counts[over] - sizes[over]).sum())
            counts[over] = sizes[over]
            room = np.flatnonzero(counts < sizes)
            counts[room[:extra]] += 1
        idx = np.sort(np.concatenate([rng.choice(members[k], counts[k], replace=False) for k in range(K)]))
        cb = _cb_1(counts)
        rows.append(dict(subset_id=f"a-{dataset}-n{size}-balance-r{r}-s{seed}", study="a", dataset=dataset,
                         size=size, kind="balance", strategy="none", direction="none", m=0, repeat=r, seed=seed,
                         indices=idx.astype(np.int64), class_counts=counts, cb_1=cb,
                         bin=int(min(24, np.floor((cb - 1) / (K - 1) * 25))), n_images=int(counts.sum())))
    return pd.DataFrame(rows)


def _lcr_columns(manifest: pd.DataFrame, train: data.Dataset) -> pd.DataFrame:
    """The 27 LCR features and ``pixels, channels, classes`` of every subset, in manifest order."""
    from . import lcr

    rows = []
    for idx in manifest["indices"]:
        X, y = train.images[np.asarray(idx)], train.labels[np.asarray(idx)]
        rows.append({**lcr.features(X, y, device="cpu"), **lcr.systematic_features(X, y)})
    return pd.DataFrame(rows)


def write_demo_run(run_dir: str | os.PathLike, *, dataset: str = "digits", seed: int = 0,
                   overwrite: bool = False) -> Path:
    """Write a small, valid run directory (stages ``x_subsets``, ``x_train``, ``a_subsets``, ``a_train``).

    Parameters
    ----------
    run_dir : path
        Created if missing. A folder already holding a demo run of the same ``dataset``
        and ``seed`` is returned as it is unless ``overwrite``.
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
    Study X: sizes ``n`` = 10 and 30 per class; per size 6 random subsets and 16 selected
    ones (4 rules x 2 directions x m in {10, 30}, 1 repeat); GNB and SVC (scikit-learn
    defaults) fitted on each and scored on the whole test split. Study A: total sizes 64
    and 128, 6 class-count vectors each, GNB records with the 27 LCR features and
    ``pixels, channels, classes``. ``scale`` is ``"demo"`` in every record.
    """
    run_dir = Path(run_dir)
    marker = run_dir / DEMO_MARKER
    settings = {"dataset": dataset, "seed": int(seed), "version": 1}
    if marker.is_file() and not overwrite:
        try:
            if {k: v for k, v in json.loads(marker.read_text()).items() if k in settings} == settings:
                return run_dir
        except (ValueError, OSError):
            pass
    run_dir.mkdir(parents=True, exist_ok=True)
    train = data.load_dataset(dataset, "train")
    test = data.load_dataset(dataset, "test")
    for size in X_SIZES:
        manifest = _x_manifest(train, size, seed=seed, dataset=dataset)
        base = {"dataset": dataset, "size": size, "scale": SCALE}
        _write_cell(run_dir, "x_subsets", base, ("dataset", "size"), manifest.assign(scale=SCALE))
        for model in X_MODELS:
            recs = training.fit_subsets(manifest, train, test, model=model, seed=0, quiet=True,
                                        extra={"scale": SCALE})
            _write_cell(run_dir, "x_train", {**base, "model": model}, ("dataset", "size", "model"), recs)
    for size in A_SIZES:
        manifest = _a_manifest(train, size, seed=seed, dataset=dataset)
        base = {"dataset": dataset, "size": size, "scale": SCALE}
        _write_cell(run_dir, "a_subsets", base, ("dataset", "size"), manifest.assign(scale=SCALE))
        recs = training.fit_subsets(manifest, train, test, model=A_MODEL, seed=0, quiet=True,
                                    extra={"scale": SCALE})
        feats = _lcr_columns(manifest, train)
        recs = pd.concat([recs.reset_index(drop=True), feats.drop(columns=[c for c in feats if c in recs])],
                         axis=1)
        _write_cell(run_dir, "a_train", base, ("dataset", "size"), recs)
    records.write_json({**settings, "written": time.time(),
                        "note": "synthetic-size demo run written by xfactor_lib.demo.write_demo_run"}, marker)
    return run_dir

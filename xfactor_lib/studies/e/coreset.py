"""Study E, stage ``e_coreset``: train on each (method, rate, seed) coreset of the pool and
score it on the test split (:func:`evaluate_coresets`).
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ... import coresets, data, training
from ..._validation import resolve_device
from .recipe import fit_and_score
from .surrogate import Surrogate

__all__ = ["evaluate_coresets"]


# --------------------------------------------------------------------------- coresets
def evaluate_coresets(
    surrogate: Surrogate,
    train: data.Dataset,
    test: data.Dataset,
    *,
    methods: Sequence[str],
    rates: Sequence[float],
    seeds: Sequence[int],
    arch: str,
    config: training.TrainConfig | None = None,
    eva_variant: str = "sum",
    el2n_epoch: int = 20,
    device: str = "auto",
    quiet: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Test metrics of ``arch`` trained on each (method, rate, seed) coreset of the pool.

    ``method="full"`` trains on the whole pool once per seed (``rate`` 1.0), whatever the
    rates. The coreset of a seed-dependent method (random, random_balanced, CCS, k-center) is
    drawn with the training seed. Window methods use the windows chosen at their rate, CCS
    the beta chosen at its rate (the others record none). Training-free methods read the
    pool's images and labels (``coverage_emb`` also ``surrogate.embed``). With a step
    budget in ``config`` every coreset and the full run take the same number of
    optimizer steps.

    Returns
    -------
    DataFrame
        One row per (method, rate, seed): ``extra``, ``method, rate, seed, arch, n_pool,
        n_coreset, early_start, late_start, window, eva_variant, beta`` (CCS's cutoff; NaN
        for the others), ``search_seed`` (of the validation searches), ``n_test, device,
        select_seconds`` (time to choose the coreset), the test metrics,
        :func:`training.fit_columns`.
    """
    from tqdm.auto import tqdm

    pool, dyn = surrogate.pool, surrogate.dynamics
    inputs = {"X": train.images[pool], "y": train.labels[pool], "dynamics": dyn, "embed": surrogate.embed}
    jobs = [(m, r, s) for m in methods for s in seeds for r in ((1.0,) if m == "full" else rates)]
    rows = []
    for method, rate, seed in tqdm(jobs, desc=f"coresets ({arch})", disable=quiet, leave=False):
        windowed = method in coresets.WINDOW_METHODS  # the others need no window search at this rate
        early, late = surrogate.windows_at(rate) if windowed else (pd.NA, pd.NA)
        opts: dict[str, Any] = {"el2n": {"epoch": el2n_epoch}, "eva": {"variant": eva_variant}}.get(method, {})
        beta = np.nan
        if method == "ccs":  # the cutoff chosen on validation at this rate (issue 20), else the default rule
            beta = surrogate.beta_at(rate)
            opts["beta"] = beta = coresets.ccs_default_beta(rate) if beta is None else beta
        for key in coresets.WINDOW_METHODS.get(method, ()):
            opts[key] = {"early_start": early, "late_start": late, "start": early, "window": surrogate.window}[key]
        start = time.perf_counter()
        idx = (
            np.arange(len(pool))
            if method == "full"
            else coresets.select(method, rate=rate, seed=seed, **inputs, **opts)
        )
        took = time.perf_counter() - start
        res = fit_and_score(
            train, pool[idx], test.images, test.labels, arch=arch, config=config, device=device, seed=seed
        )
        rows.append(
            {
                **(extra or {}),
                "method": method,
                "rate": float(rate),
                "seed": int(seed),
                "arch": arch,
                "n_pool": len(pool),
                "n_coreset": len(idx),
                "early_start": early,
                "late_start": late,
                "window": surrogate.window,
                "eva_variant": eva_variant,
                "beta": beta,
                "search_seed": surrogate.record.get("search_seed", pd.NA),
                "n_test": len(test.labels),
                "device": resolve_device(device),
                "select_seconds": took,
                **res,
            }
        )
    out = pd.DataFrame(rows)
    for col in ("early_start", "late_start"):
        out[col] = out[col].astype("Int64")
    return out

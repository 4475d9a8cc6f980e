"""Study E: every choice made on validation, with a seed outside the evaluation seeds.

Belongs to ``studies/e/surrogate`` in the new layout. The ``e_surrogate`` template calls
:func:`run_searches` once per surrogate: it chooses, **per rate** and on the validation
split only,

- EVA's window starts (:func:`xfactor_lib.studies.e.search_windows`, SPEC 3), and
- CCS's hard cutoff beta over :data:`~xfactor_lib.coreset_baselines.CCS_BETAS`
  (:func:`search_betas`, SPEC 5), the same way: each candidate coreset of the pool trains
  the same candidate model (``arch``, ``config``: the coreset step budget) and is scored by
  validation accuracy; the best wins, ties to the first (the smaller beta).

Every candidate trains with :func:`search_seed` ``= SEARCH_SEED_OFFSET + seed`` (and CCS's
stratified draws use it too), never with an evaluation seed of ``e_coreset`` (0, 1, 2, ...
all below the offset), so the choice is not tuned to the seeds it is judged on. The seed is
recorded (column ``search_seed``) with the chosen beta (``best_beta``) per rate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .. import coresets, data, training
from .._validation import check_frame, check_int, check_rate
from ..coreset_baselines import CCS_BETAS, ccs_scores
from ..dynamics import Dynamics

__all__ = [
    "SEARCH_SEED_OFFSET",
    "search_seed",
    "beta_search",
    "best_beta",
    "BetaSearch",
    "search_betas",
    "Searches",
    "run_searches",
    "search_columns",
]

#: Candidate trainings of a search use ``SEARCH_SEED_OFFSET + seed``; evaluation seeds stay below it.
SEARCH_SEED_OFFSET = 10_000


def search_seed(seed: int) -> int:
    """The training seed of every search candidate of the surrogate of ``seed``: ``10_000 + seed``."""
    return SEARCH_SEED_OFFSET + check_int(seed, "seed", low=0, high=SEARCH_SEED_OFFSET - 1)


def beta_search(
    scores: Any,
    evaluate: Callable[[np.ndarray, float], float],
    *,
    rate: float,
    betas: Sequence[float] = CCS_BETAS,
    n_bins: int = 50,
    seed: int,
) -> pd.DataFrame:
    """Score every CCS cutoff ``beta`` at one rate.

    Parameters
    ----------
    scores : ndarray, shape (N,)
        CCS difficulty (:func:`~xfactor_lib.coreset_baselines.ccs_scores`; low is hard).
    evaluate : callable
        ``evaluate(indices, beta) -> float``: trains on the coreset ``indices`` (sorted,
        shape (M,)) and returns a **validation** score (higher is better).
    rate : float in (0, 1]
    betas : sequence of float in [0, 1)
    n_bins : int
        CCS strata (the authors' 50).
    seed : int
        Seed of CCS's stratified draws (the search seed).

    Returns
    -------
    DataFrame
        ``rate, beta, n_coreset, score``; a beta that leaves fewer than M = ceil(rate x N)
        samples is not evaluated (score NaN).
    """
    s = np.asarray(scores, dtype=np.float64)
    rate = check_rate(rate)
    if not callable(evaluate):
        raise TypeError("evaluate must be a callable evaluate(indices, beta) -> float")
    if not len(betas):
        raise ValueError("betas must name at least one cutoff in [0, 1)")
    M = coresets.coreset_size(s.size, rate)
    rows = []
    for beta in betas:
        if M > s.size - int(np.floor(beta * s.size + 1e-9)):
            rows.append((rate, float(beta), M, np.nan))
            continue
        idx = coresets.ccs_select(s, M, beta=float(beta), n_bins=n_bins, seed=seed, hard_is_low=True)
        rows.append((rate, float(beta), M, float(evaluate(idx, float(beta)))))
    return pd.DataFrame(rows, columns=["rate", "beta", "n_coreset", "score"])


def best_beta(frame: pd.DataFrame) -> float:
    """The beta of the best validation score (the first, i.e. the smallest listed, on ties)."""
    check_frame(frame, ["beta", "score"], what="beta table")
    scored = frame[frame["score"].notna()]
    if scored.empty:
        raise ValueError("no beta could be evaluated at this rate (every cutoff leaves too few samples)")
    return float(scored.loc[scored["score"].astype(float).idxmax(), "beta"])


@dataclass
class BetaSearch:
    """Result of :func:`search_betas`.

    Attributes
    ----------
    table : DataFrame
        ``rate, beta, n_coreset, score`` (validation accuracy), one row per rate x beta.
    best : dict
        ``{rate: beta}`` chosen at each rate.
    """

    table: pd.DataFrame
    best: dict[float, float]


def search_betas(
    dynamics: Dynamics,
    train: data.Dataset,
    pool: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    rates: Sequence[float],
    betas: Sequence[float] = CCS_BETAS,
    n_bins: int = 50,
    arch: str = "resnet18",
    config: training.TrainConfig | None = None,
    device: str = "auto",
    seed: int,
) -> BetaSearch:
    """CCS's beta chosen **per rate** by validation accuracy; never reads a test split.

    The candidate trainer is EVA's window search's (``arch`` on ``train.images[pool[idx]]``
    with ``config``, seed ``seed``, scored on ``(X_val, y_val)``).
    """
    from .e import _fit_and_score  # the one candidate trainer (e imports this module's names)

    scores = ccs_scores(dynamics)

    def evaluate(idx: np.ndarray, beta: float) -> float:
        return _fit_and_score(train, pool[idx], X_val, y_val, arch=arch, config=config, device=device, seed=seed)["acc"]

    tables = [beta_search(scores, evaluate, rate=r, betas=betas, n_bins=n_bins, seed=seed) for r in rates]
    return BetaSearch(pd.concat(tables, ignore_index=True), {float(t["rate"].iloc[0]): best_beta(t) for t in tables})


@dataclass
class Searches:
    """Everything :func:`run_searches` chose on validation.

    Attributes
    ----------
    windows : WindowSearch
        EVA's window pairs per rate.
    betas : BetaSearch
        CCS's cutoff per rate.
    seed : int
        The candidates' training seed (:func:`search_seed`).
    """

    windows: Any
    betas: BetaSearch
    seed: int


def run_searches(
    dynamics: Dynamics,
    train: data.Dataset,
    pool: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    rates: Sequence[float],
    window: int = 10,
    step: int = 10,
    arch: str = "resnet18",
    config: training.TrainConfig | None = None,
    variant: str = "sum",
    betas: Sequence[float] = CCS_BETAS,
    device: str = "auto",
    seed: int = 0,
) -> Searches:
    """EVA's windows and CCS's beta per rate on validation, candidates seeded ``search_seed(seed)``.

    Parameters
    ----------
    seed : int
        The surrogate's seed; candidates train with ``SEARCH_SEED_OFFSET + seed``.
    Others as :func:`~xfactor_lib.studies.e.search_windows` and :func:`search_betas`.
    """
    from .e import search_windows

    s = search_seed(seed)
    windows = search_windows(
        dynamics, train, pool, X_val, y_val, rates=rates, window=window, step=step, arch=arch, config=config,
        variant=variant, device=device, seed=s,
    )  # fmt: skip
    chosen = search_betas(
        dynamics, train, pool, X_val, y_val, rates=rates, betas=betas, arch=arch, config=config, device=device, seed=s
    )
    return Searches(windows, chosen, s)


def search_columns(records: pd.DataFrame, searches: Searches) -> pd.DataFrame:
    """The ``e_surrogate`` records with ``search_seed``, ``best_beta`` and ``beta_scores`` per rate.

    ``beta_scores`` is the rate's validation accuracy per beta as a JSON object
    (``{"0.0": 0.81, ...}``; null for a beta that leaves too few samples).
    """
    check_frame(records, ["rate"], what="surrogate records")
    table = searches.betas.table
    scores = {
        float(r): json.dumps({f"{b:g}": None if pd.isna(v) else float(v) for b, v in zip(part["beta"], part["score"])})
        for r, part in table.groupby("rate", sort=True)
    }

    def at(mapping: dict, rate: float) -> Any:
        for r, v in mapping.items():
            if np.isclose(r, rate):
                return v
        raise ValueError(f"no CCS beta search at rate {rate}; searched {sorted(mapping)}")

    return records.assign(
        search_seed=searches.seed,
        best_beta=[at(searches.betas.best, r) for r in records["rate"]],
        beta_scores=[at(scores, r) for r in records["rate"]],
    )

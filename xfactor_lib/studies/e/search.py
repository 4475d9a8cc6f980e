"""Study E: every choice made on validation, with a seed outside the evaluation seeds.

:func:`~xfactor_lib.studies.e.surrogate.run_surrogate` calls :func:`run_searches` once per
surrogate: it chooses, **per rate** and on the validation
split only,

- EVA's window starts (:func:`search_windows`, SPEC 3), and
- CCS's hard cutoff beta over :data:`~xfactor_lib.coresets.baselines.CCS_BETAS`
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

from ... import coresets, data, training
from ..._validation import check_frame, check_int, check_rate
from ...coresets.baselines import CCS_BETAS, ccs_scores
from ...coresets.scores import eva_scores, var_single
from ...dynamics import Dynamics
from .recipe import fit_and_score

#: Seeds of the successive CCS draws of one beta: ``seed + DRAW_SEED_STEP x d``.
DRAW_SEED_STEP = 1000
#: CCS draws scored per beta by :func:`search_betas` (issue 20: one was too noisy at 5 % of digits).
CCS_SEARCH_DRAWS = 3

__all__ = [
    "window_grid",
    "window_search",
    "best_window",
    "WindowSearch",
    "search_windows",
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


# --------------------------------------------------------------------------- window search
def window_grid(T: int, *, window: int = 10, step: int = 10) -> list[tuple[int, int]]:
    """All (early_start, late_start) pairs on a ``step`` grid with non-overlapping windows.

    Starts are 0, step, 2 x step, ... with ``start + window <= T``; pairs have
    ``early_start + window <= late_start``; ordered by early then late start.
    """
    T, window, step = (check_int(v, name, low=1) for v, name in ((T, "T"), (window, "window"), (step, "step")))
    starts = range(0, T - window + 1, step)
    return [(e, late) for e in starts for late in starts if e + window <= late]


def window_search(
    S: Any,
    evaluate: Callable[[np.ndarray, int, int | None], float],
    *,
    rate: float,
    window: int = 10,
    step: int = 10,
    variant: str = "sum",
    single: bool = False,
) -> pd.DataFrame:
    """Score every EVA window pair (and single window) of ``S`` at one rate.

    Parameters
    ----------
    S : ndarray, shape (N, T), or Dynamics
    evaluate : callable
        ``evaluate(indices, early_start, late_start) -> float``: trains on the coreset
        ``indices`` (sorted, shape (M,)) and returns a **validation** score (higher is
        better). ``late_start`` is None for a single window.
    rate : float in (0, 1]
    window, step : int
        Window length and grid step (paper: 10 and 10).
    variant : {"sum", "released"}
        EVA variant (:func:`~xfactor_lib.coresets.scores.eva_scores`).
    single : bool
        Also score every single window (VAR-S), for the paper's Fig. 5.

    Returns
    -------
    DataFrame
        ``rate, early_start, late_start`` (Int64, missing for single windows), ``score``.
    """
    S = S.S if isinstance(S, Dynamics) else np.asarray(S, dtype=np.float64)
    rate = check_rate(rate)
    if not callable(evaluate):
        raise TypeError("evaluate must be a callable evaluate(indices, early_start, late_start) -> float")
    combos: list[tuple[int, int | None]] = list(window_grid(S.shape[1], window=window, step=step))
    if not combos:
        raise ValueError(
            f"no window pair fits in T={S.shape[1]} epochs with window={window}, step={step}; "
            "two windows need T >= step + window"
        )
    if single:
        combos = [(s, None) for s in range(0, S.shape[1] - window + 1, step)] + combos
    rows = []
    for early, late in combos:
        if late is None:
            sc = var_single(S, start=early, window=window)
        else:
            sc = eva_scores(S, early_start=early, late_start=late, window=window, variant=variant)
        rows.append((rate, early, late, float(evaluate(coresets.select_top(sc, rate), early, late))))
    frame = pd.DataFrame(rows, columns=["rate", "early_start", "late_start", "score"])
    frame["early_start"] = frame["early_start"].astype("Int64")
    frame["late_start"] = pd.array([pd.NA if v is None else v for v in frame["late_start"]], dtype="Int64")
    return frame


def best_window(frame: pd.DataFrame) -> tuple[int, int]:
    """The (early_start, late_start) of the best-scoring window **pair** (first on ties)."""
    check_frame(frame, ["early_start", "late_start", "score"], what="window table")
    dual = frame[frame["late_start"].notna() & frame["score"].notna()]
    if dual.empty:
        raise ValueError("the window table has no scored window pair")
    row = dual.loc[dual["score"].astype(float).idxmax()]
    return int(row["early_start"]), int(row["late_start"])


@dataclass
class WindowSearch:
    """Result of :func:`search_windows`.

    Attributes
    ----------
    table : DataFrame
        ``rate, early_start, late_start, score`` (validation accuracy), one row per
        rate x window combination.
    best : dict
        ``{rate: (early_start, late_start)}``: the best pair at each rate.
    """

    table: pd.DataFrame
    best: dict[float, tuple[int, int]]


def search_windows(
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
    device: str = "auto",
    seed: int = 0,
    single: bool = True,
) -> WindowSearch:
    """Window starts chosen **per rate** by validation accuracy (SPEC 3); never reads a test split.

    For each rate and each window combination, ``arch`` trains on the EVA coreset of the
    pool and is scored on ``(X_val, y_val)``.
    """

    def evaluate(idx: np.ndarray, early: int, late: int | None) -> float:
        return fit_and_score(train, pool[idx], X_val, y_val, arch=arch, config=config, device=device, seed=seed)["acc"]

    tables = [
        window_search(dynamics, evaluate, rate=r, window=window, step=step, variant=variant, single=single)
        for r in rates
    ]
    return WindowSearch(
        pd.concat(tables, ignore_index=True), {float(t["rate"].iloc[0]): best_window(t) for t in tables}
    )


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
    draws: int = 1,
    seed: int,
) -> pd.DataFrame:
    """Score every CCS cutoff ``beta`` at one rate (mean over ``draws`` stratified draws).

    Parameters
    ----------
    scores : ndarray, shape (N,)
        CCS difficulty (:func:`~xfactor_lib.coresets.baselines.ccs_scores`; low is hard).
    evaluate : callable
        ``evaluate(indices, beta) -> float``: trains on the coreset ``indices`` (sorted,
        shape (M,)) and returns a **validation** score (higher is better).
    rate : float in (0, 1]
    betas : sequence of float in [0, 1)
    n_bins : int
        CCS strata (the authors' 50).
    draws : int
        CCS coresets drawn and scored per beta (seeds ``seed + DRAW_SEED_STEP x d``); the score
        is their mean. One draw at a low rate is one small coreset: its score is noisy
        enough to pick the wrong cutoff.
    seed : int
        Seed of CCS's stratified draws (the search seed).

    Returns
    -------
    DataFrame
        ``rate, beta, n_coreset, score, draws``; a beta that leaves fewer than
        M = ceil(rate x N) samples is not evaluated (score NaN).
    """
    s = np.asarray(scores, dtype=np.float64)
    rate = check_rate(rate)
    if not callable(evaluate):
        raise TypeError("evaluate must be a callable evaluate(indices, beta) -> float")
    if not len(betas):
        raise ValueError("betas must name at least one cutoff in [0, 1)")
    draws = check_int(draws, "draws", low=1)
    M = coresets.coreset_size(s.size, rate)
    rows = []
    for beta in betas:
        if M > s.size - int(np.floor(beta * s.size + 1e-9)):
            rows.append((rate, float(beta), M, np.nan, draws))
            continue
        got = [
            float(evaluate(coresets.ccs_select(s, M, beta=float(beta), n_bins=n_bins, seed=seed + DRAW_SEED_STEP * d,
                                               hard_is_low=True), float(beta)))
            for d in range(draws)
        ]  # fmt: skip
        rows.append((rate, float(beta), M, float(np.mean(got)), draws))
    return pd.DataFrame(rows, columns=["rate", "beta", "n_coreset", "score", "draws"])


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
    draws: int = CCS_SEARCH_DRAWS,
    arch: str = "resnet18",
    config: training.TrainConfig | None = None,
    device: str = "auto",
    seed: int,
) -> BetaSearch:
    """CCS's beta chosen **per rate** by validation accuracy; never reads a test split.

    The candidate trainer is EVA's window search's (``arch`` on ``train.images[pool[idx]]``
    with ``config``, seed ``seed``, scored on ``(X_val, y_val)``); each beta's score is the
    mean over ``draws`` CCS draws (:func:`beta_search`).
    """
    scores = ccs_scores(dynamics)

    def evaluate(idx: np.ndarray, beta: float) -> float:
        return fit_and_score(train, pool[idx], X_val, y_val, arch=arch, config=config, device=device, seed=seed)["acc"]

    tables = [beta_search(scores, evaluate, rate=r, betas=betas, n_bins=n_bins, draws=draws, seed=seed) for r in rates]
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

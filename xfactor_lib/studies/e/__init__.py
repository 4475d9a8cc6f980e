"""Study E (SPEC 3): EVA coreset selection, from the surrogate run to the verdict.

One module per stage, each readable top to bottom:

:mod:`.recipe`
    What both stages share: :func:`carve` (the surrogate's *pool* and a *validation* set
    from the training split; nothing is ever chosen on the test split), :func:`coreset_config`
    (every coreset trains the full-pool run's optimizer-step budget) and :func:`fit_and_score`.
:mod:`.search` — every choice made on validation (EVA's windows, CCS's beta), candidates
    seeded outside the evaluation seeds.
:mod:`.compare` — method families, paired tests over seeds with Holm, the papers' claims.
:mod:`.surrogate` — stage ``e_surrogate`` (one cell per data set x surrogate seed)
    :func:`run_surrogate`: :func:`train_surrogate` with a
    :class:`~xfactor_lib.dynamics.DynamicsRecorder`, :func:`search_windows` (every EVA window
    pair scored **per rate** by validation accuracy), :func:`pool_embedding` (study Q's
    reference encoder, trained on the pool only, for ``coverage_emb``), then
    :func:`save_surrogate` / :func:`surrogate_records`; :func:`load_surrogate` reads it back.
:mod:`.coreset` — stage ``e_coreset`` (one cell per data set x method, or finer at paper scale)
    :func:`evaluate_coresets` trains on each (method, rate, seed) coreset and scores it on
    the test split; ``method="full"`` is the reference, trained once per seed.
:mod:`.summary` — the summary notebook
    :func:`load`, :func:`coreset_summary`, :func:`window_summary`, :func:`verdict`.
"""

from .compare import FAMILIES, add_family, claims, family_of, paired_differences
from .coreset import evaluate_coresets
from .recipe import carve, coreset_config, fit_and_score, split_pool, step_budget
from .search import (
    SEARCH_SEED_OFFSET,
    BetaSearch,
    Searches,
    WindowSearch,
    best_window,
    run_searches,
    search_betas,
    search_columns,
    search_seed,
    search_windows,
    window_grid,
    window_search,
)
from .summary import (
    METHOD_LABELS,
    PAPER_ANCHORS,
    STAGES,
    TRAINING_FREE,
    beats_random,
    best_methods,
    coreset_summary,
    coreset_table,
    load,
    method_order,
    rate_label,
    surrogate_table,
    verdict,
    window_summary,
)
from .surrogate import (
    Surrogate,
    SurrogateRun,
    load_surrogate,
    pool_embedding,
    run_surrogate,
    save_surrogate,
    surrogate_records,
    train_surrogate,
)

__all__ = [
    "METHOD_LABELS",
    "PAPER_ANCHORS",
    "STAGES",
    "TRAINING_FREE",
    "split_pool",
    "carve",
    "step_budget",
    "coreset_config",
    "fit_and_score",
    "train_surrogate",
    "window_grid",
    "window_search",
    "best_window",
    "WindowSearch",
    "search_windows",
    "pool_embedding",
    "save_surrogate",
    "surrogate_records",
    "Surrogate",
    "load_surrogate",
    "SurrogateRun",
    "run_surrogate",
    "evaluate_coresets",
    "load",
    "surrogate_table",
    "coreset_table",
    "method_order",
    "rate_label",
    "coreset_summary",
    "window_summary",
    "beats_random",
    "best_methods",
    "verdict",
    "SEARCH_SEED_OFFSET",
    "search_seed",
    "search_betas",
    "BetaSearch",
    "run_searches",
    "Searches",
    "search_columns",
    "FAMILIES",
    "family_of",
    "add_family",
    "paired_differences",
    "claims",
]

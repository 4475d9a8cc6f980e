"""Study X subsets chosen for a training-free objective (``kind = "optimized"``, SPEC 5).

``n`` images per class are chosen by a :mod:`xfactor_lib.coresets.greedy` selector — ``coverage``
(facility location on pixel ``exp(-RMSD / tau_data)``) or ``a_max`` (greedy ``A_0``, the
Alpha paper's proposal) — from one of two sources:

- ``"class"``: every training image of the class (one subset per method; deterministic);
- ``"candidates"``: the ``n + m`` random candidates per class that the selected rules of the
  same ``(n, m, repeat)`` choose from (:func:`xfactor_lib.subsets.candidate_indices`, the
  same draw), so an optimized subset and the rule-selected ones are a paired comparison.

Rows follow :data:`xfactor_lib.subsets.MANIFEST_COLUMNS` ``["x"]`` with ``kind =
"optimized"``, ``strategy`` = the method, ``direction = "none"``, ``source`` as above and
``m = 0`` for ``"class"``. Their Z-scores are taken against the random subsets like the
selected ones, so they show whether choosing for the objective helps *every* model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import similarity
from .._validation import check_choice, check_images, check_int
from ..coresets import greedy
from .design import MS, distinct_values, draw_candidates, per_class_design, to_manifest, x_manifest_row

__all__ = ["OPTIMIZED_METHODS", "SOURCES", "optimized_subsets"]

#: Training-free selectors of optimized subsets.
OPTIMIZED_METHODS = ("coverage", "a_max")
#: What the ``n`` per class are chosen from.
SOURCES = ("class", "candidates")


def _choose(method: str, V: np.ndarray, y: np.ndarray, n: int, *, tau: float, max_clients: int, seed: int):
    if method == "coverage":
        return greedy.coverage_select(V, y, n=n, tau=tau, max_clients=max_clients, seed=seed)
    return greedy.a_max_select(V, y, n=n)


def optimized_subsets(
    X: Any,
    y: Any,
    n: int,
    *,
    methods: Sequence[str] = OPTIMIZED_METHODS,
    sources: Sequence[str] = SOURCES,
    ms: Sequence[int] = MS,
    repeats: int = 1,
    seed: int,
    dataset: str = "mnist",
    study: str = "x",
    max_clients: int = 2000,
) -> pd.DataFrame:
    """Optimized subsets of ``n`` images per class: every (method, source[, m, repeat]).

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W) uint8 or (N, D) float in [0, 1]
        The full training split.
    y : ndarray, shape (N,), int
    n : int
        Images per class.
    methods : sequence of {"coverage", "a_max"}
    sources : sequence of {"class", "candidates"}
    ms, repeats : sequence of int, int
        The candidate draws (as :func:`xfactor_lib.subsets.selected_subsets`: the same
        candidates for the same ``(n, m, repeat, seed)``); ``n + m`` above the smallest
        class is left out, as for the selected subsets.
    seed : int
    dataset, study : str
    max_clients : int
        ``coverage`` from a whole class covers a seeded sample of this many images of it
        (memory and time ``max_clients x class size``); candidates are all covered.

    Returns
    -------
    DataFrame
        Manifest (``kind = "optimized"``), rows ordered by method, source, m, repeat.
        ``a_max`` uses the Alpha paper's ``exp(-RMSD)``; ``coverage`` ``exp(-RMSD / tau)``
        with ``tau`` = :func:`similarity.tau_data` of the split (one value for all rows).
    """
    V = check_images(X, "X")
    g = per_class_design(y, n, seed, dataset, study)
    if g.y.shape[0] != V.shape[0]:
        raise ValueError(f"y has {g.y.shape[0]} labels but X has {V.shape[0]} images")
    methods = distinct_values([check_choice(m, "method", OPTIMIZED_METHODS) for m in methods], "methods")
    sources = distinct_values([check_choice(s, "source", SOURCES) for s in sources], "sources")
    ms = distinct_values([check_int(m, "m") for m in ([ms] if isinstance(ms, (int, np.integer)) else ms)], "ms")
    repeats, max_clients = check_int(repeats, "repeats", low=1), check_int(max_clients, "max_clients", low=1)
    if g.n > g.sizes.min():
        raise ValueError(f"n = {g.n} images per class exceeds class {int(g.sizes.argmin())}'s {g.sizes.min()} images")
    tau = similarity.tau_data(V, g.y, seed=g.seed) if "coverage" in methods else 1.0
    opts = dict(tau=tau, max_clients=max_clients, seed=g.seed)
    draws = [(m, r) for m in ms if g.n + m <= g.sizes.min() for r in range(repeats)]
    cands = {(m, r): np.sort(draw_candidates(g.members, g.n, m, r, g.seed).ravel()) for m, r in draws}
    rows = []
    for method in methods:
        if "class" in sources:
            idx = _choose(method, V, g.y, g.n, **opts)
            rows.append(x_manifest_row(g, 0, method, kind="optimized", source="class", indices=idx, candidates=idx))
        if "candidates" in sources:
            for (m, r), c in cands.items():
                idx = c[_choose(method, V[c], g.y[c], g.n, **opts)]
                rows.append(x_manifest_row(g, r, method, "none", m, kind="optimized", source="candidates", indices=idx,
                                   candidates=c))  # fmt: skip
    return to_manifest(rows, "x")

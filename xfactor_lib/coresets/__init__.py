"""Coreset selection: every method behind :func:`select`, the per-sample scores, the greedy engine.

- :mod:`.scores` — per-sample scores from a surrogate's training dynamics (EVA and its
  ablations, Forgetting, Entropy, EL2N, AUM), each stating which end is kept;
- :mod:`.greedy` — training-free selection with class budgets: facility-location
  ``coverage`` (lazy greedy), ``a_max`` (greedy A_q), ``k_center``, :func:`label_agreement`;
- :mod:`.registry` — the :class:`Method` registry and :func:`select`.

Add a method: write its picker (here, or in a concept package below this one), then
``register(Method(name, needs=..., keeps=..., pick=...))`` in :mod:`.registry`; study E's
Table 1 and the CLI find it by name.
"""

from .registry import (
    KEEPS,
    METHODS,
    WINDOW_METHODS,
    Method,
    ccs_default_beta,
    ccs_select,
    coreset_size,
    register,
    select,
    select_top,
)

__all__ = [
    "Method",
    "METHODS",
    "KEEPS",
    "WINDOW_METHODS",
    "register",
    "select",
    "coreset_size",
    "select_top",
    "ccs_select",
    "ccs_default_beta",
]

"""Training: one model, a stack of models, or one model per subset of a manifest.

Modules, bottom to top (each imports only those before it):

- :mod:`.config` — :class:`TrainConfig` (study X / A's Adam step schedule, study E's SGD
  cosine with a step budget), :class:`FitResult`, the optimizer, tensor and input helpers;
- :mod:`.fit` — :func:`fit_model`, :func:`fit_torch`, :func:`evaluate`,
  :func:`classification_metrics`;
- :mod:`.stacked` — a *stack*: equal-size subsets of one net trained side by side with
  ``torch.func`` (its *members* have their own seeds, shuffles, optimizer states and stop
  rules);
- :mod:`.subsets` — :func:`fit_subsets`: one record per subset of a manifest, one by one,
  stacked (``batch_models``) or in scikit-learn worker processes (``n_jobs``).
"""

from .config import (
    OPTIMIZERS,
    SCHEDULES,
    FitResult,
    TrainConfig,
    cpu_threads,
    fit_columns,
    full_precision,
    images_on,
    make_optimizer,
    unit_float,
)
from .fit import classification_metrics, evaluate, fit_model, fit_torch, predict_proba_torch
from .subsets import fit_subsets

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "TrainConfig",
    "FitResult",
    "cpu_threads",
    "make_optimizer",
    "images_on",
    "unit_float",
    "full_precision",
    "fit_torch",
    "predict_proba_torch",
    "classification_metrics",
    "fit_model",
    "evaluate",
    "fit_columns",
    "fit_subsets",
]

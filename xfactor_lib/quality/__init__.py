"""Study Q's concept: the quality of a training subset measured before training.

- :mod:`.pool` — the distance blocks between a reference sample and many subsets' images,
  computed once (the bottom of the package);
- :mod:`.measurement` — the training-free measures (:func:`measures`,
  :func:`measures_table`) of a subset against a class-balanced :class:`Reference`;
- :mod:`.review` — near-duplicate pairs and the least-covered reference images (the report);
- :mod:`.encoder` — the reference CNN whose embedding gives the embedding kernel;
- :mod:`.probes` — labelled probes of the subset on the reference (kNN, kernel and kernel
  ridge classifiers, nearest centroid), class-conditional MMD and optimal transport,
  coverage at several scales (family ``probe``);
- :mod:`.predictor` — single-measure R^2, the descriptive fixed-penalty ridge, candidate groups;
- :mod:`.resampling` — grouped folds, group bootstrap, the noise ceiling;
- :mod:`.nested` — the nested predictor (penalty, transform, screening, model family chosen
  inside the training folds) and transfer between datasets.

Add a measure: compute it in :mod:`.measurement` (from :mod:`.pool`'s blocks), name it in
:func:`measure_names` and give it a :func:`family`; study Q's tables pick it up.
"""

from . import encoder, nested, predictor, probes, resampling
from .measurement import (
    AMBIGUITY_K,
    FAMILIES,
    MISSING_RMSD,
    Reference,
    class_table,
    family,
    make_reference,
    measure_names,
    measures,
    measures_table,
    vendi,
)
from .review import least_covered, near_duplicates

__all__ = [
    "AMBIGUITY_K",
    "FAMILIES",
    "MISSING_RMSD",
    "Reference",
    "class_table",
    "family",
    "make_reference",
    "measure_names",
    "measures",
    "measures_table",
    "vendi",
    "near_duplicates",
    "least_covered",
    "encoder",
    "predictor",
    "nested",
    "probes",
    "resampling",
]

"""The similarity engine: pixel RMSD, similarity sources for LCR, embeddings and neighbours.

- :mod:`.rmsd` — ``RMSD(a, b) = sqrt(mean((a - b)**2))`` over images scaled to [0, 1]
  (SPEC 0): :func:`pairwise_rmsd`, :func:`iter_rmsd_blocks`, :func:`rmsd_to_images`,
  :func:`class_means`, :func:`similarity_from_rmsd`, :func:`tau_data`; every RMSD comes from
  one block routine (:mod:`._gram`), with one cancellation policy, :data:`CANCEL_TOL`;
- :mod:`.sources` — blockwise ``Z`` for LCR: :class:`ArraySimilarity`,
  :class:`RMSDSimilarity`, :class:`EmbeddingSimilarity`;
- :mod:`.neighbours` — :func:`unit_rows` (the one embedding normaliser), :func:`nearest`,
  :func:`label_vote` (the one kNN label vote and its tie rule).

Devices: ``"cpu"`` numpy; ``"cuda"`` torch on the GPU; ``"torch:cpu"`` the torch code on the
CPU; ``"auto"`` a GPU when one is visible.
"""

from .neighbours import label_vote, nearest, unit_rows
from .rmsd import (
    CANCEL_TOL,
    class_means,
    iter_rmsd_blocks,
    pairwise_rmsd,
    rmsd_to_images,
    similarity_from_rmsd,
    tau_data,
)
from .sources import ArraySimilarity, EmbeddingSimilarity, RMSDSimilarity, SimilaritySource, blockwise_product

__all__ = [
    "CANCEL_TOL",
    "SimilaritySource",
    "ArraySimilarity",
    "RMSDSimilarity",
    "EmbeddingSimilarity",
    "blockwise_product",
    "pairwise_rmsd",
    "iter_rmsd_blocks",
    "rmsd_to_images",
    "class_means",
    "similarity_from_rmsd",
    "tau_data",
    "unit_rows",
    "nearest",
    "label_vote",
]

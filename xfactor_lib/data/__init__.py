"""Data: every loader of the suite, behind :func:`load_dataset`.

- :mod:`.files` — reading what is on disk (IDX, ``.npz``, image folders) into uint8 images
  and integer labels, with one clear error per kind of bad file;
- :mod:`.stats` — per-class counts and pixel statistics (the ``00_data`` stage);
- :mod:`.loading` — names, roots and caches: :func:`load_dataset`, :func:`load_train_test`,
  :class:`Dataset`, :func:`balanced_sample`, :func:`train_val_split`.
"""

from .files import DataNotFoundError
from .loading import (
    Dataset,
    cache_dir,
    data_roots,
    dataset_names,
    load_dataset,
    load_train_test,
    medmnist_flags,
)
from .sampling import balanced_sample, train_val_split
from .stats import pixel_stats, sample_per_class

__all__ = [
    "Dataset",
    "DataNotFoundError",
    "load_dataset",
    "load_train_test",
    "dataset_names",
    "medmnist_flags",
    "balanced_sample",
    "train_val_split",
    "pixel_stats",
    "sample_per_class",
    "cache_dir",
    "data_roots",
]

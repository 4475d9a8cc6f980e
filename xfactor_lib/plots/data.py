"""Figures of the data notebook (``00_data``)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..data import Dataset, sample_per_class


def _image(ax, img: np.ndarray) -> None:
    """Show one (C, H, W) image, uint8 or float in [0, 1]."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 1)
    if img.shape[0] == 1:
        ax.imshow(img[0], cmap="gray", vmin=0, vmax=255 if img.dtype == np.uint8 else 1)
    else:
        ax.imshow(np.moveaxis(img, 0, -1))
    ax.set_xticks([])
    ax.set_yticks([])


def class_counts(ds: Dataset) -> Figure:
    """Bar chart of images per class."""
    fig = Figure(figsize=(max(4, 0.5 * ds.K + 2), 3))
    ax = fig.subplots()
    counts = ds.class_counts()
    ax.bar(range(ds.K), counts, color="tab:blue")
    ax.set_xticks(range(ds.K), [str(c)[:12] for c in ds.classes], rotation=45 if ds.K > 10 else 0, ha="right")
    ax.set_ylabel("images")
    ax.set_title(f"{ds.name} / {ds.split}: {ds.N} images, {ds.K} classes")
    fig.tight_layout()
    return fig


def sample_grid(ds: Dataset, per_class: int = 8, *, seed: int = 0) -> Figure:
    """A grid of random images, one row per class."""
    idx = sample_per_class(ds, per_class, seed=seed)
    fig = Figure(figsize=(per_class * 0.8 + 1, ds.K * 0.8))
    axes = np.atleast_2d(fig.subplots(ds.K, per_class, squeeze=False))
    for k in range(ds.K):
        for j in range(per_class):
            ax = axes[k, j]
            if idx[k, j] >= 0:
                _image(ax, ds.images[idx[k, j]])
            else:
                ax.axis("off")
        axes[k, 0].set_ylabel(str(ds.classes[k])[:10], rotation=0, ha="right", va="center")
    fig.suptitle(f"{ds.name} / {ds.split}: random images per class")
    return fig


def class_mean_images(means: np.ndarray, shape: tuple[int, int, int], classes: list[str]) -> Figure:
    """Class mean images; ``means`` is (K, D) float in [0, 1], ``shape`` is (C, H, W)."""
    K = len(means)
    fig = Figure(figsize=(1.2 * K, 1.6))
    axes = np.atleast_1d(fig.subplots(1, K, squeeze=False)[0])
    for k in range(K):
        _image(axes[k], means[k].reshape(shape))
        axes[k].set_title(str(classes[k])[:10], fontsize=8)
    fig.suptitle("class mean images (full split)")
    return fig

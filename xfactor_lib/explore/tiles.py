"""Image mosaics for the explorer: one row of images per class, encoded as PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..similarity import class_means

__all__ = ["image_grid", "png_bytes", "image_grid_png", "mean_images"]


def _tile(img: np.ndarray, cell: int) -> np.ndarray:
    """One (C, H, W) uint8 image as (cell, cell, 3) uint8 RGB."""
    from PIL import Image

    img = np.asarray(img)
    rgb = np.repeat(img[0][..., None], 3, axis=2) if img.shape[0] == 1 else np.moveaxis(img[:3], 0, -1)
    H, W = rgb.shape[:2]
    if (H, W) == (cell, cell):
        return np.ascontiguousarray(rgb)
    method = Image.NEAREST if H <= cell and W <= cell else Image.BOX
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize((cell, cell), method))


def image_grid(
    images: np.ndarray,
    rows: Sequence[np.ndarray],
    *,
    labels: Sequence[str] | None = None,
    columns: int | None = None,
    cell: int = 32,
    pad: int = 2,
) -> np.ndarray:
    """A mosaic with one row of images per entry of ``rows``.

    Parameters
    ----------
    images : ndarray, shape (N, C, H, W), uint8
    rows : sequence of int arrays
        Indices into ``images`` shown in each row (a row may be empty).
    labels : sequence of str, optional
        Written left of each row.
    columns : int, optional
        Slots per row; default the longest row (at least 1).
    cell : int
        Side of one image in pixels (nearest-neighbour upscaling, box downscaling).
    pad : int
        Pixels between images.

    Returns
    -------
    ndarray, shape (height, width, 3), uint8
    """
    from PIL import Image, ImageDraw

    columns = max([1, *(len(r) for r in rows)]) if columns is None else max(1, int(columns))
    labels = [str(s) for s in labels] if labels is not None else []
    lw = 7 * max([0, *(len(s) for s in labels)]) + (6 if labels else 0)
    h = pad + len(rows) * (cell + pad)
    w = lw + pad + columns * (cell + pad)
    canvas = np.full((max(h, 1), w, 3), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        top = pad + i * (cell + pad)
        for j, idx in enumerate(np.asarray(row, dtype=np.int64)[:columns]):
            left = lw + pad + j * (cell + pad)
            canvas[top : top + cell, left : left + cell] = _tile(images[idx], cell)
    if labels:
        pic = Image.fromarray(canvas)
        draw = ImageDraw.Draw(pic)
        for i, text in enumerate(labels[: len(rows)]):
            draw.text((3, pad + i * (cell + pad) + cell // 2 - 5), text, fill=(0, 0, 0))
        canvas = np.asarray(pic)
    return canvas


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG encoding of an (height, width, 3) uint8 array."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG")
    return buf.getvalue()


def image_grid_png(images: np.ndarray, rows: Sequence[np.ndarray], **kwargs: Any) -> bytes:
    """:func:`image_grid` encoded as PNG bytes (for ``ipywidgets.Image``)."""
    return png_bytes(image_grid(images, rows, **kwargs))


def mean_images(X: np.ndarray, y: np.ndarray, K: int) -> np.ndarray:
    """The mean image of every class, as uint8 images to tile.

    Parameters
    ----------
    X : ndarray, shape (N, C, H, W), uint8
    y : ndarray, shape (N,), int
    K : int

    Returns
    -------
    ndarray, shape (K, C, H, W), uint8
        A class with no image in ``y`` gets a blank (white) image.
    """
    present = np.flatnonzero(np.bincount(y, minlength=K) > 0)
    means = np.ones((K, int(np.prod(X.shape[1:]))))
    if present.size:
        remap = np.full(K, -1)
        remap[present] = np.arange(present.size)
        means[present] = class_means(X, remap[y], K=present.size)
    return np.rint(np.clip(means, 0, 1) * 255).astype(np.uint8).reshape(len(means), *X.shape[1:])

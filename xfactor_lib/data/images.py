"""High-depth image files and the shape agreement of a dataset's splits (new layout: ``data/``).

Image files become the suite's uint8 pixels (:func:`image_to_uint8`):

- 8-bit grey (``L``) and colour (``RGB``) as they are; ``1`` (bilevel) and ``LA`` (grey with
  alpha) as grey, one channel; palette, RGBA, CMYK... as RGB (alpha dropped).
- 16-bit grey (``I;16``, ``I;16B``...): ``round(v * 255 / white)``, ``white = 65535`` (the
  bit depth), one channel. 32-bit integer (``I``, how some readers give 16-bit PNGs) with
  values in 0..65535 likewise (a 16-bit container); larger values are refused.
- 32-bit float (``F``): ``white = 1``.
- ``pixel_scale`` replaces ``white`` for these high-depth files, e.g. 4095 for 12-bit data
  stored in 16-bit files (scaled by 65535 those would use 0..16 of 0..255). A value outside
  ``[0, white]`` is an error naming the file and the fix; never clipped, never stretched
  per image (that would change the relative brightness of images).

The scaling is recorded in the dataset's ``meta`` (:func:`depth_meta`). PIL reads a 16-bit
RGB PNG as 8-bit ``RGB`` itself (the high byte), which is the same scaling.

:func:`check_same_shape` refuses splits of one dataset whose images differ in channels or
size, naming both; :func:`npz_split_shapes` and :func:`folder_split_shape` give the other
splits' image shapes without decoding them.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "depth_meta",
    "image_to_uint8",
    "read_image_files",
]

GREY_MODES = ("L", "1", "LA", "I", "F", "I;16", "I;16L", "I;16B", "I;16N")
_WHITE16 = 65535


def image_to_uint8(im: Any, path: Path | str, *, pixel_scale: float | None = None) -> tuple[np.ndarray, dict]:
    """One PIL image as uint8 ``(H, W)`` (grey) or ``(H, W, 3)`` (colour), and how it was scaled.

    Parameters
    ----------
    im : PIL.Image.Image
    path : path
        Named in messages.
    pixel_scale : float, optional
        The value of white in a high-depth (16-bit, 32-bit or float) image.

    Returns
    -------
    pixels : ndarray, uint8
    info : dict
        ``{"mode", "bits", "white", "max"}`` (``max``: the largest raw value).

    Raises
    ------
    ValueError
        A value outside ``[0, white]`` (the message names the file and ``pixel_scale``).
    """
    mode = im.mode
    if mode in ("L", "RGB"):
        return np.asarray(im), {"mode": mode, "bits": 8, "white": 255, "max": None}
    if mode in ("1", "LA"):
        return np.asarray(im.convert("L")), {"mode": mode, "bits": 8, "white": 255, "max": None}
    if mode not in GREY_MODES:
        return np.asarray(im.convert("RGB")), {"mode": mode, "bits": 8, "white": 255, "max": None}
    raw = np.asarray(im)
    if mode == "F":
        bits, default = 32, 1.0
    else:
        bits, default = 16, float(_WHITE16)
        if mode == "I" and raw.size and int(raw.max()) > _WHITE16 and pixel_scale is None:
            raise ValueError(
                f"{path}: 32-bit integer pixels up to {int(raw.max())} (more than 16 bits); pass "
                "pixel_scale=<the value of white> to load_dataset, or save the images as 8- or 16-bit"
            )
    white = default if pixel_scale is None else float(pixel_scale)
    if not white > 0:
        raise ValueError(f"pixel_scale must be positive, got {pixel_scale}")
    values = raw.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"{path} has NaN or inf pixels; clean the image first")
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if lo < 0 or hi > white:
        fix = "pass pixel_scale=<the value of white> to load_dataset" if pixel_scale is None else "check pixel_scale"
        raise ValueError(f"{path} ({mode}): pixel values [{lo:.6g}, {hi:.6g}] lie outside [0, {white:g}]; {fix}")
    return np.rint(values * (255.0 / white)).astype(np.uint8), {"mode": mode, "bits": bits, "white": white, "max": hi}


def read_image_files(files: list[Path], base: Path, *, pixel_scale: float | None = None) -> tuple[np.ndarray, dict]:
    """uint8 ``(N, C, H, W)`` from image files of one size, and :func:`depth_meta` of them.

    Grey files give one channel, unless a file of the split is in colour (then all are RGB).
    """
    from PIL import Image, UnidentifiedImageError

    imgs, infos = [], []
    for f in files:
        try:
            with Image.open(f) as im:
                arr, info = image_to_uint8(im, f, pixel_scale=pixel_scale)
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"{f} is not a readable image ({type(exc).__name__}); remove or replace it") from None
        imgs.append(arr)
        infos.append(info)
    shapes = {a.shape[:2] for a in imgs}
    if len(shapes) > 1:
        raise ValueError(f"images in {base} differ in size ({sorted(shapes)[:3]}...); resize them to one size")
    rgb = any(a.ndim == 3 for a in imgs)
    arr = np.stack([(np.stack([a] * 3, -1) if a.ndim == 2 else a) if rgb else a for a in imgs])
    images = np.ascontiguousarray(arr.transpose(0, 3, 1, 2) if rgb else arr[:, None], dtype=np.uint8)
    return images, depth_meta(infos, base)


def depth_meta(infos: list[dict], where: Any = "") -> dict:
    """``{"pixel_depth": {...}}`` for a dataset's meta: the modes, bit depths and white values.

    Warns when 16-bit images use at most 12 bits (they come out dark: pass ``pixel_scale``).
    """
    modes = sorted({i["mode"] for i in infos})
    high = [i for i in infos if i["bits"] > 8]
    meta = {"modes": modes, "bits": sorted({i["bits"] for i in infos})}
    if high:
        whites = sorted({i["white"] for i in high})
        top = max(i["max"] for i in high)
        meta |= {"white": whites[0] if len(whites) == 1 else whites, "max_value": top}
        meta["scaling"] = "uint8 = round(value * 255 / white)"
        if any(i["bits"] == 16 for i in high) and whites == [float(_WHITE16)] and top < 4096:
            warnings.warn(
                f"{where}: 16-bit images with values only up to {top:g} (12 bits or fewer) come out dark "
                f"(at most {round(top * 255 / _WHITE16)} of 255); pass pixel_scale={top:g} (or the bit depth's "
                "white, e.g. 4095) to load_dataset to use the full range",
                stacklevel=3,
            )
    return {"pixel_depth": meta}


# --------------------------------------------------------------------------- split agreement

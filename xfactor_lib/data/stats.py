"""Descriptions of one data split: per-class pixel statistics and random images per class."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import check_int

__all__ = ["class_count_table", "overview", "pixel_stats", "sample_per_class", "verdict"]


def pixel_stats(ds) -> pd.DataFrame:
    """Per-class pixel statistics of a split, one row per class plus an ``all`` row.

    Parameters
    ----------
    ds : Dataset
        uint8 images ``(N, C, H, W)`` and labels ``(N,)`` of ``K`` classes.

    Returns
    -------
    DataFrame, K + 1 rows
        ``dataset, split, class, label, count, mean, std, min, max, frac_zero`` (pixels
        scaled to [0, 1]; an empty class has only its count).
    """

    X = ds.images.reshape(ds.N, -1)
    rows = []
    groups = [(str(k), ds.classes[k], ds.labels == k) for k in range(ds.K)] + [("all", "all", slice(None))]
    for label, cname, sel in groups:
        Xi = X[sel]
        if Xi.size == 0:
            rows.append({"label": label, "class": cname, "count": 0})
            continue
        v = Xi.astype(np.float64) / 255.0
        rows.append(
            {
                "label": label,
                "class": cname,
                "count": int(len(Xi)),
                "mean": float(v.mean()),
                "std": float(v.std()),
                "min": float(v.min()),
                "max": float(v.max()),
                "frac_zero": float((Xi == 0).mean()),
            }
        )
    df = pd.DataFrame(rows)
    df.insert(0, "split", ds.split)
    df.insert(0, "dataset", ds.name)
    return df


def sample_per_class(ds, per_class: int, *, seed: int = 0) -> np.ndarray:
    """Indices ``(K, per_class)`` of random images of each class (-1 pads a small class)."""
    per_class = check_int(per_class, "per_class", low=1)
    rng = np.random.default_rng(seed)
    out = np.full((ds.K, per_class), -1, dtype=np.int64)
    for k in range(ds.K):
        idx = np.flatnonzero(ds.labels == k)
        take = rng.choice(idx, size=min(per_class, len(idx)), replace=False)
        out[k, : len(take)] = np.sort(take)
    return out


# --------------------------------------------------------------------------- data summary
def _check_stats(stats: pd.DataFrame) -> pd.DataFrame:
    from .._validation import check_frame

    return check_frame(stats, ("dataset", "split", "label", "count"), what="data records (pixel_stats rows)")


def class_count_table(stats: pd.DataFrame) -> pd.DataFrame:
    """Images per class: one row per (dataset, split), one column per class label.

    Parameters
    ----------
    stats : DataFrame
        Rows of :func:`pixel_stats` for one or more splits (the ``data`` stage's records).
    """
    stats = _check_stats(stats)
    per_class = stats[stats["label"] != "all"]
    return per_class.pivot_table(index=["dataset", "split"], columns="label", values="count", aggfunc="first")


def overview(stats: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, split): ``dataset, split, count, mean, std, frac_zero, K, imbalance``.

    ``imbalance`` is the largest class count over the smallest (inf when a class is empty).
    """
    stats = _check_stats(stats)
    per_class = stats[stats["label"] != "all"].groupby(["dataset", "split"])["count"]
    shape = pd.DataFrame({"K": per_class.size(), "imbalance": per_class.max() / per_class.min()}).reset_index()
    overall = stats[stats["label"] == "all"][["dataset", "split", "count", "mean", "std", "frac_zero"]]
    return overall.merge(shape, on=["dataset", "split"], how="left").reset_index(drop=True)


def verdict(stats: pd.DataFrame, note: str) -> str:
    """The data summary's opening section (markdown): what was read, then one line per split.

    Parameters
    ----------
    stats : DataFrame
        The ``data`` stage's records (:func:`pixel_stats` rows).
    note : str
        :func:`xfactor_lib.sweep.read_note` for the ``data`` stage.
    """
    table = overview(stats)
    lines = ["## Verdict", "", note, ""]
    for r in table.itertuples():
        balance = (
            "an empty class"
            if not pd.notna(r.imbalance) or r.imbalance == float("inf")
            else (f"largest/smallest class {r.imbalance:.2f}")
        )
        lines.append(
            f"- **{r.dataset} / {r.split}**: {int(r.count)} images, {int(r.K)} classes, {balance}; "
            f"mean pixel {r.mean:.3f}, {100 * r.frac_zero:.0f} % zero pixels"
        )
    return "\n".join(lines)

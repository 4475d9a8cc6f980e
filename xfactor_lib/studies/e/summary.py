"""Study E, the summary: :func:`load` the records, Table 1 (:func:`coreset_summary`,
:func:`coreset_table`), Fig. 5 aggregates (:func:`window_summary`) and the verdict that
opens the summary notebook; everything is computed from the ``e_coreset`` and
``e_surrogate`` records.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

from ... import sweep
from ..._validation import check_frame

__all__ = [
    "STAGES",
    "METHOD_LABELS",
    "load",
    "surrogate_table",
    "coreset_table",
    "method_order",
    "rate_label",
    "PAPER_ANCHORS",
    "TRAINING_FREE",
    "coreset_summary",
    "window_summary",
    "beats_random",
    "best_methods",
    "verdict",
]

STAGES = ("e_surrogate", "e_coreset")

#: Display names, in the paper's order, then the training-free methods (SPEC 5).
METHOD_LABELS = {
    "full": "Full dataset",
    "random": "Random",
    "forgetting": "Forgetting",
    "entropy": "Entropy",
    "el2n": "EL2N",
    "aum": "AUM",
    "ccs": "CCS",
    "eva": "EVA",
    "var_s": "VAR-S",
    "exp_s": "EXP-S",
    "var_d": "VAR-D",
    "exp_d": "EXP-D",
    "coverage": "Coverage",
    "coverage_emb": "Coverage (emb.)",
    "coverage_clean": "Coverage (clean)",
    "a_max": "A₀-max",
    "k_center": "k-Center",
}

#: Methods that choose without a surrogate run (SPEC 5; :mod:`xfactor_lib.coresets.greedy`).
TRAINING_FREE = ("coverage", "coverage_emb", "coverage_clean", "a_max", "k_center")

#: Paper anchor (EVA paper, ResNet-18, test accuracy %), by data set, method and rate.
PAPER_ANCHORS = {
    "organamnist": {
        "random": {0.02: 87.63, 0.05: 93.43, 0.1: 95.68, 0.2: 97.30, 0.3: 98.14},
        "eva": {0.02: 88.83, 0.05: 94.43, 0.1: 97.20, 0.2: 98.27, 0.3: 98.63},
    }
}
_PAPER = {
    "arch": "resnet18",
    "surrogate_epochs": 200,
    "window": 10,
    "step": 10,
    "seeds": 3,
    "datasets": ("organamnist", "organsmnist"),
    "rates": (0.02, 0.05, 0.1, 0.2, 0.3),
}


def _mean_sd(df: pd.DataFrame, keys: list[str], metric: str) -> pd.DataFrame:
    return (
        df.groupby(keys, sort=True, dropna=False)[metric]
        .agg(mean="mean", sd=lambda v: v.std(ddof=1) if len(v) > 1 else np.nan, n="count")
        .reset_index()
    )


def method_order(methods: Sequence[str]) -> list[str]:
    """``methods`` in the order of :data:`METHOD_LABELS`, unknown ones last (sorted)."""
    known = [m for m in METHOD_LABELS if m in set(methods)]
    return known + sorted(set(methods) - set(known))


def rate_label(rate: float) -> str:
    """``0.02`` -> ``"2%"``."""
    return f"{100 * rate:g}%"


def load(run_dir: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``e_coreset`` records (one row per method x rate x seed) and the ``e_surrogate``
    records (one row per rate x window combination) of a run."""
    return sweep.collect(run_dir, "e_coreset"), sweep.collect(run_dir, "e_surrogate")


#: What the summary shows of each surrogate run (one row per surrogate x rate).
SURROGATE_COLUMNS = (
    "dataset", "seed", "arch", "n_pool", "n_val", "surrogate_epochs", "surrogate_train_acc",
    "surrogate_test_acc", "rate", "best_early", "best_late", "window", "eva_variant",
)  # fmt: skip


def surrogate_table(surrogate_records: pd.DataFrame) -> pd.DataFrame:
    """The surrogate runs and the windows chosen on validation at each rate (3 decimals)."""
    check_frame(surrogate_records, ["cell_id", *SURROGATE_COLUMNS], what="e_surrogate records")
    return surrogate_records.drop_duplicates(["cell_id", "rate"])[list(SURROGATE_COLUMNS)].round(3)


def coreset_table(summary: pd.DataFrame, *, percent: bool = True, digits: int = 2) -> pd.DataFrame:
    """Table 1: methods x rates, cells ``"mean ± sd"`` over seeds (display only).

    Parameters
    ----------
    summary : DataFrame
        :func:`~xfactor_lib.studies.e.coreset_summary` output (``dataset, arch`` become
        index levels when several are present).
    percent : bool
        Show values x 100 (accuracy in %).
    digits : int

    Returns
    -------
    DataFrame
        Index: method display names (full data first); columns: rates as ``"2%"`` ...;
        the full-data row repeats its value in every column; a missing cell is ``""``.
    """
    check_frame(summary, ["method", "rate", "mean", "sd"], what="summary (coreset_summary output)")
    scale = 100.0 if percent else 1.0
    fmt = f"{{:.{digits}f}}"

    def cell(mean: float, sd: float) -> str:
        sd_txt = "–" if pd.isna(sd) else fmt.format(scale * sd)
        return f"{fmt.format(scale * mean)} ± {sd_txt}"

    extra = [k for k in ("dataset", "arch") if k in summary.columns and summary[k].nunique() > 1]
    rates = sorted(summary.loc[summary["method"] != "full", "rate"].unique())
    columns = [rate_label(r) for r in rates]
    rows, index = [], []
    groups = summary.groupby(extra, sort=True) if extra else [((), summary)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        for method in method_order(part["method"].unique()):
            m = part[part["method"] == method]
            if method == "full":
                rows.append([cell(m["mean"].iloc[0], m["sd"].iloc[0])] * len(rates))
            else:
                by_rate = {r: cell(mu, sd) for r, mu, sd in zip(m["rate"], m["mean"], m["sd"])}
                rows.append([by_rate.get(r, "") for r in rates])
            index.append((*key, METHOD_LABELS.get(method, method)))
    names = [*extra, "method"]
    idx = pd.MultiIndex.from_tuples(index, names=names) if extra else pd.Index([i[-1] for i in index], name="method")
    return pd.DataFrame(rows, index=idx, columns=pd.Index(columns, name="rate"))


def coreset_summary(
    records: pd.DataFrame, *, metric: str = "acc", by: Sequence[str] = ("dataset", "arch", "method", "rate")
) -> pd.DataFrame:
    """Mean and sample sd (ddof=1) of ``metric`` over seeds per method x rate (Table 1).

    Rows with method ``"full"`` are the full-pool reference: rate 1.0, and one row per
    (dataset, arch, seed) however many cells trained it, so its sd is over seeds.

    Returns
    -------
    DataFrame
        The present ``by`` columns, then ``mean, sd, n``.
    """
    check_frame(records, ["method", "rate", metric], what="records")
    df = records.copy()
    df.loc[df["method"] == "full", "rate"] = 1.0
    once = [k for k in ("dataset", "arch", "method", "seed") if k in df.columns]
    df = pd.concat([df[df["method"] != "full"], df[df["method"] == "full"].drop_duplicates(once)])
    return _mean_sd(df, [k for k in by if k in df.columns], metric)


def window_summary(
    window_records: pd.DataFrame, *, metric: str = "score", by: Sequence[str] = ("dataset", "rate")
) -> pd.DataFrame:
    """Mean and sample sd of ``metric`` per window combination (Fig. 5).

    Returns
    -------
    DataFrame
        The present ``by`` columns, ``early_start, late_start`` (Int64), ``mean, sd, n``.
    """
    check_frame(window_records, ["early_start", "late_start", metric], what="window records")
    df = window_records.astype({"early_start": "Int64", "late_start": "Int64"})
    return _mean_sd(df, [k for k in by if k in df.columns] + ["early_start", "late_start"], metric)


def beats_random(summary: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, arch, rate): methods whose mean beats Random's beyond the seeds' spread.

    A method beats Random when ``mean - sd > random_mean + random_sd`` (the ±1 sd bands
    over seeds do not overlap; a missing sd counts as 0).

    Returns
    -------
    DataFrame
        The present ``dataset, arch`` columns, ``rate, random_mean, random_sd, winners``
        (list of methods, best mean first).
    """
    keys = [k for k in ("dataset", "arch") if k in summary.columns] + ["rate"]
    rows = []
    for key, part in summary[summary["method"] != "full"].groupby(keys, sort=True):
        rnd = part[part["method"] == "random"]
        if rnd.empty:
            continue
        mu, sd = float(rnd["mean"].iloc[0]), float(np.nan_to_num(rnd["sd"].iloc[0]))
        others = part[part["method"] != "random"]
        win = others[others["mean"] - others["sd"].fillna(0) > mu + sd].sort_values("mean", ascending=False)
        rows.append({**dict(zip(keys, key)), "random_mean": mu, "random_sd": sd, "winners": list(win["method"])})
    return pd.DataFrame(rows)


def best_methods(summary: pd.DataFrame, *, among: Sequence[str] | None = None) -> pd.DataFrame:
    """Per (dataset, arch, rate): the method with the best mean and its margin over Random.

    Parameters
    ----------
    summary : DataFrame
        :func:`coreset_summary` output (``method, rate, mean, sd``).
    among : sequence of str, optional
        Only these methods compete (e.g. :data:`TRAINING_FREE`); default every method but
        Random and the full reference.

    Returns
    -------
    DataFrame
        The present ``dataset, arch`` columns, ``rate, method, mean, sd, random_mean,
        random_sd, margin`` (mean minus Random's mean) and ``beyond_spread`` (``mean - sd >
        random_mean + random_sd``, as :func:`beats_random`); rates without Random or without
        a competing method are left out.
    """
    keys = [k for k in ("dataset", "arch") if k in summary.columns] + ["rate"]
    rows = []
    for key, part in summary[summary["method"] != "full"].groupby(keys, sort=True):
        rnd = part[part["method"] == "random"]
        others = part[part["method"] != "random"]
        if among is not None:
            others = others[others["method"].isin(list(among))]
        if rnd.empty or others.empty:
            continue
        best = others.loc[others["mean"].astype(float).idxmax()]
        mu, sd = float(rnd["mean"].iloc[0]), float(np.nan_to_num(rnd["sd"].iloc[0]))
        b_sd = float(np.nan_to_num(best["sd"]))
        rows.append(
            {**dict(zip(keys, key)), "method": best["method"], "mean": float(best["mean"]), "sd": b_sd,
             "random_mean": mu, "random_sd": sd, "margin": float(best["mean"]) - mu,
             "beyond_spread": bool(float(best["mean"]) - b_sd > mu + sd)}
        )  # fmt: skip
    return pd.DataFrame(rows)


def _best_lines(summary: pd.DataFrame, label: dict, among: Sequence[str] | None) -> list[str]:
    out = []
    for r in best_methods(summary, among=among).itertuples():
        where = " / ".join(str(getattr(r, k)) for k in ("dataset", "arch") if hasattr(r, k))
        out.append(
            f"- {100 * r.rate:g} % ({where}): {label.get(r.method, r.method)} {_pct(r.mean)} ± {_pct(r.sd)}, "
            f"{100 * r.margin:+.1f} points over Random ({_pct(r.random_mean)} ± {_pct(r.random_sd)}); "
            f"beyond the seeds' spread: {'yes' if r.beyond_spread else 'no'}"
        )
    return out


def _joined(frame: pd.DataFrame, col: str) -> str:
    """The distinct values of a column, comma-joined ("?" when the column is absent)."""
    return ", ".join(str(v) for v in sorted(set(frame[col]))) if col in frame else "?"


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


def _deviations(co: pd.DataFrame, su: pd.DataFrame) -> list[str]:
    """What differs from the paper's set-up (SPEC 3), read from the records."""
    out = []
    archs = sorted(set(co["arch"]))
    if archs != [_PAPER["arch"]]:
        out.append(f"coresets trained with {', '.join(a.upper() for a in archs)}, not ResNet-18")
    models = sorted(set(su["arch"]))
    if models != [_PAPER["arch"]]:
        out.append(f"surrogate {', '.join(m.upper() for m in models)}, not ResNet-18")
    epochs = sorted(set(su["surrogate_epochs"].astype(int)))
    if epochs != [_PAPER["surrogate_epochs"]]:
        out.append(f"surrogate trained {', '.join(map(str, epochs))} epochs, not 200")
    wins = sorted(set(zip(su["window"].astype(int), su["step"].astype(int))))
    if wins != [(_PAPER["window"], _PAPER["step"])]:
        out.append("windows of " + ", ".join(f"{w} epochs on a step-{s} grid" for w, s in wins) + ", not 10 / 10")
    other = sorted(set(co["dataset"]) - set(_PAPER["datasets"])) if "dataset" in co else []
    if other:
        out.append(f"data set {', '.join(other)}, not OrganAMNIST / OrganSMNIST")
    if "pool_size" in su and (su["pool_size"] > 0).any():
        out.append(f"surrogate pool of {int(su['n_pool'].max()):,} class-balanced training images, not the whole split")
    if "test_sample" in co and (co["test_sample"] > 0).any():
        out.append(f"test accuracy on a class-balanced sample of {int(co['n_test'].max()):,} test images")
    n_seeds = co["seed"].nunique()
    if n_seeds != _PAPER["seeds"]:
        out.append(f"{n_seeds} seeds, not 3")
    if "optimizer" in co and set(co["optimizer"].dropna()) - {"sgd"}:
        out.append("coresets trained with " + ", ".join(sorted(set(co["optimizer"].dropna()))) + ", not SGD")
    return out


def verdict(coreset_records: pd.DataFrame, surrogate_records: pd.DataFrame, *, note: str, metric: str = "acc") -> str:
    """The markdown "Verdict" that opens the study E summary, computed from the records.

    Parameters
    ----------
    coreset_records : DataFrame
        ``e_coreset`` records (:func:`evaluate_coresets`).
    surrogate_records : DataFrame
        ``e_surrogate`` records (:func:`surrogate_records`).
    note : str
        What the summary read (``sweep.read_note``).
    metric : str

    Returns
    -------
    str
        Markdown: the note; what ran (data sets, surrogate, coreset arch and step budget,
        seeds, scale, device, pretrained or not); deviations from the paper; per rate the
        methods beating Random beyond the seeds' spread; per rate the best method and the
        best training-free one with their margin over Random (:func:`best_methods`); the
        paper's anchor beside ours where the data set matches. Percentages rounded to 0.1.
    """
    co = check_frame(coreset_records, ["method", "rate", "seed", "arch", metric], what="coreset records")
    su = check_frame(
        surrogate_records, ["arch", "surrogate_epochs", "window", "step", "n_pool"], what="surrogate records"
    )
    summary = coreset_summary(co, metric=metric)
    ds = sorted(set(co["dataset"])) if "dataset" in co else ["?"]
    steps = sorted(set(co.loc[co["method"] != "full", "steps_run"])) if "steps_run" in co else []
    full_steps = sorted(set(co.loc[co["method"] == "full", "steps_run"])) if "steps_run" in co else []
    budget = (
        (
            f"{', '.join(map(str, steps))} optimizer steps per coreset (full-pool run: "
            f"{', '.join(map(str, full_steps)) or 'not run'})"
        )
        if steps
        else "epochs as configured"
    )
    pre = "yes" if co["pretrained"].astype(bool).any() or su["pretrained"].astype(bool).any() else "no"
    lines = [
        "## Verdict",
        "",
        note,
        "",
        f"**What ran.** Data set(s): {', '.join(ds)}. Surrogate: {_joined(su, 'arch')}, "
        f"{_joined(su, 'surrogate_epochs')} epochs on {int(su['n_pool'].max()):,} pool images. "
        f"Coresets trained with {_joined(co, 'arch')}, {budget}; {co['seed'].nunique()} seed(s). "
        f"Scale: {_joined(co, 'scale')}; device: {_joined(co, 'device')}; ImageNet weights: {pre}.",
    ]
    dev = _deviations(co, su)
    lines += ["", "**Deviations from the paper at this scale:** " + ("; ".join(dev) + "." if dev else "none.")]
    lines += [
        "",
        f"**Methods beating Random beyond the seeds' spread** ({metric} %, mean ± sd over seeds; "
        "a win needs mean − sd > Random's mean + sd):",
    ]
    label = {m: METHOD_LABELS.get(m, m) for m in summary["method"].unique()}
    for row in beats_random(summary).itertuples():
        part = summary[(summary["rate"] == row.rate) & (summary["method"] != "full")]
        for k in ("dataset", "arch"):
            if k in part and hasattr(row, k):
                part = part[part[k] == getattr(row, k)]
        get = part.set_index("method")
        won = (
            ", ".join(
                f"{label[m]} {_pct(get.loc[m, 'mean'])} ± {_pct(np.nan_to_num(get.loc[m, 'sd']))}" for m in row.winners
            )
            or "none"
        )
        where = " / ".join(str(getattr(row, k)) for k in ("dataset", "arch") if hasattr(row, k))
        lines.append(
            f"- {100 * row.rate:g} % ({where}): {won} (Random {_pct(row.random_mean)} ± {_pct(row.random_sd)})"
        )
    full = summary[summary["method"] == "full"]
    if len(full):
        lines.append(
            "- full pool: "
            + "; ".join(f"{_pct(r.mean)} ± {_pct(np.nan_to_num(r.sd))} (n = {r.n})" for r in full.itertuples())
        )
    lines += ["", "**Best method per rate** (highest mean; margin over Random in points):"]
    lines += _best_lines(summary, label, None)
    free = [m for m in TRAINING_FREE if m in set(summary["method"])]
    if free:
        lines += ["", f"**Best training-free method per rate** (among {', '.join(label[m] for m in free)}):"]
        lines += _best_lines(summary, label, free)
    lines += ["", "**Paper anchor** (EVA paper, ResNet-18, OrganAMNIST, test accuracy %):"]
    matched = [d for d in ds if d in PAPER_ANCHORS]
    if not matched:
        lines.append(f"no anchor for {', '.join(ds)}; the paper's anchor numbers are for OrganAMNIST.")
    for d in matched:
        part = summary[summary["dataset"] == d] if "dataset" in summary else summary
        arch = "resnet18" if "resnet18" in set(part["arch"]) else sorted(set(part["arch"]))[0]
        ours = part[part["arch"] == arch].set_index(["method", "rate"])["mean"]
        lines += [
            "",
            f"| rate | paper Random | paper EVA | our Random ({arch}) | our EVA ({arch}) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for r in sorted(PAPER_ANCHORS[d]["random"]):
            got = [_pct(ours[(m, r)]) if (m, r) in ours.index else "–" for m in ("random", "eva")]
            lines.append(
                f"| {100 * r:g} % | {PAPER_ANCHORS[d]['random'][r]:.1f} | {PAPER_ANCHORS[d]['eva'][r]:.1f} | "
                f"{got[0]} | {got[1]} |"
            )
    return "\n".join(lines)

"""Your own data from the command line (SPEC 6, issue 23): ``select`` and ``report``.

New layout: the top of the package, beside ``__main__`` (which adds these subcommands).

``python -m xfactor_lib select DATASET (--budget N | --rate R) [--method M] [--unlabeled]
[--seed S] --out picks.csv`` picks a training set from the training split of any
:func:`~xfactor_lib.data.load_dataset` name and writes one CSV row per pick: ``index``
(position in the training split), ``label`` (unless ``--unlabeled``) and ``path`` (relative
to the folder, for ``folder:`` data). The CSV opens with one comment line naming the dataset,
its image count and a fingerprint of its images, so that ``report`` refuses the picks of
another dataset. On stdout: the budget per class, and the verdict of
:func:`xfactor_lib.studies.q_verdict.verdict` (the subset's key measures among random subsets
of the same size and class counts, :func:`xfactor_lib.studies.q_report.report_measures`).

- Labelled (default): :func:`xfactor_lib.coresets.select` with class-balanced budgets
  (:func:`xfactor_lib.greedy.class_budgets`); the picks are exactly the registry's.
- ``--unlabeled``: no label is read (choosing what to annotate); :func:`label_free_select`
  runs the label-free variant of the method over the whole pool as one class. A ``folder:``
  whose ``train/`` (or the folder itself) holds the images directly, without class
  sub-folders, is read as such a pool.

``python -m xfactor_lib report DATASET [--subset picks.csv] --out report.html`` executes
``notebooks/quality_report.ipynb`` with papermill (verdict first) and writes its HTML.

Bad input (unknown dataset or method, a budget above the pool or, labelled, below the number
of classes, an unreadable image, picks of another dataset) is refused with one line on
stderr and exit status 2; the output is written atomically at the very end, so a refused or
failed command writes nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import coresets, data, quality, records
from .coresets import greedy
from .data import files as data_files

__all__ = [
    "DEFAULT_METHOD",
    "DEFAULT_UNLABELED_METHOD",
    "LABEL_FREE_METHODS",
    "CliError",
    "add_parsers",
    "fingerprint",
    "label_free_select",
    "read_picks",
    "run",
]

#: The default method with labels: the suite's best training-free method by study E's evidence on
#: MNIST and digits (docs/decisions.md, issue 20: kernel herding on coverage's kernel; above
#: coverage_wide, TypiClust and ProbCover at 2 and 5 % on study E's low-budget protocol).
DEFAULT_METHOD = "herding"
#: The default with ``--unlabeled``: without labels herding follows the pool's density and gives
#: sparse classes few picks; facility location covers every mode (docs/decisions.md, issue 23:
#: better than unlabeled herding on a 20,000-image MNIST folder and on digits).
DEFAULT_UNLABELED_METHOD = "coverage_wide"
#: Methods with a label-free variant that read only the images (``--unlabeled``), see :func:`label_free_select`.
LABEL_FREE_METHODS = tuple(k for k, m in coresets.METHODS.items() if m.label_free and m.needs in ("images", "none"))
#: What each label-free variant does (named in the output).
LABEL_FREE_VARIANT = {
    "coverage": "facility location over the whole pool",
    "coverage_wide": "facility location at 4 tau_data over the whole pool",
    "herding": "kernel herding: picks whose kernel mean matches the whole pool's",
    "coverage_clean": "facility location over the whole pool, skipping images whose k-means cluster disagrees",
    "a_max": "greedy A_0 over the whole pool",
    "k_center": "farthest-first traversal over the whole pool",
    "typiclust": "the most typical image of each of M k-means clusters",
    "probcover": "max coverage of delta-balls, delta from k-means cluster purity",
    "random": "a uniform draw",
}
#: Entries of the (clients, candidates) similarity block of the label-free coverage: about 128 MB
#: of float32 whatever the pool size (the clients are a seeded sample of the pool).
UNLABELED_BLOCK = 2**25
#: Reference images per class (labelled) and for the one-class pool (unlabeled).
REFERENCE_PER_CLASS = 1000
REFERENCE_POOL = 2000
_HEADER = "# xfactor-select"
NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "quality_report.ipynb"


class CliError(Exception):
    """Bad input: reported as one line on stderr, exit status 2, nothing written."""


# --------------------------------------------------------------------------- parsers
def add_parsers(sub: Any) -> None:
    """Add the ``select`` and ``report`` subcommands to ``__main__``'s subparsers."""
    se = sub.add_parser("select", help="pick a training set (or the images to label) from a dataset")
    se.add_argument("dataset", help="any load_dataset name: mnist, digits, npz:<path>, folder:<path>, ...")
    size = se.add_mutually_exclusive_group(required=True)
    size.add_argument("--budget", type=int, help="images to pick")
    size.add_argument("--rate", type=float, help="fraction of the training split to pick, in (0, 1]")
    se.add_argument(
        "--method",
        default=None,
        help=f"coreset method (default {DEFAULT_METHOD}; with --unlabeled {DEFAULT_UNLABELED_METHOD})",
    )
    se.add_argument("--unlabeled", action="store_true", help="read no label: choose what to annotate")
    se.add_argument("--seed", type=int, default=0)
    se.add_argument("--n-random", type=int, default=30, help="random subsets the picks are compared with")
    se.add_argument("--run-dir", default="", help="a sweep run with q_measures records: the predictor's estimate")
    se.add_argument("--out", required=True, help="CSV of the picks")
    se.add_argument("--quiet", action="store_true", help="no progress bar")
    re_ = sub.add_parser("report", help="render the quality report of a dataset (and a subset) to HTML")
    re_.add_argument("dataset")
    re_.add_argument("--subset", default="", help="picks CSV written by select (default: a random draw)")
    re_.add_argument("--run-dir", default="", help="a sweep run with q_measures records: the predictor's estimate")
    re_.add_argument("--seed", type=int, default=0)
    re_.add_argument("--out", required=True, help="HTML file to write")


def run(args: argparse.Namespace) -> int:
    """Run ``select`` or ``report``; bad input -> one line on stderr, exit status 2."""
    try:
        return _select(args) if args.command == "select" else _report(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


# --------------------------------------------------------------------------- data
def fingerprint(images: np.ndarray) -> str:
    """16 hex digits of SHA-1 over the shape and bytes of ``images`` (the picks' dataset identity)."""
    h = hashlib.sha1(str(images.shape).encode())
    h.update(np.ascontiguousarray(images).data)
    return h.hexdigest()[:16]


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (a multi-line message, e.g. the folders searched, joined)."""
    return " ".join(t.strip() for t in str(exc).strip().splitlines() if t.strip()) or type(exc).__name__


def _folder_root(name: str) -> Path | None:
    return Path(name.strip()[7:]).expanduser() if name.strip().lower().startswith("folder:") else None


def _flat_files(root: Path) -> list[Path] | None:
    """Image files directly in ``root/train`` (or ``root``) of a folder without class sub-folders."""
    if data_files.folder_classes(root):
        return None
    base = root / "train" if (root / "train").is_dir() else root
    files = sorted(f for f in base.iterdir() if f.is_file() and f.suffix.lower() in data_files.IMAGE_EXT)
    return files or None


def _load(name: str, *, labelled: bool) -> tuple[np.ndarray, data.Dataset | None, list[str] | None]:
    """Training images, the Dataset (None for a flat folder) and the file paths (``folder:`` only).

    Unlabeled, only ``images`` of the Dataset is read by the callers.
    """
    root = _folder_root(name)
    try:
        if root is not None and not labelled and root.is_dir() and (flat := _flat_files(root)):
            base = flat[0].parent
            return data_files.read_images(flat, base), None, [os.path.relpath(f, root) for f in flat]
        ds = data.load_dataset(name, "train")
        paths = None
        if root is not None:
            files, _ = data_files.folder_files(root, "train")  # the load order of _load_folder
            paths = [os.path.relpath(f, root) for f, _ in files]
    except (ValueError, TypeError, OSError) as exc:  # unknown name, missing files, unreadable image
        raise CliError(_one_line(exc)) from None
    if paths is not None and len(paths) != len(ds.images):
        raise CliError(f"{root} changed while it was read ({len(paths)} files, {len(ds.images)} images); run again")
    return ds.images, ds, paths


def _budget(args: argparse.Namespace, N: int, K: int | None) -> int:
    """Images to pick; refuses a budget above the pool or (labelled) below the number of classes."""
    if args.budget is not None:
        M = int(args.budget)
        if M < 1:
            raise CliError(f"--budget must be at least 1, got {M}")
    else:
        if not 0 < args.rate <= 1:
            raise CliError(f"--rate must lie in (0, 1], got {args.rate}")
        M = coresets.coreset_size(N, args.rate)
    if M > N:
        raise CliError(f"budget {M} is above the pool: the training split has {N} images")
    if K is not None and M < K:
        raise CliError(
            f"budget {M} is below the number of classes ({K}): every class needs a pick; "
            "raise it, or pass --unlabeled to ignore the classes"
        )
    return M


# --------------------------------------------------------------------------- selection
def label_free_select(method: str, X: np.ndarray, M: int, *, seed: int = 0) -> np.ndarray:
    """The label-free variant of ``method``: ``M`` images of the whole pool, no label read.

    The registry's own label-free variant (:func:`xfactor_lib.coresets.select` with
    ``unlabeled=True``: the whole pool is one class), so ``--unlabeled`` picks exactly what
    ``coresets.select`` picks.

    Parameters
    ----------
    method : str
        One of :data:`LABEL_FREE_METHODS`.
    X : ndarray, shape (N, C, H, W), uint8
    M : int, 1 <= M <= N
    seed : int

    Returns
    -------
    ndarray, shape (M,), int64, sorted
    """
    if method not in LABEL_FREE_METHODS:
        raise CliError(f"method {method!r} has no label-free variant; with --unlabeled use one of {LABEL_FREE_METHODS}")
    return np.sort(coresets.select(method, rate=M / len(X), X=X, unlabeled=True, seed=seed)).astype(np.int64)


def _labelled_select(method: str, X: np.ndarray, y: np.ndarray, M: int, *, seed: int) -> np.ndarray:
    m = coresets.METHODS.get(method)
    usable = [k for k, v in coresets.METHODS.items() if v.needs in ("images", "none")]
    if m is None or m.needs not in ("images", "none"):
        why = "unknown" if m is None else f"needs {m.needs} (a surrogate run or an embedding)"
        raise CliError(f"method {method!r}: {why}; select takes {', '.join(usable)}")
    return coresets.select(method, rate=M / len(y), X=X, y=y, seed=seed)


# --------------------------------------------------------------------------- select
def _progress(quiet: bool, total: int, desc: str):
    from tqdm.auto import tqdm

    # not on a pipe or a file (disable=None), and gone before any error line (leave=False, closed first)
    return tqdm(total=total, desc=desc, disable=True if quiet else None, file=sys.stderr, leave=False)


def _select(args: argparse.Namespace) -> int:
    labelled = not args.unlabeled
    if args.method is None:
        args.method = DEFAULT_METHOD if labelled else DEFAULT_UNLABELED_METHOD
    if not labelled and args.method not in LABEL_FREE_METHODS:
        raise CliError(f"method {args.method!r} has no label-free variant; with --unlabeled use {LABEL_FREE_METHODS}")
    if args.n_random < 1:
        raise CliError(f"--n-random must be at least 1, got {args.n_random}")
    with _progress(args.quiet, 4, "load") as bar:
        return _select_steps(args, labelled, bar)


def _select_steps(args: argparse.Namespace, labelled: bool, bar: Any) -> int:
    from .studies import q_report, q_verdict

    X, ds, paths = _load(args.dataset, labelled=labelled)
    N = len(X)
    y = ds.labels if labelled else np.zeros(N, dtype=np.int64)  # unlabeled: the pool is one class
    classes = list(ds.classes) if labelled else ["pool"]
    M = _budget(args, N, len(classes) if labelled else None)
    small = np.flatnonzero(np.bincount(y, minlength=len(classes)) < 2)
    if small.size:
        raise CliError(f"class(es) {[classes[k] for k in small]} have fewer than 2 training images: cannot be measured")
    bar.update()
    bar.set_description(f"select ({args.method})")
    if labelled:
        idx = _labelled_select(args.method, X, y, M, seed=args.seed)
        budgets = greedy.class_budgets(y, M, K=len(classes))
    else:
        idx = label_free_select(args.method, X, M, seed=args.seed)
        budgets = np.array([M])
    bar.update()
    bar.set_description("measure")
    counts = np.bincount(y[idx], minlength=len(classes))
    ref = quality.make_reference(
        X, y, per_class=REFERENCE_PER_CLASS if labelled else REFERENCE_POOL, probe_per_class=200, seed=args.seed
    )
    rd = q_report.ReportData(args.dataset, X, y, classes, ref, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant measures of a one-class pool
        table = q_report.report_measures(rd, idx, n_random=args.n_random, seed=args.seed)
    estimate = q_report.report_prediction(args.run_dir, table) if labelled else None
    bar.update()
    bar.set_description("write")
    header = (
        f"{_HEADER} dataset={args.dataset} images={N} fingerprint={fingerprint(X)} method={args.method} "
        f"seed={args.seed} labelled={labelled}"
    )
    picks = pd.DataFrame({"index": idx})
    if labelled:
        picks["label"] = y[idx]
    if paths is not None:
        picks["path"] = [paths[i] for i in idx]
    try:
        records.atomic_write(args.out, lambda p: p.write_text(f"{header}\n{picks.to_csv(index=False)}"))
    except OSError as exc:
        raise CliError(f"cannot write {args.out}: {_one_line(exc)}") from None
    bar.update()
    bar.close()  # before the summary
    kind = "labelled, class budgets" if labelled else f"unlabeled, no label read: {LABEL_FREE_VARIANT[args.method]}"
    print(f"{args.dataset}: {N:,} training images; method {args.method} ({kind}); seed {args.seed}")
    print("budget per class: " + ", ".join(f"{c} {b}" for c, b in zip(classes, budgets)) + f" (total {M})")
    if labelled and not np.array_equal(counts, budgets):
        print("picked per class: " + ", ".join(f"{c} {n}" for c, n in zip(classes, counts)))
    print()
    print(
        q_verdict.verdict(
            table,
            dataset=args.dataset,
            pool=N,
            counts=counts,
            n_random=args.n_random,
            estimate=estimate,
            labelled=labelled,
        )  # fmt: skip
    )
    print(f"\n{len(idx)} picks -> {args.out}")
    return 0


# --------------------------------------------------------------------------- report
def _read_header(path: Path) -> dict[str, str]:
    with open(path) as fh:
        first = fh.readline().strip()
    if not first.startswith(_HEADER):
        return {}
    return dict(t.split("=", 1) for t in first[len(_HEADER) :].split() if "=" in t)


def read_picks(path: str | os.PathLike, ds: data.Dataset, paths: list[str] | None = None) -> np.ndarray:
    """Indices of a picks CSV, checked against the training split ``ds``.

    Refuses (:class:`CliError`) a CSV whose header names other images (fingerprint or
    count), indices outside the split or repeated, labels that disagree with the split's,
    and paths that are not the split's files at those indices.

    Returns
    -------
    ndarray, sorted int64
    """
    path = Path(path)
    if not path.is_file():
        raise CliError(f"{path} does not exist")
    head = _read_header(path)
    N = len(ds.images)
    if head:
        own = fingerprint(ds.images)
        if head.get("fingerprint") != own or head.get("images") != str(N):
            raise CliError(
                f"{path} holds picks of another dataset ({head.get('dataset')}: {head.get('images')} images, "
                f"fingerprint {head.get('fingerprint')}), not of {ds.name} ({N} images, fingerprint {own})"
            )
    try:
        picks = pd.read_csv(path, comment="#")
    except (ValueError, pd.errors.ParserError) as exc:
        raise CliError(f"{path} is not a picks CSV: {_one_line(exc)}") from None
    if "index" not in picks.columns or picks.empty:
        raise CliError(f"{path} has no 'index' column (or no rows); write it with `python -m xfactor_lib select`")
    idx = pd.to_numeric(picks["index"], errors="coerce").to_numpy(float)
    if not np.isfinite(idx).all() or (idx != np.round(idx)).any():
        raise CliError(f"{path}: the index column must hold integers")
    idx = idx.astype(np.int64)
    if idx.min() < 0 or idx.max() >= N:
        raise CliError(f"{path}: indices {idx.min()}..{idx.max()} lie outside the training split of {N} images")
    if np.unique(idx).size != idx.size:
        raise CliError(f"{path} repeats an index; a subset is a set of distinct images")
    if "label" in picks.columns and (picks["label"].to_numpy() != ds.labels[idx]).any():
        bad = int(np.argmax(picks["label"].to_numpy() != ds.labels[idx]))
        raise CliError(
            f"{path}: the label of index {idx[bad]} is {picks['label'].iloc[bad]} but {ds.name} says "
            f"{ds.labels[idx[bad]]}: picks of another dataset"
        )
    if paths is not None and "path" in picks.columns:
        want = np.asarray(paths, dtype=object)[idx]
        diff = picks["path"].astype(str).to_numpy() != want
        if diff.any():
            raise CliError(f"{path}: row {int(np.argmax(diff))} names {picks['path'].iloc[int(np.argmax(diff))]}, "
                           f"but index {idx[int(np.argmax(diff))]} is {want[int(np.argmax(diff))]}")  # fmt: skip
    return np.sort(idx)


def _report(args: argparse.Namespace, *, execute: Callable[..., None] | None = None) -> int:
    from . import sweep

    if not NOTEBOOK.is_file():
        raise CliError(f"{NOTEBOOK} is missing (run `make notebooks`)")
    X, ds, paths = _load(args.dataset, labelled=True)
    idx = read_picks(args.subset, ds, paths) if args.subset else None
    execute = execute or sweep.execute_notebook
    with tempfile.TemporaryDirectory(prefix="xfactor-report-") as tmp:
        subset = ""
        if idx is not None:  # the checked indices, one per line (a comma list can exceed a file name's length)
            subset = str(Path(tmp) / "subset.txt")
            np.savetxt(subset, idx, fmt="%d")
        params = {"dataset": args.dataset, "subset": subset, "seed": args.seed, "run_dir": args.run_dir}
        executed = Path(tmp) / NOTEBOOK.name
        with _progress(False, 1, "report (papermill)") as bar:
            try:
                execute(NOTEBOOK, executed, params, Path.cwd())
            except Exception as exc:  # noqa: BLE001 - the notebook's own error, one line
                ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
                print(f"error: the report failed: {ename}: {_one_line(Exception(evalue))}", file=sys.stderr)
                return 1
            bar.update()
        page = sweep.notebook_to_html(executed)
    try:
        records.atomic_write(args.out, lambda p: p.write_text(page))
    except OSError as exc:
        raise CliError(f"cannot write {args.out}: {_one_line(exc)}") from None
    print(f"report -> {args.out}")
    return 0

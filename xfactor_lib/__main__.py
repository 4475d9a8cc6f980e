"""Command line: ``python -m xfactor_lib sweep CONFIG ...``, ``... status RUN_DIR``, and
``... select DATASET ...`` / ``... report DATASET ...`` (your own data, :mod:`xfactor_lib.cli`).

Exit status: 0 when every cell is done and every summary rendered; 1 when a cell or a
summary failed (one line each says why); 2 when the config is invalid or another sweep
holds the run directory (nothing ran), and for ``status`` on a folder that is not a run
directory; 130 when interrupted (Ctrl-C): finished cells are kept, the same command resumes.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from . import cli


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m xfactor_lib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sw = sub.add_parser("sweep", help="run (or resume) a sweep and render its summaries")
    sw.add_argument("config", help="sweep config (YAML), e.g. configs/default.yaml")
    sw.add_argument("--scale", default="quick", choices=["smoke", "quick", "paper"])
    sw.add_argument("--workers", type=int, default=1, help="local processes running cells in parallel")
    sw.add_argument("--scheduler", default=None, help="dask distributed scheduler address (instead of --workers)")
    sw.add_argument("--runs-root", default="runs", help="parent folder of the sweep's run directory")
    sw.add_argument("--name", default=None, help="run directory name (default: the config's name)")
    sw.add_argument("--stage", action="append", default=None, help="only this stage (repeatable)")
    sw.add_argument("--no-summaries", action="store_true", help="skip rendering the summary notebooks")
    sw.add_argument("--quiet", action="store_true", help="no progress bars")
    sw.add_argument("--wait", action="store_true", help="if another sweep holds the run directory, wait for it")
    st = sub.add_parser("status", help="done / failed / pending cells of a run directory")
    st.add_argument("run_dir")
    st.add_argument("--all", action="store_true", help="list every cell, not just the failed and pending ones")
    cli.add_parsers(sub)  # select, report (SPEC 6)
    return parser


def _sweep(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from . import records, sweep

    try:
        cfg = sweep.load_config(args.config, scale=args.scale)
        report = sweep.run_sweep(
            cfg,
            runs_root=args.runs_root,
            name=args.name,
            workers=args.workers,
            scheduler=args.scheduler,
            quiet=args.quiet,
            summaries=not args.no_summaries,
            stages=args.stage,
            wait=args.wait,
        )
    except (sweep.SweepConfigError, sweep.SweepLockedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        again = shlex.join(["python", "-m", "xfactor_lib", *(sys.argv[1:] if argv is None else argv)])
        print(f"interrupted: finished cells are kept; to resume, run the same command again: {again}", file=sys.stderr)
        return 130
    run_dir = Path(args.runs_root) / (args.name or cfg.name)
    skipped = report["skipped"].astype(bool)
    failed = report[report["status"] == "failed"]
    print(f"{int((~skipped).sum())} cell(s) ran, {int(skipped.sum())} already done, {len(failed)} failed -> {run_dir}")
    for row in report[report["redo"].notna()].itertuples():
        print(f"  redone {row.cell_id}: {row.redo}")
    for row in failed.itertuples():
        print(f"  FAILED {row.cell_id}: {str(row.error).splitlines()[0]}")
    broken = records.read_json(run_dir / sweep.SUMMARIES / "failed.json") if not args.no_summaries else {}
    for nb in cfg.summaries if not args.no_summaries else []:
        html = run_dir / sweep.SUMMARIES / nb.with_suffix(".html").name
        if nb.name in broken:
            print(
                f"summary FAILED {nb.name}: {broken[nb.name].splitlines()[0]} (notebook: {html.with_suffix('.ipynb')})"
            )
        elif html.is_file():
            print(f"summary: {html}")
    return 1 if len(failed) or broken else 0


def _status(args: argparse.Namespace) -> int:
    from . import sweep

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        print(f"error: run directory {run_dir} does not exist", file=sys.stderr)
        return 2
    status = sweep.sweep_status(run_dir)
    if not (run_dir / "sweep.json").is_file() and status.empty:
        print(f"error: {run_dir} is not a sweep's run directory (no sweep.json and no cell folders)", file=sys.stderr)
        return 2
    counts = status.groupby(["stage", "status"]).size().unstack(fill_value=0)
    print(counts.to_string())
    show = status if args.all else status[~status["status"].isin(["done", "stale"])]
    for row in show.itertuples():
        err = f"  {str(row.error).splitlines()[0]}" if row.error else ""
        print(f"{row.status:8s} {row.cell_id}{err}")
    return 1 if (status["status"] == "failed").any() else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("select", "report"):
        return cli.run(args)
    return _sweep(args, argv) if args.command == "sweep" else _status(args)


if __name__ == "__main__":
    sys.exit(main())

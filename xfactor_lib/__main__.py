"""Command line: ``python -m xfactor_lib sweep CONFIG ...`` and ``... status RUN_DIR``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xfactor_lib", description=__doc__)
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

    st = sub.add_parser("status", help="done / failed / pending cells of a run directory")
    st.add_argument("run_dir")
    st.add_argument("--all", action="store_true", help="list every cell, not just the failed and pending ones")

    args = parser.parse_args(argv)
    from . import sweep

    if args.command == "sweep":
        try:
            report = sweep.run_sweep(args.config, scale=args.scale, runs_root=args.runs_root, name=args.name,
                                     workers=args.workers, scheduler=args.scheduler, quiet=args.quiet,
                                     summaries=not args.no_summaries, stages=args.stage)
        except sweep.SweepConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        cfg = sweep.load_config(args.config, scale=args.scale)
        run_dir = Path(args.runs_root) / (args.name or cfg.name)
        ran = report[~report["skipped"].astype(bool)]
        failed = report[report["status"] == "failed"]
        print(f"{len(ran)} cell(s) ran, {int(report['skipped'].astype(bool).sum())} already done, "
              f"{len(failed)} failed -> {run_dir}")
        for _, row in failed.iterrows():
            print(f"  FAILED {row['cell_id']}: {row['error']}")
        summaries = sorted((run_dir / sweep.SUMMARIES).glob("*.html"))
        for p in summaries:
            print(f"summary: {p}")
        broken = run_dir / sweep.SUMMARIES / "failed.json"
        return 1 if len(failed) or broken.exists() else 0

    status = sweep.sweep_status(args.run_dir)
    counts = status.groupby(["stage", "status"]).size().unstack(fill_value=0)
    print(counts.to_string())
    show = status if args.all else status[~status["status"].isin(["done", "stale"])]
    for _, row in show.iterrows():
        err = f"  {row['error']}" if row["error"] else ""
        print(f"{row['status']:8s} {row['cell_id']}{err}")
    return 1 if (status["status"] == "failed").any() else 0


if __name__ == "__main__":
    sys.exit(main())

"""The sweep engine: configs, cell ids, resumption after SIGKILL, failures, parallel runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO, write_notebook

from xfactor_lib import records, sweep

TEMPLATE = [
    ("parameters", "value = 0\nsleep = 0.0\nfail_on = -1\nscale = 'quick'\nrun_dir = ''\nout_dir = ''\nquiet = False"),
    ("code", "import time, pandas as pd\nfrom xfactor_lib import records\ntime.sleep(sleep)\n"
             "if value == fail_on:\n    raise ValueError(f'bad value {value}')"),
    ("code", "records.write_records(pd.DataFrame({'value': [value], 'square': [value ** 2], 'scale': [scale]}), out_dir)"),
]
SUMMARY = [
    ("parameters", "run_dir = ''\nout_dir = ''\nquiet = False"),
    ("code", "from xfactor_lib import sweep\nrec = sweep.collect(run_dir, 'tiny')\nprint('TOTAL', rec['square'].sum())"),
]


def make_config(tmp_path: Path, values, *, sleep=0.0, fail_on=-1, summary=False) -> Path:
    write_notebook(tmp_path / "tiny.ipynb", TEMPLATE)
    cfg = {"name": "tiny", "stages": [{"name": "tiny", "template": "tiny.ipynb",
                                        "params": {"sleep": sleep, "fail_on": fail_on},
                                        "grid": {"value": list(values)},
                                        "scales": {"smoke": {"grid": {"value": [100]}}}}]}
    if summary:
        write_notebook(tmp_path / "summary.ipynb", SUMMARY)
        cfg["summaries"] = ["summary.ipynb"]
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_config_applies_scale_overrides_and_ids_are_stable(tmp_path):
    path = make_config(tmp_path, [1, 2, 3])
    quick = sweep.load_config(path, scale="quick").cells()
    smoke = sweep.load_config(path, scale="smoke").cells()
    assert [c.params["value"] for c in quick] == [1, 2, 3]
    assert [c.params["value"] for c in smoke] == [100]
    again = [c.id for c in sweep.load_config(path, scale="quick").cells()]
    assert [c.id for c in quick] == again and len(set(again)) == 3
    assert quick[0].id.startswith("tiny--1-")


def test_cell_id_changes_with_any_parameter():
    a = sweep.cell_id("s", {"x": 1, "y": 2}, ["x"])
    assert a == sweep.cell_id("s", {"y": 2, "x": 1}, ["x"])
    assert a != sweep.cell_id("s", {"x": 1, "y": 3}, ["x"])


@pytest.mark.parametrize("bad, match", [
    ({"stages": [{"name": "a"}]}, "needs 'name' and 'template'"),
    ({"stages": [{"name": "a", "template": "tiny.ipynb", "grid": {"v": 3}}]}, "must be a non-empty list"),
    ({"stages": [{"name": "a", "template": "tiny.ipynb", "scales": {"huge": {}}}]}, "unknown scale"),
    ({"stages": [{"name": "a", "template": "missing.ipynb"}]}, "was found neither"),
])
def test_bad_configs_say_what_is_wrong(tmp_path, bad, match):
    write_notebook(tmp_path / "tiny.ipynb", TEMPLATE)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(sweep.SweepConfigError, match=match):
        sweep.load_config(path)


def test_sweep_runs_cells_renders_summary_and_skips_done_cells(tmp_path):
    cfg = make_config(tmp_path, [1, 2], summary=True)
    report = sweep.run_sweep(cfg, runs_root=tmp_path / "runs", quiet=True)
    assert report["status"].tolist() == ["done", "done"] and not report["skipped"].any()
    run_dir = tmp_path / "runs" / "tiny"
    rec = sweep.collect(run_dir, "tiny").sort_values("value")
    assert rec["square"].tolist() == [1, 4] and set(rec["scale"]) == {"quick"}
    html = (run_dir / "summaries" / "summary.html").read_text()
    assert "TOTAL 5" in html
    again = sweep.run_sweep(cfg, runs_root=tmp_path / "runs", quiet=True, summaries=False)
    assert again["skipped"].all()
    metrics = json.loads((sweep.cell_dirs(run_dir, "tiny")[0] / "metrics.json").read_text())
    assert metrics["status"] == "done" and metrics["params"]["value"] == 1


def test_failed_cell_keeps_its_notebook_and_error_and_the_sweep_goes_on(tmp_path):
    cfg = make_config(tmp_path, [1, 2, 3], fail_on=2)
    report = sweep.run_sweep(cfg, runs_root=tmp_path / "runs", quiet=True)
    assert report["status"].tolist() == ["done", "failed", "done"]
    status = sweep.sweep_status(tmp_path / "runs" / "tiny").set_index("cell_id")
    failed = status[status["status"] == "failed"]
    assert len(failed) == 1 and "bad value 2" in failed["error"].item()
    nb = tmp_path / "runs" / "tiny" / failed.index[0] / "notebook.ipynb"
    assert "bad value 2" in nb.read_text()
    out = subprocess.run([sys.executable, "-m", "xfactor_lib", "status", str(tmp_path / "runs" / "tiny")],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "failed" in out.stdout and "bad value 2" in out.stdout


@pytest.mark.slow
def test_sigkill_mid_sweep_then_rerun_runs_only_missing_cells(tmp_path):
    cfg = make_config(tmp_path, range(6), sleep=1.5)
    run_dir = tmp_path / "runs" / "tiny"
    cmd = [sys.executable, "-m", "xfactor_lib", "sweep", str(cfg), "--runs-root", str(tmp_path / "runs"), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list(run_dir.glob("*/records.parquet"))) < 2 and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(2.0)  # let an orphaned kernel notice its parent is gone
    done = {p.parent.name: p.read_bytes() for p in run_dir.glob("*/records.parquet")}
    assert 2 <= len(done) < 6
    mtimes = {k: (run_dir / k / "records.parquet").stat().st_mtime_ns for k in done}

    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"{6 - len(done)} cell(s) ran, {len(done)} already done" in out.stdout
    for k, blob in done.items():
        assert (run_dir / k / "records.parquet").read_bytes() == blob
        assert (run_dir / k / "records.parquet").stat().st_mtime_ns == mtimes[k]
    assert sorted(sweep.collect(run_dir, "tiny")["value"]) == list(range(6))
    leftovers = [p for p in run_dir.rglob("*") if p.name.startswith(records.TMP_PREFIX)]
    assert leftovers == []
    assert (sweep.sweep_status(run_dir)["status"] == "done").all()


@pytest.mark.slow
def test_local_workers_run_cells_in_parallel(tmp_path):
    cfg = make_config(tmp_path, [1, 2, 3, 4])
    report = sweep.run_sweep(cfg, runs_root=tmp_path / "runs", quiet=True, workers=2, summaries=False)
    assert (report["status"] == "done").all()
    assert sorted(sweep.collect(tmp_path / "runs" / "tiny", "tiny")["square"]) == [1, 4, 9, 16]


@pytest.mark.slow
def test_dask_local_cluster_runs_the_cells(tmp_path):
    from dask.distributed import Client, LocalCluster

    cfg = make_config(tmp_path, [5, 6])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        report = sweep.run_sweep(cfg, runs_root=tmp_path / "runs", quiet=True, scheduler=client, summaries=False)
    assert (report["status"] == "done").all()
    assert sorted(sweep.collect(tmp_path / "runs" / "tiny", "tiny")["square"]) == [25, 36]


def test_atomic_write_leaves_nothing_behind_on_error(tmp_path):
    target = tmp_path / "x.parquet"

    def broken(p):
        p.write_text("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        records.atomic_write(target, broken)
    assert list(tmp_path.iterdir()) == []
    records.write_parquet(pd.DataFrame({"a": [1]}), target)
    assert pd.read_parquet(target)["a"].tolist() == [1]


def test_collect_without_done_cells_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no finished cells of stage 'x'"):
        sweep.collect(tmp_path, "x")


def test_overrides_and_excludes_apply_to_matching_grid_points(tmp_path):
    write_notebook(tmp_path / "tiny.ipynb", TEMPLATE)
    cfg = {"stages": [{"name": "t", "template": "tiny.ipynb", "params": {"sleep": 0.0},
                       "grid": {"value": [1, 2, 3], "fail_on": [-1, 9]},
                       "overrides": [{"match": {"value": [2, 3]}, "params": {"sleep": 0.5}}],
                       "exclude": [{"value": 3, "fail_on": 9}],
                       "scales": {"smoke": {"exclude": []}}}]}
    path = tmp_path / "o.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cells = sweep.load_config(path).cells()
    got = sorted((c.params["value"], c.params["fail_on"], c.params["sleep"]) for c in cells)
    assert got == [(1, -1, 0.0), (1, 9, 0.0), (2, -1, 0.5), (2, 9, 0.5), (3, -1, 0.5)]
    assert len(sweep.load_config(path, scale="smoke").cells()) == 6


def test_collect_ignores_cells_of_an_earlier_config(tmp_path):
    cfg = make_config(tmp_path, [1, 2])
    sweep.run_sweep(cfg, runs_root=tmp_path / "runs", quiet=True)
    cfg = make_config(tmp_path, [2, 3])
    sweep.run_sweep(cfg, runs_root=tmp_path / "runs", quiet=True)
    run_dir = tmp_path / "runs" / "tiny"
    assert sorted(sweep.collect(run_dir, "tiny")["value"]) == [2, 3]
    assert len(sweep.cell_dirs(run_dir, "tiny", current_only=False)) == 3

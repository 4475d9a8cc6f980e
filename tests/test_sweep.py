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

from xfactor_lib import records, sweep
from xfactor_lib.__main__ import main

from conftest import REPO, write_notebook

TEMPLATE = [
    ("parameters", "value = 0\nsleep = 0.0\nfail_on = -1\nscale = 'quick'\nrun_dir = ''\nout_dir = ''\nquiet = False"),
    (
        "code",
        "import time, pandas as pd\nfrom xfactor_lib import records\ntime.sleep(sleep)\n"
        "if value == fail_on:\n    raise ValueError(f'bad value {value}')",
    ),
    (
        "code",
        "records.write_records(pd.DataFrame({'value': [value], 'square': [value ** 2], 'scale': [scale]}), out_dir)",
    ),
]
SUMMARY = [
    ("parameters", "run_dir = ''\nout_dir = ''\nquiet = False"),
    (
        "code",
        "from xfactor_lib import sweep\nrec = sweep.collect(run_dir, 'tiny')\nprint('TOTAL', rec['square'].sum())",
    ),
]


def make_config(tmp_path: Path, values, *, sleep=0.0, fail_on=-1, summary=False) -> Path:
    write_notebook(tmp_path / "tiny.ipynb", TEMPLATE)
    cfg = {
        "name": "tiny",
        "stages": [
            {
                "name": "tiny",
                "template": "tiny.ipynb",
                "params": {"sleep": sleep, "fail_on": fail_on},
                "grid": {"value": list(values)},
                "scales": {"smoke": {"grid": {"value": [100]}}},
            }
        ],
    }
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


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"stages": [{"name": "a"}]}, "needs 'name' and 'template'"),
        ({"stages": [{"name": "a", "template": "tiny.ipynb", "grid": {"value": 3}}]}, "must be a non-empty list"),
        ({"stages": [{"name": "a", "template": "tiny.ipynb", "scales": {"huge": {}}}]}, "unknown scale"),
        ({"stages": [{"name": "a", "template": "missing.ipynb"}]}, "was found neither"),
        # misspelled names anywhere: the file, the stage and the closest valid name
        (
            {"stages": [{"name": "a", "template": "tiny.ipynb", "params": {"vaule": 3}}]},
            r"bad.yaml: stage 'a' \(tiny.ipynb\), params: unknown parameter 'vaule' \(did you mean 'value'\?\)",
        ),
        (
            {"stages": [{"name": "a", "template": "tiny.ipynb", "grid": {"values": [5]}}]},
            r"stage 'a' \(tiny.ipynb\), grid: unknown parameter 'values' \(did you mean 'value'\?\)",
        ),
        (
            {"stages": [{"name": "a", "template": "tiny.ipynb", "parms": {"value": 3}}]},
            r"stage 'a': unknown stage key 'parms' \(did you mean 'params'\?\)",
        ),
        (
            {"stages": [{"name": "a", "template": "tiny.ipynb", "scales": {"paper": {"params": {"sleeep": 1}}}}]},
            r"stage 'a', scale paper \(tiny.ipynb\), params: unknown parameter 'sleeep' \(did you mean 'sleep'\?\)",
        ),
        (
            {
                "stages": [
                    {
                        "name": "a",
                        "template": "tiny.ipynb",
                        "grid": {"value": [1]},
                        "overrides": [{"match": {"value": 1}, "params": {"fail_onn": 1}}],
                    }
                ]
            },
            r"override params: unknown parameter 'fail_onn' \(did you mean 'fail_on'\?\)",
        ),
        (
            {"stages": [{"name": "a", "template": "tiny.ipynb", "exclude": [{"valeu": 1}]}]},
            "exclude: unknown parameter",
        ),
        (
            {"stages": [{"name": "a", "template": "tiny.ipynb", "params": {"out_dir": "x"}}]},
            "unknown parameter 'out_dir'",
        ),
        ({"stagse": []}, r"unknown top-level key 'stagse' \(did you mean 'stages'\?\)"),
        ({"stages": [{"name": "a--b", "template": "tiny.ipynb"}]}, "no '--'"),
        (
            {"stages": [{"name": "a", "template": "tiny.ipynb"}], "summaries": ["bare.ipynb"]},
            r"summary bare.ipynb: .* declares no parameter\(s\) \['run_dir', 'out_dir', 'quiet'\]",
        ),
    ],
)
def test_bad_configs_say_what_is_wrong(tmp_path, bad, match):
    write_notebook(tmp_path / "tiny.ipynb", TEMPLATE)
    write_notebook(tmp_path / "bare.ipynb", [("parameters", "value = 0")])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(sweep.SweepConfigError, match=match):
        sweep.load_config(path)


def test_malformed_yaml_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nstages:\n  - name: a\n    params: {value: [1, 2}\n")
    with pytest.raises(sweep.SweepConfigError, match=r"broken.yaml, line 4, column \d+: not valid YAML"):
        sweep.load_config(path)


def test_template_without_the_sweep_parameters_is_refused(tmp_path):
    write_notebook(tmp_path / "bare.ipynb", [("parameters", "value = 0"), ("code", "print(value)")])
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"stages": [{"name": "a", "template": "bare.ipynb"}]}))
    with pytest.raises(sweep.SweepConfigError, match=r"declares no parameter\(s\) \['scale', 'run_dir', 'out_dir'"):
        sweep.load_config(path)


def test_misspelled_param_exits_non_zero_before_any_cell_runs(tmp_path, capsys):
    cfg = make_config(tmp_path, [1, 2])
    raw = yaml.safe_load(cfg.read_text())
    raw["stages"][0]["params"]["fail_onn"] = 3
    cfg.write_text(yaml.safe_dump(raw))
    assert main(["sweep", str(cfg), "--runs-root", str(tmp_path / "runs"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "tiny.yaml: stage 'tiny' (tiny.ipynb), params: unknown parameter 'fail_onn'" in err
    assert "did you mean 'fail_on'?" in err
    assert not (tmp_path / "runs").exists()


def test_unknown_stage_is_an_error_and_runs_nothing(tmp_path, capsys):
    cfg = make_config(tmp_path, [1])
    with pytest.raises(sweep.SweepConfigError, match=r"unknown stage 'tinyy' \(did you mean 'tiny'\?\)"):
        sweep.run_sweep(cfg, runs_root=tmp_path / "runs", stages=["tinyy"], quiet=True)
    assert main(["sweep", str(cfg), "--runs-root", str(tmp_path / "runs"), "--stage", "tinyy", "--quiet"]) == 2
    assert "unknown stage 'tinyy'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


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
    out = subprocess.run(
        [sys.executable, "-m", "xfactor_lib", "status", str(tmp_path / "runs" / "tiny")], capture_output=True, text=True
    )
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


# Each cell announces that it started, then waits (up to `patience` s) until every cell of
# the stage has started: with one cell at a time the first cell waits in vain and fails.
BARRIER = [
    (
        "parameters",
        "value = 0\nbarrier = ''\ncells = 2\npatience = 30.0\nscale = 'quick'\nrun_dir = ''\nout_dir = ''\n"
        "quiet = False",
    ),
    (
        "code",
        "import time\nfrom pathlib import Path\nimport pandas as pd\nfrom xfactor_lib import records\n"
        "start = time.time()\nPath(barrier, f'{value}.started').touch()\n"
        "while len(list(Path(barrier).glob('*.started'))) < cells:\n"
        "    if time.time() - start > patience:\n"
        "        raise TimeoutError(f'cell {value} waited {patience} s for the other cells to start')\n"
        "    time.sleep(0.02)\n"
        "records.write_records(pd.DataFrame({'value': [value], 'start': [start], 'end': [time.time()]}), out_dir)",
    ),
]


def _exec_in_process(template, output, params, cwd, **options):
    """A stand-in for papermill: the template's code cells, run in the calling process
    (a pool worker forked from the test) with ``params`` over its parameters cell."""
    import nbformat

    scope: dict = {}
    for cell in nbformat.read(str(template), as_version=4).cells:
        if cell.cell_type == "code":
            exec(cell.source, scope)  # noqa: S102 - the test's own notebook
            if "parameters" in cell.metadata.get("tags", []):
                scope.update(params)


def test_local_workers_run_cells_in_parallel(tmp_path, monkeypatch):
    from xfactor_lib.sweep import engine

    monkeypatch.setattr(engine, "execute_notebook", _exec_in_process)  # no kernel start-up: fast
    write_notebook(tmp_path / "barrier.ipynb", BARRIER)
    (tmp_path / "barrier").mkdir()
    stage = {
        "name": "both",
        "template": "barrier.ipynb",
        "params": {"barrier": str(tmp_path / "barrier"), "cells": 2},
        "grid": {"value": [1, 2]},
    }
    path = tmp_path / "barrier.yaml"
    path.write_text(yaml.safe_dump({"name": "barrier", "stages": [stage]}))
    report = sweep.run_sweep(path, runs_root=tmp_path / "runs", quiet=True, workers=2, summaries=False)
    assert report["status"].tolist() == ["done", "done"], report["error"].tolist()
    assert sorted(p.name for p in (tmp_path / "barrier").iterdir()) == ["1.started", "2.started"]
    rec = sweep.collect(tmp_path / "runs" / "barrier", "both")
    assert sorted(rec["value"]) == [1, 2]
    assert rec["start"].max() < rec["end"].min()  # each cell was still running when the other started


def test_order_sets_which_ready_cells_free_workers_take_first_and_typos_are_refused(tmp_path, monkeypatch):
    from xfactor_lib.sweep import engine

    monkeypatch.setattr(engine, "execute_notebook", _exec_in_process)
    write_notebook(tmp_path / "tiny.ipynb", TEMPLATE)
    stages = [
        {"name": name, "template": "tiny.ipynb", "params": {"sleep": 0.3}, "grid": {"value": values}}
        for name, values in (("first", [1, 2]), ("second", [3, 4]), ("third", [5, 6]))
    ]
    raw = {"name": "ordered", "stages": stages, "needs": {"second": [], "third": []}, "order": ["third", "first"]}
    path = tmp_path / "ordered.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = sweep.load_config(path)
    assert cfg.priority() == ["third", "first", "second"]  # unlisted stages follow in config order
    report = sweep.run_sweep(cfg, runs_root=tmp_path / "runs", quiet=True, workers=2, summaries=False)
    assert (report["status"] == "done").all()
    started = {}
    for stage in ("first", "second", "third"):
        for d in sweep.cell_dirs(tmp_path / "runs" / "ordered", stage):
            started[d.name.split("--")[0] + str(json.loads((d / "metrics.json").read_text())["params"]["value"])] = (
                json.loads((d / "metrics.json").read_text())["started"]
            )
    ranked = sorted(started, key=started.get)
    assert set(ranked[:2]) == {"third5", "third6"} and set(ranked[2:4]) == {"first1", "first2"}
    for bad, match in ((["thrid"], "unknown stage 'thrid'"), (["first", "first"], "at most once"), ("first", "lists")):
        path.write_text(yaml.safe_dump({**raw, "order": bad}))
        with pytest.raises(sweep.SweepConfigError, match=match):
            sweep.load_config(path)


def test_summaries_render_in_parallel_in_config_order_and_a_failure_stays_alone(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from xfactor_lib.sweep import engine

    barrier = tmp_path / "barrier"
    barrier.mkdir()

    def fake_execute(nb, target, params, cwd):  # runs in the worker processes (forked: the patch holds)
        (barrier / f"{nb.stem}.started").touch()
        if nb.name == "c.ipynb":
            raise RuntimeError("broken summary")
        other = barrier / ("b.started" if nb.name == "a.ipynb" else "a.started")
        deadline = time.monotonic() + 30
        while not other.exists() and time.monotonic() < deadline:  # a and b wait for each other: fails one by one
            time.sleep(0.01)
        if not other.exists():
            raise RuntimeError(f"{nb.name} ran alone")
        Path(target).write_text(nb.name)

    monkeypatch.setattr(engine, "execute_notebook", fake_execute)
    monkeypatch.setattr(engine, "notebook_to_html", lambda path: f"<p>{Path(path).read_text()}</p>")
    cfg = SimpleNamespace(summaries=[tmp_path / "a.ipynb", tmp_path / "b.ipynb", tmp_path / "c.ipynb"])
    here = os.getcwd()
    written = engine.render_summaries(cfg, tmp_path / "run", workers=2)
    assert os.getcwd() == here
    assert [p.name for p in written] == ["a.html", "b.html"]
    assert [p.read_text() for p in written] == ["<p>a.ipynb</p>", "<p>b.ipynb</p>"]
    failed = json.loads((tmp_path / "run" / "summaries" / "failed.json").read_text())
    assert list(failed) == ["c.ipynb"] and "broken summary" in failed["c.ipynb"]


@pytest.mark.slow
def test_dask_local_cluster_runs_the_cells(tmp_path):
    from dask.distributed import Client, LocalCluster

    # the cluster writes its workers' settings (OMP_NUM_THREADS=1, __DASK_PARENT_PID, ...) into this
    # process's environment, which later tests' subprocesses would inherit: restore it afterwards
    before = dict(os.environ)
    cfg = make_config(tmp_path, [5, 6])
    try:
        with (
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            report = sweep.run_sweep(cfg, runs_root=tmp_path / "runs", quiet=True, scheduler=client, summaries=False)
    finally:
        os.environ.clear()
        os.environ.update(before)
    assert (report["status"] == "done").all()
    assert sorted(sweep.collect(tmp_path / "runs" / "tiny", "tiny")["square"]) == [25, 36]


def test_collect_without_done_cells_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no finished cells of stage 'x'"):
        sweep.collect(tmp_path, "x")


def test_overrides_and_excludes_apply_to_matching_grid_points(tmp_path):
    write_notebook(tmp_path / "tiny.ipynb", TEMPLATE)
    cfg = {
        "stages": [
            {
                "name": "t",
                "template": "tiny.ipynb",
                "params": {"sleep": 0.0},
                "grid": {"value": [1, 2, 3], "fail_on": [-1, 9]},
                "overrides": [{"match": {"value": [2, 3]}, "params": {"sleep": 0.5}}],
                "exclude": [{"value": 3, "fail_on": 9}],
                "scales": {"smoke": {"exclude": []}},
            }
        ]
    }
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


def _fake_run(run_dir: Path, done=(), failed=(), pending=(), stale=()) -> Path:
    """A run directory written by hand: done cells with records, failed ones with an error."""
    run_dir.mkdir(parents=True, exist_ok=True)
    records.write_json({"cells": [*done, *failed, *pending], "scale": "quick"}, run_dir / "sweep.json")
    for cid in [*done, *stale]:
        records.write_records(pd.DataFrame({"value": [1, 2]}), run_dir / cid)
    for cid in failed:
        records.write_json(
            {"status": "failed", "error": f"ValueError: broke {cid}\nsecond line"}, run_dir / cid / "metrics.json"
        )
    return run_dir


def test_read_note_counts_done_cells_and_lists_failed_and_pending_ones(tmp_path):
    run_dir = _fake_run(
        tmp_path / "r", done=["a--1-x", "a--2-x", "b--1-x"], failed=["a--3-x"], pending=["a--4-x"], stale=["a--9-old"]
    )
    note = sweep.read_note(run_dir, "a")
    assert note.startswith("Read 2 of 4 cells (stage a).")
    assert "Failed: `a--3-x` (ValueError: broke a--3-x)." in note and "second line" not in note
    assert "Pending: `a--4-x`." in note and "a--9-old" not in note and "b--1-x" not in note
    assert "\n" not in note
    both = sweep.read_note(run_dir, ["a", "b"])
    assert both.startswith("Read 3 of 5 cells (stages a, b).")
    clean = sweep.read_note(_fake_run(tmp_path / "c", done=["a--1-x"]), ["a"])
    assert clean == "Read 1 of 1 cells (stage a). None failed or missing."


def test_second_sweep_on_a_held_run_dir_refuses_and_a_dead_holder_is_taken_over(tmp_path, capsys):
    cfg = make_config(tmp_path, [1])
    run_dir = tmp_path / "runs" / "tiny"
    with sweep.sweep_lock(run_dir):
        assert f"pid {os.getpid()} on " in (run_dir / records.LOCK).read_text()
        with pytest.raises(sweep.SweepLockedError, match=rf"in use by a sweep \(pid {os.getpid()} on .*--wait"):
            sweep.run_sweep(cfg, runs_root=tmp_path / "runs", quiet=True)
        assert main(["sweep", str(cfg), "--runs-root", str(tmp_path / "runs"), "--quiet"]) == 2
        assert "is in use by a sweep" in capsys.readouterr().err
    assert not any(run_dir.glob("tiny--*"))
    # a lock file left by a process that died: the OS lock went with it
    (run_dir / records.LOCK).write_text("pid 999999 on elsewhere since long ago\n")
    with sweep.sweep_lock(run_dir):
        assert (run_dir / records.LOCK).read_text().startswith(f"pid {os.getpid()} ")


def test_sweep_lock_waits_for_the_holder_when_asked(tmp_path):
    import threading

    events = []

    def hold():
        with sweep.sweep_lock(tmp_path):
            events.append("first in")
            time.sleep(0.6)
            events.append("first out")

    t = threading.Thread(target=hold)
    t.start()
    while not events:
        time.sleep(0.01)
    with sweep.sweep_lock(tmp_path, wait=True, poll=0.05):
        events.append("second in")
    t.join()
    assert events == ["first in", "first out", "second in"]


@pytest.mark.slow
def test_two_sweeps_started_at_once_run_each_cell_once(tmp_path):
    cfg = make_config(tmp_path, [1, 2, 3], sleep=0.3)
    run_dir = tmp_path / "runs" / "tiny"
    cmd = [
        sys.executable,
        "-m",
        "xfactor_lib",
        "sweep",
        str(cfg),
        "--runs-root",
        str(tmp_path / "runs"),
        "--quiet",
        "--wait",
    ]
    procs = [
        subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    ran = sorted(int(out.split(" cell(s) ran")[0].split()[-1]) for out, _ in outs)
    assert ran == [0, 3]  # one sweep ran every cell, the other waited and found them done
    assert sorted(sweep.collect(run_dir, "tiny")["value"]) == [1, 2, 3]
    assert (sweep.sweep_status(run_dir)["status"] == "done").all()
    assert not [p for p in run_dir.rglob(f"{records.TMP_PREFIX}*")]


def test_truncated_records_rerun_that_cell_alone_and_match_a_clean_run(tmp_path, capsys):
    cfg = make_config(tmp_path, [1, 2, 3], summary=True)
    run_dir = tmp_path / "runs" / "tiny"
    assert main(["sweep", str(cfg), "--runs-root", str(tmp_path / "runs"), "--quiet"]) == 0
    clean = sweep.collect(run_dir, "tiny").sort_values("value").reset_index(drop=True)
    victim = sweep.cell_dirs(run_dir, "tiny")[1]
    blob = (victim / "records.parquet").read_bytes()
    (victim / "records.parquet").write_bytes(blob[: len(blob) // 2])
    assert [d.name for d in sweep.cell_dirs(run_dir, "tiny")] != [victim.name] and len(
        sweep.cell_dirs(run_dir, "tiny")
    ) == 2
    assert "Pending: `" + victim.name in sweep.read_note(run_dir, "tiny")
    capsys.readouterr()
    assert main(["sweep", str(cfg), "--runs-root", str(tmp_path / "runs"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "1 cell(s) ran, 2 already done, 0 failed" in out
    assert f"redone {victim.name}: records.parquet does not match the checksum" in out
    again = sweep.collect(run_dir, "tiny").sort_values("value").reset_index(drop=True)
    pd.testing.assert_frame_equal(again, clean)
    assert "TOTAL 14" in (run_dir / "summaries" / "summary.html").read_text()
    assert sweep.read_note(run_dir, "tiny") == "Read 3 of 3 cells (stage tiny). None failed or missing."


def test_failed_summary_loses_its_old_html_and_the_cli_says_so(tmp_path, capsys):
    cfg = make_config(tmp_path, [1], summary=True)
    run_dir = tmp_path / "runs" / "tiny"
    html = run_dir / "summaries" / "summary.html"
    assert main(["sweep", str(cfg), "--runs-root", str(tmp_path / "runs"), "--quiet"]) == 0
    assert html.is_file() and f"summary: {html}" in capsys.readouterr().out
    write_notebook(tmp_path / "summary.ipynb", [SUMMARY[0], ("code", "raise RuntimeError('summary broke')")])
    assert main(["sweep", str(cfg), "--runs-root", str(tmp_path / "runs"), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert not html.exists()
    assert "summary FAILED summary.ipynb: RuntimeError: summary broke" in captured.out
    assert "summary: " not in captured.out
    assert "summary broke" in (run_dir / "summaries" / "summary.ipynb").read_text()
    assert "summary.ipynb" in json.loads((run_dir / "summaries" / "failed.json").read_text())


def test_kernels_log_no_transport_warnings_and_failures_get_one_line(tmp_path):
    cfg = make_config(tmp_path, [1, 2], fail_on=2)
    cmd = [sys.executable, "-m", "xfactor_lib", "sweep", str(cfg), "--runs-root", str(tmp_path / "runs"), "--quiet"]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "without encryption" not in out.stderr + out.stdout
    assert [line for line in out.stderr.splitlines() if line.strip()] == [
        line for line in out.stderr.splitlines() if line.startswith("FAILED tiny--2-")
    ]
    assert out.stderr.count("FAILED") == 1 and "ValueError: bad value 2" in out.stderr
    assert out.stdout.count("FAILED tiny--2-") == 1


TIMED = [
    ("parameters", "value = 0\nsleep = 0.0\nscale = 'quick'\nrun_dir = ''\nout_dir = ''\nquiet = False"),
    (
        "code",
        "import time, pandas as pd\nfrom xfactor_lib import records\nstart = time.time()\ntime.sleep(sleep)\n"
        "records.write_records(pd.DataFrame({'value': [value], 'start': [start], 'end': [time.time()]}), out_dir)",
    ),
]


def _staged_config(tmp_path: Path, needs: dict | None) -> Path:
    write_notebook(tmp_path / "timed.ipynb", TIMED)
    stage = lambda name, sleep: {  # noqa: E731
        "name": name, "template": "timed.ipynb", "params": {"sleep": sleep}, "grid": {"value": [1]},
    }  # fmt: skip
    cfg = {"name": "staged", "stages": [stage("first", 4.0), stage("second", 0.0), stage("other", 0.0)]}
    if needs is not None:
        cfg["needs"] = needs
    path = tmp_path / "staged.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _times(run_dir: Path) -> dict[str, tuple[float, float]]:
    return {
        stage: tuple(sweep.collect(run_dir, stage)[["start", "end"]].iloc[0]) for stage in ("first", "second", "other")
    }


@pytest.mark.slow
def test_a_stage_starts_when_the_stages_it_needs_are_done_and_not_before(tmp_path):
    path = _staged_config(tmp_path, {"second": ["first"], "other": []})
    cfg = sweep.load_config(path)
    assert cfg.dependencies("second") == ["first"] and cfg.dependencies("other") == []
    report = sweep.run_sweep(cfg, runs_root=tmp_path / "runs", quiet=True, workers=2, summaries=False)
    assert (report["status"] == "done").all() and len(report) == 3
    t = _times(tmp_path / "runs" / "staged")
    assert t["other"][0] < t["first"][1]  # needs nothing: ran beside the slow first stage
    assert t["second"][0] >= t["first"][1]  # needs "first": waited for it
    # Without needs every stage waits for all stages before it, even with free workers.
    path = _staged_config(tmp_path, None)
    assert sweep.load_config(path).dependencies("other") == ["first", "second"]
    sweep.run_sweep(path, runs_root=tmp_path / "runs", name="plain", quiet=True, workers=2, summaries=False)
    t = _times(tmp_path / "runs" / "plain")
    assert t["second"][0] >= t["first"][1] and t["other"][0] >= t["second"][1]


@pytest.mark.parametrize(
    "needs, message",
    [
        ({"secnd": ["first"]}, "unknown stage 'secnd'.*did you mean 'second'"),
        ({"second": ["frist"]}, "needs of 'second'.*unknown stage 'frist'"),
        ({"first": ["second"]}, "'first' needs \\['second'\\], which come"),
        ({"second": {"first": 1}}, "must be a list of stage names"),
        (["second"], "'needs' maps a stage"),
    ],
)
def test_bad_needs_are_config_errors(tmp_path, needs, message):
    with pytest.raises(sweep.SweepConfigError, match=message):
        sweep.load_config(_staged_config(tmp_path, needs))


def test_the_default_config_lets_independent_studies_overlap():
    cfg = sweep.load_config(REPO / "configs" / "default.yaml")
    assert cfg.dependencies("e_surrogate") == ["data"] and cfg.dependencies("a_subsets") == ["data"]
    assert cfg.dependencies("q_measures") == ["x_train", "a_train"]  # its targets come from their records
    assert cfg.dependencies("x_train") == ["x_subsets"]

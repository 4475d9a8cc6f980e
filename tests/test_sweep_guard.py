"""Issue 22: the sweep never harms the user's files, reruns cells whose data changed, and
fails one cell (not the sweep) for a folder it cannot clear; CLI edges give one line."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_sweep import make_config

from xfactor_lib import records, sweep
from xfactor_lib.__main__ import main
from xfactor_lib.data import identity as data_identity
from xfactor_lib.sweep import guard as sweep_guard

from conftest import write_notebook

DATA_TEMPLATE = [
    ("parameters", "dataset = ''\nscale = 'quick'\nrun_dir = ''\nout_dir = ''\nquiet = False"),
    (
        "code",
        "import pandas as pd\nfrom xfactor_lib import data, records\nds = data.load_dataset(dataset, 'train')\n"
        "records.write_records(pd.DataFrame({'K': [ds.K], 'N': [ds.N], 'scale': [scale]}), out_dir)",
    ),
]


# --------------------------------------------------------------------------- 1. run names
@pytest.mark.parametrize("bad", ["../x", "a/b", "..", ".", "", "/abs/x"])
def test_check_run_name_refuses_anything_but_a_plain_name(bad):
    with pytest.raises(sweep.SweepConfigError, match="is not a plain folder name"):
        sweep_guard.check_run_name(bad)
    assert sweep_guard.check_run_name("my-run_2.b") == "my-run_2.b"


def test_name_outside_the_runs_root_is_refused_and_nothing_there_is_touched(tmp_path, capsys):
    cfg = make_config(tmp_path, [1])
    runs = tmp_path / "runs"
    outside = tmp_path / "x"
    outside.mkdir()
    sentinel = outside / ".tmp-notes.txt"
    sentinel.write_text("mine")
    assert main(["sweep", str(cfg), "--runs-root", str(runs), "--name", "../x", "--quiet", "--no-summaries"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: run name (--name) '../x' is not a plain folder name: it must be non-empty, without '/' or '\\', "
        "and not '.' or '..' (the run directory is <runs_root>/<name>; choose the location with --runs-root)"
    ]
    assert sentinel.read_text() == "mine" and sorted(p.name for p in outside.iterdir()) == [".tmp-notes.txt"]
    assert not runs.exists()


def test_config_name_with_a_path_is_refused(tmp_path, capsys):
    cfg = make_config(tmp_path, [1])
    raw = yaml.safe_load(cfg.read_text())
    raw["name"] = "../../elsewhere"
    cfg.write_text(yaml.safe_dump(raw))
    assert main(["sweep", str(cfg), "--runs-root", str(tmp_path / "runs"), "--quiet", "--no-summaries"]) == 2
    assert "tiny.yaml: name '../../elsewhere' is not a plain folder name" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_partial_cleanup_only_in_the_sweeps_own_cell_folders(tmp_path):
    run = tmp_path / "run"
    dead = 2**22 + 12345  # above the default pid_max of 4194304: no such process
    cell, other = run / "tiny--1-abc", run / "notes"
    cell.mkdir(parents=True)
    other.mkdir()
    left = [cell / f".tmp-{dead}-records.parquet", run / f".tmp-{dead}-sweep.json"]
    keep = [cell / ".tmp-notes.txt", other / f".tmp-{dead}-x.json", run / ".tmp-notes.txt"]
    for p in left + keep:
        p.write_text("x")
    assert sorted(sweep_guard.remove_sweep_partials(run, ["tiny"])) == sorted(left)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in left)


# --------------------------------------------------------------------------- 2. data identity
def _npz(path: Path, K: int) -> None:
    rng = np.random.default_rng(K)
    y = np.arange(4 * K) % K
    np.savez(path, x_train=rng.integers(0, 256, (y.size, 4, 4), dtype=np.uint8), y_train=y,
             x_test=rng.integers(0, 256, (K, 4, 4), dtype=np.uint8), y_test=np.arange(K))  # fmt: skip


def _data_config(tmp_path: Path, dataset: str) -> Path:
    write_notebook(tmp_path / "ds.ipynb", DATA_TEMPLATE)
    cfg = {"name": "ds", "stages": [{"name": "ds", "template": "ds.ipynb", "grid": {"dataset": [dataset]}}]}
    path = tmp_path / "ds.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_changed_npz_redoes_the_cells_that_read_it(tmp_path, capsys):
    npz = tmp_path / "d.npz"
    _npz(npz, 10)
    cfg = _data_config(tmp_path, f"npz:{npz}")
    args = ["sweep", str(cfg), "--runs-root", str(tmp_path / "runs"), "--quiet", "--no-summaries"]
    assert main(args) == 0
    run = tmp_path / "runs" / "ds"
    assert sweep.collect(run, "ds")["K"].tolist() == [10]
    assert main(args) == 0
    assert "0 cell(s) ran, 1 already done" in capsys.readouterr().out
    _npz(npz, 3)
    assert main(args) == 0
    out = capsys.readouterr().out
    cid = sweep.load_config(cfg).cells()[0].id
    assert "1 cell(s) ran, 0 already done" in out and f"  redone {cid}: input data changed" in out
    assert sweep.collect(run, "ds")["K"].tolist() == [3]
    metrics = records.read_json(run / cid / records.METRICS)
    assert metrics["inputs"] == {"dataset": f"npz:{npz}|{data_identity.dataset_fingerprint(f'npz:{npz}')}"}


def test_fingerprint_sees_same_size_rewrites_and_folder_edits(tmp_path):
    a = tmp_path / "a.bin"
    a.write_bytes(b"1234")
    st = a.stat()
    first = data_identity.dataset_fingerprint(f"npz:{a}")
    a.write_bytes(b"1235")
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and time, other bytes: the content hash sees it
    assert data_identity.dataset_fingerprint(f"npz:{a}") != first
    assert data_identity.dataset_fingerprint(f"npz:{tmp_path / 'none.npz'}") == "missing"
    folder = tmp_path / "f"
    (folder / "train" / "c").mkdir(parents=True)
    (folder / "train" / "c" / "1.png").write_bytes(b"p")
    (folder / "train" / "c" / "notes.txt").write_text("not an image: ignored")
    before = data_identity.dataset_fingerprint(f"folder:{folder}")
    (folder / "train" / "c" / "notes.txt").write_text("edited")
    assert data_identity.dataset_fingerprint(f"folder:{folder}") == before
    (folder / "train" / "c" / "2.png").write_bytes(b"q")
    assert data_identity.dataset_fingerprint(f"folder:{folder}") != before
    assert data_identity.dataset_fingerprint(3) is None and data_identity.dataset_fingerprint("resnet18") is None


def test_cells_recorded_without_fingerprints_count_as_unchanged(tmp_path):
    cell = tmp_path / "c"
    cell.mkdir()
    records.write_json({"status": "done"}, cell / records.METRICS)
    assert not sweep_guard.inputs_changed(cell, {"dataset": "npz:x|1"})
    records.update_json(cell / records.METRICS, inputs={"dataset": "npz:x|1"})
    assert not sweep_guard.inputs_changed(cell, {"dataset": "npz:x|1"})
    assert sweep_guard.inputs_changed(cell, {"dataset": "npz:x|2"})


# --------------------------------------------------------------------------- 7. a folder that cannot be removed
def test_a_cell_folder_that_cannot_be_removed_fails_that_cell_only(tmp_path, monkeypatch):
    cfg = make_config(tmp_path, [1, 2, 3], fail_on=2)
    run = tmp_path / "runs" / "tiny"
    first = sweep.run_sweep(cfg, runs_root=tmp_path / "runs", quiet=True, summaries=False)
    assert first["status"].tolist() == ["done", "failed", "done"]
    failed_id, later_id = first.loc[1, "cell_id"], first.loc[2, "cell_id"]
    shutil.rmtree(run / later_id)  # so a cell after the broken one has to run

    def rmtree(path, *a, **k):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    again = sweep.run_sweep(cfg, runs_root=tmp_path / "runs", quiet=True, summaries=False)
    row = again.set_index("cell_id").loc[failed_id]
    assert row["status"] == "failed" and row["redo"] == "failed before: ValueError: bad value 2"
    assert row["error"] == (
        f"cannot prepare the cell folder {run / failed_id}: PermissionError: [Errno 13] Permission denied: "
        f"'{run / failed_id}'"
    )
    status = again.set_index("cell_id")
    assert status.loc[later_id, "status"] == "done" and not status.loc[later_id, "skipped"]
    assert again["status"].tolist() == ["done", "failed", "done"] and sweep.collect(run, "tiny")["value"].tolist() == [
        1,
        3,
    ]


# --------------------------------------------------------------------------- 8. CLI edges
def test_status_of_a_missing_or_non_run_directory_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["status", str(tmp_path / "nope")]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: run directory {tmp_path / 'nope'} does not exist\n" and captured.out == ""
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("x")
    assert main(["status", str(tmp_path / "plain")]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: {tmp_path / 'plain'} is not a sweep's run directory (no sweep.json and no cell folders)\n"
    )
    assert captured.out == ""


def test_ctrl_c_stops_with_one_line_saying_how_to_resume(tmp_path, monkeypatch, capsys):
    cfg = make_config(tmp_path, [1])

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "run_sweep", interrupted)
    argv = ["sweep", str(cfg), "--runs-root", str(tmp_path / "my runs"), "--quiet"]
    assert main(argv) == 130
    captured = capsys.readouterr()
    assert captured.err == (
        "interrupted: finished cells are kept; to resume, run the same command again: "
        f"python -m xfactor_lib sweep {cfg} --runs-root '{tmp_path / 'my runs'}' --quiet\n"
    )
    assert captured.out == ""


@pytest.mark.slow
def test_ctrl_c_with_local_workers_ends_the_sweep_with_one_line_and_it_resumes(tmp_path):
    cfg = make_config(tmp_path, [1, 2, 3], sleep=60)
    run = tmp_path / "runs" / "tiny"
    cmd = [sys.executable, "-m", "xfactor_lib", "sweep", str(cfg), "--runs-root", str(tmp_path / "runs")]
    cmd += ["--workers", "2", "--quiet", "--no-summaries"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while len(list(run.glob("tiny--*/metrics.json"))) < 2 and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # the kernels are inside their 60 s sleep
    t0 = time.time()
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's whole process group
    out, err = proc.communicate(timeout=60)
    assert time.time() - t0 < 30  # the running cells were not waited for
    assert proc.returncode == 130 and out == ""
    again = shlex.join(["python", *cmd[1:]])
    assert err.splitlines() == [f"interrupted: finished cells are kept; to resume, run the same command again: {again}"]
    assert not list(run.glob("tiny--*/records.parquet"))

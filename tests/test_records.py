"""Records: atomic writes, checksummed cell records, schemas, temporaries of live writers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pandas as pd
import pytest

from xfactor_lib import records

from conftest import REPO


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


def test_write_records_puts_rows_and_checksum_in_metrics_before_the_records(tmp_path, monkeypatch):
    records.write_json({"stage": None, "status": "running", "cell_id": "c"}, tmp_path / "metrics.json")
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        if str(dst).endswith(records.RECORDS):
            seen.append(json.loads((tmp_path / "metrics.json").read_text()).get("records"))
        return real_replace(src, dst)

    monkeypatch.setattr(records.os, "replace", spy)
    records.write_records(pd.DataFrame({"a": [1, 2, 3]}), tmp_path)
    assert seen and seen[0]["rows"] == 3 and seen[0]["sha256"] == records.file_sha256(tmp_path / records.RECORDS)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["cell_id"] == "c" and metrics["status"] == "running"  # merged, not replaced
    assert records.check_records(tmp_path) is None


def _done_cell(path, rows=3):
    records.write_records(pd.DataFrame({"a": range(rows)}), path)
    return path


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda d: (d / records.RECORDS).write_bytes((d / records.RECORDS).read_bytes()[:-20]), "checksum"),
        (lambda d: (d / records.METRICS).unlink(), "holds no checksum"),
        (lambda d: records.write_json({"status": "done"}, d / records.METRICS), "holds no checksum"),
        (lambda d: records.update_json(d / records.METRICS, status="failed", error="ValueError: x"), "failed after"),
        (
            lambda d: records.update_json(
                d / records.METRICS, records={"rows": 4, "sha256": records.file_sha256(d / records.RECORDS)}
            ),
            "has 3 rows, metrics.json recorded 4",
        ),
        (lambda d: (d / records.RECORDS).unlink(), "no records"),
    ],
)
def test_check_records_refuses_records_that_do_not_match(tmp_path, damage, reason):
    cell = _done_cell(tmp_path / "cell")
    assert records.check_records(cell) is None
    damage(cell)
    assert reason in records.check_records(cell)


def test_sigkill_right_after_the_records_leaves_metrics_that_vouch_for_them(tmp_path):
    code = (
        "import os, signal, pandas as pd\nfrom xfactor_lib import records\n"
        f"records.write_records(pd.DataFrame({{'a': [1, 2]}}), {str(tmp_path)!r})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO)
    assert proc.returncode == -signal.SIGKILL
    assert json.loads((tmp_path / records.METRICS).read_text())["records"]["rows"] == 2
    assert records.check_records(tmp_path) is None


def test_schema_of_a_known_stage_is_checked_by_the_writer(tmp_path):
    frame = pd.DataFrame(
        {
            "subset_id": ["s"],
            "study": ["x"],
            "dataset": ["d"],
            "kind": ["random"],
            "indices": [[1, 2]],
            "scale": ["quick"],
            "size": [20],
            "candidates": [[1, 2]],
        }
    )
    with pytest.raises(ValueError, match=r"a record table of stage 'x_subsets' lacks column\(s\) \['n'\]"):
        records.write_records(frame, tmp_path, stage="x_subsets")
    assert not (tmp_path / records.RECORDS).exists()
    records.write_json({"stage": "x_subsets"}, tmp_path / records.METRICS)  # the sweep names the stage
    with pytest.raises(ValueError, match="lacks column"):
        records.write_records(frame, tmp_path)
    records.write_records(frame.assign(n=2), tmp_path)
    assert records.check_records(tmp_path) is None
    records.write_records(pd.DataFrame({"anything": [1]}), tmp_path / "other", stage="not_listed")
    with pytest.raises(TypeError, match="DataFrame"):
        records.write_records({"a": [1]}, tmp_path)


SHARED_NAMES = {
    # stage: (records as the stage's template writes them, a shared name, the old name for it)
    "x_subsets": (
        {"subset_id": ["x-10-random-0"], "study": ["x"], "dataset": ["mnist"], "kind": ["random"],
         "indices": [[1, 2, 3]], "scale": ["quick"], "n": [10], "size": [100], "candidates": [[1, 2]]},
        "n", "K",
    ),
    "x_train": (
        {"subset_id": ["x-10-random-0"], "dataset": ["mnist"], "n": [10], "size": [100], "model": ["rf"],
         "scale": ["quick"], "error": [0.2]},
        "n", "K",
    ),
    "e_surrogate": (
        {"dataset": ["cifar10"], "seed": [0], "arch": ["resnet18"], "rate": [0.1], "window": [10], "step": [5],
         "best_early": [0.4], "best_late": [0.6], "scale": ["quick"]},
        "window", "L",
    ),
}  # fmt: skip


@pytest.mark.parametrize("stage", sorted(SHARED_NAMES))
def test_writer_takes_records_in_the_shared_names_and_refuses_the_old_ones(tmp_path, stage):
    columns, shared, old = SHARED_NAMES[stage]
    frame = pd.DataFrame(columns)
    out = records.write_records(frame, tmp_path / "new", stage=stage)
    assert records.check_records(tmp_path / "new") is None
    pd.testing.assert_frame_equal(pd.read_parquet(out), frame)
    renamed = frame.rename(columns={shared: old})
    with pytest.raises(ValueError, match=rf"stage '{stage}' lacks column\(s\) \['{shared}'\]"):
        records.write_records(renamed, tmp_path / "old", stage=stage)
    assert not (tmp_path / "old" / records.RECORDS).exists()
    records.write_records(renamed, tmp_path / "unchecked", stage="not_a_stage")  # unlisted stages pass


def test_remove_partials_keeps_temporaries_of_live_writers(tmp_path):
    mine = tmp_path / f"{records.TMP_PREFIX}{os.getpid()}-a.parquet"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = tmp_path / "sub" / f"{records.TMP_PREFIX}{dead.stdout.strip()}-b.json"
    gone.parent.mkdir()
    mine.write_text("in progress")
    gone.write_text("left by a dead writer")
    assert records.remove_partials(tmp_path) == [gone]
    assert mine.exists() and not gone.exists()

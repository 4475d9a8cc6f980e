"""End to end: the default config at smoke scale, through papermill, on real data.

One sweep (session fixture) runs every template and summary notebook; the tests then
check what landed in the run directory.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from xfactor_lib import diversity, stats, sweep

from conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    report = sweep.run_sweep(
        REPO / "configs" / "default.yaml", scale="smoke", runs_root=root, name="smoke", workers=2, quiet=True
    )
    failed = report[report["status"] == "failed"]
    assert failed.empty, failed[["cell_id", "error"]].to_string()
    return root / "smoke"


def _images_in(html: str) -> int:
    return len(re.findall(r'<img [^>]*src="data:image/png', html))


@pytest.mark.parametrize(
    "name, min_figures",
    [("01_data_summary", 0), ("10_study_x", 6), ("20_study_a", 4), ("30_study_e", 3), ("40_study_q", 3)],
)
def test_every_summary_renders_with_its_figures(smoke_run, name, min_figures):
    html = (smoke_run / "summaries" / f"{name}.html").read_text()
    assert _images_in(html) >= min_figures
    assert "Traceback" not in html and "Warning" not in html
    # every summary opens with its verdict, computed from the records, before any figure
    verdict = html.find(">Verdict<")
    assert verdict != -1 and (min_figures == 0 or verdict < html.find("<img "))
    assert re.search(r"Read \d+ of \d+ cells", html), "the summary says what it stands on"
    assert not (smoke_run / "summaries" / "failed.json").exists()


def test_study_x_records_hold_every_rule_and_z_scores(smoke_run):
    man = sweep.collect(smoke_run, "x_subsets")
    rec = sweep.collect(smoke_run, "x_train")
    sel = man[man["kind"] == "selected"]
    assert set(zip(sel["strategy"], sel["direction"])) == {
        (s, d) for s in ("uniqueness", "global_mean", "other_mean", "own_mean") for d in "+-"
    }
    assert set(rec["model"]) == {"gnb", "rf", "mlp-1"} and set(rec["n"]) == {5, 8}
    assert (rec["size"] == rec["n"] * 10).all()  # study X: n images per class, size images in all
    assert len(rec) == 3 * len(man)
    z = stats.zscores(rec)
    random_z = z[rec["kind"] == "random"]
    means = random_z.groupby([rec["n"], rec["model"]]).mean()
    assert np.allclose(means, 0, atol=1e-12)
    headline = pd.read_csv(smoke_run / "summaries" / "10_study_x_headline.csv")
    assert {"quantity", "value"} <= set(headline.columns) and len(headline) > 3


def test_same_seed_gives_the_same_manifests_and_sklearn_records(smoke_run, tmp_path):
    sweep.run_sweep(
        REPO / "configs" / "study_x.yaml",
        scale="smoke",
        runs_root=tmp_path,
        name="again",
        quiet=True,
        summaries=False,
        workers=2,
    )
    a_man, b_man = (
        sweep.collect(d, "x_subsets").sort_values("subset_id").reset_index(drop=True)
        for d in (smoke_run, tmp_path / "again")
    )
    assert a_man["subset_id"].tolist() == b_man["subset_id"].tolist()
    assert all(np.array_equal(x, y) for x, y in zip(a_man["indices"], b_man["indices"]))
    cols = ["subset_id", "model", "error", "bacc", "acc_class_0", "acc_class_9"]
    a, b = (sweep.collect(d, "x_train") for d in (smoke_run, tmp_path / "again"))
    pick = lambda r: r[r["model"].isin(["gnb", "rf"])][cols].sort_values(cols[:2]).reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(pick(a), pick(b))


def test_study_a_records_carry_performance_and_all_features(smoke_run):
    rec = sweep.collect(smoke_run, "a_train")
    man = sweep.collect(smoke_run, "a_subsets")
    assert len(rec) == len(man)
    assert set(diversity.FEATURE_NAMES) <= set(rec.columns) and {"pixels", "channels", "classes"} <= set(rec.columns)
    assert (rec["size"] == rec["n_train"]).all()  # study A: size is the total image count, a feature too
    row = man.iloc[0]
    from xfactor_lib.data import load_dataset

    ds = load_dataset("digits", "train")
    idx = np.asarray(row["indices"])
    expect = diversity.features(ds.images[idx], ds.labels[idx])
    got = rec.set_index("subset_id").loc[row["subset_id"]]
    assert all(got[k] == pytest.approx(v, rel=1e-9) for k, v in expect.items())


def test_study_e_table_has_every_method_rate_and_seed(smoke_run):
    rec = sweep.collect(smoke_run, "e_coreset")
    cfg = sweep.load_config(REPO / "configs" / "study_e.yaml", scale="smoke")
    methods = [m for group in cfg.stages[1].grid["methods"] for m in group]
    rates, seeds = cfg.stages[1].params["rates"], cfg.stages[1].params["seeds"]
    core = rec[rec["method"] != "full"]
    assert set(core["method"]) == set(methods) - {"full"}
    assert len(core) == len(set(methods) - {"full"}) * len(rates) * len(seeds)
    assert len(rec[rec["method"] == "full"]) == len(seeds)
    pool = int(rec["n_pool"].iloc[0])
    assert set(zip(core["rate"], core["n_coreset"])) == {(r, int(np.ceil(round(r * pool, 9)))) for r in rates}
    surrogate = sweep.collect(smoke_run, "e_surrogate")
    assert (surrogate["best_late"] > surrogate["best_early"]).all()
    assert (sweep.cell_dirs(smoke_run, "e_surrogate")[0] / "dynamics.npz").is_file()


def test_study_q_joins_every_x_and_a_subset_with_its_measures_and_target(smoke_run):
    q = sweep.collect(smoke_run, "q_measures")
    x_ids = set(sweep.collect(smoke_run, "x_subsets")["subset_id"])
    a_ids = set(sweep.collect(smoke_run, "a_subsets")["subset_id"])
    assert set(q["subset_id"]) == x_ids | a_ids
    measures = [c for c in q.columns if c.startswith("q_")]
    assert len(measures) > 40 and q[measures].notna().all().all()
    assert q.loc[q["study"] == "x", "z_mean"].notna().all() and q.loc[q["study"] == "a", "bacc"].notna().all()

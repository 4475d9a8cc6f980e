"""The subset explorer without a browser: the demo run, run loading, tiles, and the widget's pickers."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from xfactor_lib import data, records, stats, subsets, sweep
from xfactor_lib.diversity import FEATURE_NAMES
from xfactor_lib.explore import RunData, SubsetExplorer, demo, load_run, run_or_demo, write_demo_run
from xfactor_lib.explore.runs import (
    compare_subsets,
    filter_subsets,
    parameter_differences,
    per_class,
    picker_options,
    subset_parts,
)
from xfactor_lib.explore.tiles import image_grid

#: Study X Z-score cells: size = n * K splits a run like n does.
CELL = ("dataset", "size", "model")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_demo_run(tmp_path_factory.mktemp("demo") / "run")


@pytest.fixture(scope="module")
def run(run_dir):
    return load_run(run_dir)


@pytest.fixture(scope="module")
def digits():
    return data.load_dataset("digits", "train")


@pytest.fixture()
def explorer(run, digits):
    return SubsetExplorer(run, datasets={"digits": digits})


def decoded(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def manifest_row(run: RunData, subset_id: str) -> pd.Series:
    return run.subsets[run.subsets["subset_id"] == subset_id].iloc[0]


def tiny_manifest() -> pd.DataFrame:
    rows = [
        ("x-r0", 10, "random", "none", "none", 0, 0),
        ("x-r1", 10, "random", "none", "none", 0, 1),
        ("x-own+", 10, "selected", "own_mean", "+", 10, 0),
        ("x-own-", 10, "selected", "own_mean", "-", 10, 0),
        ("x-uniq+", 10, "selected", "uniqueness", "+", 20, 0),
        ("x-r0-30", 30, "random", "none", "none", 0, 0),
    ]
    return pd.DataFrame([dict(subset_id=i, study="x", dataset="digits", n=n, size=10 * n, kind=k, strategy=s,
                              direction=d, m=m, repeat=r, seed=0) for i, n, k, s, d, m, r in rows])  # fmt: skip


# --------------------------------------------------------------------------- demo run
def test_demo_run_writes_every_study_stage_in_the_run_directory_layout(run_dir, digits):
    for stage in ("x_subsets", "x_train", "a_subsets", "a_train"):
        cells = sweep.cell_dirs(run_dir, stage)
        assert cells and all(c.name.startswith(f"{stage}--") for c in cells)
        assert all((c / records.RECORDS).is_file() and (c / records.METRICS).is_file() for c in cells)
    x = sweep.collect(run_dir, "x_subsets")
    assert set(subsets.MANIFEST_COLUMNS["x"]) <= set(x.columns)
    assert sorted(x["n"].unique()) == [10, 30] and (x["size"] == 10 * x["n"]).all()
    for row in x.itertuples():
        counts = np.bincount(digits.labels[row.indices], minlength=10)
        assert counts.tolist() == [row.n] * 10
        assert np.isin(row.indices, row.candidates).all()
        assert len(row.candidates) == (row.n + row.m) * 10
    train = sweep.collect(run_dir, "x_train")
    assert sorted(train["model"].unique()) == ["gnb", "svc"]
    assert len(train) == 2 * len(x) and train["error"].between(0, 1).all()
    a = sweep.collect(run_dir, "a_train")
    assert set(FEATURE_NAMES) | {"pixels", "channels", "classes", "bacc"} <= set(a.columns)
    assert (a["A_0"] > 0).all() and (a["pixels"] == 64).all()


def test_demo_study_a_subsets_are_the_balance_designs_of_the_subsets_module(run_dir, digits):
    a = sweep.collect(run_dir, "a_subsets")
    assert set(subsets.MANIFEST_COLUMNS["a"]) <= set(a.columns)
    for size in demo.A_SIZES:
        want = subsets.balance_subsets(digits.labels, size, seed=0, dataset="digits", n_bins=demo.A_BINS, per_bin=1,
                                       n_draws=demo.A_DRAWS)  # fmt: skip
        got = a[a["size"] == size].reset_index(drop=True)
        assert got["subset_id"].tolist() == want["subset_id"].tolist()
        assert got["cb_bin"].tolist() == want["cb_bin"].tolist() and len(set(got["cb_bin"])) >= 4
        assert all(np.array_equal(p, q) for p, q in zip(got["indices"], want["indices"]))


def test_write_demo_run_returns_an_existing_demo_untouched(run_dir):
    cell = sweep.cell_dirs(run_dir, "x_train")[0] / records.RECORDS
    before = cell.stat().st_mtime_ns
    assert write_demo_run(run_dir) == run_dir
    assert cell.stat().st_mtime_ns == before


def test_run_or_demo_opens_a_run_with_subsets_and_falls_back_to_the_demo(run_dir, tmp_path, capsys):
    assert run_or_demo(run_dir, demo_dir=tmp_path / "unused") == run_dir
    assert not (tmp_path / "unused").exists()
    assert run_or_demo(tmp_path / "no-run", demo_dir=run_dir) == run_dir
    assert "holds no subset manifests" in capsys.readouterr().out


# --------------------------------------------------------------------------- load_run
def test_load_run_reads_every_stage_and_z_scores_x_results_against_their_random_subsets(run, run_dir):
    assert run.missing == [] and run.notes == []
    assert set(run.found) == {"x_subsets", "a_subsets", "x_train", "a_train", "q_measures"}
    x = run.results[run.results["stage"] == "x_train"]
    expected = stats.zscores(sweep.collect(run_dir, "x_train"), by=CELL)
    np.testing.assert_allclose(x["z"].to_numpy(), expected.to_numpy())
    assert run.results.loc[run.results["stage"] == "a_train", "z"].isna().all()
    a_ids = set(run.subsets.loc[run.subsets["study"] == "a", "subset_id"])
    assert set(run.features.index) == a_ids


def test_load_run_lists_missing_stages_instead_of_failing(run_dir, tmp_path):
    for d in sweep.cell_dirs(run_dir, "x_subsets"):
        shutil.copytree(d, tmp_path / d.name)
    part = load_run(tmp_path)
    assert part.missing == ["a_subsets", "x_train", "a_train", "q_measures"]
    assert len(part.subsets) == part.found["x_subsets"] and part.results.empty and part.features.empty


def test_load_run_reads_a_study_x_manifest_written_before_n_and_size_split(run_dir, tmp_path):
    cell = sweep.cell_dirs(run_dir, "x_subsets")[0]
    old = pd.read_parquet(cell / records.RECORDS)
    n = int(old["n"].iloc[0])
    old = old.drop(columns="n").assign(size=n)  # the old schema: size was images per class
    (tmp_path / cell.name).mkdir()
    records.write_json({"status": "done"}, tmp_path / cell.name / records.METRICS)  # no stage: no schema check
    records.write_records(old, tmp_path / cell.name)
    got = load_run(tmp_path).subsets
    assert (got["n"] == n).all() and (got["size"] == 10 * n).all()


def test_load_run_of_a_folder_that_does_not_exist_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_run(tmp_path / "nowhere")


# --------------------------------------------------------------------------- pure logic
def test_picker_options_cascade_each_picker_over_the_choices_before_it():
    opts = picker_options(tiny_manifest(), {"kind": "selected", "rule": "uniqueness"})
    assert opts["size"] == ([100, 300], 100)
    assert opts["kind"] == (["random", "selected"], "selected")
    assert opts["rule"] == (["own_mean", "uniqueness"], "uniqueness")
    assert opts["direction"] == (["+"], "+")
    assert opts["m"] == ([20], 20)
    assert opts["subset"] == (["x-uniq+"], "x-uniq+")


def test_picker_options_fall_back_to_the_first_option_when_a_choice_is_gone():
    opts = picker_options(tiny_manifest(), {"size": 300, "kind": "selected", "rule": "own_mean"})
    assert opts["kind"] == (["random"], "random")
    assert opts["rule"] == (["none"], "none")
    assert opts["subset"] == (["x-r0-30"], "x-r0-30")


def test_filter_subsets_selects_by_picker_name_and_ignores_none():
    m = tiny_manifest()
    assert filter_subsets(m, rule="own_mean", direction=None)["subset_id"].tolist() == ["x-own+", "x-own-"]
    assert filter_subsets(m, subset="x-r1")["repeat"].tolist() == [1]
    with pytest.raises(ValueError, match="unknown picker"):
        filter_subsets(m, colour="red")


def test_subset_parts_discard_the_candidates_that_were_not_kept():
    kept, discarded = subset_parts({"indices": [1, 3], "candidates": [1, 2, 3, 5]})
    assert kept.tolist() == [1, 3] and discarded.tolist() == [2, 5]
    kept, discarded = subset_parts(pd.Series({"indices": np.array([4, 7])}))
    assert kept.tolist() == [4, 7] and discarded.size == 0


def test_per_class_keeps_the_first_indices_of_each_class():
    y = np.array([0, 1, 0, 1, 0, 1])
    assert [r.tolist() for r in per_class(np.array([5, 4, 2, 0, 3]), y, 3, limit=2)] == [[0, 2], [3, 5], []]


def test_compare_subsets_counts_shared_and_own_images_overall_and_per_class():
    y = np.array([0, 0, 1, 1, 1])
    cmp = compare_subsets(np.array([0, 1, 2, 3]), np.array([2, 3, 4]), y=y)
    assert cmp["overlap"] == 2 and cmp["only_a"].tolist() == [0, 1] and cmp["only_b"].tolist() == [4]
    assert cmp["pct_of_a"] == 50.0 and cmp["pct_of_b"] == pytest.approx(200 / 3) and cmp["jaccard"] == 0.4
    assert cmp["per_class"].to_dict("list") == {
        "n_a": [2, 2],
        "n_b": [0, 3],
        "shared": [0, 2],
        "only_a": [2, 0],
        "only_b": [0, 1],
    }


def test_parameter_differences_name_the_columns_that_differ_and_ignore_ones_both_lack():
    a = {"study": "a", "n": np.nan, "size": 64, "kind": "balance", "repeat": np.int64(0)}
    b = {"study": "a", "n": np.nan, "size": 128, "kind": "balance", "repeat": 0}
    assert parameter_differences(a, b) == {"size": (64, 128)}
    diff = parameter_differences(a, {**b, "n": 10, "size": 64})
    assert list(diff) == ["n"] and diff["n"][1] == 10


def test_image_grid_places_each_row_of_images_and_leaves_empty_slots_white():
    images = np.stack([np.full((1, 2, 2), 10), np.full((1, 2, 2), 200)]).astype(np.uint8)
    grid = image_grid(images, [np.array([0, 1]), np.array([1])], cell=2, pad=1)
    assert grid.shape == (7, 7, 3)
    assert (grid[1:3, 1:3] == 10).all() and (grid[1:3, 4:6] == 200).all()
    assert (grid[4:6, 1:3] == 200).all() and (grid[4:6, 4:6] == 255).all()


def test_image_grid_upscales_by_repeating_pixels():
    img = np.array([[[0, 255], [255, 0]]], dtype=np.uint8)[None]
    grid = image_grid(img, [np.array([0])], cell=4, pad=0)
    assert grid[:, :, 0].tolist() == [[0, 0, 255, 255]] * 2 + [[255, 255, 0, 0]] * 2


# --------------------------------------------------------------------------- the widget
def test_explorer_opens_on_a_selected_subset_with_its_kept_and_discarded_images(explorer, run, digits):
    c = explorer.choices()
    assert (c["study"], c["kind"]) == ("x", "selected")
    row = manifest_row(run, c["subset"])
    kept, discarded = subset_parts(row)
    want = per_class(kept, digits.labels, 10, limit=10)
    assert [r.tolist() for r in explorer.shown["kept"]] == [r.tolist() for r in want]
    assert [r.tolist() for r in explorer.shown["discarded"]] == [
        r.tolist() for r in per_class(discarded, digits.labels, 10, limit=10)
    ]
    assert not np.isin(np.concatenate(explorer.shown["discarded"]), kept).any()
    expected = image_grid(digits.images, want, labels=[str(k) for k in range(10)], columns=10, cell=32)
    np.testing.assert_array_equal(decoded(explorer.kept_image.value), expected)
    assert explorer.discarded_image.value[:4] == b"\x89PNG" and explorer.discarded_box.layout.display is None
    n = int(row["n"])
    assert f"n = {n}, size = {10 * n}," in explorer.info.value


def test_changing_the_rule_picker_shows_the_subset_of_that_rule(explorer, run, digits):
    before = explorer.kept_image.value
    explorer.pickers["rule"].value = "own_mean"
    c = explorer.choices()
    row = manifest_row(run, c["subset"])
    assert row["strategy"] == "own_mean" and explorer.current["subset_id"] == c["subset"]
    assert (row["direction"], row["m"]) == (c["direction"], c["m"])
    want = per_class(row["indices"], digits.labels, 10, limit=10)
    assert [r.tolist() for r in explorer.shown["kept"]] == [r.tolist() for r in want]
    assert explorer.kept_image.value != before


def test_choosing_random_subsets_hides_the_discarded_grid_and_locks_the_rule_pickers(explorer):
    explorer.pickers["kind"].value = "random"
    assert explorer.pickers["rule"].options == ("none",) and explorer.pickers["rule"].disabled
    assert explorer.pickers["m"].value == 0
    assert explorer.current["kind"] == "random" and "discarded" not in explorer.shown
    assert explorer.discarded_image.value == b"" and explorer.discarded_box.layout.display == "none"
    assert len(explorer.pickers["subset"].options) == demo.N_RANDOM


def test_per_class_slider_limits_the_images_shown_per_class(explorer, digits):
    explorer.per_class.value = 3
    kept = np.asarray(explorer.current["indices"])
    assert [r.tolist() for r in explorer.shown["kept"]] == [
        r.tolist() for r in per_class(kept, digits.labels, 10, limit=3)
    ]
    expected = image_grid(digits.images, explorer.shown["kept"], labels=[str(k) for k in range(10)], columns=3)
    np.testing.assert_array_equal(decoded(explorer.kept_image.value), expected)


def test_scores_give_each_models_z_score_of_the_shown_subset(explorer, run_dir):
    recs = sweep.collect(run_dir, "x_train")
    recs["z"] = stats.zscores(recs, by=CELL)
    sid = explorer.choices()["subset"]
    mine = recs[recs["subset_id"] == sid].set_index("model").sort_index()
    assert explorer.scores.index.tolist() == ["gnb", "svc"]
    np.testing.assert_allclose(explorer.scores["z"], mine["z"])
    np.testing.assert_allclose(explorer.scores["error"], mine["error"])
    assert "not computed" in explorer.features_html.value and explorer.features is None


def test_a_study_a_subset_shows_its_lcr_features_and_no_z_score(explorer, run_dir):
    ids = filter_subsets(explorer.run.subsets, study="a", size=128)["subset_id"].tolist()
    sid = ids[len(ids) // 2]
    explorer.select(study="a", size=128, subset=sid)
    a = sweep.collect(run_dir, "a_train").set_index("subset_id").loc[sid]
    assert explorer.current["kind"] == "balance" and "discarded" not in explorer.shown
    for name in ("A_0", "G_1", "CB_1", "rho_max_inf", "pixels"):
        assert explorer.features[name] == pytest.approx(a[name])
    assert np.isnan(explorer.scores.loc["gnb", "z"]) and explorer.scores.loc["gnb", "bacc"] == pytest.approx(a["bacc"])
    assert "A_0" in explorer.features_html.value and "study A has none" in explorer.scores_html.value
    assert [len(r) for r in explorer.shown["kept"]] == [min(10, int(n)) for n in explorer.current["class_counts"]]
    assert "dataset = digits, size = 128," in explorer.info.value and ", n = " not in explorer.info.value


def test_comparing_two_subsets_shows_their_overlap_and_what_differs(explorer, run, digits):
    sid = explorer.choices()["subset"]
    other = "x-digits-n10-random-r2-s0"
    explorer.compare.value = other
    a, b = manifest_row(run, sid)["indices"], manifest_row(run, other)["indices"]
    cmp = explorer.comparison
    assert cmp["overlap"] == len(np.intersect1d(a, b)) and cmp["only_b"].tolist() == np.setdiff1d(b, a).tolist()
    assert cmp["per_class"]["n_a"].tolist() == [10] * 10
    assert "kind: selected vs random" in explorer.compare_html.value
    assert [r.tolist() for r in explorer.shown["only_b"]] == [
        r.tolist() for r in per_class(np.setdiff1d(b, a), digits.labels, 10, limit=10)
    ]
    assert explorer.only_b_image.value[:4] == b"\x89PNG"
    explorer.compare.value = ""
    assert explorer.comparison is None and explorer.only_b_image.value == b"" and "only_b" not in explorer.shown


def test_a_run_without_training_results_still_shows_images_and_says_what_is_missing(run_dir, tmp_path, digits):
    for d in sweep.cell_dirs(run_dir, "x_subsets"):
        shutil.copytree(d, tmp_path / d.name)
    ex = SubsetExplorer(tmp_path, datasets={"digits": digits})
    assert ex.kept_image.value[:4] == b"\x89PNG" and ex.scores.empty
    assert "x_train" in ex.scores_html.value and "missing" in ex.header.value


def test_an_empty_run_shows_a_note_and_no_images(tmp_path):
    ex = SubsetExplorer(tmp_path)
    assert ex.current is None and ex.kept_image.value == b"" and ex.shown == {}
    assert "no subset manifests" in ex.header.value and "no subset to show" in ex.info.value


def test_indices_outside_the_dataset_are_reported_not_raised(run, digits):
    bad = run.subsets[run.subsets["subset_id"] == "x-digits-n10-random-r0-s0"].copy()
    bad["indices"] = [np.array([0, digits.N + 5])]
    ex = SubsetExplorer(RunData(run.run_dir, bad, run.results, run.features), datasets={"digits": digits})
    assert ex.current is not None and ex.kept_image.value == b""
    assert "cannot show the images" in ex.info.value


# --------------------------------------------------------------------------- study Q
def test_demo_quality_records_hold_every_subset_with_measures_groups_and_targets(run, run_dir):
    q = run.quality
    assert set(q["subset_id"]) == set(run.subsets["subset_id"])
    records.check_schema(q, "q_measures")
    x = q[q["study"] == "x"]
    svc = sweep.collect(run_dir, "x_train").query("model == 'svc'")
    z = stats.zscores(svc, by=CELL).groupby(svc["subset_id"]).mean()
    np.testing.assert_allclose(x.set_index("subset_id").loc[z.index, "z_mean"], z)  # gnb left out
    assert q.loc[q["study"] == "a", "bacc"].notna().all()
    # the 8 selected subsets of one (n, m) share candidates: one group
    sel = x[x["kind"] == "selected"]
    assert sel.groupby(["n", "m"])["group"].nunique().eq(1).all()


def test_quality_scatter_modes_points_and_the_subset_table(run):
    from xfactor_lib.explore import quality as eq

    modes = [m for _, m in eq.scatter_modes(run)]
    assert modes == [(eq.PREDICTED, "x"), (eq.PREDICTED, "a"), ("gnb", "svc")]
    pts = eq.scatter_points(run, ("gnb", "svc"))
    z = run.results.dropna(subset=["z"]).groupby(["subset_id", "model"])["z"].mean().unstack()
    row = pts.iloc[0]
    assert (row["x"], row["y"]) == (z.loc[row["subset_id"], "gnb"], z.loc[row["subset_id"], "svc"])
    pred = eq.scatter_points(run, (eq.PREDICTED, "x"))
    assert set(pred["study"]) == {"x"} and len(pred) == (run.quality["study"] == "x").sum()
    sid = run.quality.loc[run.quality["study"] == "x", "subset_id"].iloc[0]
    table = eq.subset_quality(run, sid)
    assert table.index[0] == "z_mean" and table["percentile"].between(0, 100).all()
    assert eq.subset_quality(run, "no-such-subset").empty


def test_clicking_a_scatter_point_opens_that_subset_and_shows_its_measures(explorer, run):
    panel = explorer.quality
    target = [s for s in panel.buttons if s != explorer.current["subset_id"]][-1]
    panel.buttons[target].click()
    assert explorer.current["subset_id"] == target
    assert explorer.pickers["subset"].value == target
    assert target in panel.measures_html.value and "q_cov_rmsd_mean" in panel.measures_html.value
    assert panel.buttons[target].layout.border == "2px solid black"
    panel.mode.value = 2  # Z under one model against another
    assert len(panel.grid.children) == len(panel.points) > 0

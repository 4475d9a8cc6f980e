"""Study A pipeline: balance subsets -> training + diversity features -> regressions -> verdict."""

import numpy as np
import pandas as pd
import pytest

from xfactor_lib import diversity, regression
from xfactor_lib.studies import a

from synthetic import make_a_records


@pytest.fixture(scope="module")
def digits_run():
    manifest = a.make_subsets("digits", 40, n_bins=4, per_bin=1, seed=0, scale="smoke")
    recs = a.train(manifest, model="gnb", test_sample=100, scale="smoke", quiet=True)
    return manifest, recs


def test_make_subsets_spans_class_balance_at_one_total_size(digits_run):
    manifest, _ = digits_run
    assert (manifest["size"] == 40).all() and manifest["indices"].map(len).eq(40).all()
    assert manifest["class_counts"].map(sum).eq(40).all()
    assert sorted(manifest["cb_bin"]) == list(range(len(manifest)))  # one subset per filled bin
    assert (manifest["scale"] == "smoke").all()
    assert list(a.subset_table(manifest).columns) == ["subset_id", "cb_1", "cb_bin", "class_counts"]


def test_train_records_carry_metrics_the_27_features_and_one_class_balance(digits_run):
    manifest, recs = digits_run
    assert sorted(recs["subset_id"]) == sorted(manifest["subset_id"])
    assert set(diversity.FEATURE_NAMES) | {"pixels", "channels", "classes", "bacc", "acc"} <= set(recs.columns)
    assert "cb_1" not in recs.columns  # class balance is CB_1, one name
    counts = manifest.set_index("subset_id")["class_counts"]
    for sid, cb in zip(recs["subset_id"], recs["CB_1"]):
        assert cb == pytest.approx(diversity.class_balance(np.asarray(counts[sid])), rel=1e-12)
    assert (recs["size"] == 40).all() and (recs["pixels"] == 64).all() and (recs["device"] == "cpu").all()
    assert recs["bacc"].between(0, 1).all()


def test_verdict_names_the_best_predictors_beside_size_and_class_balance():
    recs = make_a_records()
    results = a.fit_regressions(recs, ["bacc"])
    text = a.verdict(recs, results=results, note="Read 12 of 12 cells.")
    assert text.startswith("Read 12 of 12 cells.")
    res = results["bacc"]
    single = regression.top_table(res, "single", k=1).iloc[0]
    assert single["label"] == "A_0"
    assert f"single A_0 ({single['adj_r2']:.2f})" in text
    for label in ("size", "CB_1", "size + class balances", "class balances"):
        assert f"{label} {res.loc[res['label'] == label, 'adj_r2'].iloc[0]:.2f}" in text
    best_group = regression.top_table(res, "group", k=1).iloc[0]
    assert f"group {best_group['label']} ({best_group['adj_r2']:.2f})" in text
    assert "72 subsets pooled over datasets" in text


def test_verdict_derives_what_ran_and_the_deviations_from_the_records():
    text = a.verdict(make_a_records())
    assert "datasets digits and mnist; model mlp-1; scale quick; device cpu" in text
    assert "datasets digits, mnist (paper: bloodmnist, organamnist, organcmnist, pathmnist)" in text
    assert "sizes 64, 128, 256 (paper: 64, 128, 256, 384, 512, 768, 1024, 2048)" in text
    assert "trains mlp-1, not resnet18" in text
    assert "12 subsets per (dataset, size) (paper: up to 100)" in text


def test_verdict_reports_exact_ties_together():
    recs = make_a_records()
    recs["R_0"] = 2.0 * recs["A_0"]  # proportional: identical regressions on the logs
    text = a.verdict(recs)
    assert "single A_0 and R_0 (" in text


def _adj_r2_by_hand(recs, feature):
    """bacc ~ 1 + log feature + log pixels (channels and classes are constant: collinear with the intercept)."""
    X = np.column_stack([np.ones(len(recs)), np.log(recs[feature]), np.log(recs["pixels"])])
    y = recs["bacc"].to_numpy()
    resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    r2 = 1 - resid @ resid / ((y - y.mean()) @ (y - y.mean()))
    return r2, 1 - (len(y) - 1) / (len(y) - X.shape[1]) * (1 - r2)


def test_regressions_and_top_table_give_the_adjusted_r2_of_an_ols_fitted_by_hand():
    recs = make_a_records()
    results = a.fit_regressions(recs, ["bacc"])
    single = results["bacc"][results["bacc"]["kind"] == "single"].set_index("label")
    top = a.top_table(results, k=3)
    assert list(top.index.get_level_values("kind").unique()) == ["single", "pair", "triple", "group"]
    for rank, feature in ((1, "A_0"), (2, "size")):  # bacc = 0.1 log A_0 + noise; size is A_0's scale
        r2, adj = _adj_r2_by_hand(recs, feature)
        assert single.loc[feature, "r2"] == pytest.approx(r2, rel=1e-9)
        assert single.loc[feature, "adj_r2"] == pytest.approx(adj, rel=1e-9)
        row = top.loc[("single", rank)]
        assert row["label"] == feature and row["n_obs"] == len(recs)
        assert row[["adj_r2", "r2"]].tolist() == pytest.approx([round(adj, 3), round(r2, 3)], abs=1e-12)


def test_overview_gives_counts_and_means_per_dataset_and_size_rounded_to_3_decimals():
    rows = [  # (dataset, size, bacc, CB_1, A_0)
        ("digits", 64, 0.1234, 1.0, 10.0),
        ("digits", 64, 0.5678, 2.0, 20.0),  # means 0.3456, 1.5, 15
        ("digits", 128, 0.33333, 3.0, 7.0),  # alone: 0.333
        ("mnist", 64, 0.9, 4.0, 1.0),
        ("mnist", 64, 0.8, 5.0, 2.0),
        ("mnist", 64, 0.7005, 6.0, 4.0),  # means 0.8001666 -> 0.8, 5, 2.3333 -> 2.333
    ]
    recs = pd.DataFrame(rows, columns=["dataset", "size", "bacc", "CB_1", "A_0"]).assign(
        subset_id=[f"s{i}" for i in range(len(rows))]
    )
    over = a.overview(recs)
    assert list(over.index) == [("digits", 64), ("digits", 128), ("mnist", 64)]
    assert over["subsets"].tolist() == [2, 1, 3]
    expected = pd.DataFrame(
        {"bacc": [0.346, 0.333, 0.8], "CB_1": [1.5, 3.0, 5.0], "A_0": [15.0, 7.0, 2.333]}, index=over.index
    )
    pd.testing.assert_frame_equal(over[["bacc", "CB_1", "A_0"]], expected, check_exact=False, atol=1e-12)
    synthetic = a.overview(make_a_records())  # 12 subsets per (dataset, size); means within 5e-4 of a plain loop
    for (dataset, size), row in synthetic.iterrows():
        part = [r for r in make_a_records().to_dict("records") if r["dataset"] == dataset and r["size"] == size]
        assert row["subsets"] == len(part) == 12
        assert abs(row["bacc"] - sum(r["bacc"] for r in part) / len(part)) <= 5e-4 + 1e-12

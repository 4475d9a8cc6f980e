"""Study A pipeline: balance subsets -> training + diversity features -> regressions -> verdict."""

import numpy as np
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


def test_top_table_and_overview_are_rounded_tables():
    recs = make_a_records()
    top = a.top_table(a.fit_regressions(recs, ["bacc"]), k=3)
    assert top.loc[("single", 1), "label"] == "A_0"
    assert list(top.index.get_level_values("kind").unique()) == ["single", "pair", "triple", "group"]
    over = a.overview(recs)
    assert over.loc[("mnist", 64), "subsets"] == 12
    assert over.loc[("mnist", 64), "bacc"] == round(over.loc[("mnist", 64), "bacc"], 3)

"""Study X pipeline: subsets -> training -> headline numbers -> verdict."""

import itertools
import re

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf

from xfactor_lib import agreement, stats
from xfactor_lib.studies import x

from synthetic import hand_zscores, make_records


def verdict_records(**kwargs):
    recs = make_records(**kwargs)
    return recs.assign(scale="quick", device="cpu", pretrained=False, test_sample=0, n_test=500)


# --------------------------------------------------------------------------- headline


def _shares(y: pd.Series, a: pd.Series, b: pd.Series) -> dict[str, float]:
    """Variance shares of a balanced two-way layout, from group means alone."""
    total = ((y - y.mean()) ** 2).sum()
    between = lambda key: (y.groupby(key).transform("mean") - y.mean()).pow(2).sum() / total  # noqa: E731
    within = (y - y.groupby([a, b]).transform("mean")).pow(2).sum() / total
    model, n = between(a), between(b)
    return {"model": model, "n": n, "model:n": 1 - within - model - n, "explained": 1 - within}


def test_headline_table_matches_r2_ks_and_variance_shares_computed_by_hand():
    paper = make_records()  # gnb, rf, svc, mlp-1; 10 random and 6 selected subsets at n = 10 and 30
    optimized = paper[paper["kind"] == "selected"].assign(  # no quality shared between models at all
        kind="optimized", strategy="coverage", source="class", subset_id=lambda d: d["subset_id"] + "-opt"
    )
    optimized["error"] = np.random.default_rng(5).uniform(0.01, 1.0, len(optimized))
    table = x.headline_table(pd.concat([paper, optimized], ignore_index=True), n_boot=50, seed=1)
    got = table.set_index(["quantity", "subsets", "model"])

    z = hand_zscores(paper)
    wide = paper.assign(z=z).pivot(index="subset_id", columns="model", values="z").drop(columns="gnb")
    kind = paper.drop_duplicates("subset_id").set_index("subset_id")["kind"]
    for subsets in ("all", "selected", "random"):
        part = wide if subsets == "all" else wide[kind[wide.index] == subsets]
        r2 = [np.corrcoef(part[m1], part[m2])[0, 1] ** 2 for m1, m2 in itertools.combinations(part.columns, 2)]
        value, lo, hi, n = got.loc[("mean_r2", subsets, ""), ["value", "lo", "hi", "n"]]
        assert value == pytest.approx(np.mean(r2), rel=1e-9) and lo <= value <= hi and n == len(part)
    ks = scipy.stats.kstest(z[paper["kind"] == "random"], "norm")  # every model, GNB too
    assert got.loc[("ks_statistic", "random", ""), "value"] == pytest.approx(ks.statistic, rel=1e-12)
    assert got.loc[("ks_p", "random", ""), ["value", "n"]].tolist() == [pytest.approx(ks.pvalue, rel=1e-9), 80]
    for subsets in ("random", "selected"):
        part = paper[(paper["kind"] == subsets) & (paper["model"] != "gnb")]
        shares = _shares(np.log(part["error"]), part["model"], part["n"])
        for term, share in shares.items():
            value, n = got.loc[(f"variance_{term}", subsets, ""), ["value", "n"]]
            assert value == pytest.approx(share, rel=1e-9, abs=1e-12) and n == len(part)
    assert got.loc[("variance_model", "random", ""), "n"] == 3 * 20  # 3 models x 20 random rows


def test_headline_table_reports_the_share_of_each_models_variance_that_n_explains():
    records = make_records()
    table = x.headline_table(records, n_boot=10)
    per = table[(table["quantity"] == "variance_by_n") & (table["subsets"] == "selected")].set_index("model")
    assert sorted(per.index) == ["mlp-1", "rf", "svc"]  # gnb excluded, as in the paper
    for model in per.index:
        part = records[(records["kind"] == "selected") & (records["model"] == model)]
        expected = smf.ols("np.log(error) ~ C(n)", data=part).fit().rsquared
        assert per.loc[model, "value"] == pytest.approx(expected, rel=1e-9)
        assert per.loc[model, "n"] == len(part)


def test_headline_table_skips_absent_kinds_and_models_run_at_one_n():
    records = make_records(n_selected=0)
    records = records[~((records["model"] == "svc") & (records["n"] == 30))]
    table = x.headline_table(records, n_boot=10)
    assert "selected" not in set(table["subsets"])
    assert set(table["quantity"]) >= {"mean_r2", "ks_statistic", "ks_p", "variance_explained", "variance_by_n"}
    assert "svc" not in set(table["model"])


# --------------------------------------------------------------------------- verdict


def test_verdict_states_shared_quality_ks_and_what_ran_from_the_records():
    records = verdict_records(shared=1.0, n_random=20)
    text = x.verdict(records, note="Read 6 of 6 cells (stages x_subsets, x_train). None failed or missing.")
    assert text.startswith("Read 6 of 6 cells")
    m = agreement.mean_r2(records, kind="selected")
    assert f"selected subsets {m['r2']:.2f} [{m['lo']:.2f}, {m['hi']:.2f}]" in text
    assert "models gnb, rf, svc and mlp-1" in text and "scale quick" in text and "device cpu" in text
    ks = stats.ks_normal(records)
    assert f"KS D = {ks['statistic']:.3f}" in text
    assert ("depart from" if ks["p"] < 0.05 else "are consistent with") + " N(0, 1)" in text
    assert "n = 10, 30 (paper: 10, 30, 100, 300, 1000)" in text
    assert "20 random subsets per n (paper: 100)" in text
    assert "models not run: mlp-2, mlp-3, mlp-4, mlp-5, resnet18 and resnet34" in text


def test_verdict_separates_shared_quality_from_independent_noise():
    shared = x.verdict(verdict_records(shared=1.0))
    independent = x.verdict(verdict_records(shared=0.0))
    r2 = {
        name: float(re.search(r"selected subsets (\d\.\d\d) \[", text).group(1))
        for name, text in (("shared", shared), ("independent", independent))
    }
    assert r2["shared"] > 0.9 and r2["independent"] < 0.2


def test_verdict_names_the_deviations_the_records_show():
    records = verdict_records()
    records = records[~((records["model"] == "svc") & (records["n"] == 30))].copy()
    records["model"] = records["model"].replace({"svc": "resnet18"})
    records.loc[records["model"] == "resnet18", ["max_epochs", "batch_size"]] = [10, 20]
    records.loc[records["model"] == "resnet18", "pretrained"] = True
    records.loc[records["model"] == "resnet18", ["test_sample", "n_test"]] = [500, 500]
    text = x.verdict(records)
    assert "resnet18 trained only at n = 10" in text
    assert "resnet18 from ImageNet weights" in text
    assert "resnet18 trained with batch_size 20 (paper: 200), max_epochs 10 (paper: 500)" in text
    assert "resnet18 scored on a class-balanced sample of 500 test images" in text
    assert "gnb" not in text.split("scored on")[0].split("Deviations")[1]


# --------------------------------------------------------------------------- pipeline on digits


@pytest.fixture(scope="module")
def digits_run():
    manifest, skipped = x.make_subsets(
        "digits",
        5,
        n_random=4,
        ms=[6, 400],
        strategies=["own_mean", "uniqueness"],
        directions=["+", "-"],
        repeats=1,
        seed=0,
        scale="smoke",
        optimizers=["coverage", "a_max"],
    )
    recs = pd.concat(
        [x.train(manifest, model=m, test_sample=100, scale="smoke", quiet=True) for m in ("gnb", "rf")],
        ignore_index=True,
    )
    return manifest, skipped, recs


def test_make_subsets_builds_random_and_selected_subsets_with_n_and_size(digits_run):
    manifest, skipped, _ = digits_run
    assert (manifest["n"] == 5).all() and (manifest["size"] == 50).all()  # digits: K = 10
    assert manifest["indices"].map(len).eq(50).all()
    assert (manifest["scale"] == "smoke").all()
    assert x.subset_counts(manifest)["subsets"].to_dict() == {
        ("random", "none", "none"): 4,
        ("selected", "own_mean", "+"): 1,
        ("selected", "own_mean", "-"): 1,
        ("selected", "uniqueness", "+"): 1,
        ("selected", "uniqueness", "-"): 1,
        ("optimized", "a_max", "none"): 2,  # from the whole class and from the m = 6 candidates
        ("optimized", "coverage", "none"): 2,
    }
    opt = manifest[manifest["kind"] == "optimized"]
    assert sorted(opt["source"]) == ["candidates", "candidates", "class", "class"]
    own = manifest[(manifest["strategy"] == "own_mean") & (manifest["direction"] == "+")].iloc[0]
    for cands in opt.loc[opt["source"] == "candidates", "candidates"]:  # shared with the selected rules
        assert np.array_equal(cands, own["candidates"])
    assert len(skipped) == 4 and (skipped["m"] == 400).all()  # 5 + 400 exceeds every digits class


def test_train_records_one_row_per_subset_with_the_design_and_the_device(digits_run):
    manifest, _, recs = digits_run
    gnb = recs[recs["model"] == "gnb"].set_index("subset_id")
    assert sorted(gnb.index) == sorted(manifest["subset_id"])
    assert (gnb["n"] == 5).all() and (gnb["size"] == 50).all() and (gnb["device"] == "cpu").all()
    assert gnb["error"].between(0, 1).all() and (gnb["n_test"] == 100).all()
    np.testing.assert_allclose(gnb["error"], 1 - gnb["acc"])
    assert not {"indices", "candidates"} & set(recs.columns)
    assert list(recs.columns[:3]) == ["subset_id", "study", "dataset"]


def test_summary_runs_on_the_trained_records(digits_run, tmp_path):
    _, _, recs = digits_run
    table = x.headline_table(recs, exclude=(), n_boot=20)
    text = x.verdict(recs, headline=table, exclude=())
    assert "datasets" not in text and "dataset digits" in text and "scale smoke" in text
    assert "gnb and rf scored on a class-balanced sample of 100 test images" in text
    path = x.save_table(table, tmp_path, "headline.csv")
    assert pd.read_csv(path)["quantity"].tolist() == table["quantity"].tolist()
    assert x.save(table, "") is None
    assert x.error_table(recs).loc[("random", "none", "none"), "count"] == 8


def test_optimized_subsets_get_z_against_random_beside_selected_in_table_and_verdict(digits_run):
    _, _, recs = digits_run
    table = x.optimized_table(recs, exclude=())
    groups = list(dict.fromkeys(table["group"]))
    assert groups == ["random", "selected", "a_max (candidates)", "a_max (class)", "coverage (candidates)",
                      "coverage (class)"]  # fmt: skip
    z = stats.zscores(recs)
    for (group, model), row in table.set_index(["group", "model"]).iterrows():
        rows = recs[x._group(recs) == group]
        if model != "all models":
            rows = rows[rows["model"] == model]
        assert row["mean_z"] == pytest.approx(z[rows.index].mean()) and row["subsets"] == len(rows)
    pooled = table[table["model"] == "all models"].set_index("group")
    assert pooled.loc["random", "mean_z"] == pytest.approx(0.0, abs=1e-12)
    per = table[table["model"] != "all models"].set_index(["group", "model"])["mean_z"]
    assert pooled.loc["coverage (class)", "every_model"] == bool((per["coverage (class)"] < 0).all())
    text = x.verdict(recs, exclude=())
    line = text.split("**Subsets chosen for a training-free objective**")[1]
    got = pooled.loc["coverage (class)", "mean_z"]
    assert f"coverage (class) {got:+.2f} (below the random mean for " in line and "of 2 models" in line
    assert x.paper_records(recs)["kind"].isin(["random", "selected"]).all()
    head = x.headline_table(recs, exclude=(), n_boot=20)  # the paper's design only
    assert head.set_index(["quantity", "subsets", "model"]).loc[("mean_r2", "all", ""), "n"] == 8

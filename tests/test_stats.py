import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm

from synthetic import MODELS, make_records

from xfactor_lib import stats


def hand_zscores(records, value="error"):
    """Z via a plain loop over cells (independent of stats.zscores)."""
    z = pd.Series(np.nan, index=records.index)
    for _, cell in records.groupby(["dataset", "size", "model"]):
        base = cell.loc[cell["kind"] == "random", value].to_numpy()
        z[cell.index] = (cell[value] - base.mean()) / base.std(ddof=1)
    return z


def small_frame(errors_random, errors_selected=(), model="rf", size=10):
    rows = [
        dict(dataset="mnist", size=size, model=model, kind="random", error=e,
             subset_id=f"r{i}")
        for i, e in enumerate(errors_random)
    ] + [
        dict(dataset="mnist", size=size, model=model, kind="selected", error=e,
             subset_id=f"s{i}")
        for i, e in enumerate(errors_selected)
    ]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- Z-scores


def test_zscores_use_the_random_mean_and_sample_sd_of_their_cell():
    frame = pd.concat(
        [small_frame([0.1, 0.2, 0.3], [0.5]), small_frame([1.0, 3.0], [0.0], model="svc")],
        ignore_index=True,
    )
    z = stats.zscores(frame)
    # rf: mean 0.2, sd (ddof=1) 0.1; svc: mean 2, sd sqrt(2)
    expected = [-1.0, 0.0, 1.0, 3.0, -1 / np.sqrt(2), 1 / np.sqrt(2), -2 / np.sqrt(2)]
    np.testing.assert_allclose(z.to_numpy(), expected, rtol=1e-12, atol=1e-12)
    assert z.name == "z" and z.index.equals(frame.index)


def test_zscores_match_a_loop_over_cells_and_keep_the_row_index():
    records = make_records().sample(frac=1.0, random_state=1)
    records.index = records.index + 1000
    z = stats.zscores(records)
    np.testing.assert_allclose(z.to_numpy(), hand_zscores(records).to_numpy(), rtol=1e-12)
    assert z.index.equals(records.index)


def test_zscores_reject_a_cell_with_one_random_subset():
    with pytest.raises(ValueError, match="fewer than 2 random subsets"):
        stats.zscores(small_frame([0.1], [0.2]))


def test_zscores_reject_a_cell_without_random_subsets():
    frame = pd.concat(
        [small_frame([0.1, 0.2]), small_frame([], [0.3], size=30)], ignore_index=True
    )
    with pytest.raises(ValueError, match="no random subsets"):
        stats.zscores(frame)


def test_zscores_reject_identical_random_errors():
    with pytest.raises(ValueError, match="sd = 0"):
        stats.zscores(small_frame([0.2, 0.2, 0.2], [0.3]))


def test_zscores_name_missing_columns_and_non_finite_values():
    with pytest.raises(ValueError, match=r"lack the column\(s\) \['dataset'\]"):
        stats.zscores(small_frame([0.1, 0.2]).drop(columns="dataset"))
    with pytest.raises(ValueError, match="non-finite"):
        stats.zscores(small_frame([0.1, 0.2, np.nan]))


def test_zscore_table_averages_seeds_of_a_subset():
    records = make_records(seeds=(0, 1))
    table = stats.zscore_table(records)
    z = hand_zscores(records)
    expected = z.groupby([records["subset_id"], records["model"]]).mean()
    assert table.shape == (records["subset_id"].nunique(), len(MODELS))
    for (sid, model), v in expected.items():
        assert table.loc[sid, model] == pytest.approx(v, rel=1e-12)


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_is_deterministic_and_contains_the_mean():
    values = np.random.default_rng(3).normal(5.0, 1.0, size=200)
    a = stats.bootstrap_ci(values, np.mean, n_boot=500, seed=7)
    b = stats.bootstrap_ci(values, np.mean, n_boot=500, seed=7)
    assert a == b
    assert a.estimate == pytest.approx(values.mean(), rel=1e-12)
    assert a.lo < a.estimate < a.hi
    assert stats.bootstrap_ci(values, np.mean, n_boot=500, seed=8) != a


def test_bootstrap_ci_equals_a_loop_over_the_same_resamples():
    values = np.random.default_rng(4).exponential(size=15)
    idx = stats.bootstrap_indices(15, n_boot=40, seed=11)
    medians = [np.median(values[row]) for row in idx]
    got = stats.bootstrap_ci(values, np.median, n_boot=40, seed=11, ci=0.9)
    assert got.estimate == pytest.approx(np.median(values), rel=1e-12)
    assert got.lo == pytest.approx(np.percentile(medians, 5), rel=1e-12)
    assert got.hi == pytest.approx(np.percentile(medians, 95), rel=1e-12)


def test_bootstrap_weights_count_the_resample_indices():
    idx = stats.bootstrap_indices(6, n_boot=5, seed=2)
    w = stats.bootstrap_weights(6, n_boot=5, seed=2)
    for row, counts in zip(idx, w):
        assert counts.tolist() == np.bincount(row, minlength=6).tolist()


def test_bootstrap_rejects_bad_arguments():
    with pytest.raises(ValueError, match="ci must lie strictly between 0 and 1"):
        stats.bootstrap_ci([1.0, 2.0], np.mean, ci=95)
    with pytest.raises(ValueError, match="must reduce axis 1"):
        stats.bootstrap_ci([1.0, 2.0], lambda x, axis: x)
    with pytest.raises(ValueError, match="n_boot must be >= 0"):
        stats.bootstrap_indices(3, n_boot=-1, seed=0)


# --------------------------------------------------------------------------- R^2


def test_r2_matrix_is_pearson_r_squared_over_shared_subsets():
    records = make_records()
    # svc misses two subsets: its pairs use the remaining ones only
    drop = (records["model"] == "svc") & records["subset_id"].isin(["x-10-random-0", "x-30-selected-1"])
    records = records[~drop]
    r2 = stats.r2_matrix(records, n_boot=0).set_index(["model_a", "model_b"])
    table = hand_zscores(records).groupby([records["subset_id"], records["model"]]).mean()
    table = table.unstack("model")
    assert len(r2) == len(MODELS) ** 2
    for a, b in itertools.product(MODELS, MODELS):
        both = table[[a, b]].dropna()
        expected = scipy.stats.pearsonr(both[a], both[b]).statistic ** 2
        assert r2.loc[(a, b), "r2"] == pytest.approx(expected, rel=1e-10)
        assert r2.loc[(a, b), "n"] == len(both)
    assert r2.loc[("rf", "svc"), "n"] == table.shape[0] - 2
    assert r2["lo"].isna().all() and r2["hi"].isna().all()


def test_r2_matrix_kind_restricts_subsets_but_keeps_the_random_baseline():
    records = make_records()
    r2 = stats.r2_matrix(records, kind="selected", n_boot=0).set_index(["model_a", "model_b"])
    z = hand_zscores(records)
    sel = records["kind"] == "selected"
    table = z[sel].groupby([records["subset_id"][sel], records["model"][sel]]).mean().unstack()
    expected = scipy.stats.pearsonr(table["rf"], table["mlp-1"]).statistic ** 2
    assert r2.loc[("rf", "mlp-1"), "r2"] == pytest.approx(expected, rel=1e-10)
    assert r2.loc[("rf", "mlp-1"), "n"] == records.loc[sel, "subset_id"].nunique()


def test_r2_bootstrap_ci_equals_a_loop_with_the_same_resample_indices():
    records = make_records(n_random=4, n_selected=2, models=("rf", "svc", "mlp-1"))
    records = records[~((records["model"] == "svc") & (records["subset_id"] == "x-10-random-1"))]
    got = stats.r2_matrix(records, n_boot=30, seed=5, ci=0.8).set_index(["model_a", "model_b"])
    table = stats.zscore_table(records)
    idx = stats.bootstrap_indices(len(table), n_boot=30, seed=5)
    for a, b in [("rf", "svc"), ("svc", "mlp-1"), ("rf", "mlp-1")]:
        boot = []
        for row in idx:
            sample = table.iloc[row][[a, b]].dropna()
            boot.append(scipy.stats.pearsonr(sample[a], sample[b]).statistic ** 2)
        assert got.loc[(a, b), "lo"] == pytest.approx(np.percentile(boot, 10), rel=1e-9)
        assert got.loc[(a, b), "hi"] == pytest.approx(np.percentile(boot, 90), rel=1e-9)
        assert got.loc[(b, a), "lo"] == pytest.approx(got.loc[(a, b), "lo"], rel=1e-12)


def test_r2_is_nan_below_three_shared_subsets():
    records = make_records(n_random=3, n_selected=0, sizes=(10,), models=("rf", "svc"))
    records = records[~((records["model"] == "svc") & (records["subset_id"] == "x-10-random-0"))]
    r2 = stats.r2_matrix(records, n_boot=10).set_index(["model_a", "model_b"])
    assert r2.loc[("rf", "svc"), "n"] == 2
    assert np.isnan(r2.loc[("rf", "svc"), ["r2", "lo", "hi"]].astype(float)).all()


def test_mean_r2_detects_a_shared_subset_effect_and_not_independent_noise():
    shared = stats.mean_r2(make_records(shared=1.0), n_boot=200)
    independent = stats.mean_r2(make_records(shared=0.0), n_boot=200)
    assert shared["r2"] > 0.9 and shared["lo"] > 0.8
    assert independent["r2"] < 0.15 and independent["hi"] < 0.5
    assert shared["n_pairs"] == 3  # gnb excluded: rf, svc, mlp-1


def test_mean_r2_is_the_pair_mean_with_a_ci_over_shared_resamples():
    records = make_records(n_random=4, n_selected=3)
    got = stats.mean_r2(records, exclude=("gnb",), n_boot=25, seed=9)
    table = stats.zscore_table(records, exclude=("gnb",))
    pairs = list(itertools.combinations(table.columns, 2))

    def pair_mean(frame):
        return np.mean([scipy.stats.pearsonr(frame[a], frame[b]).statistic ** 2 for a, b in pairs])

    idx = stats.bootstrap_indices(len(table), n_boot=25, seed=9)
    boot = [pair_mean(table.iloc[row]) for row in idx]
    assert got["r2"] == pytest.approx(pair_mean(table), rel=1e-10)
    assert got["lo"] == pytest.approx(np.percentile(boot, 2.5), rel=1e-9)
    assert got["hi"] == pytest.approx(np.percentile(boot, 97.5), rel=1e-9)
    assert got["n_subsets"] == len(table)


def test_mean_r2_needs_two_models_and_r2_matrix_names_unknown_models():
    records = make_records(models=("gnb", "rf"))
    with pytest.raises(ValueError, match="at least 2 models after excluding"):
        stats.mean_r2(records)
    with pytest.raises(ValueError, match=r"models \['svc'\] are not in records"):
        stats.r2_matrix(records, models=["rf", "svc"])
    with pytest.raises(ValueError, match="kind must be one of"):
        stats.r2_matrix(records, kind="chosen")


# --------------------------------------------------------------------------- KS


def test_ks_normal_matches_scipy_on_pooled_random_z():
    records = make_records()
    z = hand_zscores(records)[records["kind"] == "random"]
    expected = scipy.stats.kstest(z.to_numpy(), "norm")
    got = stats.ks_normal(records)
    assert got["statistic"] == pytest.approx(expected.statistic, rel=1e-12)
    assert got["p"] == pytest.approx(expected.pvalue, rel=1e-10)
    assert got["n"] == len(z)


# --------------------------------------------------------------------------- variance


def test_variance_explained_matches_anova_lm_on_log_error():
    records = make_records()
    rows = records[records["kind"] == "random"]
    data = pd.DataFrame({"y": np.log(rows["error"]), "model": rows["model"], "size": rows["size"]})
    fit = smf.ols("y ~ C(model) + C(size) + C(model):C(size)", data=data).fit()
    table = anova_lm(fit, typ=1)
    total = ((data["y"] - data["y"].mean()) ** 2).sum()
    got = stats.variance_explained(records, kind="random").set_index("term")
    for term, name in [("model", "C(model)"), ("size", "C(size)"),
                       ("model:size", "C(model):C(size)"), ("residual", "Residual")]:
        assert got.loc[term, "sum_sq"] == pytest.approx(table.loc[name, "sum_sq"], rel=1e-9)
        assert got.loc[term, "share"] == pytest.approx(table.loc[name, "sum_sq"] / total, rel=1e-9)
    assert got.loc["explained", "share"] == pytest.approx(fit.rsquared, rel=1e-9)


def test_variance_explained_without_log_or_interaction_and_per_model():
    records = make_records()
    rows = records[(records["kind"] == "selected") & (records["model"] != "gnb")]
    fit = smf.ols("error ~ C(model) + C(size)", data=rows).fit()
    got = stats.variance_explained(records, kind="selected", log=False, interaction=False,
                                   exclude=("gnb",)).set_index("term")
    assert list(got.index) == ["model", "size", "residual", "explained"]
    assert got.loc["explained", "share"] == pytest.approx(fit.rsquared, rel=1e-9)

    per = stats.variance_explained(records, kind="selected", by="model")
    for model in MODELS:
        part = records[(records["kind"] == "selected") & (records["model"] == model)]
        r2 = smf.ols("np.log(error) ~ C(size)", data=part).fit().rsquared
        row = per[(per["model"] == model) & (per["term"] == "explained")]
        assert row["share"].item() == pytest.approx(r2, rel=1e-9)


def test_variance_explained_explains_little_of_selected_and_most_of_random():
    records = make_records(n_random=20, n_selected=20, noise=0.2)
    random = stats.variance_explained(records, kind="random").set_index("term")
    selected = stats.variance_explained(records, kind="selected").set_index("term")
    assert random.loc["explained", "share"] > selected.loc["explained", "share"]


def test_variance_explained_rejects_log_of_zero_error_and_one_level():
    records = make_records()
    records.loc[0, "error"] = 0.0
    with pytest.raises(ValueError, match="pass log=False"):
        stats.variance_explained(records, kind="all")
    one = make_records(sizes=(10,))
    with pytest.raises(ValueError, match="size has a single level"):
        stats.variance_explained(one)


# --------------------------------------------------------------------------- Spearman


def test_class_spearman_matches_scipy_per_class_and_pair():
    records = make_records()
    records = records[~((records["model"] == "rf") & (records["subset_id"] == "x-30-random-2"))]
    rho = stats.class_spearman(records)
    assert sorted(rho) == [0, 1, 2]
    for k in rho:
        wide = records.pivot(index="subset_id", columns="model", values=f"acc_class_{k}")
        assert list(rho[k].columns) == list(MODELS)
        for a, b in itertools.combinations(MODELS, 2):
            both = wide[[a, b]].dropna()
            expected = scipy.stats.spearmanr(both[a], both[b]).statistic
            assert rho[k].loc[a, b] == pytest.approx(expected, rel=1e-12)


def test_class_spearman_standardize_removes_the_size_effect():
    # per-class accuracy: a strong size effect shared by all models, no shared subset effect
    records = make_records(shared=0.0, noise=1.0, n_random=15, n_selected=0, sizes=(10, 1000))
    raw = stats.class_spearman(records)[0]
    std = stats.class_spearman(records, standardize=True)[0]
    assert raw.loc["rf", "svc"] > 0.5
    assert abs(std.loc["rf", "svc"]) < 0.4


def test_class_spearman_needs_per_class_columns():
    records = make_records().drop(columns=["acc_class_0", "acc_class_1", "acc_class_2"])
    with pytest.raises(ValueError, match="acc_class_<k>"):
        stats.class_spearman(records)


# --------------------------------------------------------------------------- overlap


def make_manifest(*, sizes=(5, 8), per_size=4, pool=30, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for size in sizes:
        for i in range(per_size):
            rows.append({
                "subset_id": f"s{size}-{i}",
                "dataset": "mnist",
                "size": size,
                "kind": "random",
                "indices": np.sort(rng.choice(pool, size, replace=False)),
            })
    return pd.DataFrame(rows)


def test_subset_overlap_matches_python_set_intersection():
    manifest = make_manifest()
    got = stats.subset_overlap(manifest, size=8)
    rows = manifest[manifest["size"] == 8]
    assert list(got.index) == rows["subset_id"].tolist()
    for (ia, a), (ib, b) in itertools.product(zip(rows["subset_id"], rows["indices"]), repeat=2):
        expected = 100 * len(set(a.tolist()) & set(b.tolist())) / len(set(a.tolist()))
        assert got.loc[ia, ib] == pytest.approx(expected, rel=1e-12)


def test_subset_overlap_counts_duplicate_indices_once():
    manifest = pd.DataFrame({
        "subset_id": ["a", "b"], "size": [3, 3],
        "indices": [[1, 2, 2, 3], [3, 4, 5]],
    })
    got = stats.subset_overlap(manifest)
    assert got.loc["a", "b"] == pytest.approx(100 / 3)
    assert got.loc["a", "a"] == 100.0


def test_subset_overlap_asks_for_a_size_when_there_are_several():
    with pytest.raises(ValueError, match="pass size="):
        stats.subset_overlap(make_manifest())
    with pytest.raises(ValueError, match="no subsets of size 7"):
        stats.subset_overlap(make_manifest(), size=7)
    with pytest.raises(ValueError, match=r"lack the column\(s\) \['indices'\]"):
        stats.subset_overlap(make_manifest().drop(columns="indices"), size=5)


# --------------------------------------------------------------------------- headline


def test_headline_table_collects_the_headline_numbers():
    records = make_records()
    table = stats.headline_table(records, n_boot=50, seed=1)
    got = table.set_index(["quantity", "subsets"])
    for kind in ("all", "selected", "random"):
        m = stats.mean_r2(records, kind=kind, n_boot=50, seed=1)
        assert got.loc[("mean_r2", kind), "value"] == m["r2"]
        assert got.loc[("mean_r2", kind), "lo"] == m["lo"]
        assert got.loc[("mean_r2", kind), "hi"] == m["hi"]
    ks = stats.ks_normal(records)
    assert got.loc[("ks_p", "random"), "value"] == ks["p"]
    ve = stats.variance_explained(records, kind="selected", exclude=("gnb",)).set_index("term")
    assert got.loc[("variance_explained", "selected"), "value"] == ve.loc["explained", "share"]
    assert got.loc[("variance_model", "random"), "n"] == 3 * 20  # 3 models x 20 random rows


def test_headline_table_skips_absent_kinds():
    records = make_records(n_selected=0)
    table = stats.headline_table(records, n_boot=10)
    assert "selected" not in set(table["subsets"])
    assert set(table["quantity"]) >= {"mean_r2", "ks_statistic", "ks_p", "variance_explained"}

import itertools

import numpy as np
import pytest
import scipy.stats

from xfactor_lib import agreement, stats

from synthetic import MODELS, hand_zscores, make_records


def test_zscore_table_averages_seeds_of_a_subset():
    records = make_records(seeds=(0, 1))
    table = agreement.zscore_table(records)
    z = hand_zscores(records)
    expected = z.groupby([records["subset_id"], records["model"]]).mean()
    assert table.shape == (records["subset_id"].nunique(), len(MODELS))
    for (sid, model), v in expected.items():
        assert table.loc[sid, model] == pytest.approx(v, rel=1e-12)


# --------------------------------------------------------------------------- R^2


def test_r2_matrix_is_pearson_r_squared_over_shared_subsets():
    records = make_records()
    # svc misses two subsets: its pairs use the remaining ones only
    drop = (records["model"] == "svc") & records["subset_id"].isin(["x-10-random-0", "x-30-selected-1"])
    records = records[~drop]
    r2 = agreement.r2_matrix(records, n_boot=0).set_index(["model_a", "model_b"])
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
    r2 = agreement.r2_matrix(records, kind="selected", n_boot=0).set_index(["model_a", "model_b"])
    z = hand_zscores(records)
    sel = records["kind"] == "selected"
    table = z[sel].groupby([records["subset_id"][sel], records["model"][sel]]).mean().unstack()
    expected = scipy.stats.pearsonr(table["rf"], table["mlp-1"]).statistic ** 2
    assert r2.loc[("rf", "mlp-1"), "r2"] == pytest.approx(expected, rel=1e-10)
    assert r2.loc[("rf", "mlp-1"), "n"] == records.loc[sel, "subset_id"].nunique()


def test_r2_bootstrap_ci_equals_a_loop_with_the_same_resample_indices():
    records = make_records(n_random=4, n_selected=2, models=("rf", "svc", "mlp-1"))
    records = records[~((records["model"] == "svc") & (records["subset_id"] == "x-10-random-1"))]
    got = agreement.r2_matrix(records, n_boot=30, seed=5, ci=0.8).set_index(["model_a", "model_b"])
    table = agreement.zscore_table(records)
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
    records = make_records(n_random=3, n_selected=0, ns=(10,), models=("rf", "svc"))
    records = records[~((records["model"] == "svc") & (records["subset_id"] == "x-10-random-0"))]
    r2 = agreement.r2_matrix(records, n_boot=10).set_index(["model_a", "model_b"])
    assert r2.loc[("rf", "svc"), "n"] == 2
    assert np.isnan(r2.loc[("rf", "svc"), ["r2", "lo", "hi"]].astype(float)).all()


def test_mean_r2_detects_a_shared_subset_effect_and_not_independent_noise():
    shared = agreement.mean_r2(make_records(shared=1.0), n_boot=200)
    independent = agreement.mean_r2(make_records(shared=0.0), n_boot=200)
    assert shared["r2"] > 0.9 and shared["lo"] > 0.8
    assert independent["r2"] < 0.15 and independent["hi"] < 0.5
    assert shared["n_pairs"] == 3  # gnb excluded: rf, svc, mlp-1


def test_mean_r2_is_the_pair_mean_with_a_ci_over_shared_resamples():
    records = make_records(n_random=4, n_selected=3)
    got = agreement.mean_r2(records, exclude=("gnb",), n_boot=25, seed=9)
    table = agreement.zscore_table(records, exclude=("gnb",))
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
        agreement.mean_r2(records)
    with pytest.raises(ValueError, match=r"models \['svc'\] are not in records"):
        agreement.r2_matrix(records, models=["rf", "svc"])
    with pytest.raises(ValueError, match="unknown kind 'chosen'"):
        agreement.r2_matrix(records, kind="chosen")


# --------------------------------------------------------------------------- Spearman


def test_class_spearman_pooled_matches_scipy_per_class_and_pair():
    records = make_records()
    records = records[~((records["model"] == "rf") & (records["subset_id"] == "x-30-random-2"))]
    rho = agreement.class_spearman(records, within=())
    assert sorted(rho) == [0, 1, 2]
    for k in rho:
        wide = records.pivot(index="subset_id", columns="model", values=f"acc_class_{k}")
        assert list(rho[k].columns) == list(MODELS)
        for a, b in itertools.combinations(MODELS, 2):
            both = wide[[a, b]].dropna()
            expected = scipy.stats.spearmanr(both[a], both[b]).statistic
            assert rho[k].loc[a, b] == pytest.approx(expected, rel=1e-12)


def test_class_spearman_is_the_mean_over_sizes_of_within_size_rho():
    records = make_records(ns=(10, 30, 100))
    rho = agreement.class_spearman(records)[1]
    for a, b in itertools.combinations(MODELS, 2):
        per_n = []
        for _, part in records.groupby("n"):
            wide = part.pivot(index="subset_id", columns="model", values="acc_class_1")
            per_n.append(scipy.stats.spearmanr(wide[a], wide[b]).statistic)
        assert rho.loc[a, b] == pytest.approx(np.mean(per_n), rel=1e-12)


def test_within_size_spearman_is_near_zero_where_only_size_is_shared():
    # accuracy grows with n for every model, but is otherwise independent across models
    records = make_records(shared=0.0, noise=1.0, n_random=30, n_selected=0, ns=(10, 100, 1000))
    pooled = agreement.class_spearman(records, within=())
    within = agreement.class_spearman(records)
    for k in pooled:
        off = ~np.eye(len(MODELS), dtype=bool)
        assert pooled[k].to_numpy()[off].min() > 0.5
        assert np.abs(within[k].to_numpy()[off]).max() < 0.3
    std = agreement.class_spearman(records, within=(), standardize=True)[0]
    assert abs(std.loc["rf", "svc"]) < 0.3


def test_within_size_spearman_keeps_a_shared_subset_effect():
    records = make_records(shared=1.0, noise=0.1, n_random=20, n_selected=0, ns=(10, 100))
    within = agreement.class_spearman(records)[0]
    assert within.loc["rf", "svc"] > 0.8


def test_class_spearman_needs_per_class_columns():
    records = make_records().drop(columns=["acc_class_0", "acc_class_1", "acc_class_2"])
    with pytest.raises(ValueError, match="acc_class_<k>"):
        agreement.class_spearman(records)

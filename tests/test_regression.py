"""OLS on log features: all subsets, groups, agreement with statsmodels, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from xfactor_lib import regression as rg
from xfactor_lib.diversity import FEATURE_NAMES


def table(seed=0, n=120, features=("f1", "f2", "f3", "f4", "f5"), datasets=3):
    """Random positive features; bacc = 0.2 log(f2) + small noise + a dataset offset."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(np.exp(rng.normal(size=(n, len(features)))), columns=list(features))
    ds = rng.integers(0, datasets, size=n)
    df["pixels"] = np.array([784, 784, 4096, 1024])[ds]
    df["channels"] = np.array([1, 3, 3, 1])[ds]
    df["classes"] = np.array([10, 4, 7, 9])[ds]
    df["bacc"] = 0.2 * np.log(df["f2"]) + 0.001 * rng.normal(size=n) + 0.05 * ds
    return df


def statsmodels_adj_r2(df, feats, target="bacc", systematic=("pixels", "channels", "classes")):
    """Independent fit: constant + logs, constant log columns removed by hand."""
    cols = [np.log(df[c].to_numpy(float)) for c in list(systematic) + list(feats)]
    cols = [c for c in cols if np.ptp(c) > 0]
    exog = sm.add_constant(np.column_stack(cols), has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.OLS(df[target].to_numpy(float), exog).fit()
    return res.rsquared_adj, res.rsquared


def test_the_feature_that_determines_the_target_ranks_first_with_adj_r2_near_1():
    df = table()
    res = rg.fit_all_subsets(df, features=["f1", "f2", "f3", "f4", "f5"], groups={})
    singles = rg.top_table(res, "single", k=5)
    assert singles.loc[0, "label"] == "f2"
    assert singles.loc[0, "adj_r2"] > 0.999
    assert singles.loc[1, "adj_r2"] < 0.9
    assert singles["rank"].tolist() == [1, 2, 3, 4, 5]
    assert all("f2" in f for f in rg.top_table(res, "pair", k=4)["features"])
    assert sorted(res["kind"].unique()) == ["pair", "single", "triple"]
    assert (res["kind"] == "triple").sum() == 10  # C(5, 3)


def test_batched_fits_equal_statsmodels_rsquared_adj():
    df = table(seed=1, datasets=4)
    res = rg.fit_all_subsets(df, features=["f1", "f2", "f3", "f4", "f5"], groups={}, validate=0)
    assert set(res["method"]) == {"numpy"}
    for _, row in res.iterrows():
        adj, r2 = statsmodels_adj_r2(df, row["features"])
        assert row["adj_r2"] == pytest.approx(adj, abs=1e-10)
        assert row["r2"] == pytest.approx(r2, abs=1e-10)
        assert row["df_model"] == 3 + row["k"]  # 3 systematic columns of rank 3 beside the constant


def test_groups_and_validated_rows_report_statsmodels_values():
    df = table(seed=2)
    groups = {"first two": ("f1", "f2"), "all": ("f1", "f2", "f3", "f4", "f5")}
    res = rg.fit_all_subsets(df, features=["f1", "f2", "f3", "f4", "f5"], groups=groups, validate=2)
    g = res[res["kind"] == "group"].set_index("label")
    for name, feats in groups.items():
        assert g.loc[name, "method"] == "statsmodels"
        assert g.loc[name, "adj_r2"] == pytest.approx(statsmodels_adj_r2(df, feats)[0], abs=1e-12)
    top = res[res["kind"] == "single"].head(2)
    assert set(top["method"]) == {"statsmodels"}
    assert top["adj_r2"].iloc[0] == pytest.approx(rg.ols(df, "f2").rsquared_adj, abs=1e-12)


def test_constant_and_collinear_systematic_columns_do_not_break_the_fit():
    df = table(seed=3, datasets=2)  # pixels, channels, classes: two values each, collinear
    df["channels"] = 1  # constant: its log is collinear with the intercept
    res = rg.fit_all_subsets(df, features=["f1", "f2", "f3"], groups={}, validate=0)
    for _, row in res.iterrows():
        adj, r2 = statsmodels_adj_r2(df, row["features"])
        assert row["adj_r2"] == pytest.approx(adj, abs=1e-10)
    assert set(res["df_model"] - res["k"]) == {1}  # the systematic block has rank 1 beside the constant
    fit = rg.ols(df, ["f2"])
    assert "log_channels" not in fit.model.exog_names
    assert fit.model.rank == 3  # const, one systematic direction, f2


def test_duplicate_features_fall_back_to_statsmodels_with_the_reduced_rank():
    df = table(seed=4, datasets=4)  # 4 datasets: the systematic block has rank 3
    df["f5"] = df["f1"]
    res = rg.fit_all_subsets(df, features=["f1", "f2", "f5"], groups={}, validate=0)
    row = res[res["label"] == "f1 + f5"].iloc[0]
    assert row["method"] == "statsmodels"
    assert row["df_model"] == 3 + 1  # f1 and f5 count once
    adj, _ = statsmodels_adj_r2(df, ["f1", "f5"])
    assert row["adj_r2"] == pytest.approx(adj, abs=1e-12)


def test_default_groups_partition_the_27_features_by_family():
    families = {"all alphas": ("A", "alpha"), "all rhos": ("R", "rho"), "all gammas": ("G", "gamma")}
    seen = set()
    for group, heads in families.items():
        members = rg.FEATURE_GROUPS[group]
        assert len(members) == 8 and all(f.split("_")[0] in heads for f in members)
        assert not seen & set(members)
        seen |= set(members)
    assert seen | set(rg.FEATURE_GROUPS["class balances"]) | {"size"} == set(FEATURE_NAMES)
    assert set(rg.FEATURE_GROUPS["size + class balances"]) == {"size"} | set(rg.FEATURE_GROUPS["class balances"])
    assert set(rg.FEATURE_GROUPS["all 27"]) == set(FEATURE_NAMES) and len(FEATURE_NAMES) == 27


def test_all_27_features_give_2925_triples_and_the_default_groups():
    rng = np.random.default_rng(5)
    df = pd.DataFrame(np.exp(rng.normal(size=(80, 27))), columns=list(FEATURE_NAMES))
    df["pixels"], df["channels"], df["classes"] = 784, 1, 10  # one dataset: all constant
    df["bacc"] = 0.1 * np.log(df["A_0"]) + 0.01 * rng.normal(size=80)
    res = rg.fit_all_subsets(df, validate=1)
    assert res["kind"].value_counts().to_dict() == {"triple": 2925, "pair": 351, "single": 27, "group": 6}
    assert rg.top_table(res, "single", k=1)["label"].iloc[0] == "A_0"
    g = res[res["label"] == "all 27"].iloc[0]
    assert g["adj_r2"] == pytest.approx(statsmodels_adj_r2(df, FEATURE_NAMES)[0], abs=1e-12)


def test_feature_r2_matrix_is_squared_correlation_of_logs():
    df = table(seed=6)
    feats = ["f1", "f2", "f3"]
    M = rg.feature_r2_matrix(df, feats)
    expected = np.corrcoef(np.log(df[feats].to_numpy()).T) ** 2
    np.testing.assert_allclose(M.to_numpy(), expected, rtol=1e-12)
    assert list(M.index) == feats
    raw = rg.feature_r2_matrix(df, feats, log=False)
    np.testing.assert_allclose(raw.to_numpy(), np.corrcoef(df[feats].to_numpy().T) ** 2, rtol=1e-12)


@pytest.mark.parametrize("value", [0.0, -1.0, np.nan])
def test_non_positive_or_missing_feature_values_raise(value):
    df = table(seed=7)
    df.loc[3, "f4"] = value
    with pytest.raises(ValueError, match=r"f4.*> 0.*logs"):
        rg.fit_all_subsets(df, features=["f1", "f4"], groups={})


def test_bad_arguments_raise_clear_errors():
    df = table(seed=8)
    with pytest.raises(ValueError, match=r"lacks column\(s\)"):
        rg.fit_all_subsets(df, features=["f1", "nope"])
    with pytest.raises(ValueError, match=r"lacks column\(s\)"):
        rg.fit_all_subsets(df, target="auc", features=["f1"])
    bad = df.copy()
    bad.loc[0, "bacc"] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        rg.fit_all_subsets(bad, features=["f1"])
    with pytest.raises(ValueError, match="both features and systematic"):
        rg.fit_all_subsets(df, features=["f1", "pixels"])
    with pytest.raises(TypeError, match="DataFrame"):
        rg.fit_all_subsets(df.to_numpy(), features=["f1"])
    res = rg.fit_all_subsets(df, features=["f1", "f2"], groups={})
    with pytest.raises(ValueError, match="no results of kind 'group'"):
        rg.top_table(res, "group")


def test_fit_targets_skips_an_undefined_target_and_top_tables_is_tidy():
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {"a": rng.uniform(1, 2, 30), "b": rng.uniform(1, 2, 30), "pixels": 784, "channels": 1, "classes": 10}
    )
    df["bacc"] = 0.5 * np.log(df["a"]) + 0.01 * rng.normal(size=30)
    df["auc_macro"] = np.nan
    with pytest.warns(UserWarning, match="'auc_macro' is missing on 30 row"):
        res = rg.fit_targets(df, ["bacc", "auc_macro"], features=["a", "b"], groups={})
    assert list(res) == ["bacc"]
    top = rg.top_tables(res, k=2)
    assert list(top.columns[:3]) == ["target", "kind", "rank"]
    assert top[top["kind"] == "single"]["label"].tolist() == ["a", "b"]
    with pytest.raises(ValueError, match="none of the targets"), pytest.warns(UserWarning):
        rg.fit_targets(df, ["auc_macro"], features=["a", "b"])

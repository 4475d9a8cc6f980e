import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm

from xfactor_lib import stats

from synthetic import MODELS, hand_zscores, make_records


def small_frame(errors_random, errors_selected=(), model="rf", n=10):
    rows = [
        dict(dataset="mnist", n=n, model=model, kind="random", error=e, subset_id=f"r{i}")
        for i, e in enumerate(errors_random)
    ] + [
        dict(dataset="mnist", n=n, model=model, kind="selected", error=e, subset_id=f"s{i}")
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
    frame = pd.concat([small_frame([0.1, 0.2]), small_frame([], [0.3], n=30)], ignore_index=True)
    with pytest.raises(ValueError, match="no random subsets"):
        stats.zscores(frame)


def test_zscores_reject_identical_random_errors():
    with pytest.raises(ValueError, match="nearly"):
        stats.zscores(small_frame([0.2, 0.2, 0.2], [0.3]))


def test_zscores_reject_an_sd_that_is_rounding_noise():
    # 0.1 + 2e-17 rounds to a neighbour of 0.1: sd ~ 1e-17 would give Z ~ 1e15
    errors = [0.1, np.nextafter(0.1, 1), 0.1]
    assert np.std(errors, ddof=1) > 0
    with pytest.raises(ValueError, match=r"\(nearly\) identical 'error'"):
        stats.zscores(small_frame(errors, [0.3]))
    # a real but small spread passes: one test image of 10,000 differs
    z = stats.zscores(small_frame([0.1, 0.1001, 0.1], [0.1001]))
    assert z.iloc[-1] == pytest.approx(2 / np.sqrt(3), rel=1e-9)


def test_zscores_name_missing_columns_and_non_finite_values():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['dataset'\]"):
        stats.zscores(small_frame([0.1, 0.2]).drop(columns="dataset"))
    with pytest.raises(TypeError, match="DataFrame"):
        stats.zscores(small_frame([0.1, 0.2]).to_dict())
    with pytest.raises(ValueError, match="non-finite"):
        stats.zscores(small_frame([0.1, 0.2, np.nan]))


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
    with pytest.raises(ValueError, match=r"ci must lie in \(0, 1\]"):
        stats.bootstrap_ci([1.0, 2.0], np.mean, ci=95)
    with pytest.raises(ValueError, match="must reduce axis 1"):
        stats.bootstrap_ci([1.0, 2.0], lambda x, axis: x)
    with pytest.raises(ValueError, match="n_boot must be >= 0"):
        stats.bootstrap_indices(3, n_boot=-1, seed=0)


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
    data = pd.DataFrame({"y": np.log(rows["error"]), "model": rows["model"], "n": rows["n"]})
    fit = smf.ols("y ~ C(model) + C(n) + C(model):C(n)", data=data).fit()
    table = anova_lm(fit, typ=1)
    total = ((data["y"] - data["y"].mean()) ** 2).sum()
    got = stats.variance_explained(records, kind="random").set_index("term")
    for term, name in [("model", "C(model)"), ("n", "C(n)"), ("model:n", "C(model):C(n)"), ("residual", "Residual")]:
        assert got.loc[term, "sum_sq"] == pytest.approx(table.loc[name, "sum_sq"], rel=1e-9)
        assert got.loc[term, "share"] == pytest.approx(table.loc[name, "sum_sq"] / total, rel=1e-9)
    assert got.loc["explained", "share"] == pytest.approx(fit.rsquared, rel=1e-9)


def test_variance_explained_without_log_or_interaction_and_per_model():
    records = make_records()
    rows = records[(records["kind"] == "selected") & (records["model"] != "gnb")]
    fit = smf.ols("error ~ C(model) + C(n)", data=rows).fit()
    got = stats.variance_explained(records, kind="selected", log=False, interaction=False, exclude=("gnb",)).set_index(
        "term"
    )
    assert list(got.index) == ["model", "n", "residual", "explained"]
    assert got.loc["explained", "share"] == pytest.approx(fit.rsquared, rel=1e-9)

    per = stats.variance_explained(records, kind="selected", by="model")
    for model in MODELS:
        part = records[(records["kind"] == "selected") & (records["model"] == model)]
        r2 = smf.ols("np.log(error) ~ C(n)", data=part).fit().rsquared
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
    one = make_records(ns=(10,))
    with pytest.raises(ValueError, match="n has a single level"):
        stats.variance_explained(one)


# --------------------------------------------------------------------------- overlap


def make_manifest(*, ns=(5, 8), per_n=4, pool=30, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for n in ns:
        for i in range(per_n):
            rows.append(
                {
                    "subset_id": f"s{n}-{i}",
                    "dataset": "mnist",
                    "n": n,
                    "kind": "random",
                    "indices": np.sort(rng.choice(pool, n, replace=False)),
                }
            )
    return pd.DataFrame(rows)


def test_subset_overlap_matches_python_set_intersection():
    manifest = make_manifest()
    got = stats.subset_overlap(manifest, n=8)
    rows = manifest[manifest["n"] == 8]
    assert list(got.index) == rows["subset_id"].tolist()
    for (ia, a), (ib, b) in itertools.product(zip(rows["subset_id"], rows["indices"]), repeat=2):
        expected = 100 * len(set(a.tolist()) & set(b.tolist())) / len(set(a.tolist()))
        assert got.loc[ia, ib] == pytest.approx(expected, rel=1e-12)


def test_subset_overlap_counts_duplicate_indices_once():
    manifest = pd.DataFrame(
        {
            "subset_id": ["a", "b"],
            "n": [3, 3],
            "indices": [[1, 2, 2, 3], [3, 4, 5]],
        }
    )
    got = stats.subset_overlap(manifest)
    assert got.loc["a", "b"] == pytest.approx(100 / 3)
    assert got.loc["a", "a"] == 100.0


def test_subset_overlap_asks_for_an_n_when_there_are_several():
    with pytest.raises(ValueError, match="pass n="):
        stats.subset_overlap(make_manifest())
    with pytest.raises(ValueError, match="no subsets of n = 7"):
        stats.subset_overlap(make_manifest(), n=7)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['indices'\]"):
        stats.subset_overlap(make_manifest().drop(columns="indices"), n=5)

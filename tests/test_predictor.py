"""Study Q predictor: single-measure R^2, grouped cross-validation, transfer, weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from xfactor_lib.quality import predictor


def _frame(n=60, seed=0, noise=0.05):
    rng = np.random.default_rng(seed)
    a = rng.uniform(1, 10, n)
    b = rng.uniform(0.1, 1, n)
    c = rng.normal(size=n)  # has negatives: never logged
    t = 2 * np.log(a) - np.log(b) + noise * rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": b, "c": c, "t": t, "size": 10})


def test_single_r2_is_squared_pearson_raw_by_default_and_of_the_logs_on_request():
    df = _frame()
    raw = predictor.single_r2(df, ["a"], "t")
    assert raw["r2"].iloc[0] == pytest.approx(scipy.stats.pearsonr(df["a"], df["t"])[0] ** 2, rel=1e-12)
    out = predictor.single_r2(df, ["a", "b", "c"], "t", log=True)
    assert out["measure"].iloc[0] == "a"
    r = scipy.stats.pearsonr(np.log(df["a"]), df["t"])[0]
    assert out.set_index("measure").loc["a", "r2"] == pytest.approx(r * r, rel=1e-12)
    rc = scipy.stats.pearsonr(df["c"], df["t"])[0]
    assert out.set_index("measure").loc["c", "r2"] == pytest.approx(rc * rc, rel=1e-12)


def test_single_r2_per_group_is_the_squared_pearson_r_within_each_group():
    # n = 10: the target follows a; n = 30 (fewer rows): it falls with b; pooled, neither holds
    ten = _frame(n=60, seed=0).assign(n=10)
    thirty = _frame(n=40, seed=1).assign(n=30)
    thirty["t"] = -5 * thirty["b"] + 0.05 * np.random.default_rng(3).normal(size=40)
    df = pd.concat([thirty, ten], ignore_index=True)
    out = predictor.single_r2(df, ["a", "b", "c"], "t", by=["n"])
    assert list(out.columns) == ["n", "measure", "r", "r2", "n_subsets"]
    for n, part in ((10, ten), (30, thirty)):
        got = out[out["n"] == n]
        brute = [scipy.stats.pearsonr(part[m], part["t"])[0] for m in ("a", "b", "c")]
        order = np.argsort([-r * r for r in brute], kind="stable")
        assert got["measure"].tolist() == [("a", "b", "c")[i] for i in order]  # best first
        np.testing.assert_allclose(got["r"], np.array(brute)[order], rtol=1e-10)
        np.testing.assert_allclose(got["r2"], np.array(brute)[order] ** 2, rtol=1e-10)
        assert (got["n_subsets"] == len(part)).all()
    assert out.loc[out["n"] == 10, "measure"].iloc[0] == "a" and out.loc[out["n"] == 30, "measure"].iloc[0] == "b"
    assert out.loc[out["n"] == 30, "r"].iloc[0] < -0.99
    pooled = predictor.single_r2(df, ["a"], "t")["r2"].iloc[0]
    assert pooled == pytest.approx(scipy.stats.pearsonr(df["a"], df["t"])[0] ** 2, rel=1e-10)
    assert pooled < out.loc[(out["n"] == 10) & (out["measure"] == "a"), "r2"].item() - 0.1


def test_cross_validated_r2_is_high_for_a_true_relation_and_low_for_noise():
    df = _frame(n=80)
    good = predictor.cross_validated(df, ["a", "b", "c"], "t", n_boot=200, log=True)
    assert good.r2 > 0.95 and good.ci_low <= good.r2 <= good.ci_high
    noise = df.assign(t=np.random.default_rng(9).normal(size=len(df)))
    bad = predictor.cross_validated(noise, ["a", "b", "c"], "t", n_boot=200)
    assert bad.r2 < 0.2


def test_groups_never_straddle_folds():
    # 15 groups of 4 identical subsets whose target is pure noise: if a group's copies were
    # split across folds, the ridge would predict them from their twins.
    rng = np.random.default_rng(2)
    base = pd.DataFrame({"a": rng.uniform(1, 2, 15), "b": rng.uniform(1, 2, 15), "t": rng.normal(size=15)})
    df = base.loc[np.repeat(np.arange(15), 4)].reset_index(drop=True)
    groups = np.repeat(np.arange(15), 4)
    grouped = predictor.cross_validated(df, ["a", "b"], "t", groups=groups, n_boot=100)
    assert grouped.r2 < 0.3


def test_transfer_and_weights():
    r2, pred = predictor.transfer(_frame(seed=0), _frame(seed=1), ["a", "b", "c"], "t", log=True)
    assert r2 > 0.95 and pred.shape == (60,)
    w = predictor.weights(_frame(), ["a", "b", "c"], "t", log=True)
    assert w["measure"].tolist()[:2] == ["a", "b"] and w.iloc[0]["weight"] > 0 > w.iloc[1]["weight"]
    assert w.set_index("measure").loc["a", "logged"] and not w.set_index("measure").loc["c", "logged"]


def test_bad_inputs():
    df = _frame()
    with pytest.raises(ValueError, match="lacks column"):
        predictor.single_r2(df, ["zz"], "t")
    with pytest.raises(ValueError, match="NaN"):
        predictor.cross_validated(df.assign(a=np.nan), ["a"], "t")
    with pytest.raises(ValueError, match="not positive"):
        predictor.design(df, ["c"], log=["c"])
    with pytest.raises(ValueError, match="at least 2 groups"):
        predictor.cross_validated(df, ["a"], "t", groups=np.zeros(len(df)))


def test_a_fold_where_every_measure_is_constant_predicts_the_training_mean():
    df = pd.DataFrame({"a": [1.0] * 6 + [2.0] * 2, "t": [0.0, 1, 2, 3, 4, 5, 6, 7]})
    res = predictor.cross_validated(df, ["a"], "t", groups=[0, 0, 0, 1, 1, 1, 2, 2], folds=3, n_boot=10)
    assert np.isfinite(res.predicted).all()
    # the fold holding out group 2 (the only rows with a = 2) sees a constant a: its mean
    assert res.predicted[6] == pytest.approx(2.5)

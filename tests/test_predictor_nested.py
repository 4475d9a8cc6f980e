"""The nested study Q predictor (issue 21): ceiling, leakage spy, group bootstrap, recovery."""

import itertools

import numpy as np
import pandas as pd
import pytest

from xfactor_lib.quality import nested as pn


def test_noise_ceiling_two_models_is_spearman_brown_of_their_correlation():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(30, 2))
    Z[:, 1] += Z[:, 0]
    r = np.corrcoef(Z[:, 0], Z[:, 1])[0, 1]
    assert pn.noise_ceiling(Z) == pytest.approx(2 * r / (1 + r))


def test_noise_ceiling_four_models_averages_the_three_splits():
    rng = np.random.default_rng(1)
    true = rng.normal(size=40)
    Z = true[:, None] + rng.normal(scale=0.7, size=(40, 4))
    values = []
    for a, b in (((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2))):
        r = np.corrcoef(Z[:, a].mean(axis=1), Z[:, b].mean(axis=1))[0, 1]
        values.append(2 * r / (1 + r))
    assert pn.noise_ceiling(Z) == pytest.approx(np.mean(values))
    assert np.isnan(pn.noise_ceiling(Z[:, :1]))


def test_noise_ceiling_five_models_uses_every_two_three_split():
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(25, 5)) + rng.normal(size=(25, 1))
    values = []
    for a in itertools.combinations(range(5), 2):
        b = [m for m in range(5) if m not in a]
        r = np.corrcoef(Z[:, list(a)].mean(axis=1), Z[:, b].mean(axis=1))[0, 1]
        values.append(2 * r / (1 + r))
    assert pn.noise_ceiling(Z) == pytest.approx(np.mean(values))


def test_group_bootstrap_never_splits_a_group():
    groups = np.array(["a", "a", "a", "b", "c", "c", "d", "e", "e", "e", "e"])
    sizes = pd.Series(groups).value_counts()
    for rows in pn.group_bootstrap(groups, 200, seed=3):
        drawn = pd.Series(groups[rows]).value_counts()
        for g, count in drawn.items():
            assert count % sizes[g] == 0  # whole groups, possibly several times
        # each copy of a group holds every one of its rows
        for g in drawn.index:
            rows_g = np.sort(rows[groups[rows] == g])
            members = np.flatnonzero(groups == g)
            assert (np.bincount(rows_g, minlength=groups.size)[members] == drawn[g] // sizes[g]).all()


def test_group_folds_keep_groups_together_and_balance_sizes():
    groups = np.repeat(np.arange(20), np.r_[np.full(10, 1), np.full(10, 3)])
    fold = pn.group_folds(groups, 4, seed=0)
    for g in np.unique(groups):
        assert np.unique(fold[groups == g]).size == 1
    counts = np.bincount(fold)
    assert counts.max() - counts.min() <= 3


def _frame(n=60, p=12, seed=0, groups_of=1):
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(n, p))
    t = 1.5 * F[:, 0] - F[:, 1] + 0.3 * rng.normal(size=n)
    frame = pd.DataFrame(F, columns=[f"q_{j}" for j in range(p)]).assign(t=t)
    frame["group"] = np.arange(n) // groups_of
    return frame


def test_penalty_and_screening_never_see_the_held_out_fold(monkeypatch):
    frame = _frame(groups_of=2)
    measures = [c for c in frame.columns if c.startswith("q_")]
    seen = []
    real_select, real_screen = pn._select, pn._screen

    def spy_select(F, t, g, **kw):
        seen.append(("select", set(np.round(t, 12))))
        return real_select(F, t, g, **kw)

    def spy_screen(F, t):
        seen.append(("screen", set(np.round(t, 12))))
        return real_screen(F, t)

    monkeypatch.setattr(pn, "_select", spy_select)
    monkeypatch.setattr(pn, "_screen", spy_screen)
    res = pn.cross_validated(frame, measures, "t", groups="group", folds=5, families=("ridge",), n_boot=0)
    target = np.round(frame["t"].to_numpy(), 12)
    selects = [s for kind, s in seen if kind == "select"]
    assert len(selects) == res.folds
    for f, s in enumerate(selects):
        held = set(target[res.fold == f])
        assert held and not (held & s)
        assert s == set(target[res.fold != f])  # selection saw exactly the outer training rows
    # every screening call saw a subset of some outer training part, never a held-out row of it
    for kind, s in seen:
        if kind == "screen":
            assert any(not (s & set(target[res.fold == f])) and s <= set(target[res.fold != f]) for f in range(5))


def test_nested_cv_recovers_a_linear_signal_and_leans_on_it():
    frame = _frame(n=80, p=15, seed=4)
    measures = [c for c in frame.columns if c.startswith("q_")]
    res = pn.cross_validated(frame, measures, "t", folds=5, families=("ridge", "pls"), n_boot=200)
    assert res.r2 > 0.85
    assert res.ci_low < res.r2 < res.ci_high
    assert set(res.importance["measure"].head(2)) == {"q_0", "q_1"}


def test_nested_cv_on_noise_does_not_find_signal():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(50, 30)), columns=[f"q_{j}" for j in range(30)]).assign(t=rng.normal(size=50))
    measures = [c for c in frame.columns if c.startswith("q_")]
    res = pn.cross_validated(frame, measures, "t", folds=5, families=("ridge",), n_boot=0)
    assert res.r2 < 0.1


def test_ridge_path_matches_sklearn():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(6)
    X = rng.normal(size=(30, 5))
    t = rng.normal(size=30)
    coef, b = pn._ridge_path(X - X.mean(axis=0), t, [0.5, 5.0])
    for j, a in enumerate([0.5, 5.0]):
        ref = Ridge(alpha=a).fit(X - X.mean(axis=0), t)
        np.testing.assert_allclose(coef[j], ref.coef_, atol=1e-10)
        assert b == pytest.approx(ref.intercept_)


def test_transfer_standardizes_within_each_frame():
    a, b = _frame(n=60, seed=7), _frame(n=60, seed=8)
    measures = [c for c in a.columns if c.startswith("q_")]
    b[measures] = b[measures] * 10 + 3  # another dataset's scale
    r2, pred, choice = pn.transfer(a, b, measures, "t", families=("ridge",))
    assert r2 > 0.8 and pred.shape == (60,) and "ridge" in choice


def test_pls_path_matches_sklearn():
    from sklearn.cross_decomposition import PLSRegression

    rng = np.random.default_rng(9)
    X = rng.normal(size=(25, 6))
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    t = X[:, 0] - 0.5 * X[:, 2] + rng.normal(size=25)
    coef, b = pn._pls_path(X, t, 3)
    for c in (1, 2, 3):
        ref = PLSRegression(n_components=c, scale=False).fit(X, t)
        np.testing.assert_allclose(X @ coef[c - 1] + (t.mean() - X.mean(axis=0) @ coef[c - 1]),
                                   np.ravel(ref.predict(X)), atol=1e-8)  # fmt: skip


def test_boosting_on_request_fits_a_step_signal_and_is_averaged_with_ridge():
    rng = np.random.default_rng(10)
    F = rng.normal(size=(80, 6))
    t = np.where(F[:, 0] > 0, 1.0, -1.0) * (F[:, 1] > 0) + 0.1 * rng.normal(size=80)
    frame = pd.DataFrame(F, columns=[f"q_{j}" for j in range(6)]).assign(t=t)
    cols = [f"q_{j}" for j in range(6)]
    gbr = pn.cross_validated(frame, cols, "t", folds=4, families=("gbr",), n_boot=0)
    ridge = pn.cross_validated(frame, cols, "t", folds=4, families=("ridge",), n_boot=0)
    both = pn.cross_validated(frame, cols, "t", folds=4, families=("ridge", "gbr"), n_boot=0)
    assert gbr.r2 > 0.5 and ridge.r2 < gbr.r2
    assert all(c.startswith("gbr") for c in gbr.choices)
    assert all(" + gbr" in c and c.startswith("mean of 5: ridge") for c in both.choices)
    np.testing.assert_allclose(both.predicted, (gbr.predicted + ridge.predicted) / 2, atol=1e-12)


def test_families_are_each_tuned_then_averaged_with_equal_weight():
    frame = _frame(n=50, p=8, seed=12)
    cols = [c for c in frame.columns if c.startswith("q_")]
    F, t, g = frame[cols].to_numpy(), frame["t"].to_numpy(), frame["group"].to_numpy()
    both = pn.fit_selected(F, t, g, families=("ridge", "pls"))
    ridge = pn.fit_selected(F, t, g, families=("ridge",))
    pls = pn.fit_selected(F, t, g, families=("pls",))
    assert isinstance(ridge, pn.Ensemble) and len(ridge.fits) == pn.TOP
    assert {f.choice.family for f in ridge.fits} == {"ridge"} and {f.choice.family for f in pls.fits} == {"pls"}
    np.testing.assert_allclose(both.predict(F[:7]), (ridge.predict(F[:7]) + pls.predict(F[:7])) / 2, atol=1e-12)
    # each family's members are its inner CV's best: refit one by hand and compare
    first = ridge.fits[0]
    G = pn._transform_apply(F, pn._transform_fit(F, first.choice.transform))
    X = (G[:, first.cols] - G[:, first.cols].mean(axis=0)) / G[:, first.cols].std(axis=0)
    coef, b = pn._ridge_path(X, t, [first.choice.param])
    np.testing.assert_allclose(first.predict(F), X @ coef[0] + b, atol=1e-10)
    assert pn.DEFAULT_FAMILIES == ("ridge", "pls")


def test_logit_transform_takes_logits_of_proportions_and_logs_of_other_positive_measures():
    train = np.array([[0.2, 2.0, -1.0, 0.5], [0.5, 8.0, 3.0, 1.0], [0.9, 4.0, 0.0, 0.25]])
    state = pn._transform_fit(train, "logit")
    got = pn._transform_apply(train, state)
    p = train[:, 0]
    np.testing.assert_allclose(got[:, 0], np.log(p / (1 - p)), rtol=1e-12)
    np.testing.assert_allclose(got[:, 1], np.log(train[:, 1]), rtol=1e-12)
    np.testing.assert_array_equal(got[:, 2], train[:, 2])  # not positive: kept
    np.testing.assert_allclose(got[:, 3], np.log(train[:, 3]), rtol=1e-12)  # reaches 1: a log, not a logit
    # held-out values stay half the training minimum of x (and of 1 - x) away from 0 (and 1)
    held = pn._transform_apply(np.array([[0.999, 0.5, 5.0, 0.0], [0.01, 0.0, 5.0, 2.0]]), state)
    hi, lo = 1 - 0.1 / 2, 0.2 / 2
    np.testing.assert_allclose(held[:, 0], [np.log(hi / (1 - hi)), np.log(lo / (1 - lo))], rtol=1e-12)
    np.testing.assert_allclose(held[:, 1], [0.0, 0.0], atol=1e-15)  # floor: 2.0 / 2
    np.testing.assert_allclose(held[:, 3], [np.log(0.125), np.log(2.0)], rtol=1e-12)
    np.testing.assert_allclose(pn._transform_apply(train, pn._transform_fit(train, "log"))[:, 0], np.log(p))
    with pytest.raises(ValueError, match="unknown transform"):
        pn._transform_fit(train, "sqrt")


def test_logit_keeps_a_held_out_coverage_far_below_the_training_ones_on_scale():
    # target linear in log(1 - coverage): random rows cover ~95 %, a held-out group far less
    rng = np.random.default_rng(13)
    u_train = np.exp(rng.normal(np.log(0.05), 0.15, size=60))
    u_held = np.array([0.08, 0.15, 0.25, 0.35])
    t_train = np.log(u_train) + 0.01 * rng.normal(size=60)
    F_train, F_held = (1 - u_train)[:, None], (1 - u_held)[:, None]
    err = {}
    for transform in ("none", "log", "logit"):
        fitted = pn._fit_choice(pn.Choice(transform, 0, "ridge", 0.01), F_train, t_train, 0)
        err[transform] = np.abs(fitted.predict(F_held) - np.log(u_held)).max()
    assert err["logit"] < 0.3  # logit(x) = log(1 - u) - log(u): off by log(1 - u) only
    assert err["log"] > 3 and err["none"] > 3  # linear in coverage: overshoots by > 3


def test_linear_weights_average_the_members_coefficients_as_the_predictions_are():
    rng = np.random.default_rng(8)
    F = rng.normal(size=(60, 4))
    t = 2.0 * F[:, 0] - 1.0 * F[:, 2] + 0.1 * rng.normal(size=60)
    fit = pn.fit_selected(F, t, np.arange(60), families=("ridge", "pls"), seed=0)
    w = pn.linear_weights(fit, 4)
    # by hand: the mean over the families of the mean over each family's leaders of its coefficients
    fams = []
    for fam in fit.fits:
        members = fam.fits if isinstance(fam, pn.Ensemble) else [fam]
        per = []
        for m in members:
            c = np.zeros(4)
            c[m.cols] = m.model.coef
            per.append(c)
        fams.append(np.mean(per, axis=0))
    np.testing.assert_allclose(w, np.mean(fams, axis=0))
    assert w[0] > 0 > w[2] and abs(w[0]) > abs(w[1]) and abs(w[2]) > abs(w[3])
    # a linear prediction is the weights times the standardized (untransformed here) measures
    assert np.corrcoef(fit.predict(F), F @ w)[0, 1] > 0.99


def _facets(rng, n, M, su, sv, se):
    """Scores s + u_m + v_h + e_mh of n subsets, M models, 2 test halves (variances 1, su, sv, se)."""
    s = rng.normal(size=(n, 1, 1))
    X = s + rng.normal(scale=np.sqrt(su), size=(n, M, 1)) + rng.normal(scale=np.sqrt(sv), size=(n, 1, 2))
    X = X + rng.normal(scale=np.sqrt(se), size=(n, M, 2))
    return X.mean(axis=2), X[:, :, 0], X[:, :, 1]


@pytest.mark.parametrize(("M", "su", "sv", "se"), [(4, 1.0, 0.5, 2.0), (5, 0.3, 2.0, 1.0), (2, 0.5, 0.5, 0.5)])
def test_two_facet_ceiling_recovers_the_subsets_share_of_a_known_additive_target(M, su, sv, se):
    Z, Ze, Zo = _facets(np.random.default_rng(M), 40_000, M, su, sv, se)
    # the full target: mean of M models on both halves; its variance by hand from the components
    share = 1.0 / (1.0 + su / M + sv / 2 + se / (2 * M))
    assert pn.two_facet_ceiling(Z, Ze, Zo) == pytest.approx(share, abs=0.02)
    # each single-facet split counts the other facet's noise as signal: both sit above
    assert pn.noise_ceiling(Z) > share and pn.noise_ceiling(np.c_[Ze.mean(1), Zo.mean(1)]) > share


def test_two_facet_ceiling_edge_cases():
    rng = np.random.default_rng(0)
    Z, Ze, Zo = _facets(rng, 50, 3, 1.0, 1.0, 1.0)
    assert np.isnan(pn.two_facet_ceiling(Z[:, :1], Ze[:, :1], Zo[:, :1]))  # one model
    assert np.isnan(pn.two_facet_ceiling(rng.normal(size=(50, 3)), rng.normal(size=(50, 3)), rng.normal(size=(50, 3))))
    with pytest.raises(ValueError, match="share a shape"):
        pn.two_facet_ceiling(Z, Ze[:, :2], Zo)


def test_measure_sets_are_tuned_as_arms_and_averaged_with_all_measures():
    rng = np.random.default_rng(9)
    F = rng.normal(size=(50, 6))
    t = F[:, 0] + 0.3 * rng.normal(size=50)
    sets = pn.set_indices([f"m{i}" for i in range(6)], {"pair": ["m1", "m0"]})
    np.testing.assert_array_equal(sets["pair"], [0, 1])
    fit = pn.fit_selected(F, t, np.arange(50), families=("ridge", "pls"), sets=sets, seed=0)
    arms = [(f.fits[0] if isinstance(f, pn.Ensemble) else f).choice for f in fit.fits]
    want = [("ridge", "all"), ("ridge", "pair"), ("pls", "all"), ("pls", "pair")]
    assert [(c.family, c.features) for c in arms] == want
    for arm in fit.fits:  # an arm on the set never reads a column outside it
        members = arm.fits if isinstance(arm, pn.Ensemble) else [arm]
        if members[0].choice.features == "pair":
            assert all(set(m.cols) <= {0, 1} for m in members)
    assert "of pair" in str(arms[1])
    np.testing.assert_allclose(fit.predict(F), np.mean([a.predict(F) for a in fit.fits], axis=0))
    with pytest.raises(ValueError, match="not among the measures"):
        pn.set_indices(["m0"], {"bad": ["m9"]})

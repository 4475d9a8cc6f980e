"""Coreset scores (EVA, ablations, baselines), select_top, CCS and the one dispatcher."""

from __future__ import annotations

import numpy as np
import pytest

from xfactor_lib import coresets
from xfactor_lib.coresets import greedy, select, select_top
from xfactor_lib.coresets import scores as cs
from xfactor_lib.dynamics import Dynamics


def constructed_dynamics() -> Dynamics:
    """Four samples over T=20 epochs whose ranks are obvious.

    0: learned at once, never forgotten, constant S   (easy)
    1: flips correct / incorrect every epoch          (10 forgetting events)
    2: never learned                                  (most forgotten by definition)
    3: learned at epoch 5, forgotten once at epoch 12 (1 event; 14 epochs correct)
    """
    T = 20
    t = np.arange(T)
    correct = np.vstack([np.ones(T, bool), t % 2 == 0, np.zeros(T, bool), (t >= 5) & (t != 12)])
    S = np.vstack([np.full(T, 0.05), np.where(t % 2 == 0, 0.2, 1.2), np.full(T, 1.3), np.where(correct[3], 0.3, 1.0)])
    margin = np.vstack(
        [np.full(T, 5.0), np.where(t % 2 == 0, 0.5, -0.5), np.full(T, -4.0), np.where(correct[3], 2.0, -1.0)]
    )
    probs = np.array([[0.98, 0.01, 0.01], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.2, 0.7, 0.1]])
    return Dynamics(S=S, correct=correct, margin=margin, probs=probs, y=np.array([0, 1, 2, 1]))


# --------------------------------------------------------------------------- EVA and ablations
def test_eva_equals_direct_population_variance_of_both_windows():
    rng = np.random.default_rng(3)
    S = rng.random((20, 50))
    got = cs.eva_scores(S, early_start=5, late_start=30, window=10)
    want = np.var(S[:, 5:15], axis=1) + np.var(S[:, 30:40], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_array_equal(cs.var_dual(S, early_start=5, late_start=30, window=10), got)


def test_released_variant_normalises_each_window_by_its_sum_then_averages():
    S = np.array([[0.0, 2.0, 1.0, 1.0], [1.0, 1.0, 0.0, 4.0], [3.0, 3.0, 3.0, 3.0]])
    # windows of 2 epochs: variances early [1, 0, 0], late [0, 4, 0]
    got = cs.eva_scores(S, early_start=0, late_start=2, window=2, variant="released")
    np.testing.assert_allclose(got, [(1 / 1 + 0 / 4) / 2, (0 / 1 + 4 / 4) / 2, 0.0])


def test_flipping_sample_scores_highest_and_constant_sample_scores_zero():
    T = 20
    flip = np.where(np.arange(T) % 2 == 0, 0.1, 1.3)
    S = np.vstack([np.full(T, 0.7), flip, np.linspace(1.2, 0.05, T)])
    scores = cs.eva_scores(S, early_start=0, late_start=10, window=10)
    assert scores[0] == 0.0 and scores.argmax() == 1
    assert select_top(scores, 1 / 3).tolist() == [1]


def test_single_window_ablations_are_variance_and_mean_of_that_window():
    rng = np.random.default_rng(4)
    S = rng.random((6, 30))
    np.testing.assert_allclose(cs.var_single(S, start=10, window=10), S[:, 10:20].var(axis=1))
    np.testing.assert_allclose(cs.exp_single(S, start=10, window=10), S[:, 10:20].mean(axis=1))
    np.testing.assert_allclose(
        cs.exp_dual(S, early_start=0, late_start=20, window=10), np.hstack([S[:, 0:10], S[:, 20:30]]).mean(axis=1)
    )


def test_windows_that_overlap_or_do_not_fit_are_errors_and_starts_are_keyword_only():
    S = np.zeros((3, 30))
    with pytest.raises(ValueError, match="overlap or are out of order"):
        cs.eva_scores(S, early_start=0, late_start=5, window=10)
    with pytest.raises(ValueError, match="overlap or are out of order"):
        cs.eva_scores(S, early_start=20, late_start=0, window=10)
    with pytest.raises(ValueError, match=r"late window \[25, 34\] does not fit in the T=30"):
        cs.eva_scores(S, early_start=0, late_start=25, window=10)
    with pytest.raises(ValueError, match="unknown variant 'mean'"):
        cs.eva_scores(S, early_start=0, late_start=10, window=10, variant="mean")
    with pytest.raises(TypeError):
        cs.eva_scores(S, 0, 10)  # window starts are keyword-only


def test_eva_scores_with_nan_in_S_is_a_clear_error():
    S = np.random.default_rng(0).random((5, 20))
    S[3, 12] = np.nan  # an unrecorded epoch inside the late window
    with pytest.raises(ValueError, match=r"S has 1 NaN or inf value\(s\) in the late window \[10, 19\].*first row 3"):
        cs.eva_scores(S, early_start=0, late_start=10, window=10)
    with pytest.raises(ValueError, match="NaN"):
        select(
            "eva",
            rate=0.4,
            dynamics=Dynamics(S=S, correct=S > 0.5, margin=S, probs=np.full((5, 2), 0.5), y=np.zeros(5, int)),
            early_start=0,
            late_start=10,
            window=10,
        )
    # NaN outside both windows does not touch the score
    assert np.isfinite(cs.eva_scores(S, early_start=0, late_start=14, window=5)).all()


def test_select_top_keeps_ceil_rate_n_with_ties_to_the_lower_index():
    scores = np.array([1.0, 3.0, 3.0, 0.0, 3.0, 2.0])
    assert select_top(scores, 0.5).tolist() == [1, 2, 4]
    assert select_top(scores, 0.3).tolist() == [1, 2]  # ceil(1.8) = 2, ties -> lower index
    assert select_top(scores, 0.2, keep="lowest").tolist() == [0, 3]
    assert coresets.coreset_size(30, 0.1) == 3 and coresets.coreset_size(34561, 0.02) == 692
    with pytest.raises(ValueError, match="NaN"):
        select_top(np.array([1.0, np.nan]), 0.5)
    with pytest.raises(ValueError, match="rate must lie in"):
        select_top(scores, 1.5)


# --------------------------------------------------------------------------- baselines
def test_forgetting_counts_flips_and_ranks_never_learned_first():
    d = constructed_dynamics()
    assert cs.forgetting_scores(d.correct).tolist() == [0, 10, 21, 1]
    assert select("forgetting", rate=0.25, dynamics=d).tolist() == [2]
    assert select("forgetting", rate=0.5, dynamics=d).tolist() == [1, 2]


def test_entropy_is_maximal_for_uniform_probabilities():
    d = constructed_dynamics()
    h = cs.entropy_scores(d.probs)
    want = -np.array([sum(v * np.log(v) for v in row if v > 0) for row in d.probs])
    np.testing.assert_allclose(h, want)
    assert h[2] == pytest.approx(np.log(3)) and h.argmax() == 2
    assert cs.entropy_scores(np.eye(3)).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="softmax, not logits"):
        cs.entropy_scores(np.array([[2.0, -1.0]]))


def test_el2n_takes_one_epoch_and_averages_over_runs():
    rng = np.random.default_rng(0)
    S1, S2, S3 = rng.random((3, 8, 25))
    np.testing.assert_array_equal(cs.el2n_scores(S1), S1[:, 20])
    np.testing.assert_allclose(cs.el2n_scores([S1, S2, S3], epoch=4), (S1[:, 4] + S2[:, 4] + S3[:, 4]) / 3)
    with pytest.raises(ValueError, match=r"epoch \(run 0 has T=25 epochs: 0..24\) must be <= 24"):
        cs.el2n_scores(S1, epoch=25)
    with pytest.raises(ValueError, match="same N=8"):
        cs.el2n_scores([S1, S2[:5]])


def test_aum_is_the_mean_margin_and_keeps_the_lowest():
    d = constructed_dynamics()
    np.testing.assert_allclose(cs.aum_scores(d.margin), [5.0, 0.0, -4.0, (14 * 2.0 - 6 * 1.0) / 20])
    assert select("aum", rate=0.5, dynamics=d).tolist() == [1, 2]


def test_random_selection_depends_only_on_the_seed_and_needs_only_a_sample_count():
    d = constructed_dynamics()
    np.testing.assert_array_equal(cs.random_scores(4, seed=7), np.random.default_rng(7).random(4))
    a = select("random", rate=0.5, dynamics=d, seed=3)
    assert a.tolist() == select("random", rate=0.5, y=np.zeros(4, int), seed=3).tolist()
    assert len(np.unique(a)) == 2


def ccs_scores() -> tuple[np.ndarray, list[np.ndarray]]:
    """40 AUM scores: 4 clearly hard (negative), then 36 in [0, 4] in bins of 2, 4, 10, 20."""
    hard = np.array([-10.0, -9.0, -8.0, -7.0])
    members = [np.array([0.0, 0.5]), np.full(4, 1.5), np.full(10, 2.5), np.r_[np.full(19, 3.5), 4.0]]
    perm = np.random.default_rng(0).permutation(40)
    shuffled = np.concatenate([hard] + members)[perm]
    inv = np.argsort(perm)
    bins, start = [], 4
    for m in members:
        bins.append(np.sort(inv[start : start + len(m)]))
        start += len(m)
    return shuffled, [np.sort(inv[:4])] + bins


def test_ccs_drops_the_hardest_beta_and_fills_bins_smallest_first():
    scores, (hard, *bins) = ccs_scores()
    # budget 20 over counts (2, 4, 10, 20): 2, then 18 // 3 -> 4, then 14 // 2 -> 7, then 7
    for seed in range(3):
        idx = coresets.ccs_select(scores, 20, beta=0.1, n_bins=4, seed=seed)
        assert len(idx) == 20 and np.all(np.diff(idx) > 0)
        assert not np.isin(idx, hard).any()
        assert [int(np.isin(idx, b).sum()) for b in bins] == [2, 4, 7, 7]
    assert (
        coresets.ccs_select(scores, 20, beta=0.1, n_bins=4, seed=0).tolist()
        != coresets.ccs_select(scores, 20, beta=0.1, n_bins=4, seed=1).tolist()
    )


def test_ccs_with_high_scores_hard_drops_the_top():
    scores, (hard, *bins) = ccs_scores()
    idx = coresets.ccs_select(-scores, 36, beta=0.1, n_bins=4, seed=0, hard_is_low=False)
    assert sorted(idx.tolist()) == sorted(np.concatenate(bins).tolist())


def test_ccs_default_50_bins_spill_small_bins_budget_to_larger_ones():
    scores = np.r_[np.arange(50.0), np.full(50, 49.5)]  # one per bin, plus 50 more in the last
    idx = coresets.ccs_select(scores, 60, beta=0.0, seed=0)
    assert len(idx) == 60 and np.isin(np.arange(49), idx).all()  # bins 0..48: their single sample
    assert np.isin(idx, np.r_[49, np.arange(50, 100)]).sum() == 11  # last bin takes the rest
    with pytest.raises(ValueError, match="M must be an int in 1..90"):
        coresets.ccs_select(scores, 91, beta=0.1, seed=0)
    assert [coresets.ccs_default_beta(r) for r in (0.02, 0.2, 0.5)] == [0.3, 0.1, 0.0]


# --------------------------------------------------------------------------- the dispatcher
def random_dynamics(N=50, T=30, K=3, seed=1) -> Dynamics:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(N, K))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Dynamics(
        S=rng.random((N, T)),
        correct=rng.random((N, T)) > 0.5,
        margin=rng.normal(size=(N, T)),
        probs=probs,
        y=rng.integers(0, K, N),
        prob_margin=rng.uniform(-1, 1, size=(N, T)),
    )


def test_select_dispatches_every_method_to_sorted_unique_indices_of_size_ceil_rate_n():
    d = random_dynamics()
    windows = {
        "eva": dict(early_start=0, late_start=10),
        "var_s": dict(start=10),
        "exp_s": dict(start=10),
        "var_d": dict(early_start=0, late_start=20),
        "exp_d": dict(early_start=0, late_start=20),
        "el2n": dict(epoch=5),
    }
    rng = np.random.default_rng(0)  # the training-free methods read images / an embedding of the same samples
    inputs = dict(dynamics=d, X=rng.integers(0, 256, (d.N, 16)).astype(np.uint8), y=d.y, embed=rng.random((d.N, 4)))
    for method in coresets.METHODS:
        idx = select(method, rate=0.1, seed=0, **inputs, **windows.get(method, {}))
        assert idx.dtype == np.int64 and len(idx) == 5 and np.all(np.diff(idx) > 0), method
    np.testing.assert_array_equal(
        select("eva", rate=0.1, dynamics=d, **windows["eva"]),
        select_top(cs.eva_scores(d.S, early_start=0, late_start=10), 0.1),
    )
    np.testing.assert_array_equal(
        select("exp_s", rate=0.1, dynamics=d, start=10), select_top(d.S[:, 10:20].mean(axis=1), 0.1)
    )
    released = select("eva", rate=0.1, dynamics=d, variant="released", **windows["eva"])
    np.testing.assert_array_equal(
        released, select_top(cs.eva_scores(d.S, early_start=0, late_start=10, variant="released"), 0.1)
    )


def test_select_explains_bad_method_options_and_inputs():
    d = constructed_dynamics()
    with pytest.raises(ValueError, match="unknown coreset method 'gradnd'"):
        select("gradnd", rate=0.5, dynamics=d)
    with pytest.raises(ValueError, match=r"needs \['early_start', 'late_start'\]"):
        select("eva", rate=0.5, dynamics=d)
    with pytest.raises(ValueError, match=r"unexpected \['epoch'\]"):
        select("aum", rate=0.5, dynamics=d, epoch=3)
    with pytest.raises(ValueError, match="only el2n averages"):
        select("aum", rate=0.5, dynamics=[d, d])
    with pytest.raises(ValueError, match="pass dynamics="):
        select("aum", rate=0.5, y=np.zeros(4, int))
    with pytest.raises(ValueError, match="same N samples"):
        select("random", rate=0.5, dynamics=d, y=np.zeros(5, int))
    with pytest.raises(TypeError):
        select("aum", 0.5, dynamics=d)  # rate is keyword-only
    assert select("el2n", rate=0.5, dynamics=[d, d], epoch=1).tolist() == [1, 2]


def test_every_method_states_which_end_it_keeps_and_a_new_method_joins_by_registering():
    assert set(coresets.KEEPS) == set(coresets.METHODS)
    assert coresets.KEEPS["aum"] == "lowest" and coresets.KEEPS["eva"] == "highest"
    assert coresets.KEEPS["ccs"] == "stratified"
    name = "first_pixel_test_only"
    try:
        coresets.register(coresets.Method(name, "lowest", "images", score=lambda inp, seed: inp.X[:, 0]))
        X = np.array([[5.0], [1.0], [3.0], [0.0]])
        assert select(name, rate=0.5, X=X, y=np.zeros(4, int)).tolist() == [1, 3]
        with pytest.raises(ValueError, match="pass X= and y="):
            select(name, rate=0.5, dynamics=constructed_dynamics())
        with pytest.raises(ValueError, match="already registered"):
            coresets.register(coresets.METHODS[name])
    finally:
        coresets.METHODS.pop(name, None)
        coresets.KEEPS.pop(name, None)


def test_training_free_methods_dispatch_to_greedy_with_class_balanced_budgets():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1, 2], [12, 9, 9])
    X = rng.integers(0, 256, size=(30, 16)).astype(np.uint8)
    E = rng.random((30, 5))
    # M = ceil(0.25 x 30) = 8 -> 3 / 3 / 2: the remainder to the largest class, then the lower class
    for method, kw, want in [
        ("coverage", dict(tau=0.3), greedy.coverage_select(X, y, rate=0.25, tau=0.3)),
        (
            "coverage_clean",
            dict(neighbours=3),
            greedy.coverage_select(X, y, rate=0.25, drop_ambiguous=True, neighbours=3),
        ),
        ("a_max", dict(q=1.0), greedy.a_max_select(X, y, rate=0.25, q=1.0)),
        ("k_center", {}, greedy.k_center_select(X, y, rate=0.25, seed=4)),
    ]:
        got = select(method, rate=0.25, X=X, y=y, seed=4, **kw)
        assert got.tolist() == want.tolist() and got.dtype == np.int64, method
        assert np.bincount(y[got]).tolist() == [3, 3, 2], method
    emb = select("coverage_emb", rate=0.25, y=y, embed=E)
    assert emb.tolist() == greedy.coverage_select(None, y, rate=0.25, embed=E).tolist()
    assert coresets.KEEPS["coverage"] == "greedy" and coresets.METHODS["coverage_emb"].needs == "embedding"
    with pytest.raises(ValueError, match="pass embed="):
        select("coverage_emb", rate=0.25, X=X, y=y)
    with pytest.raises(ValueError, match="pass X= and y="):
        select("a_max", rate=0.25, y=y)
    with pytest.raises(ValueError, match="same N samples"):
        select("coverage_emb", rate=0.25, y=y, embed=E[:20])
    with pytest.raises(ValueError, match=r"unexpected \['q'\]"):
        select("coverage", rate=0.25, X=X, y=y, q=1.0)

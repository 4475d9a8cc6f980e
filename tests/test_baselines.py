"""Baselines (Random, Forgetting, Entropy, EL2N, AUM, CCS) and the selection dispatcher."""

from __future__ import annotations

import numpy as np
import pytest

from xfactor_lib import baselines, eva
from xfactor_lib.eva import Dynamics


def constructed_dynamics() -> Dynamics:
    """Four samples over T=20 epochs whose ranks are obvious.

    0: learned at once, never forgotten, constant S   (easy)
    1: flips correct / incorrect every epoch          (10 forgetting events)
    2: never learned                                  (most forgotten by definition)
    3: learned at epoch 5, forgotten once at epoch 12 (1 event; 14 epochs correct)
    """
    T = 20
    t = np.arange(T)
    correct = np.vstack([
        np.ones(T, bool),
        t % 2 == 0,
        np.zeros(T, bool),
        (t >= 5) & (t != 12),
    ])
    S = np.vstack([np.full(T, 0.05), np.where(t % 2 == 0, 0.2, 1.2), np.full(T, 1.3),
                   np.where(correct[3], 0.3, 1.0)])
    margin = np.vstack([np.full(T, 5.0), np.where(t % 2 == 0, 0.5, -0.5), np.full(T, -4.0),
                        np.where(correct[3], 2.0, -1.0)])
    probs = np.array([[0.98, 0.01, 0.01], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.2, 0.7, 0.1]])
    return Dynamics(S=S, correct=correct, margin=margin, probs=probs, y=np.array([0, 1, 2, 1]))


def test_forgetting_counts_flips_and_ranks_never_learned_first():
    d = constructed_dynamics()
    assert baselines.forgetting_scores(d.correct).tolist() == [0, 10, 21, 1]
    assert baselines.select("forgetting", d, 0.25).tolist() == [2]
    assert baselines.select("forgetting", d, 0.5).tolist() == [1, 2]


def test_entropy_is_maximal_for_uniform_probabilities():
    d = constructed_dynamics()
    h = baselines.entropy_scores(d.probs)
    p = d.probs
    want = -np.array([sum(v * np.log(v) for v in row if v > 0) for row in p])
    np.testing.assert_allclose(h, want)
    assert h[2] == pytest.approx(np.log(3)) and h.argmax() == 2
    assert baselines.entropy_scores(np.eye(3)).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="softmax, not logits"):
        baselines.entropy_scores(np.array([[2.0, -1.0]]))


def test_el2n_takes_one_epoch_and_averages_over_runs():
    rng = np.random.default_rng(0)
    S1, S2, S3 = rng.random((3, 8, 25))
    np.testing.assert_array_equal(baselines.el2n_scores(S1), S1[:, 20])
    np.testing.assert_allclose(baselines.el2n_scores([S1, S2, S3], epoch=4), (S1[:, 4] + S2[:, 4] + S3[:, 4]) / 3)
    with pytest.raises(ValueError, match="epoch must be an int in 0..24"):
        baselines.el2n_scores(S1, epoch=25)
    with pytest.raises(ValueError, match="same N=8"):
        baselines.el2n_scores([S1, S2[:5]])


def test_aum_is_the_mean_margin_and_keeps_the_lowest():
    d = constructed_dynamics()
    np.testing.assert_allclose(baselines.aum_scores(d.margin), [5.0, 0.0, -4.0, (14 * 2.0 - 6 * 1.0) / 20])
    assert baselines.select("aum", d, 0.5).tolist() == [1, 2]


def test_random_selection_depends_only_on_the_seed():
    d = constructed_dynamics()
    np.testing.assert_array_equal(baselines.random_scores(4, 7), np.random.default_rng(7).random(4))
    a = baselines.select("random", d, 0.5, seed=3)
    assert a.tolist() == baselines.select("random", d, 0.5, seed=3).tolist()
    assert len(np.unique(a)) == 2


def ccs_scores() -> tuple[np.ndarray, list[np.ndarray]]:
    """40 AUM scores: 4 clearly hard (negative), then 36 in [0, 4] in bins of 2, 4, 10, 20."""
    hard = np.array([-10.0, -9.0, -8.0, -7.0])
    members = [np.array([0.0, 0.5]), np.full(4, 1.5), np.full(10, 2.5), np.r_[np.full(19, 3.5), 4.0]]
    rng = np.random.default_rng(0)
    scores = np.concatenate([hard] + members)
    perm = rng.permutation(40)
    shuffled = scores[perm]
    inv = np.argsort(perm)
    bins = []
    start = 4
    for m in members:
        bins.append(np.sort(inv[start:start + len(m)]))
        start += len(m)
    return shuffled, [np.sort(inv[:4])] + bins


def test_ccs_drops_the_hardest_beta_and_fills_bins_smallest_first():
    scores, (hard, *bins) = ccs_scores()
    # budget 20 over counts (2, 4, 10, 20): 2, then 18 // 3 -> 4, then 14 // 2 -> 7, then 7
    for seed in range(3):
        idx = baselines.ccs_select(scores, 20, beta=0.1, n_bins=4, seed=seed)
        assert len(idx) == 20 and np.all(np.diff(idx) > 0)
        assert not np.isin(idx, hard).any()
        assert [int(np.isin(idx, b).sum()) for b in bins] == [2, 4, 7, 7]
    assert baselines.ccs_select(scores, 20, beta=0.1, n_bins=4, seed=0).tolist() != \
        baselines.ccs_select(scores, 20, beta=0.1, n_bins=4, seed=1).tolist()


def test_ccs_with_high_scores_hard_drops_the_top():
    scores, (hard, *bins) = ccs_scores()
    idx = baselines.ccs_select(-scores, 36, beta=0.1, n_bins=4, seed=0, hard_is_low=False)
    assert sorted(idx.tolist()) == sorted(np.concatenate(bins).tolist())


def test_ccs_default_50_bins_spill_small_bins_budget_to_larger_ones():
    scores = np.r_[np.arange(50.0), np.full(50, 49.5)]  # one per bin, plus 50 more in the last
    idx = baselines.ccs_select(scores, 60, beta=0.0, seed=0)
    assert len(idx) == 60 and np.isin(np.arange(49), idx).all()  # bins 0..48: their single sample
    assert np.isin(idx, np.r_[49, np.arange(50, 100)]).sum() == 11  # last bin takes the rest
    with pytest.raises(ValueError, match="M must be an int in 1..90"):
        baselines.ccs_select(scores, 91, beta=0.1, seed=0)


def test_select_dispatches_every_method_to_sorted_unique_indices_of_size_ceil_rate_n():
    rng = np.random.default_rng(1)
    N, T, K = 50, 30, 3
    y = rng.integers(0, K, N)
    logits = rng.normal(size=(N, K))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    d = Dynamics(S=rng.random((N, T)), correct=rng.random((N, T)) > 0.5,
                 margin=rng.normal(size=(N, T)), probs=probs, y=y)
    windows = {"eva": dict(early_start=0, late_start=10), "var_s": dict(start=10),
               "exp_s": dict(start=10), "var_d": dict(early_start=0, late_start=20),
               "exp_d": dict(early_start=0, late_start=20), "el2n": dict(epoch=5)}
    for method in baselines.METHODS:
        idx = baselines.select(method, d, 0.1, seed=0, **windows.get(method, {}))
        assert idx.dtype == np.int64 and len(idx) == 5 and np.all(np.diff(idx) > 0), method
    np.testing.assert_array_equal(baselines.select("eva", d, 0.1, **windows["eva"]),
                                  eva.select_top(eva.eva_scores(d.S, 0, 10), 0.1))
    np.testing.assert_array_equal(baselines.select("exp_s", d, 0.1, start=10),
                                  eva.select_top(d.S[:, 10:20].mean(axis=1), 0.1))


def test_select_explains_bad_method_options_and_runs():
    d = constructed_dynamics()
    with pytest.raises(ValueError, match="unknown method 'gradnd'"):
        baselines.select("gradnd", d, 0.5)
    with pytest.raises(ValueError, match="needs \\['early_start', 'late_start'\\]"):
        baselines.select("eva", d, 0.5)
    with pytest.raises(ValueError, match="unexpected \\['epoch'\\]"):
        baselines.select("aum", d, 0.5, epoch=3)
    with pytest.raises(ValueError, match="only el2n averages"):
        baselines.select("aum", [d, d], 0.5)
    assert baselines.select("el2n", [d, d], 0.5, epoch=1).tolist() == [1, 2]


def test_every_method_states_which_end_it_keeps():
    assert set(baselines.KEEPS) == set(baselines.METHODS)
    assert baselines.KEEPS["aum"] == "lowest" and baselines.KEEPS["eva"] == "highest"

"""The fair baselines (issue 20): CCS on the probability margin, class-balanced Random."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xfactor_lib import coresets
from xfactor_lib.coresets import baselines as cb
from xfactor_lib.coresets import greedy, select
from xfactor_lib.dynamics import Dynamics, DynamicsRecorder


# --------------------------------------------------------------------------- CCS's probability margin
def test_recorder_keeps_the_probability_margin_of_a_hand_example():
    # 3 samples, 3 classes; logits = log p, so the softmax is p itself
    p0 = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6]])
    p1 = np.array([[0.4, 0.4, 0.2], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    y = np.array([0, 0, 2])
    rec = DynamicsRecorder(3, T=2)
    for t, p in enumerate([p0, p1]):
        rec.on_batch(t, torch.tensor([2, 0, 1]), torch.tensor(np.log(p[[2, 0, 1]])), torch.tensor(y[[2, 0, 1]]))
    d = rec.dynamics()
    # epoch 0: 0.7 - 0.2, 0.2 - 0.5, 0.6 - 0.3; epoch 1: 0.4 - 0.4, 0.6 - 0.3, 0.6 - 0.2
    np.testing.assert_allclose(d.prob_margin, [[0.5, 0.0], [-0.3, 0.3], [0.3, 0.4]], atol=1e-6)
    np.testing.assert_allclose(d.margin[:, 0], np.log([0.7 / 0.2, 0.2 / 0.5, 0.6 / 0.3]), atol=1e-5)  # AUM's: logits
    np.testing.assert_allclose(cb.ccs_scores(d), [0.25, 0.0, 0.35], atol=1e-6)
    np.testing.assert_allclose(coresets.select("aum", rate=1 / 3, dynamics=d), [1])


def test_prob_margin_survives_save_and_load_and_old_runs_say_what_is_missing(tmp_path):
    rng = np.random.default_rng(0)
    d = Dynamics(
        S=rng.random((4, 3)), correct=rng.random((4, 3)) > 0.5, margin=rng.normal(size=(4, 3)),
        probs=np.full((4, 2), 0.5), y=np.array([0, 1, 0, 1]), prob_margin=rng.uniform(-1, 1, (4, 3)),
    )  # fmt: skip
    np.testing.assert_array_equal(Dynamics.load(d.save(tmp_path / "d.npz")).prob_margin, d.prob_margin)
    old = Dynamics(S=d.S, correct=d.correct, margin=d.margin, probs=d.probs, y=d.y)
    assert Dynamics.load(old.save(tmp_path / "old.npz")).prob_margin is None
    with pytest.raises(ValueError, match="rerun the e_surrogate stage"):
        select("ccs", rate=0.5, dynamics=old)
    with pytest.raises(ValueError, match="not of logits"):
        cb.ccs_scores(3 * d.prob_margin + 2)
    with pytest.raises(ValueError, match="shape of S"):
        Dynamics(S=d.S, correct=d.correct, margin=d.margin, probs=d.probs, y=d.y, prob_margin=d.prob_margin[:, :2])


def test_ccs_drops_the_lowest_probability_margins_not_the_lowest_logit_margins():
    N, T = 20, 2
    prob = np.repeat(np.linspace(-0.9, 0.9, N)[:, None], T, axis=1)  # sample i: the i-th easiest
    logit = -prob * 5  # the reverse order on logits
    d = Dynamics(
        S=np.zeros((N, T)), correct=prob > 0, margin=logit, probs=np.full((N, 2), 0.5), y=np.arange(N) % 2,
        prob_margin=prob,
    )  # fmt: skip
    for seed in range(5):
        idx = select("ccs", rate=0.25, dynamics=d, beta=0.5, n_bins=1, seed=seed)
        assert len(idx) == 5 and (idx >= 10).all()  # the 10 lowest probability margins are dropped
    np.testing.assert_array_equal(
        select("ccs", rate=0.25, dynamics=d, beta=0.5, seed=3),
        coresets.ccs_select(prob.mean(axis=1), 5, beta=0.5, seed=3),
    )


# --------------------------------------------------------------------------- class-balanced Random
def test_random_balanced_takes_each_class_budget_uniformly_from_the_class():
    y = np.repeat([0, 1, 2], [12, 9, 9])
    # M = ceil(0.25 x 30) = 8 -> 3 / 3 / 2 (the remainder to the largest class, then the lower)
    want_budget = greedy.class_budgets(y, 8)
    assert want_budget.tolist() == [3, 3, 2]
    for seed in range(4):
        got = select("random_balanced", rate=0.25, y=y, seed=seed)
        assert got.dtype == np.int64 and np.all(np.diff(got) > 0)
        assert np.bincount(y[got], minlength=3).tolist() == [3, 3, 2]
        u = np.random.default_rng(seed).random(30)  # brute force: per class, the budget smallest draws
        want = np.sort(
            np.concatenate([np.flatnonzero(y == k)[np.argsort(u[y == k])][:b] for k, b in enumerate([3, 3, 2])])
        )
        np.testing.assert_array_equal(got, want)
    d = Dynamics(
        S=np.zeros((30, 1)), correct=np.zeros((30, 1)), margin=np.zeros((30, 1)), probs=np.full((30, 3), 1 / 3), y=y
    )
    np.testing.assert_array_equal(
        select("random_balanced", rate=0.25, dynamics=d, seed=2), select("random_balanced", rate=0.25, y=y, seed=2)
    )
    assert coresets.KEEPS["random_balanced"] == "stratified"
    with pytest.raises(ValueError, match="pass y="):
        select("random_balanced", rate=0.25, X=np.zeros((30, 4)))


def test_random_balanced_draws_every_member_of_a_class_equally_often():
    y = np.repeat([0, 1], [6, 4])
    hits = np.zeros(10)
    for seed in range(3000):
        hits[select("random_balanced", rate=0.4, y=y, seed=seed)] += 1
    # budgets 2 / 2: each of class 0 in 2/6 of the draws, each of class 1 in 2/4
    np.testing.assert_allclose(hits / 3000, np.r_[np.full(6, 1 / 3), np.full(4, 1 / 2)], atol=0.04)

"""Training-free selection: greedy objectives against brute-force greedy on small inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xfactor_lib import diversity
from xfactor_lib.coresets import greedy


def _rmsd(A, B):
    A = A.astype(np.float64) / 255
    B = B.astype(np.float64) / 255
    return np.sqrt(((A[:, None, :] - B[None, :, :]) ** 2).mean(axis=2))


def _toy(N=60, K=3, D=12, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, size=N)
    X = np.clip(rng.integers(60, 200, size=(K, D))[y] + rng.normal(0, 50, size=(N, D)), 0, 255).astype(np.uint8)
    return X, y


def _plain_facility_location(sim, k):
    served = np.zeros(sim.shape[0])
    picks, values, total = [], [], 0.0
    for _ in range(k):
        gains = [np.maximum(sim[:, c] - served, 0).sum() if c not in picks else -np.inf for c in range(sim.shape[1])]
        c = int(np.argmax(gains))  # first maximum: the lower index
        total += gains[c]
        served = np.maximum(served, sim[:, c])
        picks.append(c)
        values.append(total)
    return picks, values


@pytest.mark.parametrize("seed", range(20))
def test_lazy_facility_location_equals_plain_greedy(seed):
    rng = np.random.default_rng(seed)
    # small integers make exact ties common: the lower index must win
    sim = rng.integers(0, 4, size=(rng.integers(3, 15), rng.integers(3, 15))).astype(np.float64)
    k = int(rng.integers(1, sim.shape[1] + 1))
    picks, values = greedy.lazy_facility_location(sim, k)
    want_picks, want_values = _plain_facility_location(sim, k)
    assert picks.tolist() == want_picks
    np.testing.assert_allclose(values, want_values, rtol=1e-12)


def test_facility_location_ties_go_to_the_lower_index():
    sim = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert greedy.lazy_facility_location(sim, 2)[0].tolist() == [0, 2]


def test_coverage_select_is_per_class_greedy_on_the_pixel_kernel():
    X, y = _toy()
    tau = 0.2
    got = greedy.coverage_select(X, y, n=4, tau=tau)
    want = []
    for k in range(3):
        members = np.flatnonzero(y == k)
        picks, _ = _plain_facility_location(np.exp(-_rmsd(X[members], X[members]) / tau), 4)
        want += members[picks].tolist()
    assert got.tolist() == sorted(want)


def test_coverage_with_an_embedding_uses_the_clipped_cosine():
    X, y = _toy()
    E = np.random.default_rng(1).normal(size=(y.size, 5))
    got = greedy.coverage_select(X, y, n=3, embed=E)
    U = E / np.linalg.norm(E, axis=1, keepdims=True)
    want = []
    for k in range(3):
        members = np.flatnonzero(y == k)
        picks, _ = _plain_facility_location(np.clip(U[members] @ U[members].T, 0, 1), 3)
        want += members[picks].tolist()
    assert got.tolist() == sorted(want)


@pytest.mark.parametrize(
    "y, M, want",
    [
        ([0] * 10 + [1] * 10 + [2] * 10, 7, [3, 2, 2]),  # remainder to the (tied) largest: lower class first
        ([0] * 5 + [1] * 12 + [2] * 8, 7, [2, 3, 2]),  # remainder to the largest class
        ([0] * 1 + [1] * 12 + [2] * 8, 9, [1, 4, 4]),  # class 0 is capped at what it has
        ([0] * 3 + [2] * 3, 6, [3, 0, 3]),  # an empty class gets nothing
    ],
)
def test_class_budgets_are_exact(y, M, want):
    got = greedy.class_budgets(np.array(y), M, K=3)
    assert got.tolist() == want and got.sum() == M


def test_rate_budgets_are_met_exactly_by_every_method():
    X, y = _toy(N=90)
    M = math.ceil(0.2 * 90)
    budgets = greedy.class_budgets(y, M)
    for select in (greedy.coverage_select, greedy.k_center_select, greedy.a_max_select):
        idx = select(X, y, rate=0.2)
        assert idx.dtype == np.int64 and (np.diff(idx) > 0).all()
        assert np.bincount(y[idx], minlength=3).tolist() == budgets.tolist()


def test_k_center_is_farthest_first_from_a_seeded_start():
    X, y = _toy()
    got = greedy.k_center_select(X, y, n=4, seed=3)
    rng = np.random.default_rng(3)
    want = []
    for k in range(3):
        members = np.flatnonzero(y == k)
        R = _rmsd(X[members], X[members])
        picks = [int(rng.integers(members.size))]
        for _ in range(3):
            d = R[:, picks].min(axis=1)
            d[picks] = -np.inf
            picks.append(int(np.argmax(d)))
        want += members[picks].tolist()
    assert got.tolist() == sorted(want)


@pytest.mark.parametrize("q", [0.0, 1.0, 2.0, math.inf])
def test_alpha_q_closed_form_equals_diversity(q):
    X, y = _toy(N=25)
    s = (np.exp(-_rmsd(X, X)) * (y[:, None] == y[None, :])).sum(axis=1)  # within-class sums
    feats = diversity.features(X, y, qs=[q])
    name = "A_inf" if q == math.inf else f"A_{int(q)}"
    assert greedy.alpha_q(s, q) == pytest.approx(feats[name], rel=1e-9)


@pytest.mark.parametrize("q", [0.0, 1.0])
def test_a_max_gains_equal_differences_of_diversity_and_brute_force_greedy(q):
    X, y = _toy(N=30)
    idx, values = greedy.a_max_select(X, y, n=3, q=q, return_values=True)
    # brute force: at each step try every open image and compute A_q through diversity
    name = f"A_{int(q)}"
    picked, left = [], {k: 3 for k in range(3)}
    for t in range(9):
        best, best_val = None, -np.inf
        for c in range(y.size):
            if c in picked or left[int(y[c])] == 0:
                continue
            S = picked + [c]
            val = diversity.features(X[S], y[S], qs=[q])[name] if len(S) > 1 else 1.0
            if val > best_val + 1e-12:
                best, best_val = c, val
        picked.append(best)
        left[int(y[best])] -= 1
        assert values[t] == pytest.approx(best_val, rel=1e-9)
    assert idx.tolist() == sorted(picked)


def test_bad_arguments_get_clear_errors():
    X, y = _toy()
    with pytest.raises(ValueError, match="exactly one of rate"):
        greedy.coverage_select(X, y)
    with pytest.raises(ValueError, match="has only"):
        greedy.k_center_select(X, y, n=50)
    with pytest.raises(ValueError, match="embed"):
        greedy.coverage_select(X, y, n=2, embed=np.zeros((y.size, 3)))
    with pytest.raises(ValueError, match="rate"):
        greedy.a_max_select(X, y, rate=1.5)


def test_label_agreement_flags_images_whose_neighbours_carry_another_label():
    X, y = _toy(N=45, K=3, seed=4)
    R = _rmsd(X, X)
    np.fill_diagonal(R, np.inf)
    near = np.argsort(R, axis=1, kind="stable")[:, :5]
    want = (y[near] == y[:, None]).sum(axis=1) * 2 > 5
    np.testing.assert_array_equal(greedy.label_agreement(X, y, neighbours=5, block_size=7), want)
    flipped = y.copy()
    flipped[0] = (y[0] + 1) % 3  # a mislabelled image looks like its true class
    assert not greedy.label_agreement(X, flipped, neighbours=5)[0]


def test_coverage_clean_picks_only_agreeing_images_and_still_covers_every_image():
    X, y = _toy(N=60, K=3, seed=5)
    ok = greedy.label_agreement(X, y, neighbours=5)
    assert not ok.all()
    idx = greedy.coverage_select(X, y, n=4, tau=0.2, drop_ambiguous=True, neighbours=5)
    assert ok[idx].all() and np.bincount(y[idx]).tolist() == [4, 4, 4]
    for k in range(3):  # facility location over the whole class, candidates the agreeing images
        members = np.flatnonzero(y == k)
        cand = members[ok[members]]
        sim = np.exp(-_rmsd(X[members], X[cand]) / 0.2)
        picks, _ = _plain_facility_location(sim, 4)
        assert sorted(cand[picks].tolist()) == sorted(idx[y[idx] == k].tolist())

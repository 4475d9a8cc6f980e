"""Kernel herding (issue 20): against a brute-force greedy MMD minimisation and hand-worked cases."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from xfactor_lib import coresets, similarity
from xfactor_lib.coresets import herding


def _mmd2(Kxx: np.ndarray, S: list[int]) -> float:
    """Squared MMD between the uniform measure on S and on all rows (full kernel matrix)."""
    return float(Kxx[np.ix_(S, S)].mean() - 2 * Kxx[S].mean() + Kxx.mean())


def _brute_force(X: np.ndarray, y: np.ndarray, budgets: np.ndarray, tau: float) -> list[int]:
    picks = []
    for k, b in enumerate(budgets):
        members = np.flatnonzero(y == k)
        Kxx = np.exp(-cdist(X[members], X[members]) / np.sqrt(X.shape[1]) / tau)  # RMSD kernel
        S: list[int] = []
        for _ in range(b):
            rest = [j for j in range(members.size) if j not in S]
            best = min(rest, key=lambda j: (round(_mmd2(Kxx, [*S, j]), 12), j))  # ties to the lower index
            S.append(best)
        picks += members[S].tolist()
    return sorted(picks)


def test_herding_is_greedy_mmd_minimisation_per_class():
    rng = np.random.default_rng(3)
    X = rng.random((60, 12))
    y = np.repeat([0, 1, 2], 20)
    rng.shuffle(y)
    tau = 0.2
    got = herding.herding_select(X, y, n=5, tau=tau)
    assert got.tolist() == _brute_force(X, y, np.array([5, 5, 5]), tau)
    # the default kernel is tau_data's: the same as passing it
    assert (
        herding.herding_select(X, y, n=4).tolist()
        == herding.herding_select(X, y, n=4, tau=similarity.tau_data(X, y)).tolist()
    )


def test_first_pick_is_the_image_of_highest_mean_kernel_and_the_second_balances_it():
    # 1-D "images": a dense cluster near 0 and a lighter one near 1
    X = np.array([[0.0], [0.02], [0.04], [0.06], [1.0], [0.98]])
    picks = herding.kernel_herding(
        np.exp(-cdist(X, X) / 0.1).mean(axis=1), lambda j: np.exp(-np.abs(X[:, 0] - X[j, 0]) / 0.1), 2
    )
    assert picks.tolist() == [2, 5]  # the dense cluster's centre (0.04), then the other mode (0.98: nearer the mass)
    with pytest.raises(ValueError):
        herding.kernel_herding(np.zeros(3), lambda j: np.zeros(3), 4)


def test_budgets_unlabeled_and_the_client_sample():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(90, 1, 4, 4), dtype=np.uint8)
    y = np.repeat(np.arange(3), 30)
    idx = coresets.select("herding", rate=0.1, X=X, y=y, seed=1)
    assert np.bincount(y[idx], minlength=3).tolist() == [3, 3, 3]
    assert idx.tolist() == herding.herding_select(X, y, rate=0.1, seed=1).tolist()
    free = coresets.select("herding", rate=0.1, X=X, unlabeled=True, seed=1)
    assert free.size == 9 and free.tolist() == herding.herding_select(X, None, rate=0.1, unlabeled=True).tolist()
    # a client sample as large as the class is the class itself: same picks; a smaller one is seeded
    assert herding.herding_select(X, y, n=4, max_clients=30).tolist() == herding.herding_select(X, y, n=4).tolist()
    a = herding.herding_select(X, y, n=4, max_clients=10, seed=5)
    assert a.tolist() == herding.herding_select(X, y, n=4, max_clients=10, seed=5).tolist()
    with pytest.raises(ValueError, match="scale"):
        herding.herding_select(X, y, n=2, scale=0)
    with pytest.raises(ValueError, match="labels y are needed"):
        herding.herding_select(X, None, rate=0.1)

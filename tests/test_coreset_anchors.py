"""TypiClust, ProbCover and the label-free switch of coresets.select: hand-worked cases and brute force."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from xfactor_lib import coresets
from xfactor_lib.coresets import anchors
from xfactor_lib.coresets.coverage_kernel import kernel_coverage_select


def _dist(F):
    return np.sqrt(((F[:, None, :] - F[None, :, :]) ** 2).sum(axis=2))


def _blobs(seed=0, sizes=(30, 30), spread=0.05, d=4):
    """Well separated blobs; in each, the point nearest the centre is the most typical."""
    rng = np.random.default_rng(seed)
    parts = []
    for b, size in enumerate(sizes):
        centre = np.zeros(d)
        centre[b % d] = 10.0 * (b + 1)
        parts.append(centre + spread * rng.standard_normal((size, d)))
    return np.vstack(parts)


# --------------------------------------------------------------------------- pieces
def test_features_make_euclidean_distance_the_pixel_rmsd():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(7, 1, 3, 3)).astype(np.uint8)
    F = anchors.features(X)
    V = X.reshape(7, -1) / 255.0
    want = np.sqrt(((V[:, None] - V[None]) ** 2).mean(axis=2))
    np.testing.assert_allclose(_dist(F.astype(np.float64)), want, atol=1e-6)


def test_knn_distances_equal_brute_force_in_blocks():
    F = np.random.default_rng(1).random((53, 5)).astype(np.float32)
    D = _dist(F.astype(np.float64))
    np.fill_diagonal(D, np.inf)
    want = np.sort(D, axis=1)[:, :4]
    np.testing.assert_allclose(anchors.knn_distances(F, 4, block_size=8), want, atol=1e-5)


def test_typicality_is_inverse_mean_knn_distance():
    F = np.array([[0.0], [1.0], [3.0]], dtype=np.float32)
    # k = 1: nearest others at 1, 1, 2
    np.testing.assert_allclose(anchors.typicality(F, 1), 1 / (np.array([1.0, 1.0, 2.0]) + 1e-5), rtol=1e-6)


# --------------------------------------------------------------------------- TypiClust
def test_typiclust_label_free_picks_the_most_typical_image_of_each_obvious_cluster():
    F = _blobs(sizes=(30, 40))
    F01 = (F - F.min()) / (F.max() - F.min())
    got = anchors.typiclust_select(F01, rate=2 / 70, unlabeled=True)
    want = []
    for members in (np.arange(30), np.arange(30, 70)):
        D = _dist(F01[members] / np.sqrt(F01.shape[1]))  # features() scales rows to RMSD
        np.fill_diagonal(D, np.inf)
        k = min(20, members.size // 2)  # 15 for the 30-blob, 20 for the 40-blob
        want.append(members[np.argmax(1 / (np.sort(D, axis=1)[:, :k].mean(axis=1) + 1e-5))])
    assert got.tolist() == sorted(want)


def test_typiclust_with_labels_uses_class_budgets_and_visits_large_clusters_first():
    F = _blobs(sizes=(12, 30, 20))
    F01 = (F - F.min()) / (F.max() - F.min())
    y = np.array([0] * 12 + [1] * 30 + [1] * 20)
    got = anchors.typiclust_select(F01, y, n=1)
    assert np.bincount(y[got]).tolist() == [1, 1]
    # class 1 has one cluster (k = 1): its most typical image over both blobs lies in the big blob
    assert 12 <= got[1] < 42


def test_typiclust_drops_clusters_of_at_most_five_and_cycles_the_rest():
    # one blob of 4 (dropped), one of 30: three picks all come from the big blob, most typical first
    F = _blobs(sizes=(4, 30), spread=0.05)
    F01 = (F - F.min()) / (F.max() - F.min())
    got = anchors.typiclust_select(F01, rate=3 / 34, unlabeled=True)
    assert got.size == 3 and (got >= 4).all()


# --------------------------------------------------------------------------- ProbCover
def test_purity_radius_by_hand():
    # 1-D points, labels: a a b | distance to the nearest other label: 2, 1, 1, and 5 for the far c
    F = np.array([[0.0], [1.0], [2.0], [7.0]], dtype=np.float32)
    labels = np.array([0, 0, 1, 2])
    r = np.array([2.0, 1.0, 1.0, 5.0])
    # purity 0.5: ceil(2) = 2 balls must be pure; r sorted 1, 1, 2, 5 -> m = 4 - 2 + 1 = 3 -> delta = 2
    assert anchors.purity_radius(F, labels, purity=0.5) == pytest.approx(2.0)
    # purity 0.75: 3 pure balls -> m = 2 -> delta = 1 (at delta = 1 the open balls of 1 and 2 hold only themselves)
    assert anchors.purity_radius(F, labels, purity=0.75) == pytest.approx(1.0)
    assert anchors.purity_radius(F, labels, purity=1.0) == pytest.approx(1.0)
    for purity in (0.5, 0.75, 1.0):
        delta = anchors.purity_radius(F, labels, purity=purity)
        assert (r >= delta).mean() >= purity and (r >= delta + 1e-6).mean() < purity


def test_radius_graph_equals_brute_force_and_respects_groups():
    F = np.random.default_rng(2).random((40, 3)).astype(np.float32)
    groups = np.random.default_rng(3).integers(0, 3, 40)
    D = _dist(F.astype(np.float64))
    G = anchors.radius_graph(F, 0.4, groups=groups, block_size=7).toarray()
    want = ((D < 0.4) & (groups[:, None] == groups[None, :])) | np.eye(40, dtype=bool)
    np.testing.assert_array_equal(G, want)


def _brute_max_coverage(G, k):
    covered = np.zeros(G.shape[0], bool)
    picks = []
    for _ in range(k):
        gains = [(G[c] & ~covered).sum() if c not in picks else -1 for c in range(G.shape[0])]
        if max(gains) == 0:  # all covered: the largest ball left
            gains = [G[c].sum() if c not in picks else -1 for c in range(G.shape[0])]
        c = int(np.argmax(gains))
        picks.append(c)
        covered |= G[c]
    return picks


@pytest.mark.parametrize("seed", range(10))
def test_max_coverage_equals_brute_force_greedy(seed):
    rng = np.random.default_rng(seed)
    F = rng.random((30, 2))
    G = (_dist(F) < 0.3) | np.eye(30, dtype=bool)
    k = int(rng.integers(1, 8))
    assert anchors.max_coverage(sp.csr_matrix(G), k).tolist() == _brute_max_coverage(G, k)


def test_max_coverage_after_full_coverage_takes_the_largest_balls():
    G = np.eye(4, dtype=bool)
    G[0, 1] = G[1, 0] = True
    # pick 0 covers {0, 1}; 2 then 3 cover the rest; the 4th pick (all covered) is 1, the biggest ball left
    assert anchors.max_coverage(sp.csr_matrix(G), 4).tolist() == [0, 2, 3, 1]


def test_probcover_by_hand_on_a_line():
    # class 0 at 0, 0.1, 0.2, 5; class 1 far away at 100, 100.1 -> r = 4.8 (x = 5) and ~94.8
    x = np.array([0.0, 0.1, 0.2, 5.0, 100.0, 100.1])
    F01 = x[:, None] / x.max()  # one pixel: the RMSD is the distance
    y = np.array([0, 0, 0, 0, 1, 1])
    # delta = 0.15 / 100.1 holds {0, 0.1} / {0.1, 0, 0.2}: the centre 0.1 covers three, then 5 is alone
    got = anchors.probcover_select(F01, y, n=2, delta=0.15 / 100.1)
    assert got.tolist() == [1, 3, 4, 5]


def test_probcover_label_free_covers_the_big_cluster_first():
    F = _blobs(sizes=(8, 30), spread=0.05)
    F01 = (F - F.min()) / (F.max() - F.min())
    got = anchors.probcover_select(F01, rate=1 / 38, unlabeled=True, n_clusters=2)
    assert got.size == 1 and got[0] >= 8


# --------------------------------------------------------------------------- through select, label-free
def _pool(N=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, N)
    X = np.clip(rng.integers(40, 220, (3, 16))[y] + rng.normal(0, 30, (N, 16)), 0, 255).astype(np.uint8)
    return X, y


@pytest.mark.parametrize(
    "method",
    ["coverage", "coverage_clean", "coverage_wide", "k_center", "a_max", "typiclust", "probcover"]
    + ["coverage_emb", "typiclust_emb", "probcover_emb"],
)
def test_label_free_select_never_reads_the_labels(method):
    X, y = _pool()
    E = np.random.default_rng(4).random((y.size, 6))
    a = coresets.select(method, rate=0.1, X=X, embed=E, unlabeled=True)
    b = coresets.select(method, rate=0.1, X=X, embed=E, y=np.roll(y, 7), unlabeled=True)
    assert a.tolist() == b.tolist() and a.size == 12


def test_label_free_coverage_is_coverage_of_the_pool_as_one_class():
    X, y = _pool()
    got = coresets.select("coverage", rate=0.1, X=X, unlabeled=True, tau=0.2)
    want = coresets.select("coverage", rate=0.1, X=X, y=np.zeros_like(y), tau=0.2)
    assert got.tolist() == want.tolist()


def test_label_free_is_refused_for_dynamics_methods():
    X, y = _pool()
    with pytest.raises(ValueError, match="no label-free variant"):
        coresets.select("aum", rate=0.1, X=X, unlabeled=True)


def test_anchors_through_select_on_pixels_and_on_the_embedding():
    X, y = _pool()
    E = np.random.default_rng(5).random((y.size, 6))
    for name, fn in (("typiclust", anchors.typiclust_select), ("probcover", anchors.probcover_select)):
        got = coresets.select(f"{name}_emb", rate=0.1, X=X, y=y, embed=E)
        assert got.tolist() == fn(None, y, rate=0.1, embed=E).tolist()
        got = coresets.select(name, rate=0.1, X=X, y=y, embed=E)
        assert got.tolist() == fn(X, y, rate=0.1).tolist()
    free = coresets.select("typiclust_emb", rate=0.1, embed=E, unlabeled=True)
    assert free.tolist() == anchors.typiclust_select(None, None, rate=0.1, embed=E, unlabeled=True).tolist()


# --------------------------------------------------------------------------- kernel coverage
def test_kernel_coverage_is_facility_location_on_the_scaled_kernel():
    from xfactor_lib.coresets.greedy import lazy_facility_location

    X, y = _pool()
    got = kernel_coverage_select(X, y, n=3, tau=0.1)
    F = X.reshape(len(X), -1) / 255.0
    want = []
    for k in range(3):
        m = np.flatnonzero(y == k)
        R = np.sqrt(((F[m][:, None] - F[m][None]) ** 2).mean(axis=2))
        want += m[lazy_facility_location(np.exp(-R / 0.1), 3)[0]].tolist()
    assert got.tolist() == sorted(want)


def test_kernel_coverage_joint_and_typicality_weights_match_brute_force():
    from xfactor_lib.coresets.greedy import lazy_facility_location

    X, y = _pool()
    E = np.random.default_rng(6).random((y.size, 5))
    got = kernel_coverage_select(X, y, n=2, embed=E, joint=True, scale=2.0, typical=1.0)
    F = X.reshape(len(X), -1) / 255.0
    U = E / np.linalg.norm(E, axis=1, keepdims=True)
    R = np.sqrt(((F[:, None] - F[None]) ** 2).mean(axis=2))
    C = np.maximum(1.0 - U @ U.T, 0.0)
    same = y[:, None] == y[None, :]
    off = ~np.eye(y.size, dtype=bool)
    tau_p = 2.0 * np.median(np.where(same & off, R, np.inf).min(axis=1))
    e_near = np.where(same & off, np.sqrt(2 * C), np.inf).min(axis=1)
    tau_e = 2.0 * np.median(e_near) ** 2 / 2
    want = []
    for k in range(3):
        m = np.flatnonzero(y == k)
        Rk = np.sqrt(2 * C[np.ix_(m, m)]) + np.where(np.eye(m.size, dtype=bool), np.inf, 0.0)  # on the embedding
        t = 1 / (np.sort(Rk, axis=1)[:, :20].mean(axis=1) + 1e-5)
        sim = np.exp(-R[np.ix_(m, m)] / tau_p - C[np.ix_(m, m)] / tau_e) * (t / t.mean())[:, None]
        want += m[lazy_facility_location(sim, 2)[0]].tolist()
    assert got.tolist() == sorted(want)


def test_kernel_coverage_at_scale_one_is_coverage_and_the_data_scale_is_tau_data():
    from xfactor_lib import similarity
    from xfactor_lib.coresets import greedy
    from xfactor_lib.coresets.coverage_kernel import nearest_scale

    X, y = _pool()
    assert nearest_scale(anchors.features(X), y) == pytest.approx(similarity.tau_data(X, y), rel=1e-5)
    got = kernel_coverage_select(X, y, rate=0.1, scale=1.0)
    assert got.tolist() == greedy.coverage_select(X, y, rate=0.1).tolist()


def test_coverage_wide_through_select_is_kernel_coverage_at_four_times_tau_data():
    X, y = _pool()
    want = kernel_coverage_select(X, y, rate=0.1, scale=4.0)
    assert coresets.select("coverage_wide", rate=0.1, X=X, y=y).tolist() == want.tolist()
    assert want.tolist() != kernel_coverage_select(X, y, rate=0.1, scale=0.25).tolist()
    free = coresets.select("coverage_wide", rate=0.1, X=X, unlabeled=True)
    assert free.tolist() == kernel_coverage_select(X, np.zeros_like(y), rate=0.1).tolist()

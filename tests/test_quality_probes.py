"""Labelled probes and class-conditional distances (issue 21) against brute force."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from xfactor_lib import quality
from xfactor_lib.quality import probes as qp


@pytest.mark.parametrize("k", [1, 3, 5])
def test_knn_vote_matches_sklearn(k):
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(k)
    S, P = rng.normal(size=(40, 6)), rng.normal(size=(70, 6))
    ys, py = rng.integers(0, 4, 40), rng.integers(0, 4, 70)
    D = cdist(S, P)
    wrong = qp.knn_vote(D, ys, py, k=k, K=4)
    ref = KNeighborsClassifier(n_neighbors=k).fit(S, ys).predict(P)
    np.testing.assert_array_equal(wrong, ref != py)


def test_knn_vote_skips_infinite_entries():
    D = np.array([[np.inf, 5.0], [1.0, np.inf], [2.0, 2.0]])
    wrong = qp.knn_vote(D, np.array([0, 1, 0]), np.array([0, 0]), k=1, K=2)
    np.testing.assert_array_equal(wrong, [True, False])  # probe 0's nearest is row 1 (class 1)


def test_knn_votes_for_several_k_equal_a_brute_force_vote_with_ties_to_the_lower_row():
    rng = np.random.default_rng(7)
    D = rng.integers(0, 4, size=(12, 50)).astype(float)  # many ties in distance
    ys, py = rng.integers(0, 3, 12), rng.integers(0, 3, 50)
    got = qp.knn_votes(D, ys, py, ks=(1, 3, 5), K=3)
    for k in (1, 3, 5):
        for j in range(50):
            rows = sorted(range(12), key=lambda i: (D[i, j], i))[:k]  # distance, then the lower row
            counts = np.bincount(ys[rows], minlength=3)
            assert got[k][j] == (int(np.argmax(counts)) != py[j])  # argmax: ties to the lower label
        np.testing.assert_array_equal(qp.knn_vote(D, ys, py, k=k, K=3), got[k])
    with pytest.raises(ValueError, match="k must lie in"):
        qp.knn_votes(D, ys, py, ks=(1, 13), K=3)


def test_kernel_vote_by_hand():
    D = np.array([[1.0, 3.0], [2.0, 0.5], [4.0, 1.0]])  # 3 subset rows, 2 probe images
    ys = np.array([0, 1, 1])
    wrong, p = qp.kernel_vote(D, ys, np.array([0, 1]), scale=2.0, K=2)
    k = np.exp(-D / 2.0)
    p0 = k[0, 0] / k[:, 0].sum()
    p1 = k[1:, 1].sum() / k[:, 1].sum()
    np.testing.assert_allclose(p, [p0, p1])
    np.testing.assert_array_equal(wrong, [p0 < 0.5, p1 < 0.5])


def test_class_mmd_matches_direct_formula():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(7, 3)), rng.normal(loc=0.5, size=(11, 3))

    def k(x, y):
        return np.exp(-np.linalg.norm(x - y) / 1.3)

    direct = (
        sum(k(a, b) for a in A for b in A) / 49
        - 2 * sum(k(a, b) for a in A for b in B) / 77
        + sum(k(a, b) for a in B for b in B) / 121
    )
    got = qp.class_mmd2(np.exp(-cdist(A, A) / 1.3), np.exp(-cdist(A, B) / 1.3), np.exp(-cdist(B, B) / 1.3))
    assert got == pytest.approx(direct)
    assert qp.class_mmd2(np.exp(-cdist(A, A)), np.exp(-cdist(A, A)), np.exp(-cdist(A, A))) == pytest.approx(0.0)


def test_ot_cost_equal_uniform_samples_is_the_assignment_cost():
    rng = np.random.default_rng(1)
    M = cdist(rng.normal(size=(9, 4)), rng.normal(size=(9, 4)))
    r, c = linear_sum_assignment(M)
    assert qp.ot_cost(M) == pytest.approx(M[r, c].mean())


def test_coverage_at_by_hand():
    np.testing.assert_allclose(qp.coverage_at([0.5, 1.0, 2.0, 3.0], [1.0, 2.5]), [0.5, 0.75])


def _pixel_case(seed: int, per_class: int, side: int, ref_per_class: int, probe_per_class: int, ref_seed: int,
                picks: int):  # fmt: skip
    """Random uint8 images of 3 classes, a reference of them and a subset of ``picks`` per class."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(3 * per_class, 1, side, side), dtype=np.uint8)
    y = np.repeat(np.arange(3), per_class)
    ref = quality.make_reference(X, y, per_class=ref_per_class, probe_per_class=probe_per_class, seed=ref_seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(y == k), picks, replace=False) for k in range(3)])
    return X, y, ref, idx


def test_subset_measures_match_brute_force_on_pixels():
    X, y, ref, idx = _pixel_case(2, 40, 4, 30, 20, 0, 6)
    got = quality.measures(X[idx], y[idx], reference=ref, index=idx)
    V = X.reshape(len(X), -1).astype(np.float64) / 255
    py = ref.y[ref.probe]
    # kNN votes: on the probe images outside the subset
    keep = ~np.isin(ref.index[ref.probe], idx)
    assert 0 < keep.sum() < keep.size
    D, pk = cdist(V[idx], V[ref.index[ref.probe]][keep]) / np.sqrt(16), py[keep]
    assert got["q_probe_knn1_err"] == pytest.approx((y[idx][D.argmin(axis=0)] != pk).mean())
    per_class = [(y[idx][D.argmin(axis=0)] != pk)[pk == k].mean() for k in range(3)]
    assert got["q_probe_knn1_err_max"] == pytest.approx(max(per_class))
    # class-conditional MMD and OT against the probe, mean over classes (the same image at distance 0)
    mmd, ot_ = [], []
    for k in range(3):
        s, r = y[idx] == k, py == k
        Vs, Vr = V[idx][s], V[ref.index[ref.probe]][r]
        kss = np.exp(-cdist(Vs, Vs) / 4 / ref.tau)
        ksr = np.exp(-cdist(Vs, Vr) / 4 / ref.tau)
        krr = np.exp(-cdist(Vr, Vr) / 4 / ref.tau)
        mmd.append(kss.mean() - 2 * ksr.mean() + krr.mean())
        ot_.append(qp.ot_cost(cdist(Vs, Vr) / 4))
    assert got["q_probe_mmd_mean"] == pytest.approx(np.mean(mmd), rel=1e-5)
    assert got["q_probe_mmd_max"] == pytest.approx(np.max(mmd), rel=1e-5)
    assert got["q_probe_ot_mean"] == pytest.approx(np.mean(ot_), rel=1e-5)
    # coverage at tau: share of reference images within tau of a subset image of their class
    near = np.concatenate([cdist(V[ref.index[ref.y == k]], V[idx][y[idx] == k]).min(axis=1) / 4 for k in range(3)])
    assert got["q_probe_cov100"] == pytest.approx((near <= ref.tau).mean(), abs=1e-6)
    assert quality.family("q_probe_ot_mean") == "probe"
    assert set(qp.names()) <= set(got)


def test_krr_vote_matches_sklearn_kernel_ridge():
    from sklearn.kernel_ridge import KernelRidge

    rng = np.random.default_rng(4)
    S, P = rng.normal(size=(30, 5)), rng.normal(size=(40, 5))
    ys, py = rng.integers(0, 3, 30), rng.integers(0, 3, 40)
    wrong, sq = qp.krr_vote(cdist(S, S), cdist(S, P), ys, py, scale=1.7, K=3, penalty=0.5)
    model = KernelRidge(alpha=0.5, kernel="rbf", gamma=1 / (2 * 1.7**2)).fit(S, np.eye(3)[ys])
    scores = model.predict(P)
    np.testing.assert_array_equal(wrong, scores.argmax(axis=1) != py)
    np.testing.assert_allclose(sq, ((scores - np.eye(3)[py]) ** 2).sum(axis=1))


def test_centroid_error_by_brute_force():
    rng = np.random.default_rng(5)
    X = rng.integers(0, 256, size=(90, 1, 3, 3), dtype=np.uint8)
    y = np.repeat(np.arange(3), 30)
    ref = quality.make_reference(X, y, per_class=30, probe_per_class=10, seed=1)
    idx = np.concatenate([np.flatnonzero(y == k)[:5] for k in range(3)])
    got = quality.measures(X[idx], y[idx], reference=ref, index=idx)
    V = X.reshape(90, -1) / 255
    means = np.stack([V[idx][y[idx] == k].mean(axis=0) for k in range(3)])
    every = ref.index[~np.isin(ref.index, idx)]  # scored on the reference outside the subset
    assert got["q_probe_centroid_err"] == pytest.approx((cdist(V[every], means).argmin(axis=1) != y[every]).mean())


def test_votes_stream_over_reference_blocks_and_match_kernel_ridge(monkeypatch):
    from sklearn.kernel_ridge import KernelRidge

    X, y, ref, idx = _pixel_case(6, 50, 3, 40, 10, 3, 7)
    whole = quality.measures(X[idx], y[idx], reference=ref, index=idx)
    monkeypatch.setattr(qp, "VOTE_BLOCK", 7)  # 18 blocks of the 120 reference images
    blocked = quality.measures(X[idx], y[idx], reference=ref, index=idx)
    for name in qp.names():
        assert blocked[name] == pytest.approx(whole[name], rel=1e-6), name
    # the kernel ridge classifier of the subset on every reference image outside it
    V = X.reshape(150, -1) / 255
    h = qp.KRR_SCALES[0] * ref.tau
    model = KernelRidge(alpha=qp.KRR_PENALTY, kernel="rbf", gamma=1 / (2 * 9 * h**2)).fit(V[idx], np.eye(3)[y[idx]])
    out = ~np.isin(ref.index, idx)
    wrong = model.predict(V[ref.index[out]]).argmax(1) != ref.y[out]
    assert whole[f"q_probe_krr{qp._tag(qp.KRR_SCALES[0])}_err"] == pytest.approx(wrong.mean())


def test_votes_are_nan_when_the_subset_is_the_whole_reference():
    rng = np.random.default_rng(7)
    X = rng.integers(0, 256, size=(30, 1, 3, 3), dtype=np.uint8)
    y = np.repeat(np.arange(3), 10)
    ref = quality.make_reference(X, y, per_class=5, probe_per_class=5, seed=0)
    got = quality.measures(X[ref.index], y[ref.index], reference=ref, index=ref.index)
    assert np.isnan(got["q_probe_knn1_err"]) and np.isnan(got["q_probe_centroid_err"])
    assert np.isfinite(got["q_probe_mmd_mean"])

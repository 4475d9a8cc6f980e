"""Study Q measures against independent computations on small inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import NearestNeighbors

from xfactor_lib import quality


def _toy(N=120, K=3, D=20, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(K), N // K)
    centres = rng.integers(40, 215, size=(K, D))
    X = np.clip(centres[y] + rng.normal(0, 40, size=(N, D)), 0, 255).astype(np.uint8)
    return X, y


def _rmsd(A, B):
    A = A.astype(np.float64) / 255
    B = B.astype(np.float64) / 255
    return np.sqrt(((A[:, None, :] - B[None, :, :]) ** 2).mean(axis=2))


@pytest.fixture(scope="module")
def toy():
    X, y = _toy()
    ref = quality.make_reference(X, y, per_class=25, seed=1)
    subset = np.sort(np.concatenate([np.flatnonzero(y == k)[:6] for k in range(3)]))
    return X, y, ref, subset


def test_reference_is_class_balanced_and_tau_is_median_nearest_neighbour(toy):
    X, y, ref, _ = toy
    assert np.bincount(ref.y).tolist() == [25, 25, 25]
    assert (y[ref.index] == ref.y).all() and (X[ref.index] == ref.X).all()
    nn = []
    for k in range(3):
        R = _rmsd(ref.X[ref.y == k], ref.X[ref.y == k])
        np.fill_diagonal(R, np.inf)
        nn.append(R.min(axis=1))
    assert ref.tau == pytest.approx(np.median(np.concatenate(nn)), rel=1e-12)


def test_coverage_equals_brute_force_facility_location(toy):
    # distance blocks are stored as float32: one rounding of each RMSD
    X, y, ref, subset = toy
    m = quality.measures(X[subset], y[subset], reference=ref, index=subset)
    fl, nn = [], []
    for k in range(3):
        R = _rmsd(ref.X[ref.y == k], X[subset][y[subset] == k])
        fl.append(np.mean([max(math.exp(-r / ref.tau) for r in row) for row in R]))
        nn.append(np.mean([min(row) for row in R]))
    assert m["q_cov_fl_mean"] == pytest.approx(np.mean(fl), rel=1e-6)
    assert m["q_cov_fl_min"] == pytest.approx(min(fl), rel=1e-6)
    assert m["q_cov_rmsd_mean"] == pytest.approx(np.mean(nn), rel=1e-6)
    assert m["q_cov_rmsd_max"] == pytest.approx(max(nn), rel=1e-6)


def test_vendi_matches_numpy_eigenvalues_and_its_limits():
    rng = np.random.default_rng(3)
    F = rng.normal(size=(7, 4))
    F /= np.linalg.norm(F, axis=1, keepdims=True)
    Kmat = F @ F.T
    lam = np.real(np.linalg.eigvals(Kmat / 7))
    lam = lam[lam > 1e-12]
    got = quality.vendi(Kmat)
    assert got[1.0] == pytest.approx(math.exp(-(lam * np.log(lam)).sum()), rel=1e-9)
    assert got[2.0] == pytest.approx(49 / (Kmat**2).sum(), rel=1e-9)
    assert got[math.inf] == pytest.approx(1 / lam.max(), rel=1e-9)
    assert quality.vendi(np.ones((5, 5)))[1.0] == pytest.approx(1.0)
    assert quality.vendi(np.eye(5))[2.0] == pytest.approx(5.0)


def test_vendi_columns_are_per_class_vendi_of_the_pixel_kernel(toy):
    X, y, ref, subset = toy
    m = quality.measures(X[subset], y[subset], reference=ref)
    per_class = [
        quality.vendi(np.exp(-_rmsd(X[subset][y[subset] == k], X[subset][y[subset] == k]) / ref.tau)) for k in range(3)
    ]
    assert m["q_vendi_1_mean"] == pytest.approx(np.mean([d[1.0] for d in per_class]), rel=1e-9)
    assert m["q_vendi_inf_min"] == pytest.approx(min(d[math.inf] for d in per_class), rel=1e-9)


def test_vendi_of_unequal_classes_batched_by_size_equals_one_class_at_a_time(toy):
    X, y, ref, _ = toy
    # classes of 6, 1 and 6 images: two share one stacked eigendecomposition, one is alone
    subset = np.sort(
        np.concatenate([np.flatnonzero(y == 0)[:6], np.flatnonzero(y == 1)[:1], np.flatnonzero(y == 2)[:6]])
    )
    table = quality.class_table(X[subset], y[subset], reference=ref)
    for k in range(3):
        Xk = X[subset][y[subset] == k]
        want = quality.vendi(np.exp(-_rmsd(Xk, Xk) / ref.tau))
        for q, col in ((1.0, "vendi_1"), (2.0, "vendi_2"), (math.inf, "vendi_inf")):
            assert table[col][k] == pytest.approx(want[q], rel=1e-9)
    assert table["vendi_1"][1] == pytest.approx(1.0)


def test_lcr_columns_match_greylock(toy):
    greylock = pytest.importorskip("greylock")
    X, y, ref, subset = toy
    m = quality.measures(X[subset], y[subset], reference=ref)
    Xs, ys = X[subset], y[subset]
    counts = pd.DataFrame(np.eye(3)[ys], columns=[0, 1, 2])
    for prefix, tau in (("q_t1_", 1.0), ("q_td_", ref.tau)):
        Z = np.exp(-_rmsd(Xs, Xs) / tau)
        meta = greylock.Metacommunity(counts, similarity=Z)
        for q, qn in ((0.0, "0"), (1.0, "1")):
            assert m[f"{prefix}A_{qn}"] == pytest.approx(meta.metacommunity_diversity(q, "alpha"), rel=1e-9)
            assert m[f"{prefix}G_{qn}"] == pytest.approx(meta.metacommunity_diversity(q, "gamma"), rel=1e-9)
            assert m[f"{prefix}rho_max_{qn}"] == pytest.approx(meta.subcommunity_diversity(q, "rho").max(), rel=1e-9)


def test_ambiguity_equals_a_direct_knn_over_the_probe_that_skips_the_image_itself(toy):
    X, y, ref, _ = toy
    subset = np.arange(0, 120, 3)  # some of these are in the reference
    m = quality.measures(X[subset], y[subset], reference=ref, index=subset)
    P = ref.probe
    nn = NearestNeighbors(n_neighbors=11).fit(ref.X[P].astype(float))
    _, nb = nn.kneighbors(X[subset].astype(float))
    ambiguous = []
    for i, row in zip(subset, nb):
        row = [j for j in row if ref.index[P][j] != i][:10]
        ambiguous.append((ref.y[P][row] == y[i]).sum() * 2 < 10)
    assert m["q_ambiguity"] == pytest.approx(np.mean(ambiguous))


def test_labelled_coverage_is_a_direct_1nn_and_kernel_classifier_on_the_probe(toy):
    X, y, ref, _ = toy
    subset = np.arange(1, 120, 4)
    m = quality.measures(X[subset], y[subset], reference=ref, index=subset)
    P = ref.probe
    errors, nll = [], []
    for row, i in enumerate(ref.index[P]):
        keep = subset != i  # a probe image is not its own neighbour
        d = _rmsd(ref.X[P][row : row + 1], X[subset[keep]])[0]
        labels = y[subset[keep]]
        errors.append(labels[np.argmin(d)] != ref.y[P][row])
        w = np.exp(-d / (0.1 * ref.tau))
        nll.append(-math.log(max(w[labels == ref.y[P][row]].sum() / w.sum(), 1e-12)))
    assert m["q_cov_nn_err"] == pytest.approx(np.mean(errors), abs=1e-12)
    assert m["q_cov_nll"] == pytest.approx(np.mean(nll), rel=1e-6)


def test_probe_is_a_class_balanced_part_of_the_reference():
    X, y = _toy()
    ref = quality.make_reference(X, y, per_class=30, probe_per_class=7, seed=2)
    assert np.bincount(ref.y[ref.probe]).tolist() == [7, 7, 7]
    assert np.array_equal(np.unique(ref.probe), ref.probe)


def test_typicality_is_mean_rmsd_to_own_and_farthest_other_class_mean(toy):
    X, y, ref, subset = toy
    m = quality.measures(X[subset], y[subset], reference=ref)
    means = np.stack([X[y == k].astype(float).mean(0) / 255 for k in range(3)])
    R = np.sqrt(((X[subset].astype(float)[:, None] / 255 - means[None]) ** 2).mean(2))
    own = R[np.arange(subset.size), y[subset]]
    other = np.where(np.eye(3, dtype=bool)[y[subset]], -np.inf, R).max(1)
    assert m["q_typ_own"] == pytest.approx(own.mean(), rel=1e-10)
    assert m["q_typ_other"] == pytest.approx(other.mean(), rel=1e-10)


def test_measures_table_equals_one_subset_at_a_time(toy):
    X, y, ref, _ = toy
    rng = np.random.default_rng(5)
    sets = {
        f"s{i}": np.sort(np.concatenate([rng.choice(np.flatnonzero(y == k), 5, replace=False) for k in range(3)]))
        for i in range(4)
    }
    table = quality.measures_table(sets, X, y, reference=ref)
    assert table["subset_id"].tolist() == list(sets)
    for sid, idx in sets.items():
        one = quality.measures(X[idx], y[idx], reference=ref, index=idx)
        row = table.set_index("subset_id").loc[sid]
        np.testing.assert_allclose([row[k] for k in one], list(one.values()), rtol=1e-10)


def test_embedding_measures_use_cosine_of_the_given_rows(toy):
    X, y, _, subset = toy
    E = np.eye(3)[y] + 0.1 * np.random.default_rng(0).random((y.size, 3))
    ref = quality.make_reference(X, y, per_class=25, seed=1, embed=E)
    m = quality.measures(X[subset], y[subset], reference=ref, embed=E[subset], index=subset)
    assert set(quality.measure_names(embedding=True)) == set(m)
    assert m["q_ambiguity_emb"] == 0.0  # each class points its own way
    assert m["q_cov_emb_nn_err"] == 0.0
    U = E / np.linalg.norm(E, axis=1, keepdims=True)
    R, Ur = ref.y, U[ref.index]
    nn = []
    for k in range(3):
        C = Ur[R == k] @ Ur[R == k].T
        np.fill_diagonal(C, -np.inf)
        nn.append(1 - C.max(axis=1))
    assert ref.tau_emb == pytest.approx(np.median(np.concatenate(nn)), rel=1e-12)
    cov = [np.exp(-(1 - (Ur[R == k] @ U[subset][y[subset] == k].T).max(axis=1)) / ref.tau_emb).mean() for k in range(3)]
    assert m["q_cov_emb_mean"] == pytest.approx(np.mean(cov), rel=1e-5)  # blocks are float32
    assert m["q_cov_emb_min"] == pytest.approx(min(cov), rel=1e-5)


def test_every_measure_has_a_family():
    assert {quality.family(n) for n in quality.measure_names(embedding=True)} == set(quality.FAMILIES)
    with pytest.raises(ValueError, match="not a study Q measure"):
        quality.family("A_0")


def test_bad_inputs_get_clear_errors(toy):
    X, y, ref, subset = toy
    with pytest.raises(ValueError, match="fewer than 2"):
        quality.make_reference(X[:41], y[:41])
    with pytest.raises(TypeError, match="same kind"):
        quality.measures(X[subset] / 255.0, y[subset], reference=ref)
    with pytest.raises(ValueError, match="repeats an index"):
        quality.measures_table([np.array([1, 1, 2])], X, y, reference=ref)
    with pytest.raises(ValueError, match="embed"):
        quality.measures(X[subset], y[subset], reference=ref, embed=np.ones((subset.size, 2)))


def test_near_duplicates_are_the_closest_within_class_pairs():
    X, y = _toy(N=60)
    X[7] = X[3]  # an exact duplicate within class 0
    got = quality.near_duplicates(X, y, top=5, block_size=7)
    assert (got.iloc[0][["i", "j", "class"]].tolist(), got.iloc[0]["rmsd"]) == ([3, 7, 0], 0.0)
    brute = []
    for k in range(3):
        idx = np.flatnonzero(y == k)
        R = _rmsd(X[idx], X[idx])
        for a in range(idx.size):
            for b in range(a + 1, idx.size):
                brute.append((R[a, b], idx[a], idx[b]))
    brute.sort()
    np.testing.assert_allclose(got["rmsd"], [r for r, _, _ in brute[:5]], rtol=1e-10, atol=1e-12)


def test_least_covered_and_class_table(toy):
    X, y, ref, subset = toy
    lc = quality.least_covered(X[subset], y[subset], reference=ref, top=4)
    k = int(lc.iloc[0]["class"])
    R = _rmsd(ref.X[ref.y == k], X[subset][y[subset] == k]).min(axis=1)
    assert lc.iloc[0]["rmsd"] == pytest.approx(R.max(), rel=1e-10)
    assert lc["rmsd"].is_monotonic_decreasing
    table = quality.class_table(X[subset], y[subset], reference=ref, index=subset)
    m = quality.measures(X[subset], y[subset], reference=ref, index=subset)
    assert table["images"].tolist() == [6, 6, 6]
    assert table["cov_rmsd"].mean() == pytest.approx(m["q_cov_rmsd_mean"], rel=1e-12)
    assert table["vendi_1"].min() == pytest.approx(m["q_vendi_1_min"], rel=1e-12)

import numpy as np
import pytest

from xfactor_lib._validation import as_float
from xfactor_lib.similarity import (
    EmbeddingSimilarity,
    RMSDSimilarity,
    class_means,
    iter_rmsd_blocks,
    pairwise_rmsd,
    rmsd_to_images,
    similarity_from_rmsd,
)


def brute_rmsd(A, B):
    """RMSD by explicit loops over pairs, float64."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    out = np.empty((len(A), len(B)))
    for i, a in enumerate(A):
        for j, b in enumerate(B):
            out[i, j] = np.sqrt(np.mean((a - b) ** 2))
    return out


def brute_similarity(X, tau=1.0):
    """exp(-RMSD / tau) from pixel differences, pair by pair (no Gram trick)."""
    F = X.reshape(len(X), -1).astype(np.float64)
    if X.dtype == np.uint8:
        F = F / 255.0
    return np.exp(-brute_rmsd(F, F) / tau)


@pytest.mark.parametrize("block_size", [None, 1, 7, 1000])
def test_pairwise_rmsd_matches_brute_force_between_two_sets(block_size):
    rng = np.random.default_rng(0)
    A, B = rng.random((23, 17)), rng.random((11, 17))
    got = pairwise_rmsd(A, B, block_size=block_size)
    assert got.shape == (23, 11)
    np.testing.assert_allclose(got, brute_rmsd(A, B), rtol=0, atol=1e-12)


@pytest.mark.parametrize("block_size", [None, 4, 1000])
def test_pairwise_rmsd_within_one_set_is_symmetric_with_zero_diagonal(block_size):
    rng = np.random.default_rng(1)
    A = rng.random((19, 9)).astype(np.float32)
    got = pairwise_rmsd(A, block_size=block_size)
    np.testing.assert_allclose(got, brute_rmsd(A, A), rtol=0, atol=1e-12)
    assert np.all(np.diag(got) == 0.0)
    if block_size != 4:  # a single block is bitwise symmetric
        assert np.array_equal(got, got.T)


def test_pairwise_rmsd_is_accurate_for_near_duplicates_of_bright_images():
    # |a|^2 + |b|^2 - 2ab cancels almost everything here; a naive Gram loses ~1e-8.
    rng = np.random.default_rng(2)
    base = 0.9 + 0.1 * rng.random((6, 400))
    A = np.vstack([base, base + 1e-9 * rng.random((6, 400)), base[:1]])
    A = np.clip(A, 0, 1)
    got = pairwise_rmsd(A)
    np.testing.assert_allclose(got, brute_rmsd(A, A), rtol=1e-6, atol=1e-15)
    assert got[0, 12] == 0.0


def test_pairwise_rmsd_of_uint8_images_is_exact_on_grey_levels():
    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, size=(15, 3, 4, 5), dtype=np.uint8)
    X[7] = X[2]
    got = pairwise_rmsd(X)
    ints = X.reshape(15, -1).astype(np.int64)
    d2 = ((ints[:, None, :] - ints[None, :, :]) ** 2).sum(-1)
    assert np.array_equal(got, np.sqrt(d2 / (60 * 255.0**2)))  # bitwise: exact integers
    np.testing.assert_allclose(
        got, brute_rmsd(X.reshape(15, -1) / 255.0, X.reshape(15, -1) / 255.0), rtol=0, atol=1e-12
    )
    assert got[2, 7] == 0.0


def test_pairwise_rmsd_of_bright_uint8_images_beyond_float32_range_is_exact():
    # 400 pixels of 255: |a|^2 = 2.6e7 > 2**24, so the float32 shortcut would round.
    rng = np.random.default_rng(4)
    X = np.full((6, 400), 255, dtype=np.uint8)
    X[:, :5] = rng.integers(0, 256, size=(6, 5))
    ints = X.astype(np.int64)
    d2 = ((ints[:, None, :] - ints[None, :, :]) ** 2).sum(-1)
    assert np.array_equal(pairwise_rmsd(X), np.sqrt(d2 / (400 * 255.0**2)))


def test_pairwise_rmsd_drops_all_zero_pixels_without_changing_distances():
    rng = np.random.default_rng(5)
    A = rng.random((8, 12))
    A[:, [0, 5, 11]] = 0.0
    np.testing.assert_allclose(pairwise_rmsd(A), brute_rmsd(A, A), rtol=0, atol=1e-12)


@pytest.mark.parametrize("block_size", [1, 3, 5, None])
def test_iter_rmsd_blocks_cover_the_rows_in_order(block_size):
    rng = np.random.default_rng(6)
    A, B = rng.random((10, 4)), rng.random((6, 4))
    expected = brute_rmsd(A, B)
    seen = []
    for rows, block in iter_rmsd_blocks(A, B, block_size=block_size):
        assert block.shape == (rows.stop - rows.start, 6)
        if block_size:
            assert block.shape[0] <= block_size
        np.testing.assert_allclose(block, expected[rows], rtol=0, atol=1e-12)
        seen.extend(range(rows.start, rows.stop))
    assert seen == list(range(10))


def test_similarity_from_rmsd_is_exp_minus_rmsd_over_tau():
    rng = np.random.default_rng(7)
    A = rng.random((9, 5))
    R = brute_rmsd(A, A)
    np.testing.assert_allclose(similarity_from_rmsd(R), np.exp(-R), rtol=1e-15)
    np.testing.assert_allclose(similarity_from_rmsd(R, tau=0.1), np.exp(-R / 0.1), rtol=1e-15)
    assert np.all(np.diag(similarity_from_rmsd(R)) == 1.0)
    with pytest.raises(ValueError, match="tau"):
        similarity_from_rmsd(R, tau=0.0)
    with pytest.raises(TypeError, match="tau"):
        similarity_from_rmsd(R, tau="1")


def test_as_float_scales_uint8_images_and_flattens():
    X = np.array([[[[0, 255], [51, 102]]]], dtype=np.uint8)
    assert np.array_equal(as_float(X), np.array([[0.0, 1.0, 0.2, 0.4]]))
    F = np.array([[0.25, 0.5]], dtype=np.float32)
    assert as_float(F).dtype == np.float64


@pytest.mark.parametrize(
    "bad, error, words",
    [
        (np.array([[0.1, np.nan]]), ValueError, "non-finite"),
        (np.array([[0.0, 255.0]]), ValueError, "divide"),
        (np.array([[1, 2]], dtype=np.int32), TypeError, "uint8"),
        (np.zeros(5), ValueError, "one row per image"),
    ],
)
def test_every_rmsd_entry_point_rejects_bad_pixels_the_same_way(bad, error, words):
    for call in (pairwise_rmsd, lambda X: RMSDSimilarity(X, device="cpu"), lambda X: class_means(X, [0])):
        with pytest.raises(error, match=words):
            call(bad)


@pytest.mark.parametrize(
    "bad, error, words",
    [
        (np.array([[0.1, np.nan]]), ValueError, "non-finite"),
        (np.array([[0.1, np.inf]]), ValueError, "non-finite"),
        (np.array([[0.0, 255.0]]), ValueError, "divide"),
        (np.array([[-0.5, 0.5]]), ValueError, "[0, 1]"),
        (np.array([[1, 2]], dtype=np.int32), TypeError, "uint8"),
        (np.array([[True, False]]), TypeError, "uint8"),
        (np.zeros(5), ValueError, "one row per image"),
        (np.zeros((3, 0)), ValueError, "no pixels"),
    ],
)
def test_as_float_rejects_bad_pixels_with_a_clear_message(bad, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        as_float(bad)


def test_pairwise_rmsd_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="same pixels per image"):
        pairwise_rmsd(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(TypeError, match="uint8 or both float"):
        pairwise_rmsd(np.zeros((2, 3), dtype=np.uint8), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="block_size"):
        pairwise_rmsd(np.zeros((2, 3)), block_size=0)
    with pytest.raises(ValueError, match="non-finite"):
        iter_rmsd_blocks(np.full((2, 3), np.nan))  # at the call, not at the first block


def test_class_means_are_pixelwise_means_per_class():
    rng = np.random.default_rng(8)
    X = rng.integers(0, 256, size=(30, 1, 2, 3), dtype=np.uint8)
    y = rng.permutation(np.arange(30) % 3)
    F = X.reshape(30, -1) / 255.0
    expected = np.stack([F[y == k].mean(axis=0) for k in range(3)])
    np.testing.assert_allclose(class_means(X, y), expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(class_means(F, y), expected, rtol=0, atol=1e-15)
    assert class_means(F, y, K=3).shape == (3, 6)


def test_class_means_reject_a_missing_class_and_bad_labels():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"class\(es\) \[3\] have no image"):
        class_means(X, np.array([0, 1, 2, 2]), K=4)
    with pytest.raises(ValueError, match=r"class\(es\) \[1\] have no image"):
        class_means(X, np.array([0, 2, 2, 0]))
    with pytest.raises(ValueError, match="out of range"):
        class_means(X, np.array([0, 1, 2, 5]), K=3)
    with pytest.raises(ValueError, match="4 images"):
        class_means(X, np.array([0, 1]))
    with pytest.raises(TypeError, match="integer class labels"):
        class_means(X, np.array([0.0, 1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match=">= 0"):
        class_means(X, np.array([0, -1, 0, 1]))


def test_rmsd_to_images_matches_brute_force_and_ignores_the_other_rows():
    rng = np.random.default_rng(9)
    X = rng.integers(0, 256, size=(12, 10), dtype=np.uint8)
    M = rng.random((3, 10))
    got = rmsd_to_images(X, M, block_size=5)
    np.testing.assert_allclose(got, brute_rmsd(X / 255.0, M), rtol=0, atol=1e-12)
    assert np.array_equal(rmsd_to_images(X[[7, 3]], M), got[[7, 3]])  # bitwise, row by row


@pytest.mark.parametrize("device", ["cpu", "torch:cpu"])
def test_rmsd_similarity_equals_brute_force_with_duplicates_and_near_duplicates(device):
    rng = np.random.default_rng(9)
    Xu = rng.integers(0, 256, size=(40, 1, 6, 6), dtype=np.uint8)
    Xu[5] = Xu[17]  # exact duplicate
    Xu[8] = Xu[3]
    Xu[8, 0, 2, 2] ^= 1  # differs by one grey level in one pixel
    Xf = Xu.reshape(40, -1) / 255.0
    Xf[30] = Xf[31]
    Xf[20] = Xf[21]
    Xf[20, 7] += 1e-7  # float near-duplicate: the Gram trick alone would be ~1e-8 off
    for X in (Xu, Xf):
        Z = RMSDSimilarity(X, device=device).to_array()
        np.testing.assert_allclose(Z, brute_similarity(X), rtol=1e-12, atol=0)
        assert np.all(np.diag(Z) == 1.0)


def test_rmsd_similarity_is_exact_for_uint8_images_with_more_than_1024_pixels():
    rng = np.random.default_rng(10)
    X = rng.integers(0, 256, size=(12, 3, 20, 20), dtype=np.uint8)  # D = 1200: two chunks
    X[4] = X[9]
    Z = RMSDSimilarity(X, device="cpu").to_array()
    np.testing.assert_allclose(Z, brute_similarity(X), rtol=1e-14, atol=0)
    assert Z[4, 9] == 1.0


@pytest.mark.parametrize("block_size", [1, 7, 16, None])
def test_weighted_abundances_from_upper_tiles_equal_dense_product(block_size):
    rng = np.random.default_rng(11)
    X = rng.integers(0, 256, size=(37, 1, 4, 4), dtype=np.uint8)
    A = rng.random((37, 3))
    src = RMSDSimilarity(X, device="cpu")
    np.testing.assert_allclose(src.weighted_abundances(A, block_size=block_size), brute_similarity(X) @ A, rtol=1e-13)


@pytest.mark.parametrize("kind", ["uint8", "float"])
@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_rmsd_similarity_blocks_are_pairwise_rmsd_through_similarity_from_rmsd_bitwise(kind, tau):
    rng = np.random.default_rng(12)
    X = rng.integers(0, 256, size=(30, 1, 5, 5), dtype=np.uint8)
    if kind == "float":
        X = X.reshape(30, -1) / 255.0
        X[4] = X[9] + 1e-9  # a near-duplicate: recomputed by the one cancellation policy in both
    src = RMSDSimilarity(X, tau=tau, device="cpu")
    for rows, block in src.iter_blocks(8):
        expected = similarity_from_rmsd(pairwise_rmsd(X, block_size=8)[rows], tau=tau)
        assert np.array_equal(block, expected)
    np.testing.assert_allclose(src.to_array(), brute_similarity(np.asarray(X), tau), rtol=1e-13, atol=0)


def test_upper_tiles_give_the_same_rmsd_as_row_blocks_for_uint8_images():
    rng = np.random.default_rng(13)
    X = rng.integers(0, 256, size=(29, 2, 3, 4), dtype=np.uint8)
    src = RMSDSimilarity(X, device="cpu")
    tile = src._tile(slice(8, 16), slice(16, 29))  # exact grey-level sums: no dependence on the tiling
    assert np.array_equal(tile, similarity_from_rmsd(pairwise_rmsd(X)[8:16, 16:29]))


def test_torch_backend_gives_the_numpy_rmsd():
    rng = np.random.default_rng(14)
    Xu = rng.integers(0, 256, size=(21, 1, 40, 40), dtype=np.uint8)  # D = 1600: chunked float32 on numpy
    Xu[3] = Xu[8]
    ref = pairwise_rmsd(Xu)
    got = pairwise_rmsd(Xu, device="torch:cpu", block_size=5)
    np.testing.assert_allclose(got, ref, rtol=2e-16, atol=0)  # same integers; torch's CPU sqrt may differ by 1 ulp
    assert got[3, 8] == 0.0
    Xf = Xu.reshape(21, -1) / 255.0
    Xf[5] = np.clip(Xf[6] - 1e-10, 0, 1)
    np.testing.assert_allclose(pairwise_rmsd(Xf, device="torch:cpu"), brute_rmsd(Xf, Xf), rtol=1e-9, atol=1e-15)


def test_embedding_similarity_is_the_cosine_of_rows_in_tiles():
    rng = np.random.default_rng(15)
    E = rng.random((23, 6))
    E[7] = 3.0 * E[2]  # same direction, other length: cosine 1
    U = E / np.linalg.norm(E, axis=1, keepdims=True)
    for device in ("cpu", "torch:cpu"):
        src = EmbeddingSimilarity(E, block_size=5, device=device)
        Z = src.to_array()
        np.testing.assert_allclose(Z, np.clip(U @ U.T, 0, 1), rtol=0, atol=1e-15)
        assert np.all(np.diag(Z) == 1.0) and Z.max() <= 1.0
        assert Z[2, 7] == pytest.approx(1.0, abs=1e-15)
        A = rng.random((23, 3))
        np.testing.assert_allclose(src.weighted_abundances(A), Z @ A, rtol=1e-13)


def test_embedding_similarity_refuses_zero_rows_and_negative_cosines():
    with pytest.raises(ValueError, match="all-zero row"):
        EmbeddingSimilarity(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="non-finite"):
        EmbeddingSimilarity(np.array([[1.0, np.nan]]))
    with pytest.raises(TypeError, match="numeric"):
        EmbeddingSimilarity(np.array([["a"]]))
    with pytest.raises(ValueError, match=r"embeddings 0 and 1 is -1 < 0"):
        EmbeddingSimilarity(np.array([[1.0, 0.0], [-1.0, 0.0]])).to_array()


def test_rmsd_similarity_rejects_a_bad_tau_and_device():
    X = np.zeros((3, 4), dtype=np.uint8)
    with pytest.raises(ValueError, match="tau"):
        RMSDSimilarity(X, tau=-1.0)
    with pytest.raises(ValueError, match="unknown device"):
        RMSDSimilarity(X, device="tpu")


def test_near_duplicates_of_dim_images_are_recomputed_by_the_one_cancellation_policy():
    # Errors of the non-recomputed entries are bounded by eps / CANCEL_TOL (module docstring).
    rng = np.random.default_rng(16)
    dim = 0.01 * rng.random((5, 300))  # dim images: a global threshold would skip these
    A = np.vstack([dim, dim + 1e-7 * rng.random((5, 300))])
    np.testing.assert_allclose(pairwise_rmsd(A), brute_rmsd(A, A), rtol=1e-12, atol=0)

import numpy as np
import pytest

from xfactor_lib.similarity import (
    as_float,
    class_means,
    iter_rmsd_blocks,
    iter_similarity_blocks,
    pairwise_rmsd,
    rmsd_to_images,
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
    assert np.array_equal(got, np.sqrt(d2 / (60 * 255.0 ** 2)))  # bitwise: exact integers
    np.testing.assert_allclose(got, brute_rmsd(X.reshape(15, -1) / 255.0, X.reshape(15, -1) / 255.0),
                               rtol=0, atol=1e-12)
    assert got[2, 7] == 0.0


def test_pairwise_rmsd_of_bright_uint8_images_beyond_float32_range_is_exact():
    # 400 pixels of 255: |a|^2 = 2.6e7 > 2**24, so the float32 shortcut would round.
    rng = np.random.default_rng(4)
    X = np.full((6, 400), 255, dtype=np.uint8)
    X[:, :5] = rng.integers(0, 256, size=(6, 5))
    ints = X.astype(np.int64)
    d2 = ((ints[:, None, :] - ints[None, :, :]) ** 2).sum(-1)
    assert np.array_equal(pairwise_rmsd(X), np.sqrt(d2 / (400 * 255.0 ** 2)))


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


def test_iter_similarity_blocks_are_exp_minus_rmsd():
    rng = np.random.default_rng(7)
    A = rng.random((9, 5))
    Z = np.vstack([block for _, block in iter_similarity_blocks(A, block_size=4)])
    np.testing.assert_allclose(Z, np.exp(-brute_rmsd(A, A)), rtol=0, atol=1e-12)
    assert np.all(np.diag(Z) == 1.0)


def test_as_float_scales_uint8_images_and_flattens():
    X = np.array([[[[0, 255], [51, 102]]]], dtype=np.uint8)
    assert np.array_equal(as_float(X), np.array([[0.0, 1.0, 0.2, 0.4]]))
    F = np.array([[0.25, 0.5]], dtype=np.float32)
    assert as_float(F).dtype == np.float64


@pytest.mark.parametrize("bad, error, words", [
    (np.array([[0.1, np.nan]]), ValueError, "non-finite"),
    (np.array([[0.1, np.inf]]), ValueError, "non-finite"),
    (np.array([[0.0, 255.0]]), ValueError, "divide"),
    (np.array([[-0.5, 0.5]]), ValueError, "[0, 1]"),
    (np.array([[1, 2]], dtype=np.int32), TypeError, "uint8"),
    (np.array([[True, False]]), TypeError, "uint8"),
    (np.zeros(5), ValueError, "one row per image"),
    (np.zeros((3, 0)), ValueError, "no pixels"),
])
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
        list(iter_rmsd_blocks(np.full((2, 3), np.nan)))


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

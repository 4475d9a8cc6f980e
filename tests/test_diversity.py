"""LCR diversity: agreement with greylock, class balance, features, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from greylock import Metacommunity
from test_similarity import brute_similarity

from xfactor_lib import diversity, similarity

QS = [0.0, 0.5, 1.0, 2.0, math.inf]
RTOL = 1e-9


# --------------------------------------------------------------------------- helpers
def greylock_table(counts, Z, qs) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # greylock warns on 0-division and NaN power means
        return Metacommunity(counts, Z).to_dataframe(qs)


def assert_tables_equal(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    """All eleven columns; measures to 1e-9 relative.

    ``rho_hat`` and ``beta_hat`` are differences ``(rho - 1) / (K - 1)``: where rho is 1 they
    are 0 up to the rounding of rho (~1e-16), which no relative tolerance can absorb, so they
    also get an absolute 1e-12 (1e-9 relative to the rho they come from, and then some).
    """
    assert list(ours.columns) == list(theirs.columns) == list(diversity.COLUMNS)
    assert ours["community"].tolist() == theirs["community"].tolist()
    np.testing.assert_array_equal(ours["viewpoint"].to_numpy(float), theirs["viewpoint"].to_numpy(float))
    for m in diversity.MEASURES:
        atol = 1e-12 if m.endswith("_hat") else 0.0
        np.testing.assert_allclose(
            ours[m].to_numpy(float), theirs[m].to_numpy(float), rtol=RTOL, atol=atol, equal_nan=True, err_msg=m
        )


def random_counts(rng, S=25, K=4) -> np.ndarray:
    counts = rng.integers(0, 4, size=(S, K)).astype(float)
    counts[rng.random((S, K)) < 0.4] = 0  # species shared by some subcommunities, not all
    counts[[2, 11]] = 0  # species absent everywhere
    counts[0] = [3, 1, 2, 5][:K]  # one species in every subcommunity
    return counts


def onehot(y: np.ndarray) -> pd.DataFrame:
    classes = np.unique(y)
    return pd.DataFrame((y[:, None] == classes[None, :]).astype(float), columns=classes.tolist())


def image_data(seed=0, N=60, K=4, shape=(1, 5, 5)):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(N, *shape), dtype=np.uint8)
    y = rng.integers(0, K, size=N)
    return X, y


class RowBlocks:
    """A duck-typed blockwise source over an array (no SimilaritySource base class)."""

    def __init__(self, Z):
        self.Z = Z
        self.n_species = Z.shape[0]
        self.calls = 0

    def iter_blocks(self, block_size):
        self.calls += 1
        for i in range(0, self.n_species, block_size):
            rows = slice(i, min(i + block_size, self.n_species))
            yield rows, self.Z[rows]


# --------------------------------------------------------------------------- greylock agreement
@pytest.mark.parametrize("kind", ["identity", "symmetric", "nonsymmetric", "zero_diagonal"])
def test_diversity_table_matches_greylock_on_random_counts(kind):
    rng = np.random.default_rng(1)
    counts = random_counts(rng)
    S = counts.shape[0]
    R = rng.random((S, S))
    Z = {
        "identity": None,
        "symmetric": (R + R.T) / 2,
        "nonsymmetric": R,
        "zero_diagonal": R - np.diag(np.diag(R)),  # Z @ P can be 0: greylock's 0-ratio rule
    }[kind]
    assert_tables_equal(diversity.diversity_table(counts, Z, QS), greylock_table(counts, Z, QS))


def test_diversity_table_matches_greylock_with_named_subcommunities_and_real_counts():
    rng = np.random.default_rng(2)
    counts = pd.DataFrame(rng.random((12, 3)) * 10, columns=["a", "b", "c"])
    counts.iloc[4] = 0
    R = rng.random((12, 12))
    ours = diversity.diversity_table(counts, R, QS)
    assert ours["community"].tolist()[:4] == ["metacommunity", "a", "b", "c"]
    assert_tables_equal(ours, greylock_table(counts, R, QS))


def test_single_subcommunity_matches_greylock():
    rng = np.random.default_rng(3)
    counts = rng.integers(1, 5, size=(9, 1)).astype(float)
    Z = rng.random((9, 9))
    assert_tables_equal(diversity.diversity_table(counts, Z, QS), greylock_table(counts, Z, QS))


def test_scalar_viewpoint_gives_one_block_like_greylock():
    rng = np.random.default_rng(4)
    counts = random_counts(rng)
    ours = diversity.diversity_table(counts, None, 2)
    assert len(ours) == 1 + counts.shape[1]
    assert_tables_equal(ours, greylock_table(counts, None, 2))


def test_large_finite_q_is_the_power_mean_and_inf_is_greylocks_limit():
    rng = np.random.default_rng(5)
    counts = random_counts(rng)
    R = rng.random((counts.shape[0],) * 2)
    # up to q = 100 greylock evaluates the power mean directly: same values
    assert_tables_equal(diversity.diversity_table(counts, R, [50, 100]), greylock_table(counts, R, [50, 100]))
    # greylock treats q > 101 as infinity; our q = inf is that limit exactly
    ours_inf = diversity.diversity_table(counts, R, math.inf)
    grey_big = greylock_table(counts, R, 1000.0)
    for m in diversity.MEASURES:
        np.testing.assert_allclose(ours_inf[m].to_numpy(float), grey_big[m].to_numpy(float), rtol=RTOL)
    # our finite q = 1000 stays a power mean: between the q = 100 value and the minimum
    ours_big = diversity.diversity_table(counts, R, 1000.0)
    ours_100 = diversity.diversity_table(counts, R, 100.0)
    a_inf, a_big, a_100 = (t["alpha"].to_numpy() for t in (ours_inf, ours_big, ours_100))
    assert np.all(a_inf <= a_big) and np.all(a_big <= a_100)
    assert np.any(a_big > a_inf * (1 + 1e-6))


def test_blockwise_source_equals_array_for_every_block_size():
    rng = np.random.default_rng(6)
    counts = random_counts(rng)
    R = rng.random((counts.shape[0],) * 2)
    expected = greylock_table(counts, R, QS)
    for bs in (1, 7, counts.shape[0], 1000):
        src = RowBlocks(R)
        assert_tables_equal(diversity.diversity_table(counts, src, QS, block_size=bs), expected)
        assert src.calls == 1  # every viewpoint from one pass over Z


def test_array_similarity_reads_a_memmap_in_blocks(tmp_path):
    rng = np.random.default_rng(7)
    counts = random_counts(rng)
    R = rng.random((counts.shape[0],) * 2)
    mm = np.memmap(tmp_path / "z.dat", dtype=np.float64, mode="w+", shape=R.shape)
    mm[:] = R
    ours = diversity.diversity_table(counts, similarity.ArraySimilarity(mm), QS, block_size=4)
    assert_tables_equal(ours, greylock_table(counts, R, QS))


# --------------------------------------------------------------------------- pinned identities (SPEC 2a)
def test_identity_similarity_gives_alpha_equal_to_the_number_of_images():
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 3])
    table = diversity.diversity_table(onehot(y), None, QS)
    A = table.loc[table["community"] == "metacommunity", "alpha"].to_numpy()
    np.testing.assert_allclose(A, len(y), rtol=1e-12)


def test_class_block_similarity_gives_alpha_equal_to_class_balance():
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 3])
    Z = (y[:, None] == y[None, :]).astype(float)
    table = diversity.diversity_table(onehot(y), Z, QS)
    A = table.loc[table["community"] == "metacommunity", "alpha"].to_numpy()
    n = np.bincount(y)
    cb = [
        len(n),
        math.exp(scipy.stats.entropy(n)),
        np.sum((n / n.sum()) ** 0.5) ** 2,
        1 / np.sum((n / n.sum()) ** 2),
        n.sum() / n.max(),
    ]  # q = 0, 0.5, 1, 2, inf
    # order QS = (0, 0.5, 1, 2, inf); Hill number at 0.5 is (sum p^0.5)^2
    np.testing.assert_allclose(A, [cb[0], cb[2], cb[1], cb[3], cb[4]], rtol=1e-12)
    np.testing.assert_allclose(
        [diversity.hill_number(n, q) for q in QS], [cb[0], cb[2], cb[1], cb[3], cb[4]], rtol=1e-12
    )


def test_power_mean_matches_scipy_pmean():
    rng = np.random.default_rng(8)
    x, w = rng.random(20) + 0.1, rng.random(20)
    wn = w / w.sum()
    for order in (-3.0, -1.0, 0.5, 1.0):
        expected = scipy.stats.pmean(x, order, weights=wn)
        np.testing.assert_allclose(diversity.power_mean(order, wn, x), expected, rtol=1e-13)
    np.testing.assert_allclose(diversity.power_mean(0.0, wn, x), scipy.stats.gmean(x, weights=wn), rtol=1e-13)
    assert diversity.power_mean(-math.inf, wn, x) == x.min()
    # a large order would underflow x**order directly (5e3**-300 = 0); the log-domain mean
    # equals the reference computed with the smallest item factored out by hand
    big = np.array([1e3, 2e3, 5e3])
    wb = np.array([0.2, 0.3, 0.5])
    ref = 1e3 * np.sum(wb * (big / 1e3) ** -300.0) ** (-1 / 300.0)
    np.testing.assert_allclose(diversity.power_mean(-300.0, wb, big), ref, rtol=1e-13)


def test_features_form_z_only_in_tiles_of_block_size(monkeypatch):
    X, y = image_data(N=50)
    shapes = []
    original = similarity.RMSDSimilarity._tile

    def spy(self, rows, cols):
        out = original(self, rows, cols)
        shapes.append(out.shape)
        return out

    monkeypatch.setattr(similarity.RMSDSimilarity, "_tile", spy)
    diversity.features(X, y, block_size=16, device="cpu")
    assert max(max(s) for s in shapes) == 16
    assert len(shapes) == 10  # 4 row blocks: 4 + 3 + 2 + 1 tiles on and above the diagonal


# --------------------------------------------------------------------------- image measures vs greylock
@pytest.mark.parametrize("device", ["cpu", "torch:cpu"])
@pytest.mark.parametrize("as_float", [False, True])
def test_measures_match_greylock_on_random_images(device, as_float):
    X, y = image_data(seed=12, N=70, K=5)
    y[y == 3] = 7  # labels need not be 0..K-1
    y[0] = 9  # a class of one image
    X[10] = X[20]  # duplicate images, in different classes or not
    X[11] = X[12]
    Xin = X.reshape(len(X), -1) / 255.0 if as_float else X
    ours = diversity.measures(Xin, y, QS, block_size=16, device=device)
    assert ours["community"].tolist()[:7] == ["metacommunity", 0, 1, 2, 4, 7, 9]
    assert_tables_equal(ours, greylock_table(onehot(y), brute_similarity(X), QS))


def test_features_match_greylock_and_have_the_27_names():
    X, y = image_data(seed=13, N=64, K=4)
    y[5] = 6  # one-image class
    f = diversity.features(X, y, device="cpu", block_size=24)
    assert tuple(f) == diversity.FEATURE_NAMES == diversity.feature_names()
    assert len(f) == 27
    table = greylock_table(onehot(y), brute_similarity(X), [0.0, 1.0, math.inf])
    for q, tag in ((0.0, "0"), (1.0, "1"), (math.inf, "inf")):
        block = table[table["viewpoint"] == q]
        meta, sub = block.iloc[0], block.iloc[1:]
        for key, col in (("A", "alpha"), ("R", "rho"), ("G", "gamma")):
            np.testing.assert_allclose(f[f"{key}_{tag}"], meta[col], rtol=RTOL)
            np.testing.assert_allclose(f[f"{col}_max_{tag}"], sub[col].max(), rtol=RTOL)
            if tag != "inf":
                np.testing.assert_allclose(f[f"{col}_min_{tag}"], sub[col].min(), rtol=RTOL)
            else:  # the paper's redundancy: min over classes at q = inf is the metacommunity value
                np.testing.assert_allclose(sub[col].min(), meta[col], rtol=RTOL)
    n = np.bincount(np.unique(y, return_inverse=True)[1])
    np.testing.assert_allclose(f["CB_1"], math.exp(scipy.stats.entropy(n)), rtol=1e-12)
    np.testing.assert_allclose(f["CB_inf"], len(y) / n.max(), rtol=1e-12)
    assert f["size"] == len(y)


def test_features_of_real_mnist_subset_match_greylock(mnist_root):
    from xfactor_lib.data import load_dataset

    ds = load_dataset("mnist", "train", root=mnist_root, download=False)
    rng = np.random.default_rng(14)
    idx = np.concatenate([rng.choice(np.flatnonzero(ds.labels == k), 30, replace=False) for k in range(9)])
    idx = np.concatenate([idx, np.flatnonzero(ds.labels == 9)[:1], idx[:3]])  # 1-image class, duplicates
    X, y = ds.images[idx], ds.labels[idx]
    f = diversity.features(X, y, device="cpu", block_size=100)
    table = greylock_table(onehot(y), brute_similarity(X), [0.0, 1.0, math.inf])
    g = diversity.features_from_table(table, np.bincount(y))
    assert list(f) == list(g)
    np.testing.assert_allclose([f[k] for k in f], [g[k] for k in g], rtol=RTOL)
    ours = diversity.measures(X, y, QS, device="cpu", block_size=100)
    assert_tables_equal(ours, greylock_table(onehot(y), brute_similarity(X), QS))


def test_subset_features_are_the_27_then_the_3_systematic():
    X, y = image_data(N=30, shape=(3, 4, 5))
    f = diversity.subset_features(X, y, device="cpu")
    assert list(f) == [*diversity.FEATURE_NAMES, "pixels", "channels", "classes"]
    assert f == {**diversity.features(X, y, device="cpu"), "pixels": 20, "channels": 3, "classes": 4}


def test_features_with_other_viewpoints_name_them():
    X, y = image_data(N=30)
    f = diversity.features(X, y, qs=(0.5, 2), device="cpu")
    assert list(f) == [
        "A_0.5",
        "R_0.5",
        "G_0.5",
        "A_2",
        "R_2",
        "G_2",
        "alpha_min_0.5",
        "alpha_min_2",
        "rho_min_0.5",
        "rho_min_2",
        "gamma_min_0.5",
        "gamma_min_2",
        "alpha_max_0.5",
        "alpha_max_2",
        "rho_max_0.5",
        "rho_max_2",
        "gamma_max_0.5",
        "gamma_max_2",
        "CB_1",
        "CB_inf",
        "size",
    ]


def test_systematic_features_from_image_shape_and_classes_present():
    X = np.zeros((6, 3, 4, 5), dtype=np.uint8)
    y = np.array([0, 0, 4, 4, 7, 7])
    assert diversity.systematic_features(X, y) == {"pixels": 20, "channels": 3, "classes": 3}
    Xf = np.zeros((6, 60))
    assert diversity.systematic_features(Xf, y, channels=3) == {"pixels": 20, "channels": 3, "classes": 3}
    assert diversity.systematic_features(Xf, y) == {"pixels": 60, "channels": 1, "classes": 3}
    with pytest.raises(ValueError, match="divisible"):
        diversity.systematic_features(Xf, y, channels=7)
    with pytest.raises(ValueError, match="contradicts"):
        diversity.systematic_features(X, y, channels=1)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "counts, exc, match",
    [
        (np.array([[1.0, -1.0], [2.0, 3.0]]), ValueError, ">= 0"),
        (np.array([[1.0, np.nan], [2.0, 3.0]]), ValueError, "non-finite"),
        (np.array([[1.0, np.inf], [2.0, 3.0]]), ValueError, "non-finite"),
        (np.array([[1.0, 0.0], [2.0, 0.0]]), ValueError, "empty"),
        (np.array([1.0, 2.0]), ValueError, "2-D"),
        (np.zeros((0, 2)), ValueError, "at least one species"),
        ([[1, 2], [3, 4]], TypeError, "numpy array or pandas DataFrame"),
        (np.array([["a", "b"]]), TypeError, "numeric"),
    ],
)
def test_bad_counts_raise_clear_errors(counts, exc, match):
    with pytest.raises(exc, match=match):
        diversity.diversity_table(counts, None, 0)


@pytest.mark.parametrize(
    "Z, exc, match",
    [
        (np.ones((3, 2)), ValueError, "square"),
        (np.ones((4, 4)), ValueError, "3 rows"),
        (np.full((3, 3), 1.5), ValueError, r"\[0, 1\]"),
        (np.full((3, 3), -0.1), ValueError, r"\[0, 1\]"),
        (np.array([[1, np.nan, 0], [0, 1, 0], [0, 0, 1]]), ValueError, "non-finite"),
        ("identity", TypeError, "similarity must be"),
    ],
)
def test_bad_similarity_raises_clear_errors(Z, exc, match):
    counts = np.array([[1.0, 0.0], [1.0, 2.0], [0.0, 1.0]])
    with pytest.raises(exc, match=match):
        diversity.diversity_table(counts, Z, 0)


def test_bad_blocks_from_a_source_raise_clear_errors():
    counts = np.array([[1.0, 0.0], [1.0, 2.0], [0.0, 1.0]])

    class Bad(RowBlocks):
        def iter_blocks(self, block_size):
            yield slice(0, 2), self.Z[:2]  # the last row never comes

    with pytest.raises(ValueError, match="exactly once"):
        diversity.diversity_table(counts, Bad(np.eye(3)), 0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        diversity.diversity_table(counts, RowBlocks(2 * np.eye(3)), 0)
    with pytest.raises(ValueError, match="expected"):
        diversity.diversity_table(counts, RowBlocks(np.eye(3)[:, :2]), 0)


@pytest.mark.parametrize(
    "q, exc",
    [
        (-0.5, ValueError),
        (math.nan, ValueError),
        ("1", TypeError),
        ([0, -1], ValueError),
        ([], ValueError),
        (True, TypeError),
    ],
)
def test_bad_viewpoints_raise(q, exc):
    with pytest.raises(exc, match="viewpoint"):
        diversity.diversity_table(np.ones((2, 1)), None, q)


@pytest.mark.parametrize(
    "X, y, exc, match",
    [
        (np.full((3, 4), np.nan), [0, 1, 0], ValueError, "non-finite"),
        (np.full((3, 4), 1.5), [0, 1, 0], ValueError, r"\[0, 1\]"),
        (np.zeros((3, 4), dtype=np.int64), [0, 1, 0], TypeError, "uint8"),
        (np.zeros(4, dtype=np.uint8), [0], ValueError, "shape"),
        (np.zeros((3, 4), dtype=np.uint8), [0, 1], ValueError, "2 labels but there are 3 images"),
        (np.zeros((3, 4), dtype=np.uint8), [0.0, 1.0, 0.0], TypeError, "integer"),
        (np.zeros((0, 4), dtype=np.uint8), [], ValueError, "no images"),
    ],
)
def test_bad_images_raise_clear_errors(X, y, exc, match):
    with pytest.raises(exc, match=match):
        diversity.features(X, np.asarray(y), device="cpu")


def test_bad_device_and_block_size_raise():
    X, y = image_data(N=10)
    with pytest.raises(ValueError, match="unknown device"):
        diversity.features(X, y, device="tpu")
    with pytest.raises(ValueError, match="block_size"):
        diversity.features(X, y, device="cpu", block_size=0)


# --------------------------------------------------------------------------- degenerate similarity (issue 11)
def test_all_zero_similarity_is_refused_instead_of_returning_inf():
    counts = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="similarity 0 to every species of that subcommunity, itself included"):
        diversity.diversity_table(counts, np.zeros((3, 3)), [0.0, 1.0, 2.0, math.inf])


def test_a_species_similar_to_nothing_in_its_class_is_named():
    counts = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    Z = np.eye(3)
    Z[0, 0] = 0.0  # species 0 is alone in class "a" and dissimilar even to itself
    with pytest.raises(ValueError, match=r"species 0 of subcommunity 'a'"):
        diversity.diversity_table(pd.DataFrame(counts, columns=["a", "b"]), Z, 1.0)
    Z[0, 1] = 0.5  # similar to a species of another class only: still nothing in its own class
    with pytest.raises(ValueError, match="itself included"):
        diversity.diversity_table(counts, Z, 1.0)


# --------------------------------------------------------------------------- class balance
def test_class_balance_is_the_hill_number_of_the_class_proportions():
    n = np.array([5, 1, 0, 2])
    p = n[n > 0] / n.sum()
    assert diversity.class_balance(n) == pytest.approx(math.exp(scipy.stats.entropy(p)), rel=1e-14)
    assert diversity.class_balance(n, q=0) == 3.0  # an absent class does not count
    assert diversity.class_balance(n, q=2) == pytest.approx(1 / np.sum(p**2), rel=1e-14)
    assert diversity.class_balance(n, q=math.inf) == pytest.approx(8 / 5, rel=1e-14)
    assert diversity.class_balance([4, 4, 4, 4]) == pytest.approx(4.0, rel=1e-14)


def test_class_balance_of_many_count_vectors_is_one_value_per_row():
    rows = np.array([[5, 1, 0, 2], [4, 4, 4, 4], [996, 1, 1, 1]])
    got = diversity.class_balance(rows)
    assert got.shape == (3,)
    np.testing.assert_allclose(got, [diversity.class_balance(r) for r in rows], rtol=1e-14)
    assert diversity.class_balance(rows[None], q=math.inf).shape == (1, 3)


@pytest.mark.parametrize("bad", [[0, 0, 0], [1, -1], [1.0, np.nan], []])
def test_class_balance_refuses_counts_without_a_distribution(bad):
    with pytest.raises(ValueError):
        diversity.class_balance(bad)


# --------------------------------------------------------------------------- tau and other similarities
def test_features_at_another_tau_match_greylock_at_that_similarity():
    X, y = image_data(seed=17, N=40, K=3)
    f = diversity.features(X, y, tau=0.05, device="cpu", block_size=16)
    g = diversity.features_from_table(
        greylock_table(onehot(y), brute_similarity(X, 0.05), list(diversity.DEFAULT_QS)), np.bincount(y)
    )
    np.testing.assert_allclose(
        [f[k] for k in diversity.FEATURE_NAMES], [g[k] for k in diversity.FEATURE_NAMES], rtol=RTOL
    )
    assert f["A_0"] > diversity.features(X, y, device="cpu")["A_0"]  # a shorter length scale: more distinct images


def test_features_take_any_similarity_source_instead_of_pixels():
    rng = np.random.default_rng(18)
    E = rng.random((30, 8))
    y = np.arange(30) % 3
    src = similarity.EmbeddingSimilarity(E)
    f = diversity.features(None, y, similarity=src)
    g = diversity.features_from_table(
        greylock_table(onehot(y), src.to_array(), list(diversity.DEFAULT_QS)), np.bincount(y)
    )
    np.testing.assert_allclose([f[k] for k in f], [g[k] for k in g], rtol=RTOL)
    X = rng.integers(0, 256, size=(30, 1, 2, 2), dtype=np.uint8)
    s = diversity.subset_features(X, y, similarity=src)
    assert s == {**f, "pixels": 4, "channels": 1, "classes": 3}
    with pytest.raises(ValueError, match="tau"):
        diversity.features(X, y, similarity=src, tau=0.5)
    with pytest.raises(ValueError, match="29 images"):
        diversity.features(X[:29], y[:29], similarity=src)


# --------------------------------------------------------------------------- the one-hot fast path
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_features_from_similarity_equal_the_table_route_on_random_inputs(seed):
    rng = np.random.default_rng(30 + seed)
    N = 45
    y = rng.integers(0, 4, size=N) * 3  # labels need not be 0..K-1
    y[7] = 11  # a class of one image
    R = rng.random((N, N)) * 2.0
    Z = np.exp(-(R + R.T) / 2.0)
    np.fill_diagonal(Z, 1.0)
    if seed == 2:
        Z = Z * (rng.random((N, N)) < 0.7)  # zeros off the diagonal, not symmetric
        np.fill_diagonal(Z, 1.0)
    qs = [0.0, 1.0, 2.0, math.inf]
    fast = diversity.features_from_similarity(Z, y, qs)
    table = diversity.diversity_table(onehot(y), Z, qs)
    slow = diversity.features_from_table(table, np.unique(y, return_counts=True)[1])
    assert list(fast) == list(slow) == list(diversity.feature_names(qs))
    np.testing.assert_allclose([fast[k] for k in fast], [slow[k] for k in slow], rtol=1e-12)
    assert fast["size"] == N and isinstance(fast["size"], int)
    # the same through a blockwise source, and features() of pixels is this path too
    src = diversity.features_from_similarity(similarity.ArraySimilarity(Z), y, qs, block_size=8)
    np.testing.assert_allclose([src[k] for k in fast], [fast[k] for k in fast], rtol=1e-12)


def test_features_from_similarity_identity_and_errors():
    y = np.array([0, 0, 1, 1, 1, 2])
    f = diversity.features_from_similarity(None, y)  # identity: raw alpha is N, rho 1 in every class
    assert f["A_0"] == f["alpha_max_0"] == f["G_inf"] == pytest.approx(6.0)
    assert f["rho_min_1"] == f["rho_max_inf"] == pytest.approx(1.0)
    assert f["CB_inf"] == pytest.approx(2.0) and f["size"] == 6
    with pytest.raises(ValueError, match="5"):
        diversity.features_from_similarity(np.eye(5), y)
    with pytest.raises(ValueError):
        diversity.features_from_similarity(np.full((6, 6), 2.0), y)
    with pytest.raises(TypeError):
        diversity.features(None, y, similarity=np.eye(6), colour=1)

"""Subsets and their manifests: the selection rules against brute force, ids, schemas, designs."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from xfactor_lib.coresets import greedy
from xfactor_lib.data import load_dataset
from xfactor_lib.similarity import class_means, tau_data
from xfactor_lib.subsets import (
    MANIFEST_COLUMNS,
    SKIPPED_COLUMNS,
    STRATEGIES,
    balance_subsets,
    candidate_indices,
    keep_indices,
    manifest_indices,
    random_subsets,
    selected_subsets,
    skipped_subsets,
    study_x_manifest,
    subset_id,
)
from xfactor_lib.subsets.optimized import optimized_subsets

ID_COLUMNS = [
    "kind", "study", "dataset", "repeat", "seed", "n", "size", "strategy", "direction", "m", "cb_bin", "source"
]  # fmt: skip


# --------------------------------------------------------------------------- references
def brute_distances(Xc):
    """Pairwise distances as an ordering key, computed pair by pair.

    uint8: integer sums of squared grey-level differences (exact, monotone in RMSD);
    float: sqrt(mean((a - b)**2)), exact for the dyadic pixels the tests use.
    """
    M = len(Xc)
    flat = Xc.reshape(M, -1)
    out = np.zeros((M, M))
    for i in range(M):
        for j in range(M):
            if flat.dtype == np.uint8:
                diff = flat[i].astype(np.int64) - flat[j].astype(np.int64)
                out[i, j] = float((diff * diff).sum())
            else:
                out[i, j] = np.sqrt(np.mean((flat[i] - flat[j]) ** 2))
    return out


def brute_uniqueness(Xc, n, direction):
    """SPEC's rule, recomputing every pair and every second neighbour at each step."""
    dist = brute_distances(Xc)
    sign = 1.0 if direction == "+" else -1.0
    alive = list(range(len(Xc)))
    while len(alive) > n:
        # min over (value, i, j): the smallest (largest) pair, ties to the lower indices
        _, i, j = min((sign * dist[a, b], a, b) for a, b in itertools.combinations(alive, 2))

        def second(p, q):
            vals = [sign * dist[p, k] for k in alive if k not in (p, q)]
            return min(vals) if vals else math.inf

        s_i, s_j = second(i, j), second(j, i)
        # "+": drop the smaller second-nearest; "-": the larger second-furthest (smaller
        # after the sign flip); equal: keep the lower index i.
        alive.remove(i if s_i < s_j else j)
    return alive


def brute_cb_1(counts):
    """exp of the Shannon entropy of the class proportions, term by term."""
    p = [c / sum(counts) for c in counts if c > 0]
    return math.exp(-sum(q * math.log(q) for q in p))


def rebuilt_ids(manifest):
    """Every row's id rebuilt from its parameter columns alone."""
    cols = [c for c in ID_COLUMNS if c in manifest.columns]
    return [subset_id(**{c: row[c] for c in cols}) for _, row in manifest.iterrows()]


def brute_scores(Xc, means, strategy, label):
    flat = Xc.reshape(len(Xc), -1)
    flat = flat / 255.0 if flat.dtype == np.uint8 else flat
    scores = []
    for x in flat:
        d = np.array([np.sqrt(np.mean((x - mu) ** 2)) for mu in means])
        if strategy == "global_mean":
            scores.append(d.mean())
        elif strategy == "other_mean":
            scores.append(max(d[k] for k in range(len(means)) if k != label))
        else:
            scores.append(d[label])
    return scores


def brute_keep(Xc, n, strategy, direction, means, label):
    if strategy == "uniqueness":
        return brute_uniqueness(Xc, n, direction)
    s = brute_scores(Xc, means, strategy, label)
    keep_largest = (strategy != "own_mean") == (direction == "+")
    order = sorted(range(len(Xc)), key=lambda t: (-s[t] if keep_largest else s[t], t))
    return sorted(order[:n])


def random_case(rng, uint8):
    """Small candidates with few grey levels: many exact ties and duplicates."""
    M = int(rng.integers(2, 11))
    D = int(rng.integers(1, 5))
    K = int(rng.integers(2, 5))
    if uint8:
        Xc = (rng.integers(0, 4, size=(M, D)) * 85).astype(np.uint8)
    else:
        Xc = rng.integers(0, 5, size=(M, D)) / 4.0
    if M > 3:
        Xc[rng.integers(0, M)] = Xc[rng.integers(0, M)]  # a duplicate
    means = rng.integers(0, 5, size=(K, D)) / 4.0
    return Xc, int(rng.integers(1, M + 1)), means, int(rng.integers(0, K))


# --------------------------------------------------------------------------- keep_indices
@pytest.mark.parametrize("uint8", [False, True])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_keep_indices_matches_the_brute_force_rule_on_random_small_inputs(strategy, uint8):
    rng = np.random.default_rng(100 + STRATEGIES.index(strategy) + 10 * uint8)
    for _ in range(120):
        Xc, n, means, label = random_case(rng, uint8)
        for direction in "+-":
            got = keep_indices(Xc, n, strategy, direction, means, label)
            assert got.tolist() == brute_keep(Xc, n, strategy, direction, means, label), (Xc, n, direction)
            assert got.dtype == np.int64


def test_keep_indices_uniqueness_agrees_with_brute_force_on_continuous_data():
    rng = np.random.default_rng(7)
    for _ in range(20):
        Xc = rng.random((int(rng.integers(3, 25)), 6))
        n = int(rng.integers(1, len(Xc)))
        for direction in "+-":
            assert keep_indices(Xc, n, "uniqueness", direction).tolist() == brute_uniqueness(Xc, n, direction)


def test_own_mean_plus_keeps_images_nearest_the_class_mean():
    rng = np.random.default_rng(0)
    mean = 0.25 + 0.5 * rng.random(16)
    near = mean + 0.01 * rng.standard_normal((5, 16))
    far = np.clip(mean + 0.50 * rng.standard_normal((5, 16)), 0, 1)
    Xc = np.vstack([far, near])
    assert keep_indices(Xc, 5, "own_mean", "+", mean[None, :], 0).tolist() == [5, 6, 7, 8, 9]
    assert keep_indices(Xc, 5, "own_mean", "-", mean[None, :], 0).tolist() == [0, 1, 2, 3, 4]


def test_global_mean_plus_keeps_images_far_from_every_class_mean():
    means = np.array([[0.4] * 4, [0.5] * 4, [0.6] * 4])
    Xc = np.array([[0.5] * 4, [0.0] * 4, [0.45] * 4, [1.0] * 4, [0.55] * 4])
    assert keep_indices(Xc, 2, "global_mean", "+", means, 0).tolist() == [1, 3]
    assert keep_indices(Xc, 3, "global_mean", "-", means, 0).tolist() == [0, 2, 4]


def test_other_mean_minus_keeps_images_that_look_like_other_classes():
    means = np.array([[0.0] * 3, [1.0] * 3, [0.9] * 3])  # class 0 is dark, the others bright
    Xc = np.array([[1.0] * 3, [0.0] * 3, [0.95] * 3, [0.1] * 3])
    assert keep_indices(Xc, 2, "other_mean", "-", means, 0).tolist() == [0, 2]
    assert keep_indices(Xc, 2, "other_mean", "+", means, 0).tolist() == [1, 3]


def test_uniqueness_plus_drops_near_duplicates_first():
    corners = np.eye(5)  # five images far apart
    Xc = np.vstack([corners, 0.75 * corners[1], 0.75 * corners[3]])  # two near copies
    # each copy is the member of its pair nearer to everything else: the copies go
    assert keep_indices(Xc, 5, "uniqueness", "+").tolist() == [0, 1, 2, 3, 4]
    assert keep_indices(Xc, 6, "uniqueness", "+").tolist() == [0, 1, 2, 3, 4, 6]
    assert brute_uniqueness(Xc, 5, "+") == [0, 1, 2, 3, 4]


def test_uniqueness_minus_drops_the_outliers_first():
    rng = np.random.default_rng(3)
    cluster = 0.5 + 0.02 * rng.standard_normal((6, 8))
    Xc = np.vstack([cluster[:3], np.zeros(8), cluster[3:], np.ones(8)])
    assert keep_indices(Xc, 6, "uniqueness", "-").tolist() == [0, 1, 2, 4, 5, 6]


def test_uniqueness_on_identical_images_keeps_the_lower_index_of_each_tied_pair():
    Xc = np.full((5, 3), 0.5)
    # pairs (0,1), (0,2), (0,3) in turn: second distances tie, the higher index goes
    assert keep_indices(Xc, 2, "uniqueness", "+").tolist() == [0, 4]
    assert keep_indices(Xc[:2], 1, "uniqueness", "-").tolist() == [0]
    assert keep_indices(Xc, 2, "own_mean", "+", np.zeros((1, 3)), 0).tolist() == [0, 1]


def test_keep_indices_with_m_zero_keeps_everything():
    Xc = np.random.default_rng(0).random((4, 3))
    for strategy in STRATEGIES:
        assert keep_indices(Xc, 4, strategy, "+", np.zeros((2, 3)), 1).tolist() == [0, 1, 2, 3]


def test_keep_indices_rejects_bad_arguments():
    Xc = np.zeros((4, 3))
    means = np.zeros((2, 3))
    with pytest.raises(ValueError, match="cannot keep n = 5 of only 4"):
        keep_indices(Xc, 5, "uniqueness", "+")
    with pytest.raises(ValueError, match="n must be >= 1"):
        keep_indices(Xc, 0, "uniqueness", "+")
    with pytest.raises(ValueError, match="unknown strategy"):
        keep_indices(Xc, 2, "unique", "+")
    with pytest.raises(ValueError, match="unknown direction"):
        keep_indices(Xc, 2, "uniqueness", "plus")
    with pytest.raises(ValueError, match="need class_means"):
        keep_indices(Xc, 2, "own_mean", "+")
    with pytest.raises(ValueError, match="pass label"):
        keep_indices(Xc, 2, "own_mean", "+", means)
    with pytest.raises(ValueError, match="label must be <= 1"):
        keep_indices(Xc, 2, "other_mean", "+", means, 2)
    with pytest.raises(ValueError, match=r"shape \(K, D\) with D = 3"):
        keep_indices(Xc, 2, "global_mean", "+", np.zeros((2, 4)), 0)
    with pytest.raises(ValueError, match="non-finite"):
        keep_indices(np.array([[0.1], [np.nan]]), 1, "uniqueness", "+")
    with pytest.raises(TypeError, match="n must be an int"):
        keep_indices(Xc, 2.0, "uniqueness", "+")


# --------------------------------------------------------------------------- manifests
def toy_data(seed=0, sizes=(30, 25, 40), D=6):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    X = rng.integers(0, 256, size=(len(y), 1, 2, D // 2), dtype=np.uint8)
    X[5] = X[9]
    return X, y


def test_random_subsets_are_class_balanced_sorted_and_deterministic():
    _, y = toy_data()
    df = random_subsets(y, 7, 5, seed=3, dataset="toy")
    assert list(df.columns) == list(MANIFEST_COLUMNS["x"])
    assert df["subset_id"].tolist() == [f"x-toy-n7-random-r{r}-s3" for r in range(5)]
    assert df["subset_id"].tolist() == rebuilt_ids(df)
    assert (df["n"] == 7).all() and (df["size"] == 21).all()
    assert all(np.array_equal(i, c) for i, c in zip(df["indices"], df["candidates"]))
    for _, row in df.iterrows():
        idx = manifest_indices(row)
        assert idx.dtype == np.int64
        assert np.all(np.diff(idx) > 0)
        assert np.bincount(y[idx], minlength=3).tolist() == [7, 7, 7]
    assert df[["kind", "strategy", "direction", "m", "source"]].iloc[0].tolist() == [
        "random",
        "none",
        "none",
        0,
        "class",
    ]
    again = random_subsets(y, 7, 3, seed=3, dataset="toy")  # fewer subsets: same first ones
    for a, b in zip(df["indices"][:3], again["indices"]):
        assert np.array_equal(a, b)
    other = random_subsets(y, 7, 5, seed=4, dataset="toy")
    assert not all(np.array_equal(a, b) for a, b in zip(df["indices"], other["indices"]))


def test_random_subsets_reject_n_above_the_smallest_class():
    _, y = toy_data()
    with pytest.raises(ValueError, match="exceeds class 1, which has 25 images"):
        random_subsets(y, 26, 1, seed=0)
    with pytest.raises(ValueError, match=r"class\(es\) \[1\] have no image"):
        random_subsets(np.array([0, 0, 2, 2]), 1, 1, seed=0)


def test_manifest_survives_a_parquet_round_trip(tmp_path):
    _, y = toy_data()
    df = random_subsets(y, 3, 2, seed=0)
    df.to_parquet(tmp_path / "m.parquet", index=False)
    back = pd.read_parquet(tmp_path / "m.parquet")
    for a, b in zip(df["indices"], back["indices"]):
        assert np.array_equal(a, manifest_indices({"indices": b}))


def test_selected_subsets_follow_keep_indices_on_shared_candidates():
    X, y = toy_data()
    mu = class_means(X, y)
    df = selected_subsets(X, y, 4, ms=(0, 3, 21, 22), repeats=2, seed=5, dataset="toy")
    assert list(df.columns) == list(MANIFEST_COLUMNS["x"])
    assert len(df) == 4 * 2 * 3 * 2  # m = 22 is skipped: 4 + 22 > 25 images of class 1
    assert df["subset_id"].iloc[0] == "x-toy-n4-selected-uniqueness+-m0-r0-s5"
    assert df["subset_id"].is_unique and df["subset_id"].tolist() == rebuilt_ids(df)
    assert (df["n"] == 4).all() and (df["size"] == 12).all() and (df["source"] == "candidates").all()
    for _, row in df.iterrows():
        cands = candidate_indices(y, 4, row["m"], row["repeat"], seed=5)
        expected = np.sort(
            np.concatenate(
                [cands[k][keep_indices(X[cands[k]], 4, row["strategy"], row["direction"], mu, k)] for k in range(3)]
            )
        )
        assert np.array_equal(manifest_indices(row), expected), row["subset_id"]
        assert np.array_equal(row["candidates"], np.sort(cands.ravel()))
        assert np.bincount(y[expected], minlength=3).tolist() == [4, 4, 4]
        if row["m"] == 0:
            assert np.array_equal(expected, np.sort(cands.ravel()))
    skipped = skipped_subsets(y, 4, ms=(0, 3, 21, 22), repeats=2, seed=5, dataset="toy")
    assert list(skipped.columns) == list(SKIPPED_COLUMNS)
    assert len(skipped) == 4 * 2 * 2
    assert set(skipped["m"]) == {22}
    assert skipped["subset_id"].iloc[0] == "x-toy-n4-selected-uniqueness+-m22-r0-s5"
    assert not set(skipped["subset_id"]) & set(df["subset_id"])
    assert skipped["reason"].iloc[0] == "n + m = 26 exceeds the 25 images of class 1"
    assert skipped_subsets(y, 4, ms=(3,), repeats=2, seed=5).empty


def test_selected_subsets_are_deterministic_and_depend_on_the_seed():
    X, y = toy_data()
    kw = dict(ms=(5,), strategies=("uniqueness", "own_mean"), directions=("-",), repeats=2, dataset="toy")
    a = selected_subsets(X, y, 3, seed=1, **kw)
    b = selected_subsets(X, y, 3, seed=1, **kw)
    c = selected_subsets(X, y, 3, seed=2, **kw)
    assert a["subset_id"].tolist() == b["subset_id"].tolist()
    assert all(np.array_equal(p, q) for p, q in zip(a["indices"], b["indices"]))
    assert not all(np.array_equal(p, q) for p, q in zip(a["indices"], c["indices"]))
    assert a["strategy"].tolist() == ["uniqueness"] * 2 + ["own_mean"] * 2


def test_selected_subsets_on_float_images_match_uint8():
    X, y = toy_data()
    kw = dict(ms=(6,), repeats=1, seed=0)
    a = selected_subsets(X, y, 5, **kw)
    b = selected_subsets(X.reshape(len(X), -1) / 255.0, y, 5, **kw)
    assert all(np.array_equal(p, q) for p, q in zip(a["indices"], b["indices"]))


def test_selected_subsets_reject_bad_arguments():
    X, y = toy_data()
    with pytest.raises(ValueError, match="distinct"):
        selected_subsets(X, y, 2, ms=(3, 3), seed=0)
    with pytest.raises(ValueError, match="unknown strategy"):
        selected_subsets(X, y, 2, strategies=("random",), seed=0)
    with pytest.raises(ValueError, match="labels but X has"):
        selected_subsets(X, y[:-1], 2, seed=0)
    with pytest.raises(ValueError, match="class_means has 2 rows"):
        selected_subsets(X, y, 2, ms=(1,), seed=0, class_means=np.zeros((2, 6)))


# --------------------------------------------------------------------------- ids
def test_subset_id_spells_every_kind_from_its_parameters():
    assert subset_id(kind="random", study="x", dataset="mnist", n=30, repeat=2, seed=0) == "x-mnist-n30-random-r2-s0"
    selected = dict(kind="selected", study="x", dataset="mnist", n=30, strategy="own_mean", direction="-", m=10)
    assert subset_id(**selected, repeat=0, seed=1) == "x-mnist-n30-selected-own_mean--m10-r0-s1"
    balance = dict(kind="balance", study="a", dataset="cifar10", size=256, cb_bin=3)
    assert subset_id(**balance, repeat=1, seed=0) == "a-cifar10-size256-balance-b03-r1-s0"
    optimized = dict(kind="optimized", study="x", dataset="mnist", n=30, strategy="coverage", repeat=0, seed=0)
    assert subset_id(**optimized, source="class", m=0) == "x-mnist-n30-optimized-coverage-class-r0-s0"
    assert subset_id(**optimized, source="candidates", m=10) == "x-mnist-n30-optimized-coverage-m10-r0-s0"
    with pytest.raises(ValueError, match="unknown kind"):
        subset_id(kind="coreset", study="x", dataset="mnist", repeat=0, seed=0)


# --------------------------------------------------------------------------- study A
def test_balance_subsets_keep_per_bin_vectors_of_every_reachable_bin():
    caps = [50, 10, 80, 60]
    y = np.random.default_rng(0).permutation(np.repeat(np.arange(4), caps))
    size, K = 40, 4
    df = balance_subsets(y, size, seed=0, dataset="toy")
    # every composition of 40 into 4 parts within the class sizes, binned like the suite
    per_bin = {}
    for cuts in itertools.combinations(range(1, size), K - 1):
        parts = np.diff([0, *cuts, size])
        if np.all(parts <= caps):
            cb = math.exp(-sum(p / size * math.log(p / size) for p in parts))
            b = min(int((cb - 1) / (K - 1) * 25), 24)
            per_bin[b] = per_bin.get(b, 0) + 1
    got = df["cb_bin"].value_counts().to_dict()
    assert got == {b: min(4, c) for b, c in per_bin.items()}
    assert len({tuple(c) for c in df["class_counts"]}) == len(df)
    for _, row in df.iterrows():
        idx = manifest_indices(row)
        counts = np.array(row["class_counts"])
        assert counts.sum() == size and counts.min() >= 1 and np.all(counts <= caps)
        assert np.bincount(y[idx], minlength=K).tolist() == counts.tolist()
        assert np.all(np.diff(idx) > 0)
        assert row["cb_1"] == pytest.approx(brute_cb_1(counts), rel=1e-12)
        assert row["cb_bin"] == min(int((row["cb_1"] - 1) / (K - 1) * 25), 24)
    assert list(df.columns) == list(MANIFEST_COLUMNS["a"])
    assert df["subset_id"].iloc[0].startswith("a-toy-size40-balance-b")
    assert df["subset_id"].tolist() == rebuilt_ids(df)
    assert (df["size"] == size).all() and (df["study"] == "a").all()


def test_balance_subsets_reach_strong_imbalance_at_a_large_size():
    y = np.repeat(np.arange(5), 1200)
    df = balance_subsets(y, 1000, seed=1, dataset="toy", n_draws=3000)
    lowest = brute_cb_1([996, 1, 1, 1, 1])  # the most imbalanced vector, CB_1 = 1.03
    assert df["cb_1"].min() < lowest + 0.05
    assert sorted(set(df["cb_bin"])) == list(range(int((lowest - 1) / 4 * 25), 25))
    assert (df["cb_bin"].value_counts() == 4).all()


def test_balance_subsets_are_deterministic():
    _, y = toy_data()
    a = balance_subsets(y, 30, seed=2, dataset="toy", n_draws=500)
    b = balance_subsets(y, 30, seed=2, dataset="toy", n_draws=500)
    assert a["subset_id"].tolist() == b["subset_id"].tolist()
    assert all(np.array_equal(p, q) for p, q in zip(a["indices"], b["indices"]))


def test_balance_subsets_reject_impossible_sizes():
    _, y = toy_data()
    with pytest.raises(ValueError, match="below the K = 3 classes"):
        balance_subsets(y, 2, seed=0, dataset="toy")
    with pytest.raises(ValueError, match="exceeds the 95 images"):
        balance_subsets(y, 96, seed=0, dataset="toy")
    with pytest.raises(ValueError, match="at least 2 classes"):
        balance_subsets(np.zeros(5, dtype=int), 3, seed=0, dataset="toy")


def test_study_x_manifest_has_random_then_selected_with_their_candidates():
    ds = load_dataset("digits", "train")
    man = study_x_manifest(ds.images, ds.labels, 5, n_random=3, ms=[4], repeats=1, seed=0, dataset="digits")
    assert man["kind"].tolist() == ["random"] * 3 + ["selected"] * 8
    assert list(man.columns) == list(MANIFEST_COLUMNS["x"])
    assert (man["n"] == 5).all() and (man["size"] == 50).all() and man["indices"].map(len).eq(50).all()
    for _, row in man.iterrows():
        kept, cands = set(row["indices"].tolist()), set(row["candidates"].tolist())
        assert kept <= cands
        assert len(cands) == (50 if row["kind"] == "random" else 90)
        assert all(
            (ds.labels[list(cands - kept)] == k).sum() == (4 if row["kind"] == "selected" else 0) for k in range(10)
        )
    same = study_x_manifest(ds.images, ds.labels, 5, n_random=3, ms=[4], repeats=1, seed=0, dataset="digits")
    assert all(a.tolist() == b.tolist() for a, b in zip(man["indices"], same["indices"]))


# --------------------------------------------------------------------------- optimized (SPEC 5)
def test_optimized_subsets_choose_n_per_class_by_greedy_from_the_class_and_the_shared_candidates():
    X, y = toy_data()
    df = optimized_subsets(X, y, 4, ms=(3, 22), repeats=2, seed=5, dataset="toy")
    assert list(df.columns) == list(MANIFEST_COLUMNS["x"])
    # per method: one from the class, two candidate draws (m = 22 skipped: 4 + 22 > 25)
    assert df[["strategy", "source", "m", "repeat"]].values.tolist() == [
        [method, source, m, r]
        for method in ("coverage", "a_max")
        for source, m, r in (("class", 0, 0), ("candidates", 3, 0), ("candidates", 3, 1))
    ]
    assert (df["kind"] == "optimized").all() and (df["direction"] == "none").all()
    assert df["subset_id"].is_unique and df["subset_id"].tolist() == rebuilt_ids(df)
    assert df["subset_id"].iloc[1] == "x-toy-n4-optimized-coverage-m3-r0-s5"
    tau = tau_data(X, y, seed=5)
    selected = selected_subsets(X, y, 4, ms=(3,), repeats=2, seed=5, dataset="toy").set_index(["m", "repeat"])
    for _, row in df.iterrows():
        idx = manifest_indices(row)
        assert np.bincount(y[idx], minlength=3).tolist() == [4, 4, 4]
        pick = greedy.coverage_select if row["strategy"] == "coverage" else greedy.a_max_select
        opts = dict(tau=tau, seed=5) if row["strategy"] == "coverage" else {}
        if row["source"] == "class":
            assert np.array_equal(row["candidates"], idx)
            assert idx.tolist() == pick(X, y, n=4, **opts).tolist()
        else:  # the very candidates the selected rules of this (m, repeat) chose from
            c = row["candidates"]
            assert np.array_equal(c, selected.loc[(row["m"], row["repeat"]), "candidates"].iloc[0])
            assert idx.tolist() == c[pick(X[c], y[c], n=4, **opts)].tolist()
    only = optimized_subsets(X, y, 4, methods=["a_max"], sources=["class"], ms=(3,), seed=5, dataset="toy")
    assert only["subset_id"].tolist() == ["x-toy-n4-optimized-a_max-class-r0-s5"]
    with pytest.raises(ValueError, match="unknown method"):
        optimized_subsets(X, y, 4, methods=["k_center"], seed=0)
    with pytest.raises(ValueError, match="exceeds class 1"):
        optimized_subsets(X, y, 26, sources=["class"], seed=0)

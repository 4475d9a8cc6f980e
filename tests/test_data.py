"""The data layer: real MNIST, digits, MedMNIST files, user arrays and folders, errors."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest

from xfactor_lib import data
from xfactor_lib.data import DataNotFoundError, load_dataset, loading

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_train_has_the_official_class_counts(mnist_root, tmp_cache):
    ds = load_dataset("mnist", "train", mnist_root)
    assert ds.images.shape == (60000, 1, 28, 28)
    assert ds.images.dtype == np.uint8 and ds.labels.dtype == np.int64
    assert ds.class_counts().tolist() == MNIST_TRAIN_COUNTS
    assert ds.classes == [str(i) for i in range(10)]


def test_mnist_test_split_and_pixels_match_the_idx_file(mnist_root, tmp_cache):
    ds = load_dataset("mnist", "test", mnist_root)
    assert ds.N == 10000 and ds.class_counts().tolist() == MNIST_TEST_COUNTS
    raw = gzip.open(mnist_root / "MNIST/raw/t10k-images-idx3-ubyte.gz").read()
    assert hashlib.md5(raw).hexdigest() == "2646ac647ad5339dbf082846283269ea"
    assert ds.images.tobytes() == raw[16:]


def test_second_load_comes_from_the_cache_and_never_writes_beside_the_data(mnist_root, tmp_cache):
    before = sorted(p.name for p in (mnist_root / "MNIST/raw").iterdir())
    a = load_dataset("mnist", "test", mnist_root)
    cached = list((tmp_cache / "decoded").glob("mnist-test-*.npz"))
    assert len(cached) == 1
    b = load_dataset("mnist", "test", mnist_root)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert sorted(p.name for p in (mnist_root / "MNIST/raw").iterdir()) == before


def test_digits_split_is_deterministic_stratified_and_scaled_to_uint8():
    tr, te = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert tr.N + te.N == 1797 and te.N == 450
    assert tr.images.shape[1:] == (1, 8, 8) and tr.images.max() == 255
    assert np.array_equal(tr.labels, load_dataset("digits", "train").labels)
    share = tr.class_counts() / tr.N
    assert np.all(np.abs(share - te.class_counts() / te.N) < 0.01)


def _breast_npz(path, rng, *, train=546, val=78, test=156, size=28):
    arrays = {}
    for split, n in (("train", train), ("val", val), ("test", test)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, (n, 1)).astype(np.uint8)
    np.savez(path, **arrays)
    return arrays


def test_medmnist_npz_loads_through_medmnist_classes(tmp_path, tmp_cache, monkeypatch):
    import medmnist

    calls = []
    original = medmnist.BreastMNIST.__init__

    def spy(self, *a, **kw):
        calls.append(kw)
        return original(self, *a, **kw)

    monkeypatch.setattr(medmnist.BreastMNIST, "__init__", spy)
    arrays = _breast_npz(tmp_path / "breastmnist.npz", np.random.default_rng(0))
    for split, n in (("train", 546), ("val", 78), ("test", 156)):
        ds = load_dataset("breastmnist", split, tmp_path, download=False)
        assert ds.images.shape == (n, 1, 28, 28)
        assert np.array_equal(ds.images[:, 0], arrays[f"{split}_images"])
        assert np.array_equal(ds.labels, arrays[f"{split}_labels"][:, 0].astype(np.int64))
        assert ds.classes == ["malignant", "normal, benign"]
    assert calls and all(c["download"] is False for c in calls)


def test_medmnist_rgb_and_larger_size(tmp_path, tmp_cache):
    rng = np.random.default_rng(1)
    arrays = {}
    for split, n in (("train", 546), ("val", 78), ("test", 156)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 64, 64), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, (n, 1))
    np.savez(tmp_path / "breastmnist_64.npz", **arrays)
    ds = load_dataset("breastmnist", "val", tmp_path, size=64, download=False)
    assert ds.images.shape == (78, 1, 64, 64)


def test_medmnist_file_with_wrong_counts_is_a_clear_error(tmp_path, tmp_cache):
    _breast_npz(tmp_path / "breastmnist.npz", np.random.default_rng(0), train=500)
    with pytest.raises(ValueError, match="official format"):
        load_dataset("breastmnist", "train", tmp_path, download=False)


def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown dataset 'mnistt'.*organamnist.*npz:<path>"):
        load_dataset("mnistt")


def test_unknown_split_is_an_error():
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        load_dataset("digits", "validation")


def test_missing_data_offline_names_the_folders_and_the_fix(tmp_path, tmp_cache, monkeypatch):
    monkeypatch.setattr(loading, "_shared_data", lambda: [])
    with pytest.raises(DataNotFoundError) as exc:
        load_dataset("fashion-mnist", "train", tmp_path / "nowhere", download=False)
    msg = str(exc.value)
    assert str(tmp_path / "nowhere" / "FashionMNIST" / "raw") in msg
    assert str(tmp_cache / "data" / "FashionMNIST" / "raw") in msg
    assert "XFACTOR_DATA" in msg


def test_failed_download_is_reported_as_missing_data(tmp_path, tmp_cache, monkeypatch):
    monkeypatch.setattr(loading, "_shared_data", lambda: [])
    monkeypatch.setattr(loading, "_download_torchvision", lambda name, roots: None)
    with pytest.raises(DataNotFoundError, match="not found offline"):
        load_dataset("mnist", "test", tmp_path)


def test_medmnist_missing_offline_is_a_clear_error(tmp_path, tmp_cache, monkeypatch):
    monkeypatch.setattr(loading, "_shared_data", lambda: [])
    with pytest.raises(DataNotFoundError, match="(?s)organamnist.npz.*Fix"):
        load_dataset("organamnist", "train", tmp_path, download=False)


def test_multilabel_chestmnist_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="chestmnist is multi-label"):
        load_dataset("chestmnist", "train", download=False)


def test_npz_user_arrays_in_both_key_styles(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((20, 12, 12, 3))
    y = rng.integers(0, 4, 20)
    np.savez(tmp_path / "a.npz", x_train=x, y_train=y, x_test=x[:5], y_test=y[:5])
    ds = load_dataset(f"npz:{tmp_path / 'a.npz'}", "train")
    assert ds.images.shape == (20, 3, 12, 12) and ds.images.dtype == np.uint8
    assert np.array_equal(ds.images[3, 1], np.rint(x[3, :, :, 1] * 255).astype(np.uint8))
    assert ds.K == int(y.max()) + 1
    np.savez(tmp_path / "b.npz", test_images=(x[:5] * 255).astype(np.uint8), test_labels=y[:5, None])
    assert load_dataset(f"npz:{tmp_path / 'b.npz'}", "test").N == 5


@pytest.mark.parametrize(
    "x, y, match",
    [
        (np.full((4, 8, 8), np.nan), np.zeros(4, int), "NaN or inf pixels in 4 image"),
        (np.zeros((4, 8)), np.zeros(4, int), r"must be images shaped"),
        (np.zeros((4, 5, 8, 8)), np.zeros(4, int), "1 or 3 channels"),
        (np.zeros((4, 8, 8)), np.zeros(3, int), "3 labels for 4 images"),
        (np.zeros((0, 8, 8)), np.zeros(0, int), "no images in its 'train' split"),
        (np.zeros((4, 8, 8)), np.array([0, 1, 0.5, 1]), "non-integer"),
        (np.zeros((4, 8, 8)), np.array([0, 1, -1, 1]), "negative label"),
        (np.zeros((4, 8, 8)), np.zeros((4, 3), int), "one integer label per image"),
        (np.full((4, 8, 8), 300.0), np.zeros(4, int), r"must lie in \[0, 1\], got \[300, 300\]; pass pixel_scale=255"),
    ],
)
def test_bad_user_arrays_get_clear_errors(tmp_path, x, y, match):
    np.savez(tmp_path / "bad.npz", x_train=x, y_train=y)
    with pytest.raises(ValueError, match=match):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}", "train")


def test_labels_out_of_range_of_the_class_names(tmp_path):
    np.savez(tmp_path / "c.npz", x_train=np.zeros((3, 4, 4)), y_train=np.array([0, 1, 2]), classes=np.array(["a", "b"]))
    with pytest.raises(ValueError, match="label 2 but only 2 class names"):
        load_dataset(f"npz:{tmp_path / 'c.npz'}", "train")


def test_npz_without_the_split_lists_its_keys(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.zeros((3, 4, 4)), y_train=np.zeros(3, int))
    with pytest.raises(ValueError, match="no 'test' split.*x_train"):
        load_dataset(f"npz:{tmp_path / 'd.npz'}", "test")


def test_folder_dataset_reads_one_subfolder_per_class(tmp_path, tmp_cache):
    from PIL import Image

    rng = np.random.default_rng(0)
    expected = {}
    for split in ("train", "test"):
        for cname in ("cat", "dog"):
            (tmp_path / split / cname).mkdir(parents=True)
            for i in range(3):
                arr = rng.integers(0, 256, (6, 6), dtype=np.uint8)
                Image.fromarray(arr).save(tmp_path / split / cname / f"{i}.png")
                expected[(split, cname, i)] = arr
    ds = load_dataset(f"folder:{tmp_path}", "test")
    assert ds.classes == ["cat", "dog"] and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert np.array_equal(ds.images[4, 0], expected[("test", "dog", 1)])


def test_folder_with_mixed_sizes_is_a_clear_error(tmp_path, tmp_cache):
    from PIL import Image

    (tmp_path / "train" / "a").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "train/a/1.png")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "train/a/2.png")
    with pytest.raises(ValueError, match="differ in size"):
        load_dataset(f"folder:{tmp_path}", "train")


def test_balanced_sample_and_train_val_split():
    y = np.repeat(np.arange(3), [50, 30, 4])
    idx = data.balanced_sample(y, 30, seed=0)
    assert np.bincount(y[idx]).tolist() == [13, 13, 4]
    assert np.array_equal(idx, data.balanced_sample(y, 30, seed=0))
    tr, va = data.train_val_split(y, 9, seed=1)
    assert len(va) == 9 and np.bincount(y[va]).tolist() == [3, 3, 3]
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(len(y)))


def test_dataset_X_is_float32_in_unit_range():
    ds = load_dataset("digits", "test")
    X = ds.X()
    assert X.dtype == np.float32 and X.shape == (450, 64)
    assert np.array_equal(X, ds.images.reshape(450, -1).astype(np.float32) / np.float32(255))


def test_pixel_stats_match_numpy():
    ds = load_dataset("digits", "test")
    st = data.pixel_stats(ds)
    row = st[st["label"] == "3"].iloc[0]
    v = ds.images[ds.labels == 3].astype(float) / 255
    assert row["count"] == (ds.labels == 3).sum()
    assert row["mean"] == pytest.approx(v.mean(), rel=1e-12) and row["std"] == pytest.approx(v.std(), rel=1e-12)
    assert st[st["label"] == "all"]["count"].item() == ds.N


def test_load_train_test_keeps_a_fixed_balanced_test_sample():
    train, test = data.load_train_test("digits", test_sample=100)
    assert train.N == 1347 and test.N == 100
    assert np.bincount(test.labels).tolist() == [10] * 10
    _, again = data.load_train_test("digits", test_sample=100)
    assert np.array_equal(test.images, again.images)
    assert data.load_train_test("digits")[1].N == 450


def test_npz_class_list_is_shared_by_the_splits(tmp_path):
    """Top class 3 is missing from train but present in test: one K = 4 for both, train refused."""
    x = np.zeros((8, 4, 4), np.uint8)
    np.savez(
        tmp_path / "k.npz",
        x_train=x[:6],
        y_train=np.array([0, 1, 2, 0, 1, 2]),
        x_test=x[:8],
        y_test=np.array([0, 1, 2, 3, 0, 1, 2, 3]),
    )
    name = f"npz:{tmp_path / 'k.npz'}"
    assert load_dataset(name, "test").K == 4
    with pytest.raises(ValueError, match=r"train split has no images of class\(es\) \['3'\] \(of 4 classes"):
        load_dataset(name, "train")
    # a test split missing a class keeps K (empty classes are only refused in train)
    np.savez(
        tmp_path / "t.npz", x_train=x[:8], y_train=np.array([0, 1, 2, 3] * 2), x_test=x[:3], y_test=np.array([0, 1, 2])
    )
    name = f"npz:{tmp_path / 't.npz'}"
    assert load_dataset(name, "train").K == load_dataset(name, "test").K == 4
    # declared classes count even when no split uses the last one
    np.savez(
        tmp_path / "d.npz",
        x_train=x[:4],
        y_train=np.array([0, 1, 0, 1]),
        x_test=x[:2],
        y_test=np.array([0, 1]),
        classes=np.array(["a", "b", "c"]),
    )
    with pytest.raises(ValueError, match=r"class\(es\) \['c'\]"):
        load_dataset(f"npz:{tmp_path / 'd.npz'}", "train")
    assert load_dataset(f"npz:{tmp_path / 'd.npz'}", "test").classes == ["a", "b", "c"]


def test_folder_class_list_is_the_union_over_splits(tmp_path, tmp_cache):
    from PIL import Image

    for split, names in (("train", ["a", "b"]), ("test", ["a", "b", "c"])):
        for c in names:
            (tmp_path / split / c).mkdir(parents=True)
            Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / split / c / "1.png")
    test = load_dataset(f"folder:{tmp_path}", "test")
    assert test.classes == ["a", "b", "c"] and test.labels.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"no images of class\(es\) \['c'\]"):
        load_dataset(f"folder:{tmp_path}", "train")


def test_float_pixels_are_never_rescaled_by_guessing(tmp_path):
    y = np.array([0, 1, 0, 1])
    x = np.full((4, 2, 2), 0.5)
    x[0, 0, 0] = 1.0001
    np.savez(tmp_path / "a.npz", x_train=x, y_train=y)
    with pytest.raises(ValueError, match=r"float pixels must lie in \[0, 1\], got \[0.5, 1.0001\]"):
        load_dataset(f"npz:{tmp_path / 'a.npz'}", "train")
    binary = np.zeros((4, 2, 2))
    binary[:, 0, 0] = 1.0
    np.savez(tmp_path / "b.npz", x_train=binary, y_train=y)
    assert (
        load_dataset(f"npz:{tmp_path / 'b.npz'}", "train").images[:, 0].reshape(4, -1).tolist() == [[255, 0, 0, 0]] * 4
    )  # floats are [0, 1] pixels: 1.0 is white
    levels = np.full((4, 2, 2), 200.0)
    np.savez(tmp_path / "c.npz", x_train=levels, y_train=y)
    ds = load_dataset(f"npz:{tmp_path / 'c.npz'}", "train", pixel_scale=255)
    assert (ds.images == 200).all()
    assert (load_dataset(f"npz:{tmp_path / 'b.npz'}", "train", pixel_scale=255).images <= 1).all()


def test_text_file_named_npz_is_a_clear_error(tmp_path):
    (tmp_path / "notes.npz").write_text("x_train,y_train\n1,2\n")
    with pytest.raises(ValueError, match=r"notes.npz is not an .npz archive \(it starts with b'x_tr'") as info:
        load_dataset(f"npz:{tmp_path / 'notes.npz'}", "train")
    assert "pickle" not in str(info.value)


def test_non_image_file_in_a_folder_is_named(tmp_path, tmp_cache):
    from PIL import Image

    (tmp_path / "train" / "a").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "train/a/1.png")
    (tmp_path / "train" / "a" / "2.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"train/a/2.png is not a readable image \(UnidentifiedImageError\)"):
        load_dataset(f"folder:{tmp_path}", "train")


def test_data_summary_tables_and_verdict_come_from_the_records():
    from xfactor_lib.data import stats as data_stats

    ds = load_dataset("digits", "test")
    stats = data.pixel_stats(ds).assign(scale="quick")
    counts = data_stats.class_count_table(stats)
    assert counts.loc[("digits", "test")].sum() == 450 and counts.shape == (1, 10)
    row = data_stats.overview(stats).iloc[0]
    bc = ds.class_counts()
    assert row["K"] == 10 and row["imbalance"] == pytest.approx(bc.max() / bc.min())
    text = data_stats.verdict(stats, "Read 1 of 1 cells (stage data). None failed or missing.")
    assert text.splitlines()[:3] == ["## Verdict", "", "Read 1 of 1 cells (stage data). None failed or missing."]
    assert f"**digits / test**: 450 images, 10 classes, largest/smallest class {bc.max() / bc.min():.2f}" in text
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['count'\]"):
        data_stats.overview(stats.drop(columns="count"))

"""The data layer: real MNIST, digits, MedMNIST files, user arrays and folders, errors."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest

from xfactor_lib import data
from xfactor_lib.data import DataNotFoundError, load_dataset

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
    monkeypatch.setattr(data, "_shared_data", lambda: [])
    with pytest.raises(DataNotFoundError) as exc:
        load_dataset("fashion-mnist", "train", tmp_path / "nowhere", download=False)
    msg = str(exc.value)
    assert str(tmp_path / "nowhere" / "FashionMNIST" / "raw") in msg
    assert str(tmp_cache / "data" / "FashionMNIST" / "raw") in msg
    assert "XFACTOR_DATA" in msg


def test_failed_download_is_reported_as_missing_data(tmp_path, tmp_cache, monkeypatch):
    monkeypatch.setattr(data, "_shared_data", lambda: [])
    monkeypatch.setattr(data, "_download_torchvision", lambda name, roots: None)
    with pytest.raises(DataNotFoundError, match="not found offline"):
        load_dataset("mnist", "test", tmp_path)


def test_medmnist_missing_offline_is_a_clear_error(tmp_path, tmp_cache, monkeypatch):
    monkeypatch.setattr(data, "_shared_data", lambda: [])
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
        (np.zeros((4, 8, 8)), np.array([0, 1, 0.5, 1]), "non-integer"),
        (np.zeros((4, 8, 8)), np.array([0, 1, -1, 1]), "negative label"),
        (np.zeros((4, 8, 8)), np.zeros((4, 3), int), "one integer label per image"),
        (np.full((4, 8, 8), 300.0), np.zeros(4, int), r"\[0, 1\] or \[0, 255\]"),
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


def test_flatten_scales_uint8_and_rejects_bad_floats():
    X = np.array([[[[0, 255]]]], dtype=np.uint8)
    assert data.flatten(X).tolist() == [[0.0, 1.0]]
    with pytest.raises(ValueError, match="non-finite"):
        data.flatten(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        data.flatten(np.array([[2.0, 0.0]]))


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

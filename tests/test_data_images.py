"""Issue 22: 16-bit and other high-depth image files, and splits that disagree in shape."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from xfactor_lib import data
from xfactor_lib.data import load_dataset, load_train_test, loading

V16 = np.array([[0, 257, 4095, 32768], [40000, 65535, 1000, 65280]], dtype=np.uint16)


def _folder(tmp_path, images: dict, ext="png"):
    """``{split: [array or PIL image, ...]}`` as class folder ``a`` of a folder data set."""
    for split, items in images.items():
        (tmp_path / split / "a").mkdir(parents=True)
        for i, im in enumerate(items):
            (im if isinstance(im, Image.Image) else Image.fromarray(im)).save(tmp_path / split / "a" / f"{i}.{ext}")
    return f"folder:{tmp_path}"


def test_16_bit_png_folder_is_one_channel_scaled_by_its_bit_depth(tmp_path, tmp_cache):
    name = _folder(tmp_path, {"train": [V16, V16[::-1]], "test": [V16]})
    assert Image.open(tmp_path / "train/a/0.png").mode == "I;16"
    ds = load_dataset(name, "train")
    expected = np.rint(V16.astype(float) * 255 / 65535).astype(np.uint8)
    assert expected.tolist() == [[0, 1, 16, 128], [156, 255, 4, 254]]
    assert ds.images.shape == (2, 1, 2, 4) and ds.images.dtype == np.uint8
    assert np.array_equal(ds.images[0, 0], expected) and np.array_equal(ds.images[1, 0], expected[::-1])
    assert ds.meta["pixel_depth"] == {
        "modes": ["I;16"],
        "bits": [16],
        "white": 65535.0,
        "max_value": 65535.0,
        "scaling": "uint8 = round(value * 255 / white)",
    }
    again = load_dataset(name, "train")  # from the cache: same pixels, same meta
    assert np.array_equal(again.images, ds.images) and again.meta == ds.meta


def test_12_bit_data_in_16_bit_files_warns_and_pixel_scale_uses_the_full_range(tmp_path, tmp_cache):
    v12 = np.array([[0, 1000], [2048, 4095]], dtype=np.uint16)
    name = _folder(tmp_path, {"train": [v12], "test": [v12]})
    with pytest.warns(UserWarning, match=r"values only up to 4095 .* come out dark \(at most 16 of 255\); pass "):
        dark = load_dataset(name, "train")
    assert dark.images[0, 0].tolist() == [[0, 4], [8, 16]]
    full = load_dataset(name, "train", pixel_scale=4095)
    assert full.images[0, 0].tolist() == [[0, 62], [128, 255]] and full.meta["pixel_depth"]["white"] == 4095.0
    with pytest.raises(ValueError, match=re.escape("pixel values [0, 4095] lie outside [0, 2047]; check pixel_scale")):
        load_dataset(name, "train", pixel_scale=2047)


def test_int32_and_float_images(tmp_path, tmp_cache):
    big = np.array([[0, 70000]], dtype=np.int32)
    name = _folder(tmp_path / "i", {"train": [big]}, ext="tif")
    with pytest.raises(ValueError, match=r"0\.tif: 32-bit integer pixels up to 70000 \(more than 16 bits\); pass "):
        load_dataset(name, "train")
    assert load_dataset(name, "train", pixel_scale=70000).images[0, 0].tolist() == [[0, 255]]
    f = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    fname = _folder(tmp_path / "f", {"train": [f]}, ext="tif")
    ds = load_dataset(fname, "train")
    assert ds.images.shape == (1, 1, 1, 3) and ds.images[0, 0].tolist() == [[0, 128, 255]]
    assert ds.meta["pixel_depth"]["modes"] == ["F"] and ds.meta["pixel_depth"]["bits"] == [32]
    hot = _folder(tmp_path / "h", {"train": [f * 2]}, ext="tif")
    with pytest.raises(ValueError, match=r"pixel values \[0, 2\] lie outside \[0, 1\]; pass pixel_scale="):
        load_dataset(hot, "train")


def test_grey_with_alpha_stays_one_channel(tmp_path, tmp_cache):
    la = Image.fromarray(np.array([[[10, 255], [200, 0]]], dtype=np.uint8).reshape(1, 2, 2), mode="LA")
    ds = load_dataset(_folder(tmp_path, {"train": [la]}), "train")
    assert ds.images.shape == (1, 1, 1, 2) and ds.images[0, 0].tolist() == [[10, 200]]


def test_folder_splits_of_other_sizes_or_channels_are_refused_naming_both(tmp_path, tmp_cache):
    name = _folder(tmp_path, {"train": [np.zeros((4, 4), np.uint8)], "test": [np.zeros((5, 5), np.uint8)]})
    first = "the test split's images are 1 channel of 5x5 but the train split's are 1 channel of 4x4"
    with pytest.raises(ValueError, match=re.escape(first)):
        load_dataset(name, "test")
    rgb = _folder(tmp_path / "c", {"train": [np.zeros((4, 4), np.uint8)], "test": [np.zeros((4, 4, 3), np.uint8)]})
    second = "the train split's images are 1 channel of 4x4 but the test split's are 3 channels of 4x4"
    with pytest.raises(ValueError, match=re.escape(second)):
        load_dataset(rgb, "train")


def test_npz_train_and_test_of_other_channels_or_sizes_are_refused_at_load(tmp_path):
    y = np.array([0, 1])
    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.zeros((2, 4, 4), np.uint8), y_train=y, x_test=np.zeros((2, 4, 4, 3), np.uint8), y_test=y)
    message = (
        f"npz:{path}: the train split's images are 1 channel of 4x4 but the test split's are 3 channels of 4x4; "
        "every split must have the same channels and size (convert and resize the images of one split to match)"
    )
    with pytest.raises(ValueError) as err:
        load_train_test(f"npz:{path}")
    assert str(err.value) == message
    np.savez(path, x_train=np.zeros((2, 4, 4), np.uint8), y_train=y, x_test=np.zeros((2, 1, 6, 4), np.uint8), y_test=y)
    with pytest.raises(ValueError, match=re.escape("test split's images are 1 channel of 6x4 but the train split's")):
        load_dataset(f"npz:{path}", "test")


def test_load_train_test_compares_the_loaded_splits(monkeypatch):
    train = data.Dataset(np.zeros((2, 1, 4, 4), np.uint8), np.array([0, 1]), ["a", "b"], "x", "train")
    test = data.Dataset(np.zeros((2, 3, 4, 4), np.uint8), np.array([0, 1]), ["a", "b"], "x", "test")
    monkeypatch.setattr(loading, "load_dataset", lambda name, split, *a, **k: train if split == "train" else test)
    with pytest.raises(ValueError, match=re.escape("x: the train split's images are 1 channel of 4x4 but the test")):
        load_train_test("x")

"""The reference encoder: trains on the training split, embeds, caches with a run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xfactor_lib.data import load_dataset
from xfactor_lib.quality import encoder


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits", "train")
    return ds.images, ds.labels


def test_encoder_learns_and_embeds_with_nonnegative_features(digits, tmp_path):
    X, y = digits
    E, info = encoder.load_or_train(tmp_path, X, y, dataset="digits", per_class=100, epochs=4, device="cpu")
    assert E.shape == (len(y), info.dim) and E.dtype == np.float32 and (E >= 0).all()
    assert info.n_train + info.n_heldout == 10 * 100 and info.K == 10
    assert info.heldout_acc > 0.5  # chance is 0.1
    meta = json.loads((tmp_path / "encoder.json").read_text())
    assert meta["heldout_acc"] == info.heldout_acc and meta["dataset"] == "digits"
    # nearest neighbours in the embedding mostly share the label
    U = E / np.linalg.norm(E, axis=1, keepdims=True)
    C = U[:300] @ U[:300].T
    np.fill_diagonal(C, -1)
    assert (y[:300][C.argmax(1)] == y[:300]).mean() > 0.6


def test_cache_is_reused_for_the_same_settings_and_retrained_for_others(digits, tmp_path):
    X, y = digits
    E1, info1 = encoder.load_or_train(tmp_path, X, y, dataset="digits", per_class=50, epochs=1, device="cpu")
    stamp = (tmp_path / "encoder.pt").stat().st_mtime_ns
    E2, info2 = encoder.load_or_train(tmp_path, X, y, dataset="digits", per_class=50, epochs=1, device="cpu")
    assert (tmp_path / "encoder.pt").stat().st_mtime_ns == stamp and info2 == info1
    np.testing.assert_allclose(E2, E1, rtol=1e-5, atol=1e-6)
    E3, info3 = encoder.load_or_train(tmp_path, X, y, dataset="digits", per_class=50, epochs=1, seed=1, device="cpu")
    assert info3.seed == 1 and (tmp_path / "encoder.pt").stat().st_mtime_ns != stamp


def test_encoder_refuses_flattened_or_float_images(digits):
    X, y = digits
    with pytest.raises(ValueError, match="uint8 images"):
        encoder.train_encoder(X.reshape(len(X), -1), y)


def test_rows_embeds_only_the_images_asked_for(digits, tmp_path):
    X, y = digits
    full, _ = encoder.load_or_train(tmp_path, X, y, dataset="digits", per_class=30, epochs=1, device="cpu")
    rows = np.array([5, 1, 300, 5])
    part, _ = encoder.load_or_train(tmp_path, X, y, dataset="digits", per_class=30, epochs=1, device="cpu", rows=rows)
    np.testing.assert_allclose(part[[1, 5, 300]], full[[1, 5, 300]], rtol=1e-5, atol=1e-6)
    assert not part[np.setdiff1d(np.arange(len(y)), rows)].any()
    with pytest.raises(ValueError, match="rows must lie"):
        encoder.load_or_train(tmp_path, X, y, dataset="digits", per_class=30, epochs=1, device="cpu", rows=[len(y)])

"""The training-dynamics recorder: what it records, from a training pass or an eval pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xfactor_lib import training
from xfactor_lib.dynamics import Dynamics, DynamicsRecorder


# --------------------------------------------------------------------------- helpers
def reference_stats(logits: np.ndarray, y: np.ndarray):
    """Independent numpy computation of S, correct, margin and softmax."""
    z = logits.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    onehot = np.eye(z.shape[1])[y]
    S = np.sqrt(((p - onehot) ** 2).sum(axis=1))
    others = np.where(onehot.astype(bool), -np.inf, z)
    margin = z[np.arange(len(y)), y] - others.max(axis=1)
    correct = z.argmax(axis=1) == y
    return S, correct, margin, p


def record_epochs(rec, logits, y, batches):
    """Feed ``rec`` the logits (T, N, K) epoch by epoch in the given batches of indices."""
    for t in range(logits.shape[0]):
        for b in batches[t]:
            idx = torch.as_tensor(b, dtype=torch.long)
            rec.on_batch(t, idx, torch.as_tensor(logits[t, b]), torch.as_tensor(y[b]))


@pytest.fixture
def shuffled_run():
    """N=7 samples, K=3, 3 epochs; each epoch a different order in batches of 3, 3, 1."""
    rng = np.random.default_rng(0)
    N, K, T = 7, 3, 3
    logits = rng.normal(scale=3.0, size=(T, N, K)).astype(np.float32)
    y = rng.integers(0, K, N)
    batches = []
    for _ in range(T):
        perm = rng.permutation(N)
        batches.append([perm[0:3], perm[3:6], perm[6:7]])  # last batch partial
    return logits, y, batches


# --------------------------------------------------------------------------- recorder
def test_recorder_matches_direct_computation_for_shuffled_and_partial_batches(shuffled_run):
    logits, y, batches = shuffled_run
    rec = DynamicsRecorder(7, T=3)
    record_epochs(rec, logits, y, batches)
    d = rec.dynamics()
    assert d.S.shape == (7, 3) and d.S.dtype == np.float32
    for t in range(3):
        S, correct, margin, p = reference_stats(logits[t], y)
        np.testing.assert_allclose(d.S[:, t], S, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(d.margin[:, t], margin, rtol=1e-5, atol=1e-5)
        assert d.correct[:, t].tolist() == correct.tolist()
    np.testing.assert_allclose(d.probs, reference_stats(logits[2], y)[3], rtol=1e-5, atol=1e-7)
    assert d.y.tolist() == y.tolist()
    assert d.mask.all() and rec.mask.shape == (7, 3)


def test_recorder_raises_on_missing_entries_unless_allowed(shuffled_run):
    logits, y, batches = shuffled_run
    batches[1] = [b[b != 4] for b in batches[1]]  # sample 4 skipped in epoch 1 (a drop_last)
    rec = DynamicsRecorder(7, T=3)
    record_epochs(rec, logits, y, batches)
    with pytest.raises(ValueError, match=r"1 of 21 .*never recorded.*\(sample 4, epoch 1\).*allow_missing"):
        rec.dynamics()
    d = rec.dynamics(allow_missing=True)
    assert np.argwhere(~d.mask).tolist() == [[4, 1]]
    assert np.isnan(d.S[4, 1]) and np.isnan(d.margin[4, 1]) and not d.correct[4, 1]
    assert np.isfinite(d.S[4, [0, 2]]).all()


def test_recorder_float16_option_stores_half_precision(shuffled_run):
    logits, y, batches = shuffled_run
    rec = DynamicsRecorder(7, T=3, dtype="float16")
    record_epochs(rec, logits, y, batches)
    assert rec._S.dtype == torch.float16 and rec._correct.dtype == torch.bool
    d = rec.dynamics()
    assert d.S.dtype == np.float16 and d.margin.dtype == np.float16
    S, _, margin, _ = reference_stats(logits[0], y)
    np.testing.assert_array_equal(d.S[:, 0], S.astype(np.float32).astype(np.float16))
    np.testing.assert_allclose(d.margin[:, 0], margin, rtol=1e-3)


def test_recorder_grows_past_its_epoch_capacity(shuffled_run):
    logits, y, batches = shuffled_run
    rec = DynamicsRecorder(7, T=1)
    record_epochs(rec, logits, y, batches)
    d = rec.dynamics()
    assert d.T == 3 and d.mask.all()
    np.testing.assert_allclose(d.S[:, 2], reference_stats(logits[2], y)[0], rtol=1e-5)


def test_recorder_save_and_load_round_trip(shuffled_run, tmp_path):
    logits, y, batches = shuffled_run
    rec = DynamicsRecorder(7, T=3)
    record_epochs(rec, logits, y, batches)
    path = rec.save(tmp_path / "dynamics.npz")
    d, back = rec.dynamics(), Dynamics.load(path)
    for name in ("S", "correct", "margin", "probs", "y", "mask"):
        np.testing.assert_array_equal(getattr(back, name), getattr(d, name))
    assert back.mode == "train"
    assert [p.name for p in tmp_path.iterdir()] == ["dynamics.npz"]  # no temporaries left


def test_recorder_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode='eval' needs X, y and batch_size"):
        DynamicsRecorder(5, mode="eval")
    with pytest.raises(ValueError, match="unknown dtype 'float64'"):
        DynamicsRecorder(5, dtype="float64")
    with pytest.raises(TypeError, match="N .* must be an int"):
        DynamicsRecorder(5.0)
    with pytest.raises(ValueError, match="nothing recorded yet"):
        DynamicsRecorder(5).dynamics()
    rec = DynamicsRecorder(5)
    with pytest.raises(ValueError, match="idx \\(B,\\), logits \\(B, K\\)"):
        rec.on_batch(0, torch.arange(3), torch.zeros(2, 4), torch.zeros(3, dtype=torch.long))


class _DropoutNet(torch.nn.Module):
    """Linear model with dropout: eval-mode outputs differ from train-mode ones."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(4, 3))

    def forward(self, x):
        return self.net(x)


def test_eval_mode_scores_every_sample_with_the_model_in_eval_mode():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, size=(11, 1, 2, 2), dtype=np.uint8)
    y = rng.integers(0, 3, 11)
    model = _DropoutNet().train()
    rec = DynamicsRecorder(11, mode="eval", X=X, y=y, batch_size=4)  # batches 4, 4, 3
    rec.on_batch(0, torch.arange(3), torch.zeros(3, 3), torch.zeros(3, dtype=torch.long))  # ignored
    rec.on_epoch_end(0, model)
    assert model.training
    with torch.no_grad():
        logits = model.eval()(torch.as_tensor(X).float() / 255).numpy()
    d = rec.dynamics()
    S, correct, margin, p = reference_stats(logits, y)
    np.testing.assert_allclose(d.S[:, 0], S, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d.margin[:, 0], margin, rtol=1e-5, atol=1e-6)
    assert d.correct[:, 0].tolist() == correct.tolist()
    assert d.mode == "eval"


def test_fit_torch_with_recorders_records_every_sample_and_eval_s_matches_the_model():
    rng = np.random.default_rng(2)
    N = 23  # batch 8 -> a partial last batch every epoch
    X = rng.integers(0, 256, size=(N, 1, 2, 2), dtype=np.uint8)
    y = rng.integers(0, 3, N)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    config = training.TrainConfig(batch_size=8, min_epochs=3, max_epochs=3)
    rec_eval = DynamicsRecorder(N, T=3, mode="eval", X=X, y=y, batch_size=10)
    rec_train = DynamicsRecorder(N, T=3)
    training.fit_torch(model, X, y, config=config, device="cpu", seed=0, callbacks=[rec_eval, rec_train])
    d_eval, d_train = rec_eval.dynamics(), rec_train.dynamics()
    assert d_eval.T == d_train.T == 3 and d_train.mask.all()
    assert d_train.y.tolist() == y.tolist()
    with torch.no_grad():
        logits = model.eval()(torch.as_tensor(X).float() / 255).numpy()
    S, correct, margin, p = reference_stats(logits, y)
    np.testing.assert_allclose(d_eval.S[:, -1], S, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d_eval.probs, p, rtol=1e-5, atol=1e-7)


def test_dynamics_rejects_mismatched_shapes_and_files_that_are_not_dynamics(tmp_path):
    S = np.zeros((4, 3))
    with pytest.raises(ValueError, match="margin must have the shape of S"):
        Dynamics(S=S, correct=S > 0, margin=np.zeros((4, 2)), probs=np.full((4, 2), 0.5), y=np.zeros(4, int))
    np.savez(tmp_path / "other.npz", S=S)
    with pytest.raises(ValueError, match="not a saved Dynamics file"):
        Dynamics.load(tmp_path / "other.npz")

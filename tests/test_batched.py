"""Stacked training (xfactor_lib.training.stacked) is one-by-one training, member for member."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from xfactor_lib import training
from xfactor_lib.data import load_dataset
from xfactor_lib.training import TrainConfig, stacked


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train"), load_dataset("digits", "test")


def _split(tr):
    return torch.from_numpy(tr.images), torch.from_numpy(tr.labels.astype(np.int64))


def _subsets(tr, G, size, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(tr.N, size, replace=False) for _ in range(G)])


def _study_e_recipe(*, lr, batch_size, steps):
    """Study E's SGD recipe (Nesterov momentum 0.9, weight decay 5e-4, cosine) with a step budget."""
    return TrainConfig(
        optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=5e-4, lr_schedule=((1, lr),), schedule="cosine",
        batch_size=batch_size, steps=steps,
    )  # fmt: skip


def _compare(tr, te, model, subs, cfg, seeds, *, width=32):
    """Max |weight| and |probability| differences of each stacked member vs its one-by-one run."""
    stack, _, infos = stacked.fit_members(
        model, *_split(tr), torch.from_numpy(subs), K=10, config=cfg, seeds=seeds, device="cpu", pretrained=False,
        width=width,
    )  # fmt: skip
    probs = stacked.predict_proba_stack(stack, te.images[:300])
    out = []
    for g, seed in enumerate(seeds):
        one, info = training.fit_model(
            model, tr.images[subs[g]], tr.labels[subs[g]], K=10, config=cfg, seed=seed, device="cpu",
            pretrained=False, width=width,
        )  # fmt: skip
        state, member = one.state_dict(), stack.member_state(g)
        dw = max(float((state[k].double() - member[k].double()).abs().max()) for k in state)
        dp = float(np.abs(training.predict_proba_torch(one, te.images[:300], device="cpu") - probs[g]).max())
        out.append((dw, dp, info, infos[g]))
    return out


@pytest.mark.parametrize("model", ["mlp-1", "mlp-3"])
def test_stacked_mlps_match_one_by_one_with_their_own_seeds(digits, model):
    tr, te = digits
    cfg = TrainConfig(lr_schedule=((1, 1e-2), (3, 1e-3)), min_epochs=4, max_epochs=4, batch_size=40)
    res = _compare(tr, te, model, _subsets(tr, 3, 100), cfg, seeds=[0, 1, 5])
    for dw, dp, one, member in res:
        assert dw < 1e-5 and dp < 1e-5
        assert (member["epochs"], member["steps"]) == (one["epochs"], one["steps"]) == (4, 12)
        assert member["train_acc"] == pytest.approx(one["train_acc"], abs=1e-9)
        assert [h["lr"] for h in member["history"]] == [h["lr"] for h in one["history"]] == [1e-2, 1e-2, 1e-3, 1e-3]


def test_stacked_sgd_cosine_step_budget_matches_one_by_one(digits):
    tr, te = digits
    cfg = _study_e_recipe(lr=0.1, batch_size=32, steps=10)
    for dw, dp, one, member in _compare(tr, te, "mlp-2", _subsets(tr, 2, 70, seed=1), cfg, seeds=[3, 4]):
        assert dw < 1e-5 and dp < 1e-5
        assert member["steps"] == one["steps"] == 10 and member["epochs"] == one["epochs"] == 4  # 3 batches of 70


def test_stacked_resnet18_matches_one_by_one_over_a_few_steps(digits):
    tr, te = digits
    cfg = TrainConfig(min_epochs=2, max_epochs=2, batch_size=25)
    for _dw, dp, one, member in _compare(tr, te, "resnet18", _subsets(tr, 2, 50, seed=2), cfg, seeds=[0, 1]):
        # Stacked and single convolutions round differently, and Adam's first steps move a weight
        # whose gradient is ~0 by about lr either way, so weights agree only to a few lr (more
        # with more threads); the criterion is the predictions, which agree closely.
        assert dp < 1e-3
        assert member["train_acc"] == pytest.approx(one["train_acc"], abs=0.05) and member["steps"] == 4


@pytest.fixture()
def float64():
    """torch's default dtype float64 for one test (models and input batches follow it)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def test_stacked_resnet18_is_one_by_one_in_float64_under_the_study_e_sgd_recipe(digits, float64):
    # In float32, ResNet-18 under SGD (lr 0.05, momentum) amplifies rounding chaotically: after 8
    # steps a one-by-one run differs from itself with another thread count by as much as from its
    # stacked twin (probabilities 0.04-0.7; docs/decisions.md). In float64 rounding is 1e-16, so
    # any difference in the algorithm (batch-norm statistics, grouped convolutions, the
    # optimizer's state) would show; there is none.
    tr, te = digits
    cfg = _study_e_recipe(lr=0.05, batch_size=25, steps=8)
    for dw, dp, one, member in _compare(tr, te, "resnet18", _subsets(tr, 2, 50, seed=2), cfg, seeds=[0, 1]):
        assert next(iter(member["history"]))["steps"] == 2 and member["steps"] == one["steps"] == 8
        assert dw < 1e-9 and dp < 1e-9  # weights, batch-norm running statistics and predictions
        assert member["train_acc"] == one["train_acc"]


def test_a_member_that_meets_the_stop_rule_stops_and_keeps_its_one_by_one_weights(digits):
    tr, te = digits
    easy = np.flatnonzero(tr.labels < 2)[:80]  # two classes: learnt in a few epochs
    hard = np.random.default_rng(0).choice(tr.N, 80, replace=False)  # ten classes: slower
    subs = np.stack([easy, hard])
    cfg = TrainConfig(lr_schedule=((1, 3e-3),), min_epochs=2, max_epochs=12, target_train_acc=0.99, batch_size=20)
    res = _compare(tr, te, "mlp-1", subs, cfg, seeds=[0, 0])
    epochs = [member["epochs"] for *_, member in res]
    assert epochs[0] < epochs[1]  # the easy member stopped first; the other went on
    for dw, dp, one, member in res:
        assert member["epochs"] == one["epochs"] and member["steps"] == one["steps"]
        assert dw < 1e-5 and dp < 1e-5  # also after the stack dropped a member (optimizer state carried over)


def test_fit_subsets_batches_equal_sizes_keeps_manifest_order_and_records_the_choice(digits):
    tr, te = digits
    sizes = [60, 40, 60, 60, 40]
    rng = np.random.default_rng(3)
    manifest = pd.DataFrame(
        {
            "subset_id": list("abcde"),
            "dataset": "digits",
            "n": [s // 10 for s in sizes],
            "indices": [rng.choice(tr.N, s, replace=False) for s in sizes],
        }
    )
    cfg = TrainConfig(min_epochs=3, max_epochs=3, batch_size=20)
    kw = dict(model="mlp-2", config=cfg, quiet=True, width=16, device="cpu", test_indices=np.arange(200))
    one = training.fit_subsets(manifest, tr, te, batch_models=1, **kw)
    stacked = training.fit_subsets(manifest, tr, te, batch_models=2, **kw)
    assert stacked["subset_id"].tolist() == list("abcde") and stacked["n_train"].tolist() == sizes
    assert stacked["stack_size"].tolist() == [2, 2, 2, 1, 2]  # size 60: (a, c) then (d); size 40: (b, e)
    assert stacked["stack_size"].tolist() != one["stack_size"].tolist() and set(one["stack_size"]) == {1}
    assert (stacked["batch_models"] == "2").all() and (one["batch_models"] == "1").all()
    np.testing.assert_allclose(stacked["auc_macro"], one["auc_macro"], atol=1e-6)
    assert stacked["acc"].tolist() == one["acc"].tolist() and stacked["epochs"].tolist() == [3] * 5
    rf = training.fit_subsets(manifest, tr, te, model="gnb", quiet=True)
    assert set(rf["stack_size"]) == {1} and (rf["batch_models"] == "auto").all()


def test_stack_size_auto_and_explicit():
    assert stacked.stack_size("auto", model="rf", members=36, device="cpu") == 1
    assert stacked.stack_size("auto", model="vgg16", members=36, device="cpu") == 1
    for model in ("mlp-1", "mlp-3", "resnet18"):  # no gain on CPU: one by one there
        assert stacked.stack_size("auto", model=model, members=36, device="cpu") == 1
    assert stacked.stack_size(6, model="mlp-1", members=36, device="cpu") == 6  # unless asked
    assert stacked.stack_size("6", model="mlp-1", members=36, device="cpu") == 6  # a notebook parameter
    assert stacked.stack_size(8, model="resnet34", members=5, device="cpu") == 5
    with pytest.raises(ValueError, match="cannot be batched"):
        stacked.stack_size(4, model="vgg16", members=8, device="cpu")
    with pytest.raises(ValueError, match="batch_models"):
        stacked.stack_size("all", model="mlp-1", members=8, device="cpu")
    with pytest.raises(ValueError, match="batch_models must be >= 1"):
        stacked.stack_size(0, model="mlp-1", members=8, device="cpu")
    assert stacked.batchable("MLP-5") and stacked.batchable("resnet34") and not stacked.batchable("mobilenet_v2")


def test_member_bytes_counts_weights_states_and_batch_activations():
    from xfactor_lib.models import make_model

    model, info = make_model("mlp-1", C=1, H=8, W=8, K=10, width=8)
    # outputs of one image: Sequential 10, Flatten 64, Linear 8, ReLU 8, Linear 10 = 100 numbers
    assert info["params"] == 64 * 8 + 8 + 8 * 10 + 10
    assert stacked.member_bytes(model, C=1, H=8, W=8, batch_size=200) == 16 * info["params"] + 12 * 200 * 100
    assert model.training  # left in training mode


def test_sklearn_subsets_in_worker_processes_give_the_one_process_records(digits):
    tr, te = digits
    rng = np.random.default_rng(4)
    manifest = pd.DataFrame(
        {
            "subset_id": [f"s{i}" for i in range(4)],
            "dataset": "digits",
            "n": 6,
            "indices": [rng.choice(tr.N, 60, replace=False) for _ in range(4)],
        }
    )
    kw = dict(quiet=True, test_indices=np.arange(300), seed=3)
    for model in ("rf", "svc"):
        one = training.fit_subsets(manifest, tr, te, model=model, n_jobs=1, **kw)
        two = training.fit_subsets(manifest, tr, te, model=model, n_jobs=2, **kw)
        assert one["jobs"].tolist() == [1] * 4 and two["jobs"].tolist() == [2] * 4
        assert two["subset_id"].tolist() == manifest["subset_id"].tolist()
        cols = ["acc", "bacc", "auc_macro", "train_acc"] + [f"acc_class_{k}" for k in range(10)]
        pd.testing.assert_frame_equal(one[cols], two[cols])  # the same fits, in manifest order
        assert one["acc"].nunique() > 1  # four different subsets, four different models


def test_n_jobs_auto_uses_the_cores_for_costly_sklearn_fits_only(monkeypatch):
    from xfactor_lib.training import subsets as st

    monkeypatch.setattr(st, "cpu_threads", lambda: 4)
    assert st._jobs("auto", model="rf", members=36) == 4
    assert st._jobs("auto", model="svc", members=5) == 2  # at least two subsets a worker
    assert st._jobs("auto", model="gnb", members=36) == 1  # a fit costs less than a process
    assert st._jobs("auto", model="mlp-3", members=36) == 1
    monkeypatch.setattr(st, "cpu_threads", lambda: 1)  # a sweep cell sharing the machine
    assert st._jobs("auto", model="rf", members=36) == 1
    assert st._jobs(3, model="gnb", members=2) == 2
    with pytest.raises(ValueError, match="neural net"):
        st._jobs(2, model="mlp-1", members=8)
    with pytest.raises(ValueError, match="n_jobs"):
        st._jobs("all", model="rf", members=8)

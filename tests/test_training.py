"""The training protocol: schedules, stop rule, step budgets, metrics, fit_subsets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xfactor_lib import training
from xfactor_lib.data import load_dataset
from xfactor_lib.training import TrainConfig, classification_metrics, fit_model


@pytest.fixture(scope="module")
def digits():
    tr, te = load_dataset("digits", "train"), load_dataset("digits", "test")
    return tr, te


def test_lr_schedule_follows_the_paper():
    cfg = TrainConfig()
    assert [cfg.lr_at(e) for e in (1, 2, 299, 300, 500)] == [1e-3, 1e-4, 1e-4, 1e-5, 1e-5]
    assert (cfg.batch_size, cfg.min_epochs, cfg.max_epochs, cfg.target_train_acc) == (200, 50, 500, 0.99)


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError, match="must start at epoch 1"):
        TrainConfig(lr_schedule=((2, 1e-3),))
    with pytest.raises(ValueError, match="exceeds max_epochs"):
        TrainConfig(min_epochs=10, max_epochs=5)
    with pytest.raises(ValueError, match="unknown training option"):
        TrainConfig.from_dict({"epochs": 3})
    with pytest.raises(ValueError, match="unknown optimizer 'sdg'.*did you mean 'sgd'"):
        TrainConfig(optimizer="sdg")
    with pytest.raises(ValueError, match="momentum and nesterov apply to optimizer='sgd' only"):
        TrainConfig(momentum=0.9)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        TrainConfig(optimizer="sgd", nesterov=True)
    with pytest.raises(ValueError, match="cosine' anneals one peak learning rate"):
        TrainConfig(schedule="cosine")
    with pytest.raises(ValueError, match="steps must be >= 0"):
        TrainConfig(steps=-1)


def test_stop_rule_waits_for_min_epochs_then_stops_at_target(digits):
    tr, _ = digits
    cfg = TrainConfig(lr_schedule=((1, 1e-2),), min_epochs=3, max_epochs=40, target_train_acc=0.95)
    _, info = fit_model("mlp-1", tr.images, tr.labels, K=10, config=cfg, width=64)
    accs = [h["train_acc"] for h in info["history"]]
    assert info["epochs"] >= 3 and accs[-1] >= 0.95
    assert all(a < 0.95 for a in accs[2:-1])  # it stopped at the first epoch that qualified
    cfg_short = TrainConfig(min_epochs=1, max_epochs=2, target_train_acc=1.01)
    _, info2 = fit_model("mlp-1", tr.images, tr.labels, K=10, config=cfg_short, width=16)
    assert info2["epochs"] == 2 and [h["lr"] for h in info2["history"]] == [1e-3, 1e-4]


def test_same_seed_same_weights_and_metrics(digits):
    tr, te = digits
    cfg = TrainConfig(min_epochs=2, max_epochs=2)
    res = []
    for _ in range(2):
        m, _ = fit_model("mlp-2", tr.images[:300], tr.labels[:300], K=10, config=cfg, seed=3, width=32, device="cpu")
        res.append(training.evaluate(m, te.images, te.labels, K=10, device="cpu"))
    assert res[0] == res[1]


def test_callbacks_see_every_sample_once_per_epoch(digits):
    tr, _ = digits

    class Seen:
        def __init__(self):
            self.idx, self.epochs = {}, []

        def on_batch(self, epoch, idx, logits, y):
            assert logits.shape == (len(idx), 10) and not logits.requires_grad
            assert torch.equal(y, torch.from_numpy(tr.labels[:250])[idx])
            self.idx.setdefault(epoch, []).extend(idx.tolist())

        def on_epoch_end(self, epoch, model):
            self.epochs.append(epoch)

    seen = Seen()
    cfg = TrainConfig(min_epochs=3, max_epochs=3)
    fit_model("mlp-1", tr.images[:250], tr.labels[:250], K=10, config=cfg, width=8, callbacks=[seen])
    assert seen.epochs == [0, 1, 2]
    assert all(sorted(v) == list(range(250)) for v in seen.idx.values())


def test_sklearn_models_are_deterministic_and_scored_on_all_classes(digits):
    tr, te = digits
    a = training.evaluate(fit_model("rf", tr.images, tr.labels, K=10, seed=1)[0], te.images, te.labels, K=10)
    b = training.evaluate(fit_model("rf", tr.images, tr.labels, K=10, seed=1)[0], te.images, te.labels, K=10)
    assert a == b and a["acc"] > 0.9
    svc = training.evaluate(fit_model("svc", tr.images, tr.labels, K=10)[0], te.images, te.labels, K=10)
    assert svc["acc"] > 0.9 and np.isnan(svc["auc_macro"])


def test_classification_metrics_match_sklearn():
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    P = rng.dirichlet(np.ones(4), 200)
    m = classification_metrics(y, P, K=4)
    assert m["acc"] == pytest.approx((P.argmax(1) == y).mean())
    assert m["bacc"] == pytest.approx(balanced_accuracy_score(y, P.argmax(1)))
    assert m["auc_macro"] == pytest.approx(roc_auc_score(y, P, multi_class="ovr", average="macro"))
    per = [((P.argmax(1) == y) & (y == k)).sum() / (y == k).sum() for k in range(4)]
    assert [m[f"acc_class_{k}"] for k in range(4)] == pytest.approx(per)


def test_training_input_errors_are_clear(digits):
    tr, _ = digits
    with pytest.raises(ValueError, match="images \\(N, C, H, W\\)"):
        fit_model("mlp-1", tr.images.reshape(len(tr.images), -1), tr.labels, K=10)
    with pytest.raises(ValueError, match="y has 1346 labels but there are 1347 images"):
        fit_model("mlp-1", tr.images, tr.labels[:-1], K=10)
    with pytest.raises(ValueError, match="out of range for K = 5"):
        fit_model("gnb", tr.images, tr.labels, K=5)
    with pytest.raises(TypeError, match="integer class labels"):
        fit_model("gnb", tr.images, tr.labels.astype(float), K=10)
    with pytest.raises(ValueError, match="must lie in \\[0, 1\\]"):
        fit_model("gnb", tr.images.astype(np.float32), tr.labels, K=10)


def test_conv_net_training_is_reproducible_for_a_thread_count(digits):
    tr, te = digits
    cfg = TrainConfig(min_epochs=2, max_epochs=2, batch_size=50)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        runs = [
            training.evaluate(
                fit_model("cnn", tr.images[:200], tr.labels[:200], K=10, config=cfg, seed=4, device="cpu")[0],
                te.images,
                te.labels,
                K=10,
                device="cpu",
            )
            for _ in range(2)
        ]
        assert training.cpu_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert runs[0] == runs[1]


SGD_COSINE = dict(
    optimizer="sgd",
    momentum=0.9,
    nesterov=True,
    weight_decay=5e-4,
    lr_schedule=((1, 0.1),),
    schedule="cosine",
    batch_size=256,
)


def test_cosine_schedule_anneals_the_peak_lr_to_zero_over_the_step_budget():
    cfg = TrainConfig(**SGD_COSINE, steps=100)
    lrs = [cfg.lr_at_step(s, epoch=1, total=100) for s in (0, 50, 99)]
    assert lrs == pytest.approx([0.1, 0.05, 0.1 * 0.5 * (1 + np.cos(np.pi * 0.99))])
    assert cfg.total_steps(5000) == 100
    assert TrainConfig(**{**SGD_COSINE, "min_epochs": 3, "max_epochs": 3}).total_steps(600) == 9
    rec = cfg.record()
    assert (
        rec["optimizer"],
        rec["momentum"],
        rec["nesterov"],
        rec["weight_decay"],
        rec["schedule"],
        rec["steps"],
        rec["lr"],
        rec["lr_schedule"],
    ) == ("sgd", 0.9, True, 5e-4, "cosine", 100, 0.1, "1:0.1")
    assert TrainConfig().record()["lr_schedule"] == "1:0.001 2:0.0001 300:1e-05"


def test_a_step_budget_trains_exactly_that_many_steps_whatever_the_data_size(digits):
    tr, _ = digits
    cfg = TrainConfig(**{**SGD_COSINE, "batch_size": 32}, steps=20)
    small = fit_model("mlp-1", tr.images[:40], tr.labels[:40], K=10, config=cfg, width=16, device="cpu")[1]
    big = fit_model("mlp-1", tr.images[:500], tr.labels[:500], K=10, config=cfg, width=16, device="cpu")[1]
    assert small["steps"] == big["steps"] == 20
    assert small["epochs"] == 10 and big["epochs"] == 2  # 2 batches of 40 per epoch; 16 of 500, the last partial
    assert big["history"][-1]["steps"] == 20 and big["history"][0]["steps"] == 16
    assert big["history"][-1]["lr"] == pytest.approx(0.1 * 0.5 * (1 + np.cos(np.pi * 19 / 20)))


def test_sgd_nesterov_recipe_learns_digits(digits):
    tr, te = digits
    cfg = TrainConfig(**{**SGD_COSINE, "batch_size": 64}, steps=150)
    m, info = fit_model("mlp-1", tr.images, tr.labels, K=10, config=cfg, width=64, device="cpu", seed=0)
    assert training.evaluate(m, te.images, te.labels, K=10, device="cpu")["acc"] > 0.85


def test_fit_subsets_records_one_row_per_subset_with_its_metrics_and_protocol(digits):
    import pandas as pd

    tr, te = digits
    manifest = pd.DataFrame(
        {
            "subset_id": ["a", "b"],
            "dataset": "digits",
            "n": [5, 20],
            "seed": 0,
            "indices": [np.flatnonzero(tr.labels < 10)[:50], np.arange(200)],
        }
    )
    recs = training.fit_subsets(manifest, tr, te, model="gnb", quiet=True, extra={"scale": "smoke"})
    assert recs["subset_id"].tolist() == ["a", "b"] and recs["n_train"].tolist() == [50, 200]
    assert (recs["scale"] == "smoke").all() and (recs["n_test"] == te.N).all() and (recs["model"] == "gnb").all()
    want = training.evaluate(fit_model("gnb", tr.images[:200], tr.labels[:200], K=10)[0], te.images, te.labels, K=10)
    assert recs.loc[1, "acc"] == want["acc"] and recs.loc[1, "bacc"] == want["bacc"]
    assert "optimizer" not in recs.columns  # no neural-net protocol for a scikit-learn model
    cfg = TrainConfig(min_epochs=1, max_epochs=1)
    nets = training.fit_subsets(
        manifest.iloc[:1], tr, te, model="mlp-1", config=cfg, quiet=True, width=8, test_indices=np.arange(100)
    )
    assert (nets["optimizer"] == "adam").all() and nets["max_epochs"].tolist() == [1]
    assert nets["steps_run"].tolist() == [1] and nets["n_test"].tolist() == [100]
    with pytest.raises(ValueError, match="manifest is empty"):
        training.fit_subsets(manifest.iloc[:0], tr, te, model="gnb")


def test_cpu_threads_is_one_without_loading_torch_under_omp_num_threads_1_and_torch_s_count_otherwise():
    import os
    import subprocess
    import sys

    code = (
        "import sys; from xfactor_lib.training import cpu_threads; n = cpu_threads(); "
        "print(n, 'torch' in sys.modules); import torch; print(cpu_threads(), torch.get_num_threads())"
    )
    for threads, loaded in (("1", "False"), ("2", "True")):
        env = {**os.environ, "OMP_NUM_THREADS": threads}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
        first, was_loaded, again, torch_count = out.split()
        assert was_loaded == loaded and first == again == torch_count  # always torch's own count
        assert threads != "1" or first == "1"

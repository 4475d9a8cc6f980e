"""Models and the training protocol."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xfactor_lib import models, training
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


@pytest.mark.parametrize("name, layers", [("mlp-1", 2), ("mlp-3", 4), ("mlp-5", 6)])
def test_mlp_depth_and_width(name, layers):
    net, info = models.make_model(name, C=1, H=8, W=8, K=10, width=32)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert len(linears) == layers
    assert linears[0].in_features == 64 and linears[-1].out_features == 10
    assert all(m.out_features == 32 for m in linears[:-1])
    assert info["params"] == sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "mobilenet_v2", "vgg16"])
def test_torchvision_nets_take_C_channels_and_give_K_classes(name):
    net, info = models.make_model(name, C=1, H=28, W=28, K=7, pretrained=False)
    out = net.eval()(torch.zeros(2, 1, 28, 28))
    assert out.shape == (2, 7) and info["pretrained"] is False


def test_missing_imagenet_weights_fall_back_to_random_init_and_say_so(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    _, info = models.make_model("resnet18", C=3, H=32, W=32, K=4, pretrained="auto")
    assert info["pretrained"] is False
    with pytest.raises(FileNotFoundError, match="not in the local torch cache"):
        models.make_model("resnet18", C=3, H=32, W=32, K=4, pretrained=True)


def test_unknown_model_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown model 'resnet9'.*mlp-3"):
        models.make_model("resnet9", C=1, H=8, W=8, K=10)


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
    with pytest.raises(ValueError, match="one label per image"):
        fit_model("mlp-1", tr.images, tr.labels[:-1], K=10)
    with pytest.raises(ValueError, match="out of range for K=5"):
        fit_model("gnb", tr.images, tr.labels, K=5)


def test_pretrained_accepts_notebook_strings():
    assert [models.parse_pretrained(v) for v in ("auto", "TRUE", "false", True)] == ["auto", True, False, True]
    with pytest.raises(ValueError, match="pretrained must be"):
        models.parse_pretrained("maybe")


def test_conv_net_training_is_reproducible_for_a_thread_count(digits):
    tr, te = digits
    cfg = TrainConfig(min_epochs=2, max_epochs=2, batch_size=50)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        runs = [training.evaluate(fit_model("cnn", tr.images[:200], tr.labels[:200], K=10, config=cfg, seed=4,
                                            device="cpu")[0], te.images, te.labels, K=10, device="cpu")
                for _ in range(2)]
        assert training.cpu_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert runs[0] == runs[1]

"""The model factory: names, shapes, and where ImageNet weights come from (never downloaded here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xfactor_lib import models


@pytest.fixture()
def torch_home(tmp_path, monkeypatch):
    """An empty private torch cache; downloads fail as they would offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("XFACTOR_OFFLINE", raising=False)
    calls = []

    def offline(key):
        calls.append(key)
        raise OSError("network is unreachable")

    monkeypatch.setattr(models, "_download", offline)
    return calls


def _fake_imagenet(key="resnet18"):
    """A state dict of the right shapes with recognisable values, saved where torchvision keeps it."""
    import torchvision

    torch.manual_seed(123)
    state = getattr(torchvision.models, key)(weights=None).state_dict()
    state = {k: (v + 0.5 if v.is_floating_point() else v) for k, v in state.items()}
    path = models.weights_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


def test_cached_weights_load_with_weights_only(torch_home, monkeypatch):
    state = _fake_imagenet()
    seen = []
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    net, info = models.make_model("resnet18", C=3, H=32, W=32, K=4, pretrained="auto")
    assert seen == [True] and torch_home == []
    assert info["pretrained"] is True and info["weights"] == "imagenet (cached)"
    assert torch.equal(net.layer1[0].conv1.weight, state["layer1.0.conv1.weight"])
    assert torch.equal(net.conv1.weight, state["conv1.weight"])  # C = 3: the first conv is kept
    assert net.fc.out_features == 4
    grey, _ = models.make_model("resnet18", C=1, H=32, W=32, K=4, pretrained=True)
    expected = state["conv1.weight"].mean(dim=1, keepdim=True) * 3.0
    assert torch.allclose(grey.conv1.weight, expected)


def test_unsafe_cached_file_is_refused(torch_home):
    path = models.weights_path("resnet18")
    path.parent.mkdir(parents=True)
    torch.save({"conv1.weight": object()}, path)  # needs pickle to load
    with pytest.raises(
        ValueError, match=r"cannot be loaded safely with weights_only=True \(UnpicklingError.*delete the file"
    ) as info:
        models.make_model("resnet18", C=3, H=32, W=32, K=4)
    assert "weights_only=False" not in str(info.value)  # never the unsafe advice


def test_auto_without_cache_tries_the_download_then_falls_back_with_a_warning(torch_home):
    with pytest.warns(RuntimeWarning, match="download failed: OSError: network is unreachable.*random init"):
        net, info = models.make_model("resnet18", C=1, H=28, W=28, K=7, pretrained="auto")
    assert torch_home == ["resnet18"]
    assert info["pretrained"] is False and info["weights"].startswith("random init (ImageNet weights unavailable")
    assert net.eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 7)
    with pytest.raises(FileNotFoundError, match="not in the local torch cache .* download failed"):
        models.make_model("resnet18", C=3, H=32, W=32, K=4, pretrained=True)
    _, off = models.make_model("resnet18", C=3, H=32, W=32, K=4, pretrained=False)
    assert off["weights"] == "random init" and torch_home == ["resnet18", "resnet18"]


def test_downloaded_weights_are_used_and_recorded(torch_home, monkeypatch):
    monkeypatch.setattr(models, "_download", lambda key: _fake_imagenet(key))
    _, info = models.make_model("resnet18", C=3, H=32, W=32, K=4, pretrained="true")
    assert info["pretrained"] is True and info["weights"] == "imagenet (downloaded)"


def test_offline_switch_never_tries_a_download(torch_home, monkeypatch):
    monkeypatch.setenv("XFACTOR_OFFLINE", "1")
    with pytest.warns(RuntimeWarning, match="XFACTOR_OFFLINE is set"):
        _, info = models.make_model("resnet18", C=3, H=32, W=32, K=4)
    assert torch_home == [] and info["pretrained"] is False


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"name": "resnet9"}, ValueError, r"unknown model 'resnet9' \(did you mean 'resnet50'\?\).*mlp-3"),
        ({"name": 3}, TypeError, "model must be a string"),
        ({"K": 1}, ValueError, "K .* must be >= 2"),
        ({"C": 0}, ValueError, "C must be >= 1"),
        ({"H": 2.5}, TypeError, "H must be an int"),
        ({"pretrained": "maybe"}, ValueError, "unknown pretrained 'maybe'"),
        ({"pretrained": 1}, TypeError, "pretrained must be"),
    ],
)
def test_bad_arguments_get_clear_errors(kwargs, error, match):
    args = {"name": "mlp-1", "C": 1, "H": 8, "W": 8, "K": 3} | kwargs
    name = args.pop("name")
    with pytest.raises(error, match=match):
        models.make_model(name, **args)


def test_sklearn_and_small_nets_record_random_init():
    rf, info = models.make_model("rf", C=1, H=8, W=8, K=3, seed=4)
    assert info == {"model": "rf", "pretrained": False, "weights": "random init"}
    assert rf.get_params()["random_state"] == 4 and models.count_parameters(rf) == 0
    # Counted by hand, (C, K) = (1, 3): conv 3x3 1->32 with bias 320, BatchNorm 32 (weight, bias)
    # 64, conv 3x3 32->64 with bias 18496, BatchNorm 64 128, linear 64*2*2 -> 3 with bias 771.
    # (3, 10): the first conv 896 and the linear 2570 instead.
    for C, K, by_hand in ((1, 3, 19779), (3, 10, 22154)):
        net, info = models.make_model("cnn", C=C, H=8, W=8, K=K)
        assert info["params"] == by_hand and info["weights"] == "random init"
        assert models.count_parameters(net) == by_hand
        assert net.eval()(torch.zeros(2, C, 8, 8)).shape == (2, K)
    net[0].requires_grad_(False)  # frozen weights are not trainable: the first conv's 896 leave the count
    assert models.count_parameters(net) == 22154 - 896


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


def test_pretrained_accepts_notebook_strings():
    assert [models.parse_pretrained(v) for v in ("auto", "TRUE", "false", True)] == ["auto", True, False, True]
    with pytest.raises(ValueError, match="pretrained.*maybe"):
        models.parse_pretrained("maybe")


def test_rank_auc_equals_sklearn_macro_and_micro_with_ties_and_an_absent_class():
    from sklearn.metrics import roc_auc_score

    from xfactor_lib.training import fit

    rng = np.random.default_rng(4)
    y = rng.integers(0, 4, 300)  # class 4 of K = 5 is absent
    P = rng.dirichlet(np.ones(5), 300).round(2)  # rounded: many tied scores
    got = fit.classification_metrics(y, P, K=5)
    onehot, cols = np.eye(5)[y], [0, 1, 2, 3]
    assert got["auc_macro"] == pytest.approx(roc_auc_score(onehot[:, cols], P[:, cols], average="macro"), abs=1e-12)
    assert got["auc_micro"] == pytest.approx(roc_auc_score(onehot[:, cols], P[:, cols], average="micro"), abs=1e-12)
    # a hand case: positives scored 0.9, 0.5; negatives 0.5, 0.1 -> pairs won 1 + 1 + 0.5 + 1 of 4
    assert fit.rank_auc(np.array([[1], [1], [0], [0]]), np.array([[0.9], [0.5], [0.5], [0.1]]))[0] == 0.875
    assert np.isnan(fit.classification_metrics(y, P, K=5, probabilistic=False)["auc_macro"])


def test_half_test_errors_are_the_errors_on_even_and_odd_rows():
    from xfactor_lib.training import fit

    y = np.array([0, 1, 2, 0, 1, 2, 0])
    pred = np.array([0, 1, 0, 0, 2, 2, 1])  # wrong at rows 2, 4, 6 (all even)
    got = fit.classification_metrics(y, np.eye(3)[pred], K=3)
    assert got["error_even"] == pytest.approx(3 / 4) and got["error_odd"] == 0.0
    assert got["error"] == pytest.approx(3 / 7)

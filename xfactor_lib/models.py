"""Model factory: scikit-learn baselines, MLP-d, and torchvision CNNs adapted to (C, K).

| name | model |
| --- | --- |
| ``gnb``, ``rf``, ``svc`` | scikit-learn defaults (``rf`` seeded) on flattened [0, 1] pixels |
| ``mlp-1`` .. ``mlp-5`` | Linear(D, w)+ReLU, d-1 x [Linear(w, w)+ReLU], Linear(w, K); w = 512 |
| ``cnn`` | a small 2-conv network for quick CPU runs (not in the papers) |
| ``resnet18``, ``resnet34``, ``resnet50`` | torchvision, first conv takes C channels, fc gives K |
| ``mobilenet_v2``, ``vgg16`` | torchvision, first conv / classifier adapted likewise |

ImageNet weights (torchvision nets, ``pretrained="auto"`` or ``True``) come from the local
torch cache (``$TORCH_HOME/hub/checkpoints``), loaded with ``torch.load(weights_only=True)``;
when they are not cached they are fetched through torchvision's weights API. Offline (or
with ``XFACTOR_OFFLINE=1``), ``"auto"`` falls back to random init with a warning and
``True`` is an error. ``make_model`` returns the model and an info dict whose
``pretrained`` (bool) and ``weights`` (``"imagenet (cached)"``, ``"imagenet (downloaded)"``,
``"random init"`` or ``"random init (ImageNet weights unavailable: ...)"``) say which happened.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from ._validation import check_choice, check_int

SKLEARN_MODELS = ("gnb", "rf", "svc")
MLP_MODELS = tuple(f"mlp-{d}" for d in range(1, 6))
TORCHVISION_MODELS = ("resnet18", "resnet34", "resnet50", "mobilenet_v2", "vgg16")
TORCH_MODELS = MLP_MODELS + ("cnn",) + TORCHVISION_MODELS
MODEL_NAMES = SKLEARN_MODELS + TORCH_MODELS

_WEIGHTS = {
    "resnet18": "ResNet18_Weights",
    "resnet34": "ResNet34_Weights",
    "resnet50": "ResNet50_Weights",
    "mobilenet_v2": "MobileNet_V2_Weights",
    "vgg16": "VGG16_Weights",
}


def is_torch_model(name: str) -> bool:
    """True for the neural nets trained by :func:`xfactor_lib.training.fit_torch`."""
    return _check_name(name) in TORCH_MODELS


def _check_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"model must be a string, one of {list(MODEL_NAMES)}; got {name!r}")
    return check_choice(name.lower(), "model", MODEL_NAMES)


def make_model(
    name: str,
    *,
    C: int,
    H: int,
    W: int,
    K: int,
    seed: int = 0,  # noqa: N803
    width: int = 512,
    pretrained: bool | str = "auto",
) -> tuple[Any, dict[str, Any]]:
    """Build an untrained model for images ``(C, H, W)`` and ``K`` classes.

    Parameters
    ----------
    name : str
        One of ``MODEL_NAMES``.
    C, H, W, K : int
        Image channels, height, width; number of classes.
    seed : int
        Seeds the initial weights (torch) or ``random_state`` (random forest).
    width : int
        MLP hidden width ``w``.
    pretrained : {"auto", True, False} (or the strings "true" / "false")
        ImageNet weights for torchvision nets: ``"auto"`` uses them when cached or
        downloadable, else random init with a warning; ``True`` requires them (error when
        neither); ``False`` never.

    Returns
    -------
    model : sklearn estimator or torch.nn.Module
    info : dict
        ``model``, ``pretrained`` (bool), ``weights`` (where the initial weights came from)
        and ``params`` (number of weights, torch only).
    """
    key = _check_name(name)
    for label, v in (("C", C), ("H", H), ("W", W)):
        check_int(v, label, low=1)
    check_int(K, "K (a classifier needs at least 2 classes)", low=2)
    check_int(seed, "seed", low=None)
    check_int(width, "width", low=1)
    pretrained = parse_pretrained(pretrained)
    info: dict[str, Any] = {"model": key, "pretrained": False, "weights": "random init"}
    if key in SKLEARN_MODELS:
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.naive_bayes import GaussianNB
        from sklearn.svm import SVC

        est = {"gnb": GaussianNB(), "rf": RandomForestClassifier(random_state=seed), "svc": SVC()}[key]
        return est, info

    import torch
    from torch import nn

    torch.manual_seed(seed)
    D = C * H * W
    if key in MLP_MODELS:
        depth = int(key.split("-")[1])
        layers: list[nn.Module] = [nn.Flatten(), nn.Linear(D, width), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.ReLU()]
        layers.append(nn.Linear(width, K))
        model: nn.Module = nn.Sequential(*layers)
    elif key == "cnn":
        model = nn.Sequential(
            nn.Conv2d(C, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 4, K),
        )
    else:
        model, info["weights"] = _torchvision_model(key, C=C, H=H, W=W, K=K, pretrained=pretrained)
        info["pretrained"] = info["weights"].startswith("imagenet")
    info["params"] = int(sum(p.numel() for p in model.parameters()))
    return model, info


def parse_pretrained(value: bool | str) -> bool | str:
    """``"auto"``, or a bool from True/False or the strings ``"true"``/``"false"`` (notebook parameters)."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise TypeError(f"pretrained must be 'auto', True or False, got {value!r}")
    text = check_choice(value.strip().lower(), "pretrained", ("auto", "true", "false"))
    return {"auto": "auto", "true": True, "false": False}[text]


def weights_path(key: str) -> Path:
    """Where torchvision keeps the ImageNet weights of a net (``$TORCH_HOME/hub/checkpoints/<file>``)."""
    import torch
    import torchvision

    url = getattr(torchvision.models, _WEIGHTS[key]).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _download(key: str) -> None:
    """Fetch the ImageNet weights into the torch cache through torchvision's weights API."""
    import torchvision

    getattr(torchvision.models, _WEIGHTS[key]).DEFAULT.get_state_dict(progress=False, check_hash=True)


def _imagenet_state(key: str, pretrained: bool | str) -> tuple[dict | None, str]:
    """The ImageNet state dict (or None) and where the weights came from."""
    import torch

    if pretrained is False:
        return None, "random init"
    path = weights_path(key)
    source = "imagenet (cached)"
    if not path.is_file():
        why = "XFACTOR_OFFLINE is set" if os.environ.get("XFACTOR_OFFLINE", "") not in ("", "0") else None
        if why is None:
            try:
                _download(key)
                source = "imagenet (downloaded)"
            except Exception as exc:  # noqa: BLE001 - offline, proxy, disk: all mean "not available"
                why = f"download failed: {type(exc).__name__}: {exc}"
        if not path.is_file():
            msg = f"ImageNet weights for {key} are not in the local torch cache ({path}) and {why or 'not fetched'}"
            if pretrained is True:
                raise FileNotFoundError(f"{msg}; put the file there, or use pretrained='auto' or False")
            warnings.warn(f"{msg}; {key} starts from random init", RuntimeWarning, stacklevel=4)
            return None, f"random init (ImageNet weights unavailable: {why})"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged or unsafe file
        raise ValueError(
            f"cached ImageNet weights {path} cannot be loaded safely with weights_only=True ({type(exc).__name__}: "
            "not a plain tensor state dict, or damaged); delete the file so it is fetched again"
        ) from None
    return state, source


def _torchvision_model(key: str, *, C: int, H: int, W: int, K: int, pretrained: bool | str):
    import torch
    import torchvision
    from torch import nn

    state, source = _imagenet_state(key, pretrained)
    net = getattr(torchvision.models, key)(weights=None)
    use = state is not None
    if use:
        net.load_state_dict(state)

    def adapt_conv(conv: nn.Conv2d) -> nn.Conv2d:
        if conv.in_channels == C:
            return conv
        new = nn.Conv2d(C, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None)
        if use:  # keep the pretrained filters: grey = mean of RGB, scaled to keep activations
            with torch.no_grad():
                w = conv.weight.mean(dim=1, keepdim=True) * (3.0 / C)
                new.weight.copy_(w.repeat(1, C, 1, 1))
        return new

    if key.startswith("resnet"):
        net.conv1 = adapt_conv(net.conv1)
        net.fc = nn.Linear(net.fc.in_features, K)
    elif key == "mobilenet_v2":
        net.features[0][0] = adapt_conv(net.features[0][0])
        net.classifier[-1] = nn.Linear(net.classifier[-1].in_features, K)
    elif key == "vgg16":
        net.features[0] = adapt_conv(net.features[0])
        net.classifier[-1] = nn.Linear(net.classifier[-1].in_features, K)
        if min(H, W) < 32:  # five 2x2 pools need at least 32 pixels a side
            net = nn.Sequential(nn.Upsample(size=(32, 32), mode="bilinear", align_corners=False), net)
    return net, source


def count_parameters(model: Any) -> int:
    """Trainable weights of a torch model (0 for scikit-learn)."""
    params = getattr(model, "parameters", None)
    return int(sum(p.numel() for p in params() if p.requires_grad)) if params else 0


__all__ = [
    "MODEL_NAMES",
    "SKLEARN_MODELS",
    "TORCH_MODELS",
    "count_parameters",
    "is_torch_model",
    "make_model",
    "parse_pretrained",
    "weights_path",
]

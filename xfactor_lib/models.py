"""Model factory: scikit-learn baselines, MLP-d, and torchvision CNNs adapted to (C, K).

| name | model |
| --- | --- |
| ``gnb``, ``rf``, ``svc`` | scikit-learn defaults (``rf`` seeded) on flattened [0, 1] pixels |
| ``mlp-1`` .. ``mlp-5`` | Linear(D, w)+ReLU, d-1 x [Linear(w, w)+ReLU], Linear(w, K); w = 512 |
| ``cnn`` | a small 2-conv network for quick CPU runs (not in the papers) |
| ``resnet18``, ``resnet34``, ``resnet50`` | torchvision, first conv takes C channels, fc gives K |
| ``mobilenet_v2``, ``vgg16`` | torchvision, first conv / classifier adapted likewise |

ImageNet weights are used when they are already in the local torch cache (never
downloaded here); otherwise the net starts from random init. ``make_model`` returns the
model and an info dict whose ``pretrained`` says which happened.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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
    key = str(name).lower()
    if key not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; use one of {', '.join(MODEL_NAMES)}")
    return key


def make_model(name: str, *, C: int, H: int, W: int, K: int, seed: int = 0,  # noqa: N803
               width: int = 512, pretrained: bool | str = "auto") -> tuple[Any, dict[str, Any]]:
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
        ImageNet weights for torchvision nets: ``"auto"`` uses them when cached locally;
        ``True`` requires them (error when missing); ``False`` never.

    Returns
    -------
    model : sklearn estimator or torch.nn.Module
    info : dict
        ``model``, ``pretrained`` (bool) and ``params`` (number of weights, torch only).
    """
    key = _check_name(name)
    for label, v in (("C", C), ("H", H), ("W", W), ("K", K)):
        if int(v) < 1:
            raise ValueError(f"{label} must be a positive integer, got {v}")
    if K < 2:
        raise ValueError(f"a classifier needs K >= 2 classes, got K={K}")
    info: dict[str, Any] = {"model": key, "pretrained": False}
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
            nn.Conv2d(C, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64 * 4, K),
        )
    else:
        model, info["pretrained"] = _torchvision_model(key, C=C, H=H, W=W, K=K, pretrained=pretrained)
    info["params"] = int(sum(p.numel() for p in model.parameters()))
    return model, info


def parse_pretrained(value: bool | str) -> bool | str:
    """``"auto"``, or a bool from True/False or the strings ``"true"``/``"false"`` (notebook parameters)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("auto", "true", "false"):
        return {"auto": "auto", "true": True, "false": False}[text]
    raise ValueError(f"pretrained must be 'auto', True or False, got {value!r}")


def _cached_weights(key: str):
    """The torchvision weights enum entry when its file is in the local torch cache."""
    import torch
    import torchvision

    weights = getattr(torchvision.models, _WEIGHTS[key]).DEFAULT
    fname = os.path.basename(weights.url)
    path = Path(torch.hub.get_dir()) / "checkpoints" / fname
    return weights, path.is_file()


def _torchvision_model(key: str, *, C: int, H: int, W: int, K: int, pretrained: bool | str):
    import torch
    import torchvision
    from torch import nn

    weights, cached = _cached_weights(key)
    pretrained = parse_pretrained(pretrained)
    use = bool(cached) if pretrained == "auto" else pretrained
    if use and not cached:
        raise FileNotFoundError(
            f"ImageNet weights for {key} are not in the local torch cache "
            f"({torch.hub.get_dir()}/checkpoints); use pretrained='auto' or False offline"
        )
    net = getattr(torchvision.models, key)(weights=weights if use else None)

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
    return net, use


def count_parameters(model: Any) -> int:
    """Trainable weights of a torch model (0 for scikit-learn)."""
    params = getattr(model, "parameters", None)
    return int(sum(p.numel() for p in params() if p.requires_grad)) if params else 0


__all__ = ["make_model", "parse_pretrained", "is_torch_model", "MODEL_NAMES", "SKLEARN_MODELS", "TORCH_MODELS", "count_parameters"]

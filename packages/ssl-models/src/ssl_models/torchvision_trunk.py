"""Trunks on torchvision models: EfficientNet B0-B7 and any torchvision classification model by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torchvision
from torch import Tensor, nn

from ssl_models.trunk import Trunk, capture_outputs

__all__ = ["EfficientNetTrunk", "TorchvisionTrunk"]


class EfficientNetTrunk(Trunk):
    """EfficientNet-B0..B7 (VISSL ``efficientnet``) from torchvision, without the classifier.

    Parameter names are torchvision's (``features.0.0.weight`` ...).

    Args:
        name: factory name recorded on the trunk.
        variant: "b0" ... "b7".
        drop_path_rate: stochastic depth probability (torchvision's ``stochastic_depth_prob``, 0.2).

    Features: stem ``[B, 32|40|48|56|64, H/2, W/2]`` (torchvision ``features.0``), block1 ... block7
    (``features.1..7``, strides 2, 4, 8, 16, 16, 32, 32), conv_head ``[B, D, H/32, W/32]``
    (``features.8``), avgpool ``[B, D, 1, 1]``, flatten ``[B, D]`` with D = 1280 (B0), 1280, 1408,
    1536, 1792, 2048, 2304, 2560 (B7).
    """

    def __init__(self, name: str, *, variant: str = "b0", drop_path_rate: float = 0.2, kwargs: dict[str, Any] | None = None) -> None:
        if variant not in {f"b{i}" for i in range(8)}:
            raise ValueError(f"variant must be one of b0..b7, got {variant!r}")
        model = torchvision.models.get_model(f"efficientnet_{variant}", weights=None, stochastic_depth_prob=drop_path_rate)
        head = model.classifier[-1]
        assert isinstance(head, nn.Linear)
        super().__init__(name, kwargs if kwargs is not None else {}, head.in_features)
        self.features = model.features
        self.avgpool = model.avgpool

    def _stages(self) -> list[tuple[str, Callable[[Tensor], Tensor]]]:
        f = list(self.features.children())
        names = ["stem", *[f"block{i}" for i in range(1, 8)], "conv_head"]
        return [*zip(names, f), ("avgpool", self.avgpool), ("flatten", lambda t: torch.flatten(t, 1))]


def _drop_classifier(model: nn.Module) -> tuple[str, int]:
    """Replace the final Linear of the classifier by Identity; return the classifier's attribute
    name and that Linear's input size (hidden classifier layers, as in MobileNetV3, stay)."""
    for attr in ("fc", "classifier", "heads", "head"):
        layer = getattr(model, attr, None)
        if isinstance(layer, nn.Linear):
            setattr(model, attr, nn.Identity())
            return attr, layer.in_features
        if isinstance(layer, nn.Sequential):
            for key, child in reversed(list(layer.named_children())):
                if isinstance(child, nn.Linear):
                    setattr(layer, key, nn.Identity())
                    return attr, child.in_features
    raise ValueError(f"cannot find the classifier Linear of torchvision model {type(model).__name__}")


class TorchvisionTrunk(Trunk):
    """Any torchvision classification model by name (``weights=None``), classifier replaced by Identity.

    Parameters live under ``model.`` (``model.conv1.weight`` ...). Features: the model's top-level
    children by name (e.g. ``features``, ``avgpool`` for VGG/MobileNet; ``layer1`` ... for ResNets),
    each the child's output, and ``flatten`` ``[B, num_features]`` (the model's output without its
    classifier).

    Args:
        name: factory name recorded on the trunk.
        model: a torchvision model name (``torchvision.models.list_models()``).
        model_kwargs: passed to ``torchvision.models.get_model``.
    """

    def __init__(self, name: str, *, model: str, kwargs: dict[str, Any] | None = None, **model_kwargs: Any) -> None:
        if model not in torchvision.models.list_models(module=torchvision.models):
            raise ValueError(f"unknown torchvision classification model {model!r}")
        built = torchvision.models.get_model(model, weights=None, **model_kwargs)
        classifier, in_features = _drop_classifier(built)
        super().__init__(name, kwargs if kwargs is not None else {}, in_features)
        self.model = built
        self._children = [n for n, _ in built.named_children() if n != classifier or not isinstance(getattr(built, n), nn.Identity)]

    def feature_names(self) -> list[str]:
        return [*self._children, "flatten"]

    def set_activation_checkpointing(self, enabled: bool = True, splits: int | None = None) -> None:
        if enabled:
            raise NotImplementedError("activation checkpointing is not available for the generic torchvision trunk")

    def forward_features(self, x: Tensor, names: Sequence[str]) -> dict[str, Tensor]:
        """Run the model once, capturing the requested children's outputs."""
        self._check_names(names)
        with capture_outputs({n: getattr(self.model, n) for n in self._children if n in names}) as out:
            out["flatten"] = self.model(x)
        return {n: out[n] for n in names}

    def forward(self, x: Tensor) -> Tensor:
        """``[B, 3, H, W] -> [B, num_features]``."""
        return self.model(x)

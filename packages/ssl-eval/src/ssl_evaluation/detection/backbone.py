"""Turn a pretrained trunk into a torchvision detection backbone (with or without FPN)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
from torchvision.ops.misc import FrozenBatchNorm2d

__all__ = ["TrunkFeatures", "freeze_batchnorm", "probe_feature_maps", "trunk_backbone"]


class TrunkFeatures(nn.Module):
    """Multi-scale features of a trunk with the ssl-models interface
    (``feature_names()``, ``forward_features(x, names)``) as an ordered dict ``{"0": ..., "1": ...}``."""

    def __init__(self, trunk: nn.Module, layers: Sequence[str]) -> None:
        super().__init__()
        available = list(trunk.feature_names())  # type: ignore[operator]
        unknown = [n for n in layers if n not in available]
        if unknown:
            raise ValueError(f"layers {unknown} are not features of this trunk; it has {available}")
        self.trunk = trunk
        self.layers = list(layers)

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        feats = self.trunk.forward_features(x, self.layers)  # type: ignore[operator]
        return OrderedDict((str(i), feats[n]) for i, n in enumerate(self.layers))


class _WithFPN(nn.Module):
    def __init__(self, body: nn.Module, in_channels: Sequence[int], out_channels: int) -> None:
        super().__init__()
        self.body = body
        self.fpn = FeaturePyramidNetwork(list(in_channels), out_channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return self.fpn(self.body(x))


class _SingleMap(nn.Module):
    def __init__(self, body: nn.Module, out_channels: int) -> None:
        super().__init__()
        self.body = body
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        feats = self.body(x)
        return OrderedDict([("0", feats[next(reversed(feats))])])


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``BatchNorm2d`` (in place, recursively) by torchvision's ``FrozenBatchNorm2d``
    holding the same statistics and affine parameters; returns the module."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            if child.affine:
                frozen.weight.copy_(child.weight.detach())
                frozen.bias.copy_(child.bias.detach())
            if child.running_mean is not None:
                frozen.running_mean.copy_(child.running_mean)
                frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen)
        else:
            freeze_batchnorm(child)
    return module


@torch.no_grad()
def probe_feature_maps(module: nn.Module, probe_size: int = 64) -> OrderedDict[str, torch.Tensor]:
    """Run ``module`` (returning a dict of maps) once on a zero image ``[1, 3, probe_size, probe_size]``
    in eval mode (training mode restored afterwards)."""
    was_training = module.training
    module.eval()
    try:
        return module(torch.zeros(1, 3, probe_size, probe_size, device=next(module.parameters()).device))
    finally:
        module.train(was_training)


def trunk_backbone(
    trunk: nn.Module,
    layers: Sequence[str] = ("res2", "res3", "res4", "res5"),
    *,
    fpn: bool = True,
    out_channels: int = 256,
    in_channels: Sequence[int] | None = None,
    freeze_bn: bool = True,
    trainable_trunk: bool = True,
    probe_size: int = 64,
) -> nn.Module:
    """A detection backbone from a pretrained trunk.

    * A trunk with ``feature_names()`` / ``forward_features(x, names)`` (ssl-models) gives the
      maps of ``layers`` (e.g. ``res2..res5``; ``[B, C_i, H/s_i, W/s_i]``).
    * Any other module is read with torchvision's ``IntermediateLayerGetter``: ``layers`` are
      names of its direct children (torchvision ResNet: ``layer1..layer4``), which must run in
      registration order.

    ``fpn=True`` adds torchvision's ``FeaturePyramidNetwork`` (``out_channels`` each, plus a
    max-pooled extra level; via ``BackboneWithFPN`` for the plain-module route) and returns
    ``len(layers) + 1`` maps; ``fpn=False`` returns only the deepest map (a C4-style backbone when
    that is ``res4``). ``freeze_bn`` swaps BatchNorm for ``FrozenBatchNorm2d`` (torchvision's
    detection default; detectron2's recipes use SyncBN instead, see the README);
    ``trainable_trunk=False`` freezes the trunk's weights (VISSL's recipes fine-tune all: FREEZE_AT 0).
    Channel counts are probed with a ``probe_size`` image unless ``in_channels`` is given.
    The result has ``out_channels`` and returns ``OrderedDict[str, Tensor]``.
    """
    if len(layers) == 0:
        raise ValueError("layers must name at least one feature map")
    if freeze_bn:
        freeze_batchnorm(trunk)
    if callable(getattr(trunk, "feature_names", None)):
        body: nn.Module = TrunkFeatures(trunk, layers)
    else:
        children = [n for n, _ in trunk.named_children()]
        unknown = [n for n in layers if n not in children]
        if unknown:
            raise ValueError(f"layers {unknown} are not children of {type(trunk).__name__}; it has {children}")
        body = IntermediateLayerGetter(trunk, {n: str(i) for i, n in enumerate(layers)})
    if not trainable_trunk:
        trunk.requires_grad_(False)
    if in_channels is None:
        in_channels = [int(v.shape[1]) for v in probe_feature_maps(body, probe_size).values()]
    channels = list(in_channels)
    if len(channels) != len(layers):
        raise ValueError(f"in_channels has {len(channels)} entries for {len(layers)} layers")
    if not fpn:
        return _SingleMap(body, channels[-1])
    if isinstance(body, IntermediateLayerGetter):
        return BackboneWithFPN(
            trunk, {n: str(i) for i, n in enumerate(layers)}, channels, out_channels,
            extra_blocks=LastLevelMaxPool(),
        )
    return _WithFPN(body, channels, out_channels)


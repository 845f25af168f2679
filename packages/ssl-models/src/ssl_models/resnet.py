"""ResNe(X)t trunks with VISSL's options and torchvision's parameter names.

Built from torchvision's own ``BasicBlock``/``Bottleneck`` blocks. Unlike torchvision's
``wide_resnet``, ``width_multiplier`` widens every layer including the stem, as VISSL's
``RESNETS.WIDTH_MULTIPLIER`` does (the w2/w4/w5 models of SimCLR, PIRL and SwAV).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from ssl_models.trunk import Block, Trunk

__all__ = [
    "RESNET_DEPTHS",
    "RESNET_FEATURE_NAMES",
    "LINEAR_EVAL_FEAT_POOL_OPS_MAP",
    "ResNetTrunk",
    "StandardizedConv2d",
    "linear_eval_heads",
    "linear_eval_pool",
]

Norm = Literal["BatchNorm", "GroupNorm", "LayerNorm"]

#: depth -> (block type, blocks per stage)
RESNET_DEPTHS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
    200: (Bottleneck, (3, 24, 36, 3)),
}

#: VISSL's feature keys, shallowest first. conv1 is after conv1+bn1+relu (before the max-pool),
#: res2..res5 are torchvision's layer1..layer4, res5avg the global average pool [B, C, 1, 1],
#: flatten the pooled vector [B, C].
RESNET_FEATURE_NAMES: tuple[str, ...] = ("conv1", "res2", "res3", "res4", "res5", "res5avg", "flatten")

#: VISSL's canonical pooling of ResNet-50 layers for multi-layer linear evaluation at 224 px
#: (inventory 4.5): layer -> (kernel_size, stride, padding) of an AvgPool2d, or None for identity.
#: At 224 px it gives 9216, 9216, 8192, 9216, 8192 and 2048 features.
LINEAR_EVAL_FEAT_POOL_OPS_MAP: dict[str, tuple[tuple[int, int], int, int] | None] = {
    "conv1": ((10, 10), 10, 4),
    "res2": ((16, 16), 8, 0),
    "res3": ((13, 13), 5, 0),
    "res4": ((8, 8), 3, 0),
    "res5": ((6, 6), 1, 0),
    "res5avg": None,
}


def linear_eval_pool(name: str, feature: Tensor) -> Tensor:
    """Pool one ResNet feature with VISSL's LINEAR_EVAL_FEAT_POOL_OPS_MAP and flatten it.

    Args:
        name: a key of ``LINEAR_EVAL_FEAT_POOL_OPS_MAP`` (conv1, res2, res3, res4, res5, res5avg).
        feature: ``[B, C, H, W]``.

    Returns:
        ``[B, D]`` (for ResNet-50 at 224 px: conv1 9216, res2 9216, res3 8192, res4 9216,
        res5 8192, res5avg 2048).
    """
    if name not in LINEAR_EVAL_FEAT_POOL_OPS_MAP:
        raise ValueError(f"no linear-eval pooling for {name!r}; known: {', '.join(LINEAR_EVAL_FEAT_POOL_OPS_MAP)}")
    op = LINEAR_EVAL_FEAT_POOL_OPS_MAP[name]
    if op is not None:
        kernel, stride, padding = op
        feature = F.avg_pool2d(feature, kernel, stride, padding)
    return feature.flatten(1)


def linear_eval_heads(num_classes: int, width_multiplier: float = 1.0) -> tuple[list[list[Any]], list[str]]:
    """VISSL's multi-layer linear evaluation of a ResNet-50 at 224 px, as head chains for ``SSLModel``.

    Returns ``(heads, head_features)``: for conv1, res2, res3, res4, res5 an ``avg_pool`` (VISSL's
    LINEAR_EVAL_FEAT_POOL_OPS_MAP) then an ``eval_mlp`` (BatchNorm2d + Linear to ``num_classes``);
    for res5avg an ``eval_mlp`` on the pooled vector. Channels scale with ``width_multiplier``.
    """
    from ssl_models.heads.eval_mlp import EvalMLPHead
    from ssl_models.heads.pool import AvgPoolHead

    w = width_multiplier
    channels = {"conv1": 64 * w, "res2": 256 * w, "res3": 512 * w, "res4": 1024 * w, "res5": 2048 * w, "res5avg": 2048 * w}
    sides = {"conv1": 12, "res2": 6, "res3": 4, "res4": 3, "res5": 2, "res5avg": 1}  # after pooling at 224 px
    heads: list[list[Any]] = []
    for name, op in LINEAR_EVAL_FEAT_POOL_OPS_MAP.items():
        c = int(channels[name])
        chain: list[Any] = [] if op is None else [AvgPoolHead(list(op[0]), op[1], op[2])]
        chain.append(EvalMLPHead(c, [c * sides[name] ** 2, num_classes]))
        heads.append(chain)
    return heads, list(LINEAR_EVAL_FEAT_POOL_OPS_MAP)


class StandardizedConv2d(nn.Conv2d):
    """Conv2d with weight standardisation (zero mean, unit variance per output filter).

    VISSL's ``STANDARDIZE_CONVOLUTIONS``; parameter names are those of ``nn.Conv2d``.
    """

    eps: float = 1e-5

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight
        mean = w.mean(dim=(1, 2, 3), keepdim=True)
        var = w.var(dim=(1, 2, 3), keepdim=True, unbiased=False)
        w = (w - mean) / torch.sqrt(var + self.eps)
        return self._conv_forward(x, w, self.bias)


def _norm_layer(norm: Norm, groupnorm_groups: int) -> Callable[[int], nn.Module]:
    if norm == "BatchNorm":
        return nn.BatchNorm2d
    if norm == "GroupNorm":
        return lambda channels: nn.GroupNorm(groupnorm_groups, channels)
    if norm == "LayerNorm":
        # VISSL's LayerNorm for conv features: normalise over (C, H, W) per sample, i.e. one group.
        return lambda channels: nn.GroupNorm(1, channels)
    raise ValueError(f"norm must be 'BatchNorm', 'GroupNorm' or 'LayerNorm', got {norm!r}")


def _standardize_convs(module: nn.Module) -> None:
    for child_name, child in module.named_children():
        if type(child) is nn.Conv2d:
            new = StandardizedConv2d(
                child.in_channels,
                child.out_channels,
                child.kernel_size,
                child.stride,
                child.padding,
                child.dilation,
                child.groups,
                child.bias is not None,
            )
            new.load_state_dict(child.state_dict())
            setattr(module, child_name, new)
        else:
            _standardize_convs(child)


class ResNetTrunk(Trunk):
    """ResNe(X)t trunk (VISSL's ``resnet`` trunk), no classifier.

    Parameter names are torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
    ``layer1.0.downsample.0/1``), so torchvision's state dicts load unchanged at width 1.

    Args:
        name: factory name recorded on the trunk.
        depth: 18, 34, 50, 101, 152 or 200.
        width_multiplier: VISSL's WIDTH_MULTIPLIER; stem and every stage get ``64 * w`` base
            channels (``64 * w`` must be a whole number: 0.25 gives a 16-channel stem).
        groups: ResNeXt cardinality (GROUPS).
        width_per_group: ResNeXt WIDTH_PER_GROUP (64 for plain ResNets).
        norm: "BatchNorm", "GroupNorm" or "LayerNorm" (VISSL's NORM).
        groupnorm_groups: groups of GroupNorm (GROUPNORM_GROUPS, 32).
        standardize_convolutions: weight-standardised convolutions (STANDARDIZE_CONVOLUTIONS).
        zero_init_residual: zero the last norm's scale in every residual branch.
        layer4_stride: stride of the last stage (LAYER4_STRIDE; 1 keeps res5 at 1/16 resolution).
        small_input: 3x3 stride-1 first convolution and no max-pool (28-32 px images).
        in_channels: input channels (3 for RGB, 1 for the L channel of colorization).

    Features (``H, W`` the input size, ``w`` the width multiplier, ``e`` 1 for depth 18/34 and
    4 otherwise; with ``small_input`` the conv1 and res2 sizes are ``H x W`` instead of halved):
        conv1 ``[B, 64w, H/2, W/2]``, res2 ``[B, 64we, H/4, W/4]``, res3 ``[B, 128we, H/8, W/8]``,
        res4 ``[B, 256we, H/16, W/16]``, res5 ``[B, 512we, H/32, W/32]``,
        res5avg ``[B, 512we, 1, 1]``, flatten ``[B, 512we]`` (= ``num_features``).
    """

    def __init__(
        self,
        name: str = "resnet",
        *,
        depth: int = 50,
        width_multiplier: float = 1.0,
        groups: int = 1,
        width_per_group: int = 64,
        norm: Norm = "BatchNorm",
        groupnorm_groups: int = 32,
        standardize_convolutions: bool = False,
        zero_init_residual: bool = False,
        layer4_stride: int = 2,
        small_input: bool = False,
        in_channels: int = 3,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        if depth not in RESNET_DEPTHS:
            raise ValueError(f"depth must be one of {sorted(RESNET_DEPTHS)}, got {depth!r}")
        base = 64 * float(width_multiplier)
        if width_multiplier <= 0 or base != int(base):
            raise ValueError(f"width_multiplier must make 64 * width_multiplier a positive integer, got {width_multiplier!r}")
        if groups < 1 or width_per_group < 1:
            raise ValueError(f"groups and width_per_group must be >= 1, got {groups!r} and {width_per_group!r}")
        if layer4_stride not in (1, 2):
            raise ValueError(f"layer4_stride must be 1 or 2, got {layer4_stride!r}")
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels!r}")
        block, layers = RESNET_DEPTHS[depth]
        if block is BasicBlock and (groups != 1 or width_per_group != 64):
            raise ValueError(f"depth {depth} uses basic blocks, which need groups=1 and width_per_group=64")
        norm_layer = _norm_layer(norm, groupnorm_groups)
        base_channels = int(base)
        expansion: int = block.expansion  # type: ignore[attr-defined]
        super().__init__(name, kwargs if kwargs is not None else {}, base_channels * 8 * expansion)

        if small_input:
            self.conv1 = nn.Conv2d(in_channels, base_channels, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, base_channels, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(base_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool: nn.Module = nn.Identity() if small_input else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self._inplanes = base_channels
        make = self._make_layer
        self.layer1 = make(block, norm_layer, base_channels, layers[0], 1, groups, width_per_group)
        self.layer2 = make(block, norm_layer, base_channels * 2, layers[1], 2, groups, width_per_group)
        self.layer3 = make(block, norm_layer, base_channels * 4, layers[2], 2, groups, width_per_group)
        self.layer4 = make(block, norm_layer, base_channels * 8, layers[3], layer4_stride, groups, width_per_group)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)
        if standardize_convolutions:
            _standardize_convs(self)

    def _make_layer(
        self,
        block: type[nn.Module],
        norm_layer: Callable[[int], nn.Module],
        planes: int,
        blocks: int,
        stride: int,
        groups: int,
        width_per_group: int,
    ) -> nn.Sequential:
        expansion: int = block.expansion  # type: ignore[attr-defined]
        downsample = None
        if stride != 1 or self._inplanes != planes * expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self._inplanes, planes * expansion, kernel_size=1, stride=stride, bias=False),
                norm_layer(planes * expansion),
            )
        extra = {"groups": groups, "base_width": width_per_group, "norm_layer": norm_layer}
        layers = [block(self._inplanes, planes, stride, downsample, **extra)]
        self._inplanes = planes * expansion
        layers += [block(self._inplanes, planes, **extra) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _stem(self, x: Tensor) -> Tensor:
        return self.relu(self.bn1(self.conv1(x)))

    def _res2(self, x: Tensor) -> Tensor:
        return self.layer1(self.maxpool(x))

    def _stages(self) -> list[tuple[str, Callable[[Tensor], Tensor]]]:
        return [
            ("conv1", self._stem),
            ("res2", self._res2),
            ("res3", self.layer2),
            ("res4", self.layer3),
            ("res5", self.layer4),
            ("res5avg", self.avgpool),
            ("flatten", lambda t: torch.flatten(t, 1)),
        ]

    def _stage_blocks(self) -> list[tuple[str, list[Block]]]:
        """Blocks for split checkpointing: the stem's conv/bn/relu, the max-pool then every
        residual block of res2, the residual blocks of res3..res5, the pool, the flatten."""
        stages = dict(self._stages())
        return [
            ("conv1", [self.conv1, self.bn1, self.relu]),
            ("res2", [self.maxpool, *self.layer1]),
            ("res3", list(self.layer2)),
            ("res4", list(self.layer3)),
            ("res5", list(self.layer4)),
            ("res5avg", [self.avgpool]),
            ("flatten", [stages["flatten"]]),
        ]

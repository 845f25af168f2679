"""VISSL's AlexNet trunks: alexnet_bvlc, alexnet_jigsaw, alexnet_rotnet, alexnet_colorization,
alexnet_deepcluster.

Layer sizes follow VISSL's trunk files. Parameters are named like VISSL's
(``_feature_blocks.{i}.{j}``), so VISSL AlexNet trunk weights load after stripping VISSL's
``trunk.`` / ``base_model.`` prefixes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ssl_models.trunk import Trunk

__all__ = ["ALEXNET_FEATURE_NAMES", "ALEXNET_VARIANTS", "AlexNetTrunk"]

#: VISSL's feature keys of every AlexNet trunk, shallowest first.
ALEXNET_FEATURE_NAMES: tuple[str, ...] = ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5", "flatten")


@dataclass(frozen=True)
class _Variant:
    in_channels: int  # channels the first conv sees (after the Sobel filter for DeepCluster)
    widths: tuple[int, int, int, int, int]
    conv1: tuple[int, int]  # (stride, padding) of the 11x11 conv
    groups: tuple[int, int, int, int, int]  # groups of conv1..conv5
    batch_norm: tuple[bool, bool, bool, bool, bool]  # BN after conv1..conv5
    lrn: str  # "" none, "before_pool" (BVLC), "after_pool" (Jigsaw)
    sobel: bool = False  # DeepCluster: grey + Sobel filter in front (fixed weights)
    l_channel: bool = False  # Colorization: keep only the first (L) channel of a LAB image


_NO_BN = (False,) * 5
ALEXNET_VARIANTS: dict[str, _Variant] = {
    "alexnet_bvlc": _Variant(3, (96, 256, 384, 384, 256), (4, 0), (1, 2, 1, 2, 2), _NO_BN, "before_pool"),
    "alexnet_jigsaw": _Variant(3, (96, 256, 384, 384, 256), (2, 0), (1, 2, 1, 2, 2), (False, False, True, True, True), "after_pool"),
    "alexnet_rotnet": _Variant(3, (64, 192, 384, 256, 256), (4, 2), (1, 1, 1, 1, 1), (True,) * 5, ""),
    "alexnet_colorization": _Variant(1, (96, 256, 384, 384, 256), (4, 0), (1, 2, 1, 2, 2), (True,) * 5, "", l_channel=True),
    "alexnet_deepcluster": _Variant(2, (96, 256, 384, 384, 256), (4, 2), (1, 1, 1, 1, 1), (True,) * 5, "", sobel=True),
}


def _conv_block(cin: int, cout: int, kernel: int, stride: int, padding: int, groups: int, bn: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel_size=kernel, stride=stride, padding=padding, groups=groups)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _pool_block(lrn: str) -> nn.Module:
    pool = nn.MaxPool2d(kernel_size=3, stride=2)
    norm = nn.LocalResponseNorm(size=5, alpha=0.0001, beta=0.75)
    if lrn == "before_pool":
        return nn.Sequential(norm, pool)
    if lrn == "after_pool":
        return nn.Sequential(pool, norm)
    return pool


def _sobel() -> nn.Sequential:
    grey = nn.Conv2d(3, 1, kernel_size=1)
    sobel = nn.Conv2d(1, 2, kernel_size=3, padding=1)
    with torch.no_grad():
        grey.weight.fill_(1.0 / 3.0)
        grey.bias.zero_()
        sobel.weight[0, 0] = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
        sobel.weight[1, 0] = torch.tensor([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])
        sobel.bias.zero_()
    seq = nn.Sequential(grey, sobel)
    seq.requires_grad_(False)
    return seq


class AlexNetTrunk(Trunk):
    """One of VISSL's AlexNet trunks (``name`` picks the variant, see ``ALEXNET_VARIANTS``).

    Input ``[B, 3, H, W]`` (a LAB image for alexnet_colorization, whose L channel is used).
    At 224 px (alexnet_rotnet): conv1 [B, 64, 55, 55], pool1 [B, 64, 27, 27], conv2 [B, 192, 27, 27],
    pool2 [B, 192, 13, 13], conv3 [B, 384, 13, 13], conv4 [B, 256, 13, 13], conv5 [B, 256, 13, 13],
    pool5 [B, 256, 6, 6], flatten [B, 9216]. ``num_features`` is the flatten size at
    ``image_size`` (default 224); ``forward`` returns whatever size the input gives.
    """

    pooled_feature = "flatten"

    def __init__(self, name: str, *, image_size: int = 224, kwargs: dict[str, Any] | None = None) -> None:
        if name not in ALEXNET_VARIANTS:
            raise ValueError(f"unknown AlexNet variant {name!r}; known: {', '.join(ALEXNET_VARIANTS)}")
        v = ALEXNET_VARIANTS[name]
        w = v.widths
        super().__init__(name, kwargs if kwargs is not None else {}, 0)
        stride1, pad1 = v.conv1
        self.sobel: nn.Module | None = _sobel() if v.sobel else None
        self._l_channel = v.l_channel
        self._feature_blocks = nn.ModuleList(
            [
                _conv_block(v.in_channels, w[0], 11, stride1, pad1, v.groups[0], v.batch_norm[0]),
                _pool_block(v.lrn),
                _conv_block(w[0], w[1], 5, 1, 2, v.groups[1], v.batch_norm[1]),
                _pool_block(v.lrn),
                _conv_block(w[1], w[2], 3, 1, 1, v.groups[2], v.batch_norm[2]),
                _conv_block(w[2], w[3], 3, 1, 1, v.groups[3], v.batch_norm[3]),
                _conv_block(w[3], w[4], 3, 1, 1, v.groups[4], v.batch_norm[4]),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Flatten(1),
            ]
        )
        side = image_size
        for kernel, stride, pad in ((11, stride1, pad1), (3, 2, 0), (3, 2, 0), (3, 2, 0)):
            side = (side + 2 * pad - kernel) // stride + 1
        if side < 1:
            raise ValueError(f"image_size {image_size} is too small for {name}")
        self.num_features = w[4] * side * side

    def _prepare(self, x: Tensor) -> Tensor:
        if self._l_channel:
            return x[:, :1]
        if self.sobel is not None:
            return self.sobel(x)
        return x

    def _stages(self) -> list[tuple[str, Callable[[Tensor], Tensor]]]:
        blocks = list(self._feature_blocks)
        stages: list[tuple[str, Callable[[Tensor], Tensor]]] = [("conv1", lambda t: blocks[0](self._prepare(t)))]
        stages += list(zip(ALEXNET_FEATURE_NAMES[1:], blocks[1:]))
        return stages

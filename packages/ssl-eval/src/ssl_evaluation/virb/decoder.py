"""A small upsampling decoder over a frozen trunk's multi-scale maps (ViRB's pixelwise head).

ViRB's ``PixelWisePredictionHead`` climbs from the deepest ResNet map back to full resolution
with blocks of ``Conv3x3 -> PixelShuffle(2) -> LeakyReLU`` (64 channels) and a last block without
the activation. ``PixelDecoder`` does the same and adds every finer map on the way up through a
1x1 lateral convolution followed by a ``Conv3x3 -> LeakyReLU`` merge (FPN / U-Net style skip
connections), so the fine maps (``conv1``, ``res2``) carry the detail the coarse ones lost and
are read non-linearly. Maps whose sizes are not exactly twice the
previous one are matched by bilinear resizing; the output is resized to the image size.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PixelDecoder"]


def _upshuffle(in_channels: int, out_channels: int, activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels * 4, kernel_size=3, padding=1),
        nn.PixelShuffle(2),
    ]
    if activation:
        layers.append(nn.LeakyReLU())
    return nn.Sequential(*layers)


class PixelDecoder(nn.Module):
    """Multi-scale maps ``{name: [B, C_name, h, w]}`` -> per-pixel outputs ``[B, out, H, W]``.

    Args:
        in_channels: channels of each map, ordered **finest first** (e.g. ``conv1, res2, res3,
            res4, res5``); the last entry is the deepest map, where decoding starts.
        out_channels: classes (segmentation) or 1 (depth).
        width: channels inside the decoder (ViRB: 64).
    """

    def __init__(self, in_channels: Mapping[str, int], out_channels: int, width: int = 64) -> None:
        super().__init__()
        if not in_channels:
            raise ValueError("in_channels must name at least one map")
        if out_channels < 1 or width < 1:
            raise ValueError(f"out_channels and width must be >= 1, got {out_channels}, {width}")
        self.names = list(in_channels)
        self.out_channels = out_channels
        self.lateral = nn.ModuleDict(
            {name: nn.Conv2d(c, width, kernel_size=1) for name, c in in_channels.items()}
        )
        self.up = nn.ModuleList(
            [_upshuffle(width, width, activation=True) for _ in self.names[:-1]]
        )
        self.merge = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(width, width, kernel_size=3, padding=1), nn.LeakyReLU())
                for _ in self.names[:-1]
            ]
        )
        self.head = _upshuffle(width, out_channels, activation=False)

    def forward(self, maps: Mapping[str, Tensor], size: tuple[int, int]) -> Tensor:
        """Decode ``maps`` (every name of ``in_channels``) to ``[B, out_channels, *size]``."""
        missing = [name for name in self.names if name not in maps]
        if missing:
            raise ValueError(f"maps lacks {missing}; the decoder was built for {self.names}")
        x = self.lateral[self.names[-1]](maps[self.names[-1]])
        for up, merge, name in zip(self.up, self.merge, reversed(self.names[:-1])):
            skip = self.lateral[name](maps[name])
            x = up(x)
            if x.shape[-2:] != skip.shape[-2:]:
                x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = merge(x + skip)
        x = self.head(x)
        if tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return x

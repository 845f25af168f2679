"""A tiny real trunk with the ssl-models interface (forward, forward_features, feature_names)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class TinyTrunk(nn.Module):
    """conv1 [B,4,8,8] -> res2 [B,6,4,4] -> res5avg [B,6]."""

    num_features = 6

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.res2 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(6)

    def feature_names(self) -> list[str]:
        return ["conv1", "res2", "res5avg"]

    def forward_features(self, x: Tensor, names: Sequence[str]) -> dict[str, Tensor]:
        maps = {"conv1": torch.relu(self.conv1(x))}
        maps["res2"] = torch.relu(self.bn(self.res2(maps["conv1"])))
        maps["res5avg"] = maps["res2"].mean(dim=(2, 3))
        return {name: maps[name] for name in names}

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x, ["res5avg"])["res5avg"]

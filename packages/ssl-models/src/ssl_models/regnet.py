"""RegNet trunks (VISSL ``regnet``) built on torchvision's RegNet, named presets and the custom form."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models.regnet import BlockParams, RegNet

from ssl_models.trunk import Trunk

__all__ = ["REGNET_PRESETS", "RegNetTrunk"]

#: RegNet presets (RegNet paper / torchvision): name -> (depth, w_0, w_a, w_m, group_width, se_ratio).
REGNET_PRESETS: dict[str, tuple[int, int, float, float, int, float | None]] = {
    "regnet_y_400mf": (16, 48, 27.89, 2.09, 8, 0.25),
    "regnet_y_800mf": (14, 56, 38.84, 2.4, 16, 0.25),
    "regnet_y_1_6gf": (27, 48, 20.71, 2.65, 24, 0.25),
    "regnet_y_3_2gf": (21, 80, 42.63, 2.66, 24, 0.25),
    "regnet_y_8gf": (17, 192, 76.82, 2.19, 56, 0.25),
    "regnet_y_16gf": (18, 200, 106.23, 2.48, 112, 0.25),
    "regnet_y_32gf": (20, 232, 115.89, 2.53, 232, 0.25),
    "regnet_y_128gf": (27, 456, 160.83, 2.52, 264, 0.25),
    "regnet_x_400mf": (22, 24, 24.48, 2.54, 16, None),
    "regnet_x_800mf": (16, 56, 35.73, 2.28, 16, None),
    "regnet_x_1_6gf": (18, 80, 34.01, 2.25, 24, None),
    "regnet_x_3_2gf": (25, 88, 26.31, 2.25, 48, None),
    "regnet_x_8gf": (23, 80, 49.56, 2.88, 120, None),
    "regnet_x_16gf": (22, 216, 55.59, 2.1, 128, None),
    "regnet_x_32gf": (23, 320, 69.86, 2.0, 168, None),
}


class RegNetTrunk(Trunk):
    """RegNet trunk with torchvision's parameter names (``stem.*``, ``trunk_output.block1.*``), no fc.

    Either a preset (``preset="regnet_y_400mf"``, or the preset as the trunk name) or VISSL's custom
    form (``depth, w_0, w_a, w_m, group_width`` plus ``bottleneck_multiplier`` and ``se_ratio``;
    e.g. SEER's RegNet-256GF: depth=27, w_0=640, w_a=230.83, w_m=2.53, group_width=373).

    Features (ResNet-style keys; ``C1..C4`` the stage widths):
        conv1 ``[B, 32, H/2, W/2]`` (stem), res2 ``[B, C1, H/4, W/4]``, res3 ``[B, C2, H/8, W/8]``,
        res4 ``[B, C3, H/16, W/16]``, res5 ``[B, C4, H/32, W/32]``, res5avg ``[B, C4, 1, 1]``,
        flatten ``[B, C4]``.
    """

    def __init__(
        self,
        name: str = "regnet",
        *,
        preset: str | None = None,
        depth: int | None = None,
        w_0: float | None = None,
        w_a: float | None = None,
        w_m: float | None = None,
        group_width: int | None = None,
        bottleneck_multiplier: float = 1.0,
        se_ratio: float | None = 0.25,
        stem_width: int = 32,
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        norm_layer = partial(nn.BatchNorm2d, eps=norm_eps, momentum=norm_momentum)
        custom = (depth, w_0, w_a, w_m, group_width)
        if preset is not None:
            if preset not in REGNET_PRESETS:
                raise ValueError(f"unknown RegNet preset {preset!r}; known: {', '.join(REGNET_PRESETS)}")
            if any(v is not None for v in custom):
                raise ValueError("give either preset or the custom form (depth, w_0, w_a, w_m, group_width), not both")
            depth, w_0, w_a, w_m, group_width, se_ratio = REGNET_PRESETS[preset]
        elif any(v is None for v in custom):
            raise ValueError("a custom RegNet needs depth, w_0, w_a, w_m and group_width (or give preset=...)")
        with torch.device("cpu"):  # the widths are computed with tensors; keep that off the meta device
            params = BlockParams.from_init_params(
                depth=int(depth), w_0=int(w_0), w_a=float(w_a), w_m=float(w_m), group_width=int(group_width),  # type: ignore[arg-type]
                bottleneck_multiplier=bottleneck_multiplier, se_ratio=se_ratio,
            )
        model = RegNet(params, stem_width=stem_width, norm_layer=norm_layer)
        super().__init__(name, kwargs if kwargs is not None else {}, model.fc.in_features)
        self.stem = model.stem
        self.trunk_output = model.trunk_output
        self.avgpool = model.avgpool

    def _stages(self) -> list[tuple[str, Callable[[Tensor], Tensor]]]:
        blocks = list(self.trunk_output.children())
        return [
            ("conv1", self.stem),
            ("res2", blocks[0]),
            ("res3", blocks[1]),
            ("res4", blocks[2]),
            ("res5", blocks[3]),
            ("res5avg", self.avgpool),
            ("flatten", lambda t: torch.flatten(t, 1)),
        ]

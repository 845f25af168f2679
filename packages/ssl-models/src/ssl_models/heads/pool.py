"""``avg_pool``: VISSL's per-layer AvgPool2d of LINEAR_EVAL_FEAT_POOL_OPS_MAP, as a chainable head."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from ssl_models.heads.base import Head

__all__ = ["AvgPoolHead"]


class AvgPoolHead(Head):
    """``[B, C, H, W] -> [B, C, H', W']`` average pooling (put it before an ``eval_mlp`` in a chain).

    Args:
        kernel_size: pooling window, e.g. ``[10, 10]``.
        stride, padding: as in ``nn.AvgPool2d``.
    """

    def __init__(self, kernel_size: Sequence[int] | int, stride: int, padding: int = 0) -> None:
        kernel = [int(kernel_size)] * 2 if isinstance(kernel_size, int) else [int(k) for k in kernel_size]
        super().__init__("avg_pool", {"kernel_size": kernel, "stride": int(stride), "padding": int(padding)})
        self.kernel_size = tuple(kernel)
        self.stride = int(stride)
        self.padding = int(padding)

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)

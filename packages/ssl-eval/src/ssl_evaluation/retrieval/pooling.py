"""Global descriptors from a convolutional feature map: GeM and R-MAC (Tolias et al.)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["gem_pool", "rmac_regions", "rmac_pool"]


def _check_map(x: torch.Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"expected a feature map [B, C, H, W], got shape {tuple(x.shape)}")


def gem_pool(x: torch.Tensor, p: float = 4.0, eps: float = 1e-6) -> torch.Tensor:
    """Generalised mean pooling ``(mean(clamp(x, eps)^p))^(1/p)`` per channel.

    ``p = 1`` is average pooling, ``p = inf`` max pooling; VISSL's default ``p`` is 4.
    ``x``: ``[B, C, H, W]`` -> ``[B, C]``.
    """
    _check_map(x)
    if p <= 0:
        raise ValueError(f"GeM power p must be positive, got {p}")
    if math.isinf(p):
        return x.amax(dim=(2, 3))
    if p == 1:
        return x.mean(dim=(2, 3))
    return x.clamp(min=eps).pow(p).mean(dim=(2, 3)).pow(1.0 / p)


def rmac_regions(height: int, width: int, levels: int = 3, overlap: float = 0.4) -> list[tuple[int, int, int, int]]:
    """R-MAC square regions ``(top, left, size, size)`` on an ``height x width`` map.

    Level ``l`` (1..levels) uses squares of side ``floor(2 * min(H, W) / (l + 1))``: ``l``
    per side along the short dimension and ``l + extra`` along the long one, with ``extra``
    (from 1..6 candidate steps) chosen so neighbouring regions overlap closest to ``overlap``;
    region origins are spread evenly from the first to the last valid position.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"feature map size must be positive, got {height}x{width}")
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    short, long_ = min(height, width), max(height, width)
    extra = 0
    if long_ != short:
        best = None
        for steps in range(2, 8):
            stride = (long_ - short) / (steps - 1)
            cost = abs((short * short - short * stride) / (short * short) - overlap)
            if best is None or cost < best:
                best, extra = cost, steps - 1
    regions: list[tuple[int, int, int, int]] = []
    for level in range(1, levels + 1):
        side = int(math.floor(2 * short / (level + 1)))
        if side == 0:
            continue
        half = math.floor(side / 2 - 1)
        n_w = level + (extra if width > height else 0)
        n_h = level + (extra if height > width else 0)

        def origins(n: int, extent: int) -> list[int]:
            step = 0.0 if n == 1 else (extent - side) / (n - 1)
            return [int(math.floor(half + i * step) - half) for i in range(n)]

        for top in origins(n_h, height):
            for left in origins(n_w, width):
                regions.append((top, left, side, side))
    return regions


def rmac_pool(x: torch.Tensor, levels: int = 3, eps: float = 1e-6) -> torch.Tensor:
    """R-MAC: max-pool each region of :func:`rmac_regions`, L2-normalise, sum, L2-normalise.

    ``x``: ``[B, C, H, W]`` -> ``[B, C]``.
    """
    _check_map(x)
    total = torch.zeros(x.shape[0], x.shape[1], dtype=x.dtype, device=x.device)
    for top, left, h, w in rmac_regions(x.shape[2], x.shape[3], levels):
        region = x[:, :, top : top + h, left : left + w].amax(dim=(2, 3))
        total = total + F.normalize(region, dim=1, eps=eps)
    return F.normalize(total, dim=1, eps=eps)

"""Resize that keeps the aspect ratio (retrieval benchmarks)."""

from __future__ import annotations

from typing import Any

from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

__all__ = ["MultigrainResize"]


class MultigrainResize:
    """Resize, keeping the aspect ratio, so that the smaller side (``largest=False``) or the larger
    side (``largest=True``) equals ``size``; no crop. VISSL ``MultigrainResize(size, largest)``."""

    def __init__(self, size: int, largest: bool = False, interpolation: InterpolationMode = InterpolationMode.BILINEAR) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.size, self.largest, self.interpolation = int(size), bool(largest), interpolation

    def __call__(self, image: Any) -> Any:
        h, w = F.get_size(image)
        ref = max(h, w) if self.largest else min(h, w)
        scale = self.size / ref
        new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
        return F.resize(image, [new_h, new_w], interpolation=self.interpolation, antialias=True)

    def __repr__(self) -> str:
        return f"MultigrainResize(size={self.size}, largest={self.largest})"

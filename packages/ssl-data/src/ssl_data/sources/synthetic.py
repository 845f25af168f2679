"""``synthetic``: generated images for tests and benchmarks (deterministic per index)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

__all__ = ["SyntheticImageDataset"]


class SyntheticImageDataset(Dataset):
    """Images made from ``(seed, index)`` alone: no files, same content in every process.

    Image ``i`` has label ``i % num_classes``; its pixels are a class-specific colour (from the
    seed) plus uniform noise of amplitude ``noise`` (0-255 scale), so classes are separable.

    ``dataset[i]`` returns ``(uint8 Tensor [3, H, W] or transform(...), label, i)``.
    """

    def __init__(
        self,
        num_samples: int = 1000,
        size: int | tuple[int, int] = 32,
        num_classes: int = 10,
        seed: int = 0,
        noise: int = 64,
        transform: Callable[[Tensor], Any] | None = None,
    ) -> None:
        if num_samples < 1 or num_classes < 1:
            raise ValueError(f"num_samples and num_classes must be >= 1, got {num_samples}, {num_classes}")
        h, w = (size, size) if isinstance(size, int) else size
        if h < 1 or w < 1:
            raise ValueError(f"size must be positive, got {size}")
        if not 0 <= noise <= 255:
            raise ValueError(f"noise must be in [0, 255], got {noise}")
        self.num_samples, self.height, self.width = num_samples, h, w
        self.num_classes, self.seed, self.noise, self.transform = num_classes, seed, noise, transform
        g = torch.Generator().manual_seed(seed)
        self.class_colours = torch.randint(0, 256 - noise, (num_classes, 3, 1, 1), generator=g)

    def __len__(self) -> int:
        return self.num_samples

    @property
    def targets(self) -> list[int]:
        return [i % self.num_classes for i in range(self.num_samples)]

    def __getitem__(self, index: int) -> tuple[Any, int, int]:
        index = int(index)
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        label = index % self.num_classes
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index + 1)
        noise = torch.randint(0, self.noise + 1, (3, self.height, self.width), generator=g)
        image = (self.class_colours[label] + noise).clamp(0, 255).to(torch.uint8)
        return (image if self.transform is None else self.transform(image)), label, index

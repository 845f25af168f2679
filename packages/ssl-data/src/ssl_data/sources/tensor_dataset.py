"""Images held in memory as one uint8 tensor (Fashion-MNIST, digits, synthetic data)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

__all__ = ["TensorImageDataset"]


class TensorImageDataset(Dataset):
    """A map-style dataset over in-memory images.

    Args:
        images: uint8 Tensor ``[N, H, W]`` (grey), ``[N, 1, H, W]`` or ``[N, 3, H, W]``.
        labels: int64 Tensor ``[N]``.
        transform: optional callable applied to the uint8 ``[3, H, W]`` tensor (for example a
            ``torchvision.transforms.v2`` pipeline or ``ssl_data.MultiView``).

    ``dataset[i]`` returns ``(image, label, index)``: the uint8 Tensor ``[3, H, W]`` (grey images
    repeated to three channels) or ``transform(image)``, the int label and ``i`` itself.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        transform: Callable[[Tensor], Any] | None = None,
        name: str = "tensor",
    ) -> None:
        if not isinstance(images, Tensor) or images.dtype != torch.uint8:
            raise ValueError(f"images must be a uint8 Tensor, got {type(images).__name__} "
                             f"{getattr(images, 'dtype', '')}")
        if images.ndim == 3:
            images = images.unsqueeze(1)
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"images must have shape [N, H, W], [N, 1, H, W] or [N, 3, H, W], got {tuple(images.shape)}")
        labels = torch.as_tensor(labels)
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(f"labels must have shape [{images.shape[0]}], got {tuple(labels.shape)}")
        if labels.is_floating_point() or labels.is_complex():
            raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
        self.images = images
        self.labels = labels.to(torch.int64)
        self.transform = transform
        self.name = name

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[Any, int, int]:
        index = int(index)
        image = self.images[index]
        if image.shape[0] == 1:
            image = image.expand(3, -1, -1).contiguous()
        out: Any = image if self.transform is None else self.transform(image)
        return out, int(self.labels[index]), index

    @property
    def targets(self) -> list[int]:
        """Labels as a list of ints (torchvision's ``targets`` attribute)."""
        return self.labels.tolist()

"""The views a method trains on: crop sizes and counts with their augmentations.

One :class:`ViewPlan` drives both data paths: the in-memory path augments whole uint8 batches on
the training device (``ssl_data.BatchedSimCLRAugment``, parameters drawn per sample from
``ssl_data.per_sample_uniforms(seed, epoch, index, view)``), the streaming path augments each
decoded image in DataLoader workers (``ssl_data.simclr_view``, seeded per sample by
``ssl_data.SSLDataset``). Either way a sample's views depend on (seed, epoch, index, view) only,
not on the number of workers or ranks.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

import ssl_data
from ssl_data.transforms.presets import IMAGENET_MEAN, IMAGENET_STD, simclr_view

__all__ = ["CropSpec", "ViewPlan", "augment_batch"]


@dataclass(frozen=True)
class CropSpec:
    """``count`` crops of side ``size`` with one augmentation recipe (SimCLR's family).

    Attributes:
        scale: random-resized-crop area range (fraction of the image).
        jitter_strength: SimCLR's colour strength ``s`` (brightness/contrast/saturation 0.8 s, hue 0.2 s).
        p_jitter, p_gray, p_flip, p_blur, p_solarize: probabilities of each operation.
    """

    size: int
    count: int = 1
    scale: tuple[float, float] = (0.08, 1.0)
    jitter_strength: float = 0.5
    p_jitter: float = 0.8
    p_gray: float = 0.2
    p_flip: float = 0.5
    p_blur: float = 0.0
    p_solarize: float = 0.0

    def __post_init__(self) -> None:
        if self.size < 1 or self.count < 1:
            raise ValueError(f"crop size and count must be >= 1, got size={self.size}, count={self.count}")


@dataclass(frozen=True)
class ViewPlan:
    """The crops of one training sample, in order (crop-major everywhere downstream)."""

    crops: tuple[CropSpec, ...]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @property
    def num_crops(self) -> int:
        return sum(c.count for c in self.crops)

    def crop_specs(self) -> list[CropSpec]:
        """One entry per crop (specs repeated ``count`` times)."""
        return [c for c in self.crops for _ in range(c.count)]

    def batched_augments(self) -> list[ssl_data.BatchedSimCLRAugment]:
        """One batched augmentation per crop (in-memory path)."""
        return [
            ssl_data.BatchedSimCLRAugment(
                c.size, crop_scale=c.scale, jitter_strength=c.jitter_strength, p_jitter=c.p_jitter,
                p_gray=c.p_gray, p_flip=c.p_flip, blur=c.p_blur > 0, p_blur=c.p_blur, p_solarize=c.p_solarize,
                mean=self.mean, std=self.std,
            )
            for c in self.crop_specs()
        ]  # fmt: skip

    def per_sample_transform(self) -> ssl_data.MultiView:
        """``image -> [crop tensors]`` for DataLoader workers (streaming path)."""
        return ssl_data.MultiView([
            simclr_view(
                c.size, crop_scale=c.scale,
                jitter=(0.8 * c.jitter_strength, 0.8 * c.jitter_strength, 0.8 * c.jitter_strength, 0.2 * c.jitter_strength),
                p_jitter=c.p_jitter, p_gray=c.p_gray, p_flip=c.p_flip, p_blur=c.p_blur, p_solarize=c.p_solarize,
                mean=self.mean, std=self.std,
            )
            for c in self.crop_specs()
        ])  # fmt: skip


def augment_batch(
    augments: list[ssl_data.BatchedSimCLRAugment], images: Tensor, indices: Tensor, seed: int, epoch: int
) -> list[Tensor]:
    """Views of a uint8 batch ``[B, C, H, W]`` (on the training device): one float
    ``[B, 3, size, size]`` tensor per crop, each sample's parameters drawn from its own
    ``(seed, epoch, index, view)`` numbers."""
    b, _, h, w = images.shape
    out = []
    for view, aug in enumerate(augments):
        u = ssl_data.per_sample_uniforms(seed, epoch, indices, view, aug.NUM_UNIFORMS)
        out.append(aug.apply(images, aug.sample_params(b, h, w, uniforms=u)))
    return out

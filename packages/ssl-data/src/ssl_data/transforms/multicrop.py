"""VISSL's multi-crop transforms: crops of several sizes, per-crop random application."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torchvision.transforms import v2

from ssl_data.transforms._rng import rand_uniform

__all__ = ["ImgPilMultiCropRandomApply", "ImgPilToMultiCrop"]


class ImgPilToMultiCrop:
    """One image -> ``total_num_crops`` RandomResizedCrops (SwAV, DINO); a *copies* transform.

    Args:
        total_num_crops: sum of ``num_crops`` (checked, VISSL's redundancy).
        num_crops: crops per resolution, e.g. ``[2, 6]``.
        size_crops: crop side per resolution, e.g. ``[224, 96]``.
        crop_scales: area range per resolution, e.g. ``[[0.14, 1], [0.05, 0.14]]``.

    Output: a list, all crops of resolution 0 first (PIL in, PIL out; tensors work too).
    """

    kind = "copies"

    def __init__(
        self,
        total_num_crops: int,
        num_crops: Sequence[int],
        size_crops: Sequence[int],
        crop_scales: Sequence[Sequence[float]],
    ) -> None:
        if not (len(num_crops) == len(size_crops) == len(crop_scales)):
            raise ValueError(
                f"num_crops, size_crops and crop_scales need one entry per resolution, got lengths "
                f"{len(num_crops)}, {len(size_crops)}, {len(crop_scales)}"
            )
        if sum(num_crops) != total_num_crops:
            raise ValueError(f"total_num_crops={total_num_crops} but num_crops {list(num_crops)} sum to {sum(num_crops)}")
        self.total_num_crops = int(total_num_crops)
        self.num_crops = [int(n) for n in num_crops]
        self.size_crops = [int(s) for s in size_crops]
        self.crop_scales = [tuple(float(v) for v in s) for s in crop_scales]
        self.crops = [
            v2.RandomResizedCrop(size, scale=scale, antialias=True) for size, scale in zip(self.size_crops, self.crop_scales)
        ]

    def __call__(self, image: Any) -> list[Any]:
        return [crop(image) for crop, n in zip(self.crops, self.num_crops) for _ in range(n)]

    def __repr__(self) -> str:
        return (
            f"ImgPilToMultiCrop(total_num_crops={self.total_num_crops}, num_crops={self.num_crops}, "
            f"size_crops={self.size_crops}, crop_scales={self.crop_scales})"
        )


class ImgPilMultiCropRandomApply:
    """Apply ``transforms`` (composed) to crop ``i`` with probability ``prob[i]``; a *grouping*
    transform (it receives the whole list of crops). BYOL/DINO use it for asymmetric blur and
    solarisation, e.g. ``prob=[0.0, 0.2]`` for solarisation of 2 views.

    ``transforms`` are callables or VISSL specs (``{"name": ..., **kwargs}``).
    """

    kind = "grouping"

    def __init__(self, transforms: Sequence[Callable[[Any], Any] | Mapping[str, Any]], prob: Sequence[float]) -> None:
        from ssl_data.transforms.by_name import build_transform_from_spec

        if not all(0.0 <= p <= 1.0 for p in prob):
            raise ValueError(f"prob must hold probabilities in [0, 1], got {list(prob)}")
        built = [t if callable(t) else build_transform_from_spec(t) for t in transforms]
        self.transform = v2.Compose(built) if built else v2.Identity()
        self.prob = [float(p) for p in prob]

    def __call__(self, images: Sequence[Any]) -> list[Any]:
        if len(images) != len(self.prob):
            raise ValueError(f"got {len(images)} crops but prob has {len(self.prob)} entries")
        return [self.transform(img) if rand_uniform() < p else img for img, p in zip(images, self.prob)]

    def __repr__(self) -> str:
        return f"ImgPilMultiCropRandomApply(prob={self.prob}, transform={self.transform!r})"

"""Standard per-sample augmentation pipelines (torchvision.transforms.v2) of the SSL methods.

Every preset takes a PIL image or an image tensor (uint8 or float ``[C, H, W]``) and returns float32
``[3, size, size]`` tensors, normalised. Colour operations run on uint8 (fast, and solarisation
thresholds are in uint8 units); the output is converted to float at the end.
Two-view and multi-crop presets return a :class:`~ssl_data.transforms.multi_view.MultiView`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms import v2

from ssl_data.transforms.multi_view import MultiView

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "barlow_twins_transform",
    "byol_transform",
    "dino_transform",
    "moco_v2_transform",
    "multicrop_transform",
    "simclr_transform",
    "simclr_view",
]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def _blur_kernel(size: int) -> int:
    """Odd kernel side of about 10 % of the crop (SimCLR's rule; 23 for 224 px)."""
    return max(3, int(0.1 * size) // 2 * 2 + 1)


def _check_size(size: int) -> None:
    if not isinstance(size, int) or size <= 0:
        raise ValueError(f"size must be a positive int, got {size!r}")


class _AsRGB(v2.Transform):
    """PIL image -> RGB PIL image (no copy when already RGB); tensor -> uint8 [3, H, W] image."""

    def forward(self, image: Any) -> Any:
        if isinstance(image, Image.Image):
            return image if image.mode == "RGB" else image.convert("RGB")
        if not isinstance(image, Tensor):
            raise ValueError(f"expected a PIL image or a [C, H, W] tensor, got {type(image).__name__}")
        return v2.functional.grayscale_to_rgb(v2.functional.to_dtype(v2.functional.to_image(image), torch.uint8, scale=True))


class _Uint8ToNormalized(v2.Transform):
    """uint8 [3, H, W] -> float32 ``(x / 255 - mean) / std`` in one fused multiply-subtract
    (what ``ToDtype(float32, scale=True)`` + ``Normalize(mean, std)`` give, to float rounding)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        std_t = torch.tensor([float(v) for v in std]).view(-1, 1, 1)
        if (std_t <= 0).any():
            raise ValueError(f"std must be positive, got {list(std)}")
        self.scale = 1.0 / (255.0 * std_t)
        self.shift = torch.tensor([float(v) for v in mean]).view(-1, 1, 1) / std_t

    def forward(self, image: Tensor) -> Tensor:
        return torch.addcmul(-self.shift, image.as_subclass(Tensor).float(), self.scale)


def simclr_view(
    size: int,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1),
    p_jitter: float = 0.8,
    p_gray: float = 0.2,
    p_flip: float = 0.5,
    p_blur: float = 0.0,
    blur_sigma: tuple[float, float] = (0.1, 2.0),
    p_solarize: float = 0.0,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    interpolation: v2.InterpolationMode = v2.InterpolationMode.BILINEAR,
) -> v2.Compose:
    """The building block of every preset: one augmented view.

    RandomResizedCrop(size, crop_scale) -> flip(p_flip) -> ColorJitter(*jitter) with p_jitter ->
    grayscale(p_gray) -> GaussianBlur(~10 % of size, blur_sigma) with p_blur -> solarize(128) with
    p_solarize -> float32 in [0, 1] -> Normalize(mean, std). Output float32 [3, size, size].
    """
    _check_size(size)
    # Crop/resize, flip and colour run on the PIL image when given one (PIL's C kernels on the
    # small crop are the cheapest; converting the whole decoded image first costs ~45 %); blur and
    # solarisation then run on the uint8 tensor. Tensors in take the same ops on uint8.
    ops: list[v2.Transform] = [
        _AsRGB(),
        v2.RandomResizedCrop(size, scale=crop_scale, interpolation=interpolation, antialias=True),
        v2.RandomHorizontalFlip(p_flip),
    ]
    if p_jitter > 0:
        ops.append(v2.RandomApply([v2.ColorJitter(*jitter)], p=p_jitter))
    if p_gray > 0:
        ops.append(v2.RandomGrayscale(p_gray))
    ops.append(v2.ToImage())
    if p_blur > 0:
        ops.append(v2.RandomApply([v2.GaussianBlur(_blur_kernel(size), sigma=blur_sigma)], p=p_blur))
    if p_solarize > 0:
        ops.append(v2.RandomSolarize(threshold=128, p=p_solarize))
    ops.append(_Uint8ToNormalized(mean, std))
    return v2.Compose(ops)


def simclr_transform(
    size: int,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    jitter_strength: float = 0.5,
    p_jitter: float = 0.8,
    p_gray: float = 0.2,
    p_flip: float = 0.5,
    blur: bool = False,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    p_blur: float = 0.5,
) -> v2.Compose:
    """SimCLR's augmentation of one view (per sample); same arguments as ``BatchedSimCLRAugment``.

    Colour jitter is ``ColorJitter(0.8 s, 0.8 s, 0.8 s, 0.2 s)`` for ``s = jitter_strength``
    (SimCLR uses s = 1.0 on ImageNet, 0.5 on CIFAR); blur (kernel ~10 % of size, sigma 0.1-2.0,
    p_blur) only when ``blur`` is true (SimCLR's ImageNet setting). Wrap it in
    ``MultiView(simclr_transform(size), 2)`` for the two views.
    PIL or [C, H, W] image -> float32 [3, size, size].
    """
    s = float(jitter_strength)
    if s < 0:
        raise ValueError(f"jitter_strength must be >= 0, got {jitter_strength}")
    return simclr_view(
        size, crop_scale=crop_scale, jitter=(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s), p_jitter=p_jitter,
        p_gray=p_gray, p_flip=p_flip, p_blur=p_blur if blur else 0.0, mean=mean, std=std,
    )  # fmt: skip


def moco_v2_transform(
    size: int = 224, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> MultiView:
    """MoCo v2's two views: crop scale (0.2, 1), ColorJitter(0.4, 0.4, 0.4, 0.1) p 0.8, grey 0.2,
    blur p 0.5, flip. PIL/tensor -> [float32 [3, size, size]] * 2."""
    view = simclr_view(size, crop_scale=(0.2, 1.0), jitter=(0.4, 0.4, 0.4, 0.1), p_blur=0.5, mean=mean, std=std)
    return MultiView(view, 2)


def _asymmetric_pair(
    size: int, jitter: tuple[float, float, float, float], mean: Sequence[float], std: Sequence[float]
) -> MultiView:
    """Two views with blur p (1.0, 0.1) and solarisation p (0.0, 0.2) (BYOL, Barlow Twins)."""
    interp = v2.InterpolationMode.BICUBIC
    first = simclr_view(size, jitter=jitter, p_blur=1.0, p_solarize=0.0, mean=mean, std=std, interpolation=interp)
    second = simclr_view(size, jitter=jitter, p_blur=0.1, p_solarize=0.2, mean=mean, std=std, interpolation=interp)
    return MultiView([first, second])


def byol_transform(
    size: int = 224, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> MultiView:
    """BYOL's asymmetric views: ColorJitter(0.4, 0.4, 0.2, 0.1) p 0.8, grey 0.2, blur p 1.0 / 0.1,
    solarise p 0.0 / 0.2, bicubic crops of scale (0.08, 1). -> [float32 [3, size, size]] * 2."""
    return _asymmetric_pair(size, (0.4, 0.4, 0.2, 0.1), mean, std)


def barlow_twins_transform(
    size: int = 224, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> MultiView:
    """Barlow Twins' views (same recipe as BYOL: jitter (0.4, 0.4, 0.2, 0.1) p 0.8, grey 0.2,
    blur p 1.0 / 0.1, solarise p 0.0 / 0.2). -> [float32 [3, size, size]] * 2."""
    return _asymmetric_pair(size, (0.4, 0.4, 0.2, 0.1), mean, std)


def multicrop_transform(
    size_crops: Sequence[int] = (224, 96),
    num_crops: Sequence[int] = (2, 6),
    crop_scales: Sequence[tuple[float, float]] = ((0.14, 1.0), (0.05, 0.14)),
    jitter_strength: float = 1.0,
    p_blur: float = 0.5,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> MultiView:
    """SwAV's multi-crop (VISSL ``ImgPilToMultiCrop`` + ``ImgPilColorDistortion`` + blur):
    ``num_crops[i]`` crops of side ``size_crops[i]`` and area ``crop_scales[i]``, colour distortion
    of strength ``jitter_strength``, blur p ``p_blur``. Returns sum(num_crops) views, crop-major
    (all crops of resolution 0 first). Default 2x224 + 6x96."""
    if not (len(size_crops) == len(num_crops) == len(crop_scales)) or not size_crops:
        raise ValueError(
            f"size_crops, num_crops and crop_scales need the same non-zero length, got "
            f"{len(size_crops)}, {len(num_crops)}, {len(crop_scales)}"
        )
    s = float(jitter_strength)
    views: list[v2.Compose] = []
    for size, n, scale in zip(size_crops, num_crops, crop_scales):
        if n < 0:
            raise ValueError(f"num_crops must be >= 0, got {list(num_crops)}")
        view = simclr_view(
            int(size), crop_scale=tuple(scale), jitter=(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s), p_blur=p_blur, mean=mean, std=std
        )  # fmt: skip
        views += [view] * int(n)
    return MultiView(views)


def dino_transform(
    global_size: int = 224,
    local_size: int = 96,
    num_local_crops: int = 8,
    global_scale: tuple[float, float] = (0.4, 1.0),
    local_scale: tuple[float, float] = (0.05, 0.4),
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> MultiView:
    """DINO's multi-crop: 2 global crops (blur p 1.0; blur p 0.1 + solarise p 0.2) and
    ``num_local_crops`` local crops (blur p 0.5); ColorJitter(0.4, 0.4, 0.2, 0.1) p 0.8, grey 0.2,
    bicubic. Returns 2 + num_local_crops views, global first."""
    jitter = (0.4, 0.4, 0.2, 0.1)
    bicubic = v2.InterpolationMode.BICUBIC

    def view(size: int, scale: tuple[float, float], p_blur: float, p_sol: float) -> v2.Compose:
        return simclr_view(
            size, crop_scale=scale, jitter=jitter, p_blur=p_blur, p_solarize=p_sol, mean=mean, std=std, interpolation=bicubic
        )  # fmt: skip

    local = view(local_size, local_scale, 0.5, 0.0)
    return MultiView(
        [view(global_size, global_scale, 1.0, 0.0), view(global_size, global_scale, 0.1, 0.2)] + [local] * num_local_crops
    )

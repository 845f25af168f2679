"""VISSL's colour and photometric transforms (PIL images or uint8 image tensors)."""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image, ImageFilter
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from ssl_data.transforms._rng import rand_int, rand_uniform

__all__ = [
    "ImgPilColorDistortion",
    "ImgPilGaussianBlur",
    "ImgPilRandomColorJitter",
    "ImgPilRandomPhotometric",
    "ImgPilRandomSolarize",
]


def _check_p(name: str, p: float) -> float:
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
    return float(p)


def _simclr_jitter(strength: float) -> v2.ColorJitter:
    if strength < 0:
        raise ValueError(f"strength must be >= 0, got {strength}")
    s = float(strength)
    return v2.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)


class ImgPilColorDistortion:
    """SimCLR's colour distortion: ColorJitter(0.8 s, 0.8 s, 0.8 s, 0.2 s) with p 0.8, then
    RandomGrayscale(0.2). VISSL name ``ImgPilColorDistortion`` (strength)."""

    def __init__(self, strength: float = 1.0) -> None:
        self.strength = float(strength)
        self.transform = v2.Compose([v2.RandomApply([_simclr_jitter(strength)], p=0.8), v2.RandomGrayscale(0.2)])

    def __call__(self, image: Any) -> Any:
        return self.transform(image)

    def __repr__(self) -> str:
        return f"ImgPilColorDistortion(strength={self.strength})"


class ImgPilRandomColorJitter:
    """ColorJitter(0.8 s, 0.8 s, 0.8 s, 0.2 s) applied with probability ``p`` (no grey).
    VISSL name ``ImgPilRandomColorJitter`` (strength 1.0, p 0.8)."""

    def __init__(self, strength: float = 1.0, p: float = 0.8) -> None:
        self.strength, self.p = float(strength), _check_p("p", p)
        self.transform = v2.RandomApply([_simclr_jitter(strength)], p=self.p)

    def __call__(self, image: Any) -> Any:
        return self.transform(image)

    def __repr__(self) -> str:
        return f"ImgPilRandomColorJitter(strength={self.strength}, p={self.p})"


class ImgPilGaussianBlur:
    """Gaussian blur with probability ``p`` and radius (sigma) uniform in [radius_min, radius_max].

    PIL images use PIL's ``ImageFilter.GaussianBlur`` (as VISSL); tensors use torchvision's
    ``gaussian_blur`` with a kernel of side ``2 * ceil(3 * sigma) + 1``.
    VISSL name ``ImgPilGaussianBlur`` (p 0.5, radius_min 0.1, radius_max 2.0).
    """

    def __init__(self, p: float = 0.5, radius_min: float = 0.1, radius_max: float = 2.0) -> None:
        if not 0.0 < radius_min <= radius_max:
            raise ValueError(f"need 0 < radius_min <= radius_max, got {radius_min}, {radius_max}")
        self.p, self.radius_min, self.radius_max = _check_p("p", p), float(radius_min), float(radius_max)

    def __call__(self, image: Any) -> Any:
        if rand_uniform() >= self.p:
            return image
        radius = rand_uniform(self.radius_min, self.radius_max)
        if isinstance(image, Image.Image):
            return image.filter(ImageFilter.GaussianBlur(radius=radius))
        k = 2 * int(torch.ceil(torch.tensor(3.0 * radius))) + 1
        return F.gaussian_blur(image, [k, k], [radius, radius])

    def __repr__(self) -> str:
        return f"ImgPilGaussianBlur(p={self.p}, radius_min={self.radius_min}, radius_max={self.radius_max})"


def _solarize(image: Any, threshold: int) -> Any:
    """Invert pixels >= threshold (threshold in 0..256, uint8 units; 256 leaves the image)."""
    if isinstance(image, torch.Tensor) and image.is_floating_point():
        return F.solarize(image, threshold / 255.0) if threshold <= 255 else image
    if threshold > 255:
        return image
    return F.solarize(image, threshold)


class ImgPilRandomSolarize:
    """With probability ``p``, solarise with a threshold drawn uniformly from {0, ..., 256}
    (VISSL's ``RandomSolarizeTransform``). VISSL name ``ImgPilRandomSolarize`` (p 0.66)."""

    def __init__(self, p: float = 0.66) -> None:
        self.p = _check_p("p", p)

    def __call__(self, image: Any) -> Any:
        if rand_uniform() >= self.p:
            return image
        return _solarize(image, rand_int(0, 257))

    def __repr__(self) -> str:
        return f"ImgPilRandomSolarize(p={self.p})"


class ImgPilRandomPhotometric:
    """PIRL's photometric augmentation: with probability ``p`` apply, in this order, posterize
    (bits uniform in {4..8}), sharpness (factor uniform in [0.1, 1.9]), solarize (threshold in
    {0..256}) and autocontrast. PIL images or uint8 tensors. VISSL name ``ImgPilRandomPhotometric``
    (p 0.66)."""

    def __init__(self, p: float = 0.66) -> None:
        self.p = _check_p("p", p)

    def __call__(self, image: Any) -> Any:
        if rand_uniform() >= self.p:
            return image
        image = F.posterize(image, rand_int(4, 9))
        image = F.adjust_sharpness(image, rand_uniform(0.1, 1.9))
        image = _solarize(image, rand_int(0, 257))
        return F.autocontrast(image)

    def __repr__(self) -> str:
        return f"ImgPilRandomPhotometric(p={self.p})"

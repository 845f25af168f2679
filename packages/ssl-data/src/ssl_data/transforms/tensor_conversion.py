"""VISSL's image -> tensor conversions: scaled, raw (0-255) and CIE Lab."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms.v2 import functional as F

__all__ = ["ImgPil2LabTensor", "ImgPilToRawTensor", "ImgToTensor", "rgb_to_lab"]


def _to_uint8_chw(image: Any) -> Tensor:
    """PIL image (any mode) or [C, H, W] tensor -> uint8 [3, H, W] (grey replicated, alpha dropped)."""
    if isinstance(image, Image.Image):
        image = image.convert("RGB")
        return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).contiguous()
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.ascontiguousarray(image))
        image = image.permute(2, 0, 1) if image.ndim == 3 else image.unsqueeze(0)
    if not isinstance(image, Tensor) or image.ndim != 3:
        raise ValueError(f"expected a PIL image or a [C, H, W] tensor, got {type(image).__name__}")
    x = F.to_dtype(image, torch.uint8, scale=True)
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return x[:3].contiguous()


class ImgToTensor:
    """PIL image / tensor -> float32 [3, H, W] in [0, 1] (``ToTensor``). VISSL ``ImgToTensor``."""

    def __call__(self, image: Any) -> Tensor:
        return _to_uint8_chw(image).float().div_(255.0)

    def __repr__(self) -> str:
        return "ImgToTensor()"


class ImgPilToRawTensor:
    """PIL image / tensor -> float32 [3, H, W] in [0, 255] (no division). VISSL
    ``ImgPilToRawTensor``."""

    def __call__(self, image: Any) -> Tensor:
        return _to_uint8_chw(image).float()

    def __repr__(self) -> str:
        return "ImgPilToRawTensor()"


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB in [0, 1], [..., 3, H, W] -> CIE Lab (D65 white): L in [0, 100], a/b about [-128, 127]."""
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    m = torch.tensor(
        [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]],
        dtype=rgb.dtype,
    )
    xyz = torch.einsum("ij,...jhw->...ihw", m, lin)
    white = torch.tensor([0.950456, 1.0, 1.088754], dtype=rgb.dtype).view(3, 1, 1)
    t = xyz / white
    f = torch.where(t > 0.008856, t.clamp(min=1e-12) ** (1.0 / 3.0), 7.787 * t + 16.0 / 116.0)
    fx, fy, fz = f.unbind(-3)
    lum = torch.where(t[..., 1, :, :] > 0.008856, 116.0 * fy - 16.0, 903.3 * t[..., 1, :, :])
    return torch.stack([lum, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=-3)


class ImgPil2LabTensor:
    """Colorization input: image -> float32 Lab [3, H, W] with L shifted to [-50, 50] (VISSL
    centres L by subtracting 50) and a, b in about [-128, 127]. VISSL ``ImgPil2LabTensor``; VISSL
    goes through OpenCV's 8-bit Lab, this computes Lab in float (no OpenCV needed)."""

    def __call__(self, image: Any) -> Tensor:
        lab = rgb_to_lab(_to_uint8_chw(image).double() / 255.0).float()
        lab[0] -= 50.0
        return lab

    def __repr__(self) -> str:
        return "ImgPil2LabTensor()"

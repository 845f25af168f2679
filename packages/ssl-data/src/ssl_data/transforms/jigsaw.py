"""Jigsaw and PIRL patch transforms: grid patches with jitter, permutation shuffling."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms import v2

from ssl_data.transforms._rng import rand_int

__all__ = ["ImgPatchesFromTensor", "ImgPilToPatchesAndImage", "ShuffleImgPatches", "load_permutations"]


class ImgPatchesFromTensor:
    """Cut an image into a ``sqrt(num_patches)``-sided grid and take a randomly placed
    ``(cell - patch_jitter)``-sided patch from each cell (Jigsaw).

    Input: tensor or array [C, H, W] (H used for the grid, as VISSL). Output: list of
    ``num_patches`` tensors [C, cell - jitter, cell - jitter], row-major over the grid.
    VISSL ``ImgPatchesFromTensor`` (num_patches 9, patch_jitter 21).
    """

    def __init__(self, num_patches: int = 9, patch_jitter: int = 21) -> None:
        side = math.isqrt(num_patches)
        if side * side != num_patches or num_patches < 1:
            raise ValueError(f"num_patches must be a perfect square, got {num_patches}")
        if patch_jitter < 0:
            raise ValueError(f"patch_jitter must be >= 0, got {patch_jitter}")
        self.num_patches, self.patch_jitter, self.grid_side = int(num_patches), int(patch_jitter), side

    def __call__(self, image: Tensor | np.ndarray) -> list[Tensor]:
        x = torch.as_tensor(image)
        if x.ndim != 3:
            raise ValueError(f"expected a [C, H, W] tensor, got shape {tuple(x.shape)}")
        cell = x.shape[1] // self.grid_side
        patch = cell - self.patch_jitter
        if patch < 1 or x.shape[2] < cell * self.grid_side:
            raise ValueError(
                f"image {tuple(x.shape[1:])} too small for a {self.grid_side}x{self.grid_side} grid with "
                f"patch_jitter {self.patch_jitter}"
            )
        out = []
        for row in range(self.grid_side):
            for col in range(self.grid_side):
                dy = rand_int(0, self.patch_jitter + 1)
                dx = rand_int(0, self.patch_jitter + 1)
                top, left = row * cell + dy, col * cell + dx
                out.append(x[:, top : top + patch, left : left + patch].clone())
        return out

    def __repr__(self) -> str:
        return f"ImgPatchesFromTensor(num_patches={self.num_patches}, patch_jitter={self.patch_jitter})"


def load_permutations(path: str | Path) -> np.ndarray:
    """Read a permutation file (.npy, int [N, num_patches]); 1-based files are shifted to 0-based."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"permutation file not found: {p}")
    try:
        perms = np.load(p, allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"not a .npy permutation file: {p} ({e})") from None
    perms = np.asarray(perms, dtype=np.int64)
    if perms.ndim != 2 or perms.size == 0:
        raise ValueError(f"permutation file {p} must hold a 2-D [N, num_patches] array, got shape {perms.shape}")
    if perms.min() == 1:
        perms = perms - 1
    n = perms.shape[1]
    if not (np.sort(perms, axis=1) == np.arange(n)).all():
        raise ValueError(f"permutation file {p}: every row must be a permutation of 0..{n - 1}")
    return perms


class ShuffleImgPatches:
    """Reorder a list of patches by a permutation drawn from a fixed set; returns
    ``(float32 [num_patches, C, h, w], permutation index)``: the Jigsaw input and its label.

    ``perm_file``: .npy of shape [N, num_patches] (see ``ssl_data.prep.jigsaw_permutations``),
    or pass ``permutations`` directly. Output patch ``k`` is input patch ``perm[k]``.
    VISSL ``ShuffleImgPatches`` (a *label* transform).
    """

    kind = "label"

    def __init__(self, perm_file: str | Path | None = None, permutations: np.ndarray | Sequence[Sequence[int]] | None = None) -> None:
        if (perm_file is None) == (permutations is None):
            raise ValueError("give exactly one of perm_file and permutations")
        self.perm_file = None if perm_file is None else str(perm_file)
        self.perms = load_permutations(perm_file) if perm_file is not None else np.asarray(permutations, dtype=np.int64)

    def __call__(self, patches: Sequence[Tensor]) -> tuple[Tensor, int]:
        if len(patches) != self.perms.shape[1]:
            raise ValueError(f"got {len(patches)} patches but the permutations have {self.perms.shape[1]} entries")
        idx = rand_int(0, self.perms.shape[0])
        stacked = torch.stack([torch.as_tensor(patches[i]).float() for i in self.perms[idx]])
        return stacked, idx

    def __repr__(self) -> str:
        return f"ShuffleImgPatches(perm_file={self.perm_file!r}, num_permutations={self.perms.shape[0]})"


class ImgPilToPatchesAndImage:
    """PIRL: image -> ``[image_crop, patch_1, ..., patch_N]`` (a *copies* transform).

    ``image_crop`` is a RandomResizedCrop(crop_size_image, crop_scale_image); the patches are cut
    with :class:`ImgPatchesFromTensor` (jitter ``patch_jitter``) from a separate
    RandomResizedCrop(crop_size_patches, crop_scale_patches), in random order when
    ``permute_patches``. PIL in -> PIL out (tensors in -> tensors out).
    VISSL ``ImgPilToPatchesAndImage`` (0.08-1 / 224, 0.6-1 / 255, 9 patches).
    """

    kind = "copies"

    def __init__(
        self,
        crop_scale_image: tuple[float, float] = (0.08, 1.0),
        crop_size_image: int = 224,
        crop_scale_patches: tuple[float, float] = (0.6, 1.0),
        crop_size_patches: int = 255,
        permute_patches: bool = True,
        num_patches: int = 9,
        patch_jitter: int = 21,
    ) -> None:
        self.crop_image = v2.RandomResizedCrop(crop_size_image, scale=crop_scale_image, antialias=True)
        self.crop_patches = v2.RandomResizedCrop(crop_size_patches, scale=crop_scale_patches, antialias=True)
        self.to_patches = ImgPatchesFromTensor(num_patches, patch_jitter)
        self.permute_patches = bool(permute_patches)

    def __call__(self, image: Any) -> list[Any]:
        cropped = self.crop_image(image)
        region = self.crop_patches(image)
        is_pil = isinstance(region, Image.Image)
        arr = torch.from_numpy(np.asarray(region.convert("RGB")).copy()).permute(2, 0, 1) if is_pil else region
        patches = self.to_patches(arr)
        if is_pil:
            patches = [Image.fromarray(p.permute(1, 2, 0).numpy()) for p in patches]
        if self.permute_patches:
            order = torch.randperm(len(patches)).tolist()
            patches = [patches[i] for i in order]
        return [cropped, *patches]

    def __repr__(self) -> str:
        return f"ImgPilToPatchesAndImage(num_patches={self.to_patches.num_patches}, permute={self.permute_patches})"

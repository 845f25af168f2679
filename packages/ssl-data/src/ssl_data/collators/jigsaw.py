"""Collators for patch-based methods: Jigsaw (siamese towers) and PIRL (patches + image)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ssl_data.collators.samples import as_samples, stack_field

__all__ = ["patch_and_image_collator", "siamese_collator"]


def siamese_collator(batch: Sequence[Any]) -> dict[str, Tensor]:
    """Jigsaw: each sample's data is [T, C, h, w] (the shuffled patches from
    ``ShuffleImgPatches``) and its label the permutation index. ``data`` [B * T, C, h, w]
    (sample-major: rows ``b*T:(b+1)*T`` are sample b's towers), ``label`` int64 [B],
    ``data_valid`` [B], ``data_idx`` [B]. VISSL ``siamese_collator``."""
    samples = as_samples(batch)
    stacked = torch.stack([torch.as_tensor(s.views[0]) for s in samples])
    if stacked.ndim != 5:
        raise ValueError(f"siamese_collator needs [towers, C, H, W] per sample, got {tuple(stacked.shape[1:])}")
    return {
        "data": stacked.flatten(0, 1),
        "label": stack_field(samples, "label").long().flatten(),
        "data_valid": stack_field(samples, "valid"),
        "data_idx": stack_field(samples, "index"),
    }


def patch_and_image_collator(batch: Sequence[Any]) -> dict[str, Tensor]:
    """PIRL: each sample's views are ``[image, patch_1, ..., patch_N]`` (``ImgPilToPatchesAndImage``
    then ToTensor). ``images`` [B, C, H, W]; ``patches`` [B * N, C, h, w] sample-major;
    ``label``, ``data_valid``, ``data_idx`` [B]. VISSL ``patch_and_image_collator``."""
    samples = as_samples(batch)
    if len(samples[0].views) < 2:
        raise ValueError("patch_and_image_collator needs [image, patch_1, ...] per sample")
    return {
        "images": torch.stack([torch.as_tensor(s.views[0]) for s in samples]),
        "patches": torch.stack([torch.as_tensor(p) for s in samples for p in s.views[1:]]),
        "label": stack_field(samples, "label"),
        "data_valid": stack_field(samples, "valid"),
        "data_idx": stack_field(samples, "index"),
    }

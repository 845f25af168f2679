"""Per-class loss weights for ViRB's unbalanced (binary) segmentation tasks: Pets instance
segmentation, EgoHands, NYU walkable, where the background dominates the pixels.

``segmentation_class_weights`` gives the "balanced" weights ``w_c = P / (C * P_c)`` (``P``
labelled pixels, ``P_c`` of them in class ``c``; ignored pixels do not count): every class then
contributes equally to the cross-entropy. A class without pixels gets weight 0. Pass the result
as ``class_weights`` to :func:`ssl_evaluation.virb.finetune.pixel_finetune_task`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ssl_evaluation.virb.metrics import IGNORE_INDEX

__all__ = ["segmentation_class_weights"]


def segmentation_class_weights(masks: Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Balanced class weights ``[C]`` (float32) from int masks ``[N, H, W]`` (module docstring)."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    flat = torch.as_tensor(masks).reshape(-1).long()
    flat = flat[flat != ignore_index]
    if flat.numel() == 0:
        raise ValueError("the masks have no labelled pixel (every pixel is ignore_index)")
    if int(flat.min()) < 0 or int(flat.max()) >= num_classes:
        raise ValueError(f"masks hold class ids outside [0, {num_classes}) that are not ignore_index={ignore_index}")
    counts = torch.bincount(flat, minlength=num_classes).double()
    weights = torch.where(counts > 0, flat.numel() / (num_classes * counts.clamp_min(1)), torch.zeros_like(counts))
    return weights.float()

"""Mean cosine similarity between predictions and stop-gradient targets of the other crops.

The shared core of BYOL and SimSiam: the prediction of crop ``i`` is compared with the target of
every other crop ``j != i``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ssl_losses.full_precision import full_precision

__all__ = ["mean_cross_crop_cosine"]


def mean_cross_crop_cosine(predictions: Tensor, targets: Tensor, num_crops: int) -> Tensor:
    """Mean over crop pairs ``(i, j)``, ``i != j``, and rows of ``cos(predictions_i, targets_j)``.

    Args:
        predictions: ``Tensor[num_crops * B, D]``, crop-major (rows ``c*B:(c+1)*B`` are crop ``c``).
        targets: ``Tensor[num_target_crops * B, D]``, crop-major; target crop ``j`` is the same
            view as prediction crop ``j`` (put the global crops first). Detached here
            (stop-gradient).
        num_crops: number of crops in ``predictions``.

    Returns:
        ``Tensor[]`` (float32): the mean cosine similarity.
    """
    if num_crops < 1:
        raise ValueError(f"num_crops must be >= 1, got {num_crops}")
    if predictions.ndim != 2 or predictions.shape[0] % num_crops:
        raise ValueError(
            f"predictions must be Tensor[num_crops * B, D] with num_crops={num_crops}, "
            f"got shape {tuple(predictions.shape)}"
        )
    batch = predictions.shape[0] // num_crops
    if batch == 0:
        raise ValueError("predictions must hold at least one row per crop")
    if targets.ndim != 2 or targets.shape[1] != predictions.shape[1] or targets.shape[0] % batch:
        raise ValueError(
            f"targets must be Tensor[num_target_crops * {batch}, {predictions.shape[1]}] (crop-major, "
            f"same B and D as predictions), got shape {tuple(targets.shape)}"
        )
    num_target_crops = targets.shape[0] // batch
    if not 1 <= num_target_crops <= num_crops or num_crops == 1:
        raise ValueError(
            f"targets has {num_target_crops} crops for {num_crops} prediction crops: need at least one pair of "
            "different crops and no more target crops than prediction crops"
        )
    with torch.autocast(device_type=predictions.device.type, enabled=False):
        p = F.normalize(full_precision(predictions), dim=1).view(num_crops, batch, -1)
        z = F.normalize(full_precision(targets.detach()), dim=1).view(num_target_crops, batch, -1)
        cos = torch.einsum("ibd,jbd->ijb", p, z).mean(dim=2)  # [num_crops, num_target_crops]
        off_diagonal = ~torch.eye(num_crops, num_target_crops, dtype=torch.bool, device=cos.device)
        return cos[off_diagonal].mean()

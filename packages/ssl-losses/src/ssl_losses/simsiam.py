"""SimSiam's loss (Chen and He, "Exploring simple Siamese representation learning", 2021)."""

from __future__ import annotations

from torch import Tensor, nn

from ssl_losses.cross_crop_cosine import mean_cross_crop_cosine

__all__ = ["SimSiamLoss"]


class SimSiamLoss(nn.Module):
    """Negative cosine similarity between predictions and stop-gradient projections of the other crops.

    For two views it is the paper's ``D(p1, z2) / 2 + D(p2, z1) / 2`` with ``D(p, z) = -cos(p,
    stopgrad(z))``; with more crops it averages over crop pairs ``(i, j)``, ``i != j``. Each
    sample's loss depends only on itself, so no gather is needed.

    Args:
        num_crops: crops stacked in ``predictions`` (default 2).

    Shapes:
        ``forward(predictions: Tensor[num_crops * B, D], projections: Tensor[num_target_crops * B,
        D]) -> Tensor[]``, both crop-major (usually the same crops: ``num_target_crops ==
        num_crops``); ``projections`` are detached here. The value lies in ``[-1, 1]``.
    """

    def __init__(self, num_crops: int = 2) -> None:
        super().__init__()
        if num_crops < 2:
            raise ValueError(f"num_crops must be >= 2, got {num_crops}")
        self.num_crops = int(num_crops)

    def forward(self, predictions: Tensor, projections: Tensor) -> Tensor:
        """Return the SimSiam loss (a float32 scalar; float64 for float64 inputs)."""
        return -mean_cross_crop_cosine(predictions, projections, self.num_crops)

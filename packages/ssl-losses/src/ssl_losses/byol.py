"""BYOL's loss (Grill et al., "Bootstrap your own latent", 2020)."""

from __future__ import annotations

from torch import Tensor, nn

from ssl_losses.cross_crop_cosine import mean_cross_crop_cosine

__all__ = ["BYOLLoss"]


class BYOLLoss(nn.Module):
    """Normalised mean squared error ``||p/|p| - z/|z|||^2 = 2 - 2 cos(p, z)`` between the online
    network's predictions and the target (momentum) network's projections of the other crops.

    The value is averaged over crop pairs ``(i, j)``, ``i != j``: for two views it is
    ``(L(p1, z2) + L(p2, z1)) / 2``, half of the paper's symmetrised sum (so the scale does not grow
    with the number of crops; double the learning rate or the loss to match the paper's sum).
    Targets are detached. Each sample's loss depends only on itself, so no gather is needed:
    averaging the per-process losses (DDP) gives the global-batch loss.

    Args:
        num_crops: crops stacked in ``predictions`` (default 2).

    Shapes:
        ``forward(predictions: Tensor[num_crops * B, D], targets: Tensor[num_target_crops * B, D])
        -> Tensor[]``, both crop-major; ``num_target_crops <= num_crops`` (targets of the first
        crops, e.g. only the global crops of a multi-crop batch).
    """

    def __init__(self, num_crops: int = 2) -> None:
        super().__init__()
        if num_crops < 2:
            raise ValueError(f"num_crops must be >= 2, got {num_crops}")
        self.num_crops = int(num_crops)

    def forward(self, predictions: Tensor, targets: Tensor) -> Tensor:
        """Return the BYOL loss (a float32 scalar in ``[0, 4]``; float64 for float64 inputs)."""
        return 2.0 - 2.0 * mean_cross_crop_cosine(predictions, targets, self.num_crops)

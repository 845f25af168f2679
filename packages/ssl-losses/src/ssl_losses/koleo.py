"""KoLeo regulariser of DINOv2 (Sablayrolles et al., "Spreading vectors for similarity search")."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_losses.full_precision import full_precision

__all__ = ["KoLeoLoss"]


class KoLeoLoss(nn.Module):
    """Kozachenko-Leonenko differential-entropy regulariser: ``-mean_i log(eps + ||x_i - x_nn(i)||)``.

    Rows are L2-normalised, then each row's nearest neighbour is the other row of the batch with
    the largest inner product; the loss pushes nearest neighbours apart so that features spread
    uniformly. Like DINOv2 it works on the local batch of each process (no gather); DINOv2
    applies it to the student's class tokens of each global crop with weight 0.1.

    Args:
        eps: added to the distance inside the log (DINOv2 default 1e-8).

    Shapes:
        ``forward(embeddings: Tensor[B, D]) -> Tensor[]`` with ``B >= 2``.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.eps = float(eps)

    def forward(self, embeddings: Tensor) -> Tensor:
        """Return the KoLeo loss of ``embeddings: Tensor[B, D]`` (a scalar)."""
        if embeddings.ndim != 2 or embeddings.shape[0] < 2:
            raise ValueError(f"embeddings must be Tensor[B, D] with B >= 2, got shape {tuple(embeddings.shape)}")
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            x = F.normalize(full_precision(embeddings), dim=1)
            with torch.no_grad():
                sim = x @ x.t()
                sim.fill_diagonal_(-float("inf"))
                nearest = sim.argmax(dim=1)
            distances = torch.linalg.vector_norm(x - x[nearest], dim=1)
            return -torch.log(distances + self.eps).mean()

"""VICReg's loss (Bardes, Ponce and LeCun, "VICReg: Variance-Invariance-Covariance Regularization", 2022)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_losses import distributed
from ssl_losses.full_precision import full_precision

__all__ = ["VICRegLoss"]


class VICRegLoss(nn.Module):
    """``sim_coeff * invariance + std_coeff * variance + cov_coeff * covariance`` for two views.

    - invariance: mean squared error between the two views' embeddings;
    - variance: per view, ``mean_d relu(1 - sqrt(Var_d + eps))`` (unbiased variance over the
      batch), averaged over the two views;
    - covariance: per view, the sum of squared off-diagonal entries of the covariance matrix
      divided by ``D``, summed over the two views.

    All three terms are computed over the GLOBAL batch: the embeddings of every process are
    gathered with gradient (:func:`ssl_losses.distributed.gather_with_grad`), so every rank gets
    the same loss value and DDP's gradient average equals the single-process gradient on the
    concatenated batch. Every rank must pass the same ``B``.

    Args:
        sim_coeff: weight of the invariance term (paper's lambda, default 25).
        std_coeff: weight of the variance term (paper's mu, default 25).
        cov_coeff: weight of the covariance term (paper's nu, default 1).
        eps: added to the variance before the square root (default 1e-4).

    Shapes:
        ``forward(embeddings: Tensor[2 * B, D]) -> Tensor[]``, crop-major (rows ``0:B`` are view
        0, rows ``B:2B`` view 1), ``world_size * B >= 2``. The loss is computed in float32, also
        under autocast (in float64 for float64 embeddings).
    """

    def __init__(self, sim_coeff: float = 25.0, std_coeff: float = 25.0, cov_coeff: float = 1.0, eps: float = 1e-4) -> None:
        super().__init__()
        for name, value in (("sim_coeff", sim_coeff), ("std_coeff", std_coeff), ("cov_coeff", cov_coeff)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.sim_coeff = float(sim_coeff)
        self.std_coeff = float(std_coeff)
        self.cov_coeff = float(cov_coeff)
        self.eps = float(eps)

    def forward(self, embeddings: Tensor) -> Tensor:
        """Return the VICReg loss of two crop-major views (see the class docstring)."""
        if embeddings.ndim != 2 or embeddings.shape[0] % 2 or embeddings.shape[0] == 0:
            raise ValueError(
                f"embeddings must be Tensor[2 * B, D] (two views, crop-major), got shape {tuple(embeddings.shape)}"
            )
        batch = embeddings.shape[0] // 2
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            x = full_precision(embeddings)
            views = [distributed.gather_with_grad(x[:batch]), distributed.gather_with_grad(x[batch:])]
            n, dim = views[0].shape
            if n < 2:
                raise ValueError("embeddings must hold at least 2 rows per view over all processes (B * world_size >= 2)")
            invariance = F.mse_loss(views[0], views[1])
            variance = x.new_zeros(())
            covariance = x.new_zeros(())
            off_diagonal = ~torch.eye(dim, dtype=torch.bool, device=x.device)
            for v in views:
                centred = v - v.mean(dim=0)
                std = torch.sqrt(centred.pow(2).sum(dim=0) / (n - 1) + self.eps)
                variance = variance + F.relu(1.0 - std).mean() / 2
                cov = centred.t() @ centred / (n - 1)
                covariance = covariance + cov[off_diagonal].pow(2).sum() / dim
            return self.sim_coeff * invariance + self.std_coeff * variance + self.cov_coeff * covariance

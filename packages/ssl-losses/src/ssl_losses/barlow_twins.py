"""Barlow Twins redundancy-reduction loss (VISSL ``barlow_twins_loss``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ssl_losses.distributed import all_reduce_sum, world_size
from ssl_losses.full_precision import full_precision

__all__ = ["CONVENTIONS", "BarlowTwinsLoss"]

#: ``paper``: each view standardised on its own; ``vissl``: VISSL 0.1.6, both views jointly.
CONVENTIONS = ("paper", "vissl")


class BarlowTwinsLoss(nn.Module):
    """Push the cross-correlation of two views' embeddings towards the identity (Zbontar et al., 2021).

    ``loss = scale_loss * (sum_i (1 - C_ii)^2 + lambda_ * sum_{i != j} C_ij^2)`` where ``C`` is
    the ``[D, D]`` cross-correlation of the two views over the GLOBAL batch of ``N`` images
    (``B`` per rank; means, variances and ``C`` are all-reduced over ranks), so the value is
    the same on every rank. Two conventions for ``C``:

    - ``convention="paper"`` (default): the paper and its official code. Each view is
      standardised on its own, per feature over its ``N`` rows (mean and biased variance,
      ``eps = 1e-5`` inside the square root, a non-affine BatchNorm), and
      ``C = z_a^T z_b / N``.
    - ``convention="vissl"``: exactly what VISSL 0.1.6's ``barlow_twins_loss`` computes. Both
      views are standardised JOINTLY, per feature over all ``2N`` rows of both views
      (``SyncNormalizeFunction``: one mean and one biased variance for the two views together,
      same ``eps``), and ``C = z_a^T z_b / N`` (it divides by ``N``, the rows of one view,
      after its all-reduce-mean of the per-rank ``z_a^T z_b / B``). Later VISSL versions
      gather the views and divide by ``2N`` instead; that variant is not offered.

    Defaults: ``lambda_ = 0.0051`` as in the paper and VISSL's documentation text; VISSL's
    printed parameter block says 0.01, which disagrees with its own text.

    Args:
        lambda_: weight of the off-diagonal (redundancy) term (0.0051).
        scale_loss: overall factor of the official code (VISSL 0.024).
        embedding_dim: if given, the embedding width is checked against it (VISSL 8192,
            auto-filled from the head there; ``None`` = no check).
        convention: ``"paper"`` (per-view standardisation) or ``"vissl"`` (VISSL 0.1.6:
            joint standardisation of both views); see above.

    Shape:
        ``forward(embedding)``: ``embedding`` ``[2 * B, D]``, view 0 in rows ``0:B``, view 1
        in rows ``B:2B`` (crop-major), the same ``B`` on every rank; returns a scalar.

    Example:
        >>> loss_fn = BarlowTwinsLoss()
        >>> z = torch.randn(2 * 32, 64, requires_grad=True)
        >>> loss_fn(z).backward()
        >>> vissl_loss = BarlowTwinsLoss(convention="vissl")(z)
    """

    def __init__(
        self,
        lambda_: float = 0.0051,
        scale_loss: float = 0.024,
        embedding_dim: int | None = None,
        convention: str = "paper",
    ) -> None:
        super().__init__()
        if convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
        self.convention = convention
        self.lambda_ = float(lambda_)
        self.scale_loss = float(scale_loss)
        self.embedding_dim = embedding_dim
        self.eps = 1e-5

    def _standardise(self, z: Tensor, total: int) -> Tensor:
        mean = all_reduce_sum(z.sum(dim=0)) / total
        centred = z - mean
        var = all_reduce_sum((centred * centred).sum(dim=0)) / total
        return centred / torch.sqrt(var + self.eps)

    def forward(self, embedding: Tensor) -> Tensor:
        """Loss of ``embedding`` ``[2 * B, D]`` (two views, crop-major); returns ``[]``."""
        if embedding.ndim != 2 or embedding.shape[0] == 0 or embedding.shape[0] % 2 != 0:
            raise ValueError(
                f"embedding must be [2 * B, D] (two views stacked), got {tuple(embedding.shape)}"
            )
        if self.embedding_dim is not None and embedding.shape[1] != self.embedding_dim:
            raise ValueError(
                f"embedding has width {embedding.shape[1]}, expected "
                f"embedding_dim={self.embedding_dim}"
            )
        batch = embedding.shape[0] // 2
        total = batch * world_size()
        if total < 2:
            raise ValueError("embedding needs at least 2 images in the global batch")
        with torch.autocast(device_type=embedding.device.type, enabled=False):
            z = full_precision(embedding)
            if self.convention == "vissl":
                joint = self._standardise(z, 2 * total)
                za, zb = joint[:batch], joint[batch:]
            else:
                za = self._standardise(z[:batch], total)
                zb = self._standardise(z[batch:], total)
            corr = all_reduce_sum(za.t() @ zb) / total
            diag = torch.diagonal(corr)
            on_diag = (diag - 1).pow(2).sum()
            off_diag = corr.pow(2).sum() - diag.pow(2).sum()
            return self.scale_loss * (on_diag + self.lambda_ * off_diag)

    def extra_repr(self) -> str:
        return f"lambda_={self.lambda_}, scale_loss={self.scale_loss}, convention={self.convention!r}"

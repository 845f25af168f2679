"""SimCLR InfoNCE (NT-Xent) loss, two views and multi-crop (VISSL ``simclr_info_nce_loss``
and ``multicrop_simclr_info_nce_loss``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_losses.distributed import gather_with_grad, rank
from ssl_losses.full_precision import full_precision

__all__ = ["SimCLRLoss"]


class SimCLRLoss(nn.Module):
    """InfoNCE over L2-normalised embeddings with negatives from the global batch.

    For every row (image ``j``, crop ``c``) and every other crop ``c'`` of the same
    image, the term is ``-log(exp(s_pos) / (exp(s_pos) + sum_neg exp(s_neg)))`` with
    ``s = cos / temperature``; negatives are all rows of every rank except the crops of
    image ``j`` itself (the anchor and its positives are excluded, as in VISSL). The
    loss is the mean over rows and positive pairs of this process; DDP's gradient
    average then gives the global-batch loss (see :mod:`ssl_losses.distributed`).

    ``num_crops=2`` is VISSL's ``simclr_info_nce_loss``; ``num_crops=C > 2`` is
    ``multicrop_simclr_info_nce_loss`` (every crop is an anchor for every other crop of
    its image). VISSL's multi-crop variant draws negatives from the local process only;
    ``global_negatives=False`` reproduces that, the default uses the global batch for
    both variants. VISSL's ``buffer_params.world_size`` / ``effective_batch_size`` are
    not needed: they are read from ``torch.distributed`` and the input.

    Args:
        temperature: softmax temperature (VISSL ``temperature``, default 0.1).
        num_crops: crops per image in the input (VISSL ``num_crops``, default 2).
        embedding_dim: if given, ``forward`` checks the embedding width against it
            (VISSL ``buffer_params.embedding_dim``).
        global_negatives: gather negatives from all ranks (with gradient); ``False``
            uses this process's rows only (VISSL multi-crop behaviour).

    Shape:
        ``forward(embeddings)``: ``embeddings`` is ``[num_crops * B, D]``, crop-major
        (rows ``c*B:(c+1)*B`` are crop ``c``), the same ``B`` on every rank; returns a
        scalar. Computed in float32 (float64 inputs stay float64); autocast is
        disabled inside.

    Example:
        >>> loss = SimCLRLoss(temperature=0.1)
        >>> z = torch.randn(2 * 8, 128, requires_grad=True)  # 2 views of 8 images
        >>> loss(z).backward()
    """

    def __init__(
        self,
        temperature: float = 0.1,
        num_crops: int = 2,
        embedding_dim: int | None = None,
        global_negatives: bool = True,
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if num_crops < 2:
            raise ValueError(f"num_crops must be >= 2, got {num_crops}")
        self.temperature = float(temperature)
        self.num_crops = int(num_crops)
        self.embedding_dim = embedding_dim
        self.global_negatives = global_negatives

    def forward(self, embeddings: Tensor) -> Tensor:
        """Loss of ``embeddings`` ``[num_crops * B, D]`` (crop-major); returns ``[]``."""
        if embeddings.ndim != 2:
            raise ValueError(
                f"embeddings must be 2-D [num_crops * B, D], got shape {tuple(embeddings.shape)}"
            )
        n, dim = embeddings.shape
        crops = self.num_crops
        if n == 0 or n % crops != 0:
            raise ValueError(
                f"embeddings has {n} rows, not a positive multiple of num_crops={crops}"
            )
        if self.embedding_dim is not None and dim != self.embedding_dim:
            raise ValueError(
                f"embeddings has width {dim}, expected embedding_dim={self.embedding_dim}"
            )
        batch = n // crops
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            x = full_precision(embeddings)
            z = F.normalize(x, dim=1)
            if self.global_negatives:
                bank = gather_with_grad(z)
                offset = rank() * n
            else:
                bank, offset = z, 0
            logits = z @ bank.t() / self.temperature  # [n, N]
            rows = torch.arange(n, device=z.device)
            image = rows % batch
            crop = rows // batch
            # columns of the crops of each row's own image: [n, crops]
            own = offset + torch.arange(crops, device=z.device) * batch + image[:, None]
            log_neg = logits.scatter(1, own, float("-inf")).logsumexp(dim=1)
            terms = []
            for shift in range(1, crops):
                # the positive is a local row: same image, crop shifted by `shift`
                partner = z[((crop + shift) % crops) * batch + image]
                pos = (z * partner).sum(dim=1) / self.temperature
                terms.append(torch.logaddexp(pos, log_neg) - pos)
            return torch.stack(terms).mean()

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, num_crops={self.num_crops}, "
            f"global_negatives={self.global_negatives}"
        )

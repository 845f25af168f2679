"""MoCo v1/v2 contrastive loss with a FIFO queue of keys (VISSL ``moco_loss``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_losses.distributed import all_gather_no_grad, world_size
from ssl_losses.full_precision import full_precision

__all__ = ["MoCoLoss"]


class MoCoLoss(nn.Module):
    """InfoNCE of queries against their keys and a queue of past keys (He et al., 2020).

    ``logits = [q.k, q.queue] / temperature`` and the loss is the cross entropy with the
    key in position 0, averaged over this process's rows. After the loss is computed (in
    training mode only), the keys of ALL ranks are gathered and written into the queue at
    ``queue_ptr`` (FIFO, round robin), so the queue is identical on every rank.

    State (registered buffers, saved by ``state_dict``): ``queue`` ``[embedding_dim,
    queue_size]`` (VISSL's layout; initialised with unit random columns from a fixed seed,
    so identical on every rank) and ``queue_ptr`` ``[1]`` (int64).

    Args:
        embedding_dim: width of queries/keys (VISSL ``embedding_dim``, default 128).
        queue_size: number of negative keys kept (VISSL ``queue_size``, default 65536); must
            be a multiple of the global batch ``B * world_size``.
        momentum: key-encoder EMA momentum (VISSL ``momentum``, default 0.999). The loss
            does not use it; the trainer's momentum-encoder update reads it from here.
        temperature: softmax temperature (VISSL ``temperature``, default 0.2).

    Shape:
        ``forward(query, key)``: ``query`` ``[B, embedding_dim]`` from the encoder,
        ``key`` ``[B, embedding_dim]`` from the momentum encoder (treated as constant);
        both are L2-normalised inside; returns a scalar.

    Example:
        >>> loss_fn = MoCoLoss(embedding_dim=128, queue_size=4096)
        >>> q, k = torch.randn(32, 128, requires_grad=True), torch.randn(32, 128)
        >>> loss_fn(q, k).backward()
    """

    queue: Tensor
    queue_ptr: Tensor

    def __init__(
        self,
        embedding_dim: int = 128,
        queue_size: int = 65536,
        momentum: float = 0.999,
        temperature: float = 0.2,
    ) -> None:
        super().__init__()
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {embedding_dim}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.embedding_dim = int(embedding_dim)
        self.queue_size = int(queue_size)
        self.momentum = float(momentum)
        self.temperature = float(temperature)
        generator = torch.Generator().manual_seed(0)
        queue = torch.randn(self.embedding_dim, self.queue_size, generator=generator)
        self.register_buffer("queue", F.normalize(queue, dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        """Loss of ``query`` ``[B, D]`` against ``key`` ``[B, D]`` and the queue; returns ``[]``."""
        if query.ndim != 2 or query.shape[1] != self.embedding_dim:
            raise ValueError(
                f"query must be [B, embedding_dim={self.embedding_dim}], got {tuple(query.shape)}"
            )
        if key.shape != query.shape:
            raise ValueError(
                f"key must have the shape of query {tuple(query.shape)}, got {tuple(key.shape)}"
            )
        global_batch = query.shape[0] * world_size()
        if self.queue_size % global_batch != 0:
            raise ValueError(
                f"queue_size={self.queue_size} is not a multiple of the global batch "
                f"{global_batch} (batch {query.shape[0]} x world size {world_size()})"
            )
        with torch.autocast(device_type=query.device.type, enabled=False):
            q = F.normalize(full_precision(query), dim=1)
            k = F.normalize(full_precision(key.detach()), dim=1)
            positive = (q * k).sum(dim=1, keepdim=True)
            negative = q @ self.queue.detach().clone().to(q.dtype)
            logits = torch.cat([positive, negative], dim=1) / self.temperature
            labels = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
            loss = F.cross_entropy(logits, labels)
        if self.training:
            self._enqueue(k)
        return loss

    @torch.no_grad()
    def _enqueue(self, key: Tensor) -> None:
        keys = all_gather_no_grad(key)
        ptr = int(self.queue_ptr.item())
        self.queue[:, ptr : ptr + keys.shape[0]] = keys.t().to(self.queue.dtype)
        self.queue_ptr[0] = (ptr + keys.shape[0]) % self.queue_size

    def extra_repr(self) -> str:
        return (
            f"embedding_dim={self.embedding_dim}, queue_size={self.queue_size}, "
            f"momentum={self.momentum}, temperature={self.temperature}"
        )

"""SwAV swapped-prediction loss with Sinkhorn codes and an optional queue (VISSL ``swav_loss``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_losses.distributed import world_size
from ssl_losses.full_precision import full_precision
from ssl_losses.sinkhorn import distributed_sinkhorn_knopp

__all__ = ["SwAVLoss"]


def _as_list(x: Tensor | Sequence[Tensor], name: str) -> list[Tensor]:
    items = [x] if isinstance(x, Tensor) else list(x)
    if not items:
        raise ValueError(f"{name} must hold at least one tensor")
    return items


class SwAVLoss(nn.Module):
    """Swapped prediction of Sinkhorn codes across crops (Caron et al., 2020).

    For every prototype head ``h`` and every crop ``a`` in ``crops_for_assign``, codes
    ``q_a = SinkhornKnopp(scores_h[crop a])`` are computed over the global batch (plus the
    queue, when active) without gradient; every other crop ``p`` predicts them:
    ``-mean_rows sum_k q_a log softmax(scores_h[crop p] / temperature)``. Terms are averaged
    over ``p``, then over assignment crops, then over heads (VISSL's order).

    Queue (VISSL ``queue``): with ``queue_length > 0`` each rank keeps
    ``local_queue_length = queue_length // world_size`` past embeddings per assignment crop
    (buffer ``local_emb_queue`` ``[len(crops_for_assign), local_queue_length,
    embedding_dim]``). From iteration ``start_iter`` on, the queued embeddings are scored
    with the current ``prototypes`` and appended to the Sinkhorn input, and the current
    embeddings are pushed in (newest first). Unlike VISSL (random initial queue), only
    entries already written are used (buffer ``queue_count``). The iteration counter is
    the buffer ``num_iteration``; it, the queue and the count change only in training mode
    and are saved by ``state_dict``; the queue differs between ranks, so a multi-process
    checkpoint must hold every rank's (``per_rank_buffers`` names them). Construct the loss
    after ``init_process_group`` so that the per-rank queue length is right.

    Args:
        temperature: softmax temperature of the predictions (VISSL 0.1).
        use_double_precision: Sinkhorn and log-softmax in float64 (VISSL False; always for float64 scores).
        normalize_last_layer: L2-normalise the prototype rows before scoring the queue
            (VISSL True; the model normalises its prototypes itself for the batch scores).
        num_iters: Sinkhorn iterations (VISSL 3).
        epsilon: Sinkhorn regularisation (VISSL 0.05).
        temp_hard_assignment_iters: use one-hot codes while ``num_iteration`` is below it
            (VISSL 0).
        crops_for_assign: crops whose codes are the targets (VISSL ``[0, 1]``).
        embedding_dim: width of the embeddings kept in the queue (VISSL 128).
        num_crops: crops per image in the input (VISSL 2, auto-filled there).
        num_prototypes: if given, the width of each head's scores is checked against it
            (VISSL ``[3000]``, auto-filled from the head there; ``None`` = no check).
        queue_length: global queue length, 0 = no queue (VISSL ``queue.queue_length``).
        start_iter: iteration from which the queue is used (VISSL ``queue.start_iter``).
        local_queue_length: per-rank queue length (VISSL ``queue.local_queue_length``);
            ``None`` = ``queue_length // world_size``. Must be a multiple of the batch.

    Shape:
        ``forward(scores, embedding=None, prototypes=None)``: ``scores`` is ``[num_crops
        * B, K]`` or a sequence of them, one per prototype head (crop-major);
        ``embedding`` ``[num_crops * B, embedding_dim]`` and ``prototypes`` (``[K_h,
        embedding_dim]`` per head, the prototype weights) are needed only while the queue
        is active. Returns a scalar (float32; float64 for float64 scores).

    Example:
        >>> loss_fn = SwAVLoss(num_crops=6)
        >>> scores = torch.randn(6 * 16, 30, requires_grad=True)   # 6 crops, 16 images, 30 prototypes
        >>> loss_fn(scores).backward()
    """

    num_iteration: Tensor
    local_emb_queue: Tensor
    queue_count: Tensor
    #: buffers that hold this rank's own data (each rank queues its own embeddings): a trainer
    #: must save and restore them for every rank, not only rank 0's.
    per_rank_buffers: ClassVar[tuple[str, ...]] = ("local_emb_queue", "queue_count")

    def __init__(
        self,
        temperature: float = 0.1,
        use_double_precision: bool = False,
        normalize_last_layer: bool = True,
        num_iters: int = 3,
        epsilon: float = 0.05,
        temp_hard_assignment_iters: int = 0,
        crops_for_assign: Sequence[int] = (0, 1),
        embedding_dim: int = 128,
        num_crops: int = 2,
        num_prototypes: Sequence[int] | None = None,
        queue_length: int = 0,
        start_iter: int = 0,
        local_queue_length: int | None = None,
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if epsilon <= 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon}")
        if num_crops < 2:
            raise ValueError(f"num_crops must be >= 2, got {num_crops}")
        crops_for_assign = [int(c) for c in crops_for_assign]
        if not crops_for_assign or any(not 0 <= c < num_crops for c in crops_for_assign):
            raise ValueError(
                f"crops_for_assign={crops_for_assign} must be non-empty crop indices "
                f"below num_crops={num_crops}"
            )
        if queue_length < 0:
            raise ValueError(f"queue_length must be >= 0, got {queue_length}")
        self.temperature = float(temperature)
        self.use_double_precision = use_double_precision
        self.normalize_last_layer = normalize_last_layer
        self.num_iters = int(num_iters)
        self.epsilon = float(epsilon)
        self.temp_hard_assignment_iters = int(temp_hard_assignment_iters)
        self.crops_for_assign = crops_for_assign
        self.embedding_dim = int(embedding_dim)
        self.num_crops = int(num_crops)
        self.num_prototypes = None if num_prototypes is None else [int(k) for k in num_prototypes]
        self.queue_length = int(queue_length)
        self.start_iter = int(start_iter)
        if local_queue_length is None:
            local_queue_length = self.queue_length // world_size()
        self.local_queue_length = int(local_queue_length)
        self.register_buffer("num_iteration", torch.zeros(1, dtype=torch.long))
        self.register_buffer(
            "local_emb_queue",
            torch.zeros(len(crops_for_assign), self.local_queue_length, self.embedding_dim),
        )
        self.register_buffer("queue_count", torch.zeros(1, dtype=torch.long))

    # ---------------------------------------------------------------- checks

    def _check_scores(self, heads: list[Tensor], rows: int, name: str) -> None:
        for h, s in enumerate(heads):
            if s.ndim != 2 or s.shape[0] != rows:
                raise ValueError(
                    f"{name}[{h}] must be [{rows}, K] like {name}[0], got {tuple(s.shape)}"
                )
        if self.num_prototypes is not None:
            widths = [s.shape[1] for s in heads]
            if widths != self.num_prototypes:
                raise ValueError(
                    f"{name} widths {widths} do not match num_prototypes={self.num_prototypes}"
                )

    def _batch_size(self, heads: list[Tensor]) -> int:
        rows = heads[0].shape[0] if heads[0].ndim == 2 else -1
        if rows <= 0 or rows % self.num_crops != 0:
            raise ValueError(
                f"scores must be [num_crops * B, K] with num_crops={self.num_crops}, "
                f"got shape {tuple(heads[0].shape)}"
            )
        self._check_scores(heads, rows, "scores")
        return rows // self.num_crops

    def _queue_active(self) -> bool:
        return self.local_queue_length > 0 and int(self.num_iteration.item()) >= self.start_iter

    def _check_queue_inputs(
        self, batch: int, embedding: Tensor | None, prototypes: Sequence[Tensor] | Tensor | None,
        embedding_rows: int, num_heads: int, embedding_name: str,
    ) -> list[Tensor]:
        if self.local_queue_length % batch != 0:
            raise ValueError(
                f"local_queue_length={self.local_queue_length} (queue_length={self.queue_length}"
                f" over {world_size()} ranks) is not a multiple of the batch {batch}"
            )
        if embedding is None or prototypes is None:
            raise ValueError(
                f"{embedding_name} and prototypes are required while the queue is active "
                f"(queue_length={self.queue_length}, start_iter={self.start_iter})"
            )
        if embedding.shape != (embedding_rows, self.embedding_dim):
            raise ValueError(
                f"{embedding_name} must be [{embedding_rows}, embedding_dim="
                f"{self.embedding_dim}], got {tuple(embedding.shape)}"
            )
        protos = _as_list(prototypes, "prototypes")
        if len(protos) != num_heads or any(
            p.ndim != 2 or p.shape[1] != self.embedding_dim for p in protos
        ):
            raise ValueError(
                f"prototypes must be {num_heads} tensor(s) [K_h, embedding_dim="
                f"{self.embedding_dim}], got {[tuple(p.shape) for p in protos]}"
            )
        return protos

    # ---------------------------------------------------------------- computation

    def _queue_scores(self, prototypes: list[Tensor] | None) -> list[list[Tensor]] | None:
        """Per head, per assignment crop: scores ``[n_valid, K_h]`` of the queued embeddings."""
        valid = int(self.queue_count.item())
        if prototypes is None or valid == 0:
            return None
        out = []
        with torch.no_grad():
            for proto in prototypes:
                weight = full_precision(proto.detach())
                if self.normalize_last_layer:
                    weight = F.normalize(weight, dim=1)
                out.append([q[:valid] @ weight.t() for q in self.local_emb_queue])
        return out

    def _swapped_prediction(
        self,
        heads: list[Tensor],
        targets: list[Tensor],
        queue_scores: list[list[Tensor]] | None,
        batch: int,
    ) -> Tensor:
        """``heads[h]`` ``[C*B, K]`` predict the codes of ``targets[h]`` ``[A*B, K]``."""
        out_dtype = full_precision(heads[0][:0]).dtype  # float64 inputs: everything in float64
        dtype = torch.float64 if self.use_double_precision else out_dtype
        hard = int(self.num_iteration.item()) < self.temp_hard_assignment_iters
        total = heads[0].new_zeros((), dtype=dtype)
        for h, scores in enumerate(heads):
            head_loss = scores.new_zeros((), dtype=dtype)
            for a, crop in enumerate(self.crops_for_assign):
                target = targets[h][a * batch : (a + 1) * batch].detach().to(dtype)
                if queue_scores is not None:
                    target = torch.cat([target, queue_scores[h][a].to(dtype)])
                codes = distributed_sinkhorn_knopp(
                    target, self.epsilon, self.num_iters, hard, dtype == torch.float64
                )[:batch]
                others = [p for p in range(self.num_crops) if p != crop]
                crop_loss = scores.new_zeros((), dtype=dtype)
                for p in others:
                    pred = scores[p * batch : (p + 1) * batch].to(dtype) / self.temperature
                    crop_loss = crop_loss - (codes * F.log_softmax(pred, dim=1)).sum(1).mean()
                head_loss = head_loss + crop_loss / len(others)
            total = total + head_loss / len(self.crops_for_assign)
        return (total / len(heads)).to(out_dtype)

    @torch.no_grad()
    def _push(self, embedding: Tensor, rows_of_crop: list[int], batch: int) -> None:
        """Shift the queue by ``batch`` and write the rows of each assignment crop first."""
        for a, start in enumerate(rows_of_crop):
            queue = self.local_emb_queue[a]
            queue[batch:] = queue[:-batch].clone()
            queue[:batch] = embedding[start : start + batch].detach().to(queue.dtype)
        self.queue_count[0] = min(int(self.queue_count.item()) + batch, self.local_queue_length)

    def forward(
        self,
        scores: Tensor | Sequence[Tensor],
        embedding: Tensor | None = None,
        prototypes: Tensor | Sequence[Tensor] | None = None,
    ) -> Tensor:
        """SwAV loss of ``scores`` ``[num_crops * B, K]`` (or one per head); returns ``[]``."""
        heads = _as_list(scores, "scores")
        batch = self._batch_size(heads)
        use_queue = self._queue_active()
        protos = None
        if use_queue:
            protos = self._check_queue_inputs(
                batch, embedding, prototypes, self.num_crops * batch, len(heads), "embedding"
            )
        with torch.autocast(device_type=heads[0].device.type, enabled=False):
            queue_scores = self._queue_scores(protos) if use_queue else None
            targets = [
                torch.cat([s[c * batch : (c + 1) * batch] for c in self.crops_for_assign])
                for s in heads
            ]
            loss = self._swapped_prediction(heads, targets, queue_scores, batch)
        if self.training:
            if use_queue:
                assert embedding is not None
                self._push(embedding, [c * batch for c in self.crops_for_assign], batch)
            self.num_iteration += 1
        return loss

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, epsilon={self.epsilon}, num_iters={self.num_iters}, "
            f"crops_for_assign={self.crops_for_assign}, num_crops={self.num_crops}, "
            f"local_queue_length={self.local_queue_length}, start_iter={self.start_iter}"
        )

"""SwAV with a momentum teacher providing the codes (VISSL ``swav_momentum_loss``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ssl_losses.swav import SwAVLoss, _as_list

__all__ = ["SwAVMomentumLoss"]


class SwAVMomentumLoss(SwAVLoss):
    """SwAV whose Sinkhorn codes come from a momentum (EMA) teacher.

    The teacher sees only the crops of ``crops_for_assign``; its scores give the codes
    (Sinkhorn over the global batch plus the queue), and every student crop other than the
    assignment crop predicts them, averaged as in :class:`SwAVLoss`. The queue holds the
    teacher's embeddings and is scored with the teacher's ``prototypes``.

    Args:
        temperature, use_double_precision, normalize_last_layer, num_iters, epsilon,
        temp_hard_assignment_iters, crops_for_assign, embedding_dim, num_crops,
        num_prototypes, queue_length, start_iter, local_queue_length: as in
            :class:`SwAVLoss` (same names and defaults).
        momentum: teacher EMA momentum (VISSL ``momentum``, 0.99); read by the trainer's
            EMA update, not used by the loss.
        momentum_eval_mode_iter_start: iteration from which VISSL runs the teacher in eval
            mode (VISSL 0); read by the trainer, not used by the loss.

    Shape:
        ``forward(scores, teacher_scores, teacher_embedding=None, prototypes=None)``:
        ``scores`` ``[num_crops * B, K]`` (student, one per head or a single tensor);
        ``teacher_scores`` ``[len(crops_for_assign) * B, K]`` per head, rows ``a*B:(a+1)*B``
        for ``crops_for_assign[a]``; while the queue is active also ``teacher_embedding``
        ``[len(crops_for_assign) * B, embedding_dim]`` and the teacher's ``prototypes``
        ``[K_h, embedding_dim]`` per head. Returns a scalar.

    Example:
        >>> loss_fn = SwAVMomentumLoss(num_crops=4)
        >>> student = torch.randn(4 * 8, 30, requires_grad=True)
        >>> teacher = torch.randn(2 * 8, 30)
        >>> loss_fn(student, teacher).backward()
    """

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
        momentum: float = 0.99,
        momentum_eval_mode_iter_start: int = 0,
    ) -> None:
        super().__init__(
            temperature=temperature,
            use_double_precision=use_double_precision,
            normalize_last_layer=normalize_last_layer,
            num_iters=num_iters,
            epsilon=epsilon,
            temp_hard_assignment_iters=temp_hard_assignment_iters,
            crops_for_assign=crops_for_assign,
            embedding_dim=embedding_dim,
            num_crops=num_crops,
            num_prototypes=num_prototypes,
            queue_length=queue_length,
            start_iter=start_iter,
            local_queue_length=local_queue_length,
        )
        self.momentum = float(momentum)
        self.momentum_eval_mode_iter_start = int(momentum_eval_mode_iter_start)

    def forward(  # type: ignore[override]
        self,
        scores: Tensor | Sequence[Tensor],
        teacher_scores: Tensor | Sequence[Tensor],
        teacher_embedding: Tensor | None = None,
        prototypes: Tensor | Sequence[Tensor] | None = None,
    ) -> Tensor:
        """Student ``scores`` predict codes of ``teacher_scores``; returns ``[]``."""
        heads = _as_list(scores, "scores")
        batch = self._batch_size(heads)
        targets = _as_list(teacher_scores, "teacher_scores")
        if len(targets) != len(heads):
            raise ValueError(
                f"teacher_scores has {len(targets)} head(s), scores has {len(heads)}"
            )
        num_assign = len(self.crops_for_assign)
        self._check_scores(targets, num_assign * batch, "teacher_scores")
        for h, (s, t) in enumerate(zip(heads, targets)):
            if s.shape[1] != t.shape[1]:
                raise ValueError(
                    f"teacher_scores[{h}] has {t.shape[1]} prototypes, scores[{h}] {s.shape[1]}"
                )
        use_queue = self._queue_active()
        protos = None
        if use_queue:
            protos = self._check_queue_inputs(
                batch, teacher_embedding, prototypes, num_assign * batch, len(heads),
                "teacher_embedding",
            )
        with torch.autocast(device_type=heads[0].device.type, enabled=False):
            queue_scores = self._queue_scores(protos) if use_queue else None
            loss = self._swapped_prediction(heads, targets, queue_scores, batch)
        if self.training:
            if use_queue:
                assert teacher_embedding is not None
                self._push(teacher_embedding, [a * batch for a in range(num_assign)], batch)
            self.num_iteration += 1
        return loss

    def extra_repr(self) -> str:
        return f"momentum={self.momentum}, " + super().extra_repr()

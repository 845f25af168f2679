"""DINO self-distillation loss with a centred, sharpened teacher (VISSL ``dino_loss``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_losses.distributed import all_reduce_sum, world_size
from ssl_losses.full_precision import full_precision

__all__ = ["DINOLoss", "dino_teacher_temperature"]


def dino_teacher_temperature(
    iteration: int,
    teacher_temp_min: float = 0.04,
    teacher_temp_max: float = 0.07,
    teacher_temp_warmup_iters: int = 37500,
) -> float:
    """Teacher temperature at ``iteration``: linear warm-up, then constant (VISSL's schedule).

    ``teacher_temp_min + (teacher_temp_max - teacher_temp_min) * iteration /
    (teacher_temp_warmup_iters - 1)`` for ``iteration < teacher_temp_warmup_iters``
    (``linspace(min, max, warmup_iters)``), ``teacher_temp_max`` afterwards.
    """
    if iteration < 0:
        raise ValueError(f"iteration must be >= 0, got {iteration}")
    if iteration >= teacher_temp_warmup_iters:
        return float(teacher_temp_max)
    if teacher_temp_warmup_iters == 1:
        return float(teacher_temp_min)
    fraction = iteration / (teacher_temp_warmup_iters - 1)
    return float(teacher_temp_min + (teacher_temp_max - teacher_temp_min) * fraction)


class DINOLoss(nn.Module):
    """Cross entropy of the student's crops against the teacher's other crops (Caron et al., 2021).

    Teacher targets: ``softmax((teacher_output - center) / teacher_temp)``; student:
    ``log_softmax(student_output / student_temp)``. Every teacher crop ``t`` (crop index
    ``crops_for_teacher[t]``) is paired with every student crop ``v != crops_for_teacher[t]``;
    the loss is the mean over pairs of the row-mean cross entropy. After the loss (in training
    mode only) the buffer ``center`` ``[1, output_dim]`` moves towards the global-batch mean
    of the teacher outputs: ``center = ema_center * center + (1 - ema_center) * mean``, the
    mean all-reduced over ranks so the center stays identical everywhere.

    The teacher temperature is a value passed in each step (a schedule), e.g. from
    :func:`dino_teacher_temperature` or :meth:`teacher_temperature`.

    Args:
        momentum: teacher EMA base momentum (VISSL 0.996); read by the trainer, unused here.
        student_temp: student temperature (VISSL 0.1).
        teacher_temp_min: warm-up start of the teacher temperature (VISSL 0.04).
        teacher_temp_max: teacher temperature after warm-up (VISSL 0.07).
        teacher_temp_warmup_iters: warm-up length in iterations (VISSL 37500).
        crops_for_teacher: crop indices the teacher sees (VISSL ``[0, 1]``).
        ema_center: center EMA momentum (VISSL 0.9).
        normalize_last_layer: whether the head's last layer is weight-normalised (VISSL
            True); a head setting kept for the recipe, unused here.
        output_dim: width of the outputs and of ``center`` (VISSL 65536).
        num_crops: student crops per image (VISSL auto-fills it; default 2).

    Shape:
        ``forward(student_output, teacher_output, teacher_temp)``: ``student_output``
        ``[num_crops * B, output_dim]`` crop-major; ``teacher_output``
        ``[len(crops_for_teacher) * B, output_dim]`` (treated as constant);
        ``teacher_temp`` a float. Returns a scalar (float32; float64 for float64 outputs).

    Example:
        >>> loss_fn = DINOLoss(output_dim=256, num_crops=4)
        >>> student = torch.randn(4 * 8, 256, requires_grad=True)
        >>> teacher = torch.randn(2 * 8, 256)
        >>> loss_fn(student, teacher, teacher_temp=loss_fn.teacher_temperature(0)).backward()
    """

    center: Tensor

    def __init__(
        self,
        momentum: float = 0.996,
        student_temp: float = 0.1,
        teacher_temp_min: float = 0.04,
        teacher_temp_max: float = 0.07,
        teacher_temp_warmup_iters: int = 37500,
        crops_for_teacher: Sequence[int] = (0, 1),
        ema_center: float = 0.9,
        normalize_last_layer: bool = True,
        output_dim: int = 65536,
        num_crops: int = 2,
    ) -> None:
        super().__init__()
        if student_temp <= 0:
            raise ValueError(f"student_temp must be > 0, got {student_temp}")
        if not 0.0 <= ema_center <= 1.0:
            raise ValueError(f"ema_center must be in [0, 1], got {ema_center}")
        if num_crops < 2:
            raise ValueError(f"num_crops must be >= 2, got {num_crops}")
        crops_for_teacher = [int(c) for c in crops_for_teacher]
        if not crops_for_teacher or any(not 0 <= c < num_crops for c in crops_for_teacher):
            raise ValueError(
                f"crops_for_teacher={crops_for_teacher} must be non-empty crop indices "
                f"below num_crops={num_crops}"
            )
        self.momentum = float(momentum)
        self.student_temp = float(student_temp)
        self.teacher_temp_min = float(teacher_temp_min)
        self.teacher_temp_max = float(teacher_temp_max)
        self.teacher_temp_warmup_iters = int(teacher_temp_warmup_iters)
        self.crops_for_teacher = crops_for_teacher
        self.ema_center = float(ema_center)
        self.normalize_last_layer = normalize_last_layer
        self.output_dim = int(output_dim)
        self.num_crops = int(num_crops)
        self.register_buffer("center", torch.zeros(1, self.output_dim))

    def teacher_temperature(self, iteration: int) -> float:
        """:func:`dino_teacher_temperature` with this loss's warm-up parameters."""
        return dino_teacher_temperature(
            iteration, self.teacher_temp_min, self.teacher_temp_max, self.teacher_temp_warmup_iters
        )

    def forward(self, student_output: Tensor, teacher_output: Tensor, teacher_temp: float) -> Tensor:
        """DINO loss; shapes in the class docstring; returns ``[]``."""
        rows = student_output.shape[0] if student_output.ndim == 2 else -1
        if rows <= 0 or rows % self.num_crops != 0 or student_output.shape[1] != self.output_dim:
            raise ValueError(
                f"student_output must be [num_crops * B, output_dim] with num_crops="
                f"{self.num_crops}, output_dim={self.output_dim}; got {tuple(student_output.shape)}"
            )
        batch = rows // self.num_crops
        expected = (len(self.crops_for_teacher) * batch, self.output_dim)
        if tuple(teacher_output.shape) != expected:
            raise ValueError(
                f"teacher_output must be {list(expected)} (len(crops_for_teacher) * B, "
                f"output_dim), got {tuple(teacher_output.shape)}"
            )
        if teacher_temp <= 0:
            raise ValueError(f"teacher_temp must be > 0, got {teacher_temp}")
        with torch.autocast(device_type=student_output.device.type, enabled=False):
            teacher = full_precision(teacher_output.detach())
            targets = F.softmax((teacher - self.center) / teacher_temp, dim=1)
            log_probs = F.log_softmax(full_precision(student_output) / self.student_temp, dim=1)
            total = log_probs.new_zeros(())
            terms = 0
            for t, crop in enumerate(self.crops_for_teacher):
                target = targets[t * batch : (t + 1) * batch]
                for v in range(self.num_crops):
                    if v == crop:
                        continue
                    pred = log_probs[v * batch : (v + 1) * batch]
                    total = total - (target * pred).sum(dim=1).mean()
                    terms += 1
            loss = total / terms
            if self.training:
                self._update_center(teacher)
        return loss

    @torch.no_grad()
    def _update_center(self, teacher: Tensor) -> None:
        batch_mean = all_reduce_sum(teacher.sum(dim=0, keepdim=True)) / (
            teacher.shape[0] * world_size()
        )
        self.center.mul_(self.ema_center).add_(batch_mean * (1.0 - self.ema_center))

    def extra_repr(self) -> str:
        return (
            f"student_temp={self.student_temp}, crops_for_teacher={self.crops_for_teacher}, "
            f"ema_center={self.ema_center}, output_dim={self.output_dim}, num_crops={self.num_crops}"
        )

"""Cross entropy of several outputs against one target (VISSL's ``cross_entropy_multiple_output_single_target``).

Used by RotNet, Jigsaw, supervised training and the linear evaluation of several trunk layers
at once: every head predicts the same target and the losses are summed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_losses.full_precision import full_precision

__all__ = ["CrossEntropyMultipleOutputSingleTarget"]


class CrossEntropyMultipleOutputSingleTarget(nn.Module):
    """Sum over outputs of the cross entropy of ``output / temperature`` against one target.

    Args:
        temperature: logits are divided by it before the softmax (VISSL default 1.0).
        weight: optional per-class weights (length ``C``), as in ``torch.nn.CrossEntropyLoss``;
            every output must then have ``C`` classes.
        ignore_index: hard-target value whose rows are left out (VISSL default -1).
        normalize_output: L2-normalise each output row before the temperature (default False).
        label_smoothing: in ``[0, 1]``; the target becomes ``(1 - s) * one_hot + s / C``
            (for soft targets ``(1 - s) * target + s / C``).

    Shapes:
        ``forward(outputs, target)``: ``outputs`` is one ``Tensor[B, C]`` or a sequence of
        ``Tensor[B, C_i]``; ``target`` is ``int64 Tensor[B]`` (class indices, ``ignore_index``
        allowed) or a float ``Tensor[B, C]`` of class probabilities (soft targets, e.g. mixup;
        every output must then have ``C`` classes). Returns a scalar: the sum over outputs of the
        per-output mean cross entropy (weighted mean over kept rows for hard targets, like
        ``torch.nn.functional.cross_entropy``).
    """

    def __init__(
        self,
        temperature: float = 1.0,
        weight: Sequence[float] | None = None,
        ignore_index: int = -1,
        normalize_output: bool = False,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.temperature = float(temperature)
        self.ignore_index = int(ignore_index)
        self.normalize_output = bool(normalize_output)
        self.label_smoothing = float(label_smoothing)
        self.weight: Tensor | None
        if weight is None:
            self.register_buffer("weight", None)
        else:
            w = torch.as_tensor(list(weight), dtype=torch.float32)
            if w.ndim != 1 or w.numel() == 0 or bool((w < 0).any()):
                raise ValueError(f"weight must be a non-empty list of non-negative floats, got {weight}")
            self.register_buffer("weight", w)

    def forward(self, outputs: Tensor | Sequence[Tensor], target: Tensor) -> Tensor:
        """Return the summed cross entropy (see the class docstring for shapes)."""
        outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
        if not outs:
            raise ValueError("outputs must hold at least one Tensor[B, C]")
        if not isinstance(target, Tensor):
            raise TypeError(f"target must be a Tensor, got {type(target).__name__}")
        soft = target.is_floating_point()
        if soft and target.ndim != 2:
            raise ValueError(f"soft target must be Tensor[B, C], got shape {tuple(target.shape)}")
        if not soft and target.ndim != 1:
            raise ValueError(f"target must be int64 Tensor[B] or float Tensor[B, C], got shape {tuple(target.shape)}")
        loss = full_precision(outs[0].new_zeros(()))
        for i, out in enumerate(outs):
            if out.ndim != 2 or out.shape[0] != target.shape[0]:
                raise ValueError(
                    f"outputs[{i}] must be Tensor[B, C] with B={target.shape[0]} (the target's rows), "
                    f"got shape {tuple(out.shape)}"
                )
            num_classes = out.shape[1]
            if soft and target.shape[1] != num_classes:
                raise ValueError(f"soft target has {target.shape[1]} classes but outputs[{i}] has {num_classes}")
            if not soft:
                kept = target[target != self.ignore_index]
                if kept.numel() and (int(kept.min()) < 0 or int(kept.max()) >= num_classes):
                    raise ValueError(
                        f"target holds class {int(kept.max())} / {int(kept.min())} outside [0, {num_classes}) "
                        f"of outputs[{i}] (ignore_index={self.ignore_index})"
                    )
            if self.weight is not None and self.weight.numel() != num_classes:
                raise ValueError(f"weight has {self.weight.numel()} entries but outputs[{i}] has {num_classes} classes")
            logits = full_precision(out)
            if not soft and kept.numel() == 0:
                loss = loss + 0.0 * logits.sum()  # every row ignored: zero, graph kept
                continue
            if self.normalize_output:
                logits = F.normalize(logits, dim=1)
            loss = loss + F.cross_entropy(
                logits / self.temperature,
                target.to(logits.dtype) if soft else target,
                weight=None if self.weight is None else self.weight.to(logits.dtype),
                ignore_index=self.ignore_index,
                label_smoothing=self.label_smoothing,
            )
        return loss

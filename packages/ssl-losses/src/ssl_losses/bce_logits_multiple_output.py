"""Binary cross entropy on logits of several outputs against one multi-label target.

VISSL's ``bce_logits_multiple_output_single_target``: multi-label targets in ``{0, 1}`` with
``-1`` marking an entry to ignore (VOC07 "difficult" labels).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ssl_losses.full_precision import full_precision

__all__ = ["BCELogitsMultipleOutputSingleTarget"]


class BCELogitsMultipleOutputSingleTarget(nn.Module):
    """Sum over outputs and classes of the per-class mean binary cross entropy with logits.

    For each output and each class ``c`` the loss averages ``BCEWithLogits(output[b, c],
    target[b, c])`` over the rows ``b`` whose target is not ``-1`` (a class with no valid row adds
    0), then sums over classes and outputs: VISSL's reduction.

    Args:
        normalize_output: L2-normalise each output row before the loss (VISSL default False).

    Shapes:
        ``forward(outputs, target)``: ``outputs`` is one ``Tensor[B, C]`` or a sequence of them;
        ``target`` is ``Tensor[B, C]`` with values in ``{-1, 0, 1}`` (any dtype). Returns a scalar.
    """

    def __init__(self, normalize_output: bool = False) -> None:
        super().__init__()
        self.normalize_output = bool(normalize_output)

    def forward(self, outputs: Tensor | Sequence[Tensor], target: Tensor) -> Tensor:
        """Return the summed per-class mean BCE (see the class docstring for shapes)."""
        outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
        if not outs:
            raise ValueError("outputs must hold at least one Tensor[B, C]")
        if not isinstance(target, Tensor) or target.ndim != 2:
            shape = tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__
            raise ValueError(f"target must be Tensor[B, C] with values in {{-1, 0, 1}}, got {shape}")
        if not bool(((target == -1) | (target == 0) | (target == 1)).all()):
            raise ValueError("target must only hold -1 (ignore), 0 and 1")
        ignored = target == -1
        valid_per_class = (~ignored).sum(dim=0).clamp(min=1)
        target_f = target.clamp(min=0)
        loss = full_precision(outs[0].new_zeros(()))
        for i, out in enumerate(outs):
            if out.shape != target.shape:
                raise ValueError(
                    f"outputs[{i}] must have the target's shape {tuple(target.shape)}, got {tuple(out.shape)}"
                )
            logits = full_precision(out)
            if self.normalize_output:
                logits = F.normalize(logits, dim=1)
            per_entry = F.binary_cross_entropy_with_logits(logits, target_f.to(logits.dtype), reduction="none")
            loss = loss + (per_entry.masked_fill(ignored, 0.0) / valid_per_class).sum()
        return loss

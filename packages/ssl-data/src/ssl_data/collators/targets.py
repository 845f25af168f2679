"""Multi-label targets as +1 / 0 / -1 vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ssl_data.collators.samples import as_samples, stack_field

__all__ = ["targets_one_hot_collator"]


def targets_one_hot_collator(batch: Sequence[Any], num_classes: int) -> dict[str, Tensor]:
    """Each sample's label is ``(positive class ids, negative class ids)``; the output ``label``
    is int64 [B, num_classes] with 1 for positives, 0 for negatives and -1 (ignore) elsewhere
    (VOC's "difficult" objects). ``data`` [B, C, H, W]. VISSL ``targets_one_hot_default_collator``."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    samples = as_samples(batch)
    target = torch.full((len(samples), num_classes), -1, dtype=torch.int64)
    for row, s in enumerate(samples):
        if not (isinstance(s.label, (list, tuple)) and len(s.label) == 2):
            raise ValueError(f"sample {row}: label must be (positive ids, negative ids), got {s.label!r}")
        for value, ids in ((1, s.label[0]), (0, s.label[1])):
            ids = [int(i) for i in ids]
            if ids and (min(ids) < 0 or max(ids) >= num_classes):
                raise ValueError(f"sample {row}: class ids {ids} outside 0..{num_classes - 1}")
            target[row, ids] = value
    return {
        "data": torch.stack([torch.as_tensor(s.views[0]) for s in samples]),
        "label": target,
        "data_valid": stack_field(samples, "valid"),
        "data_idx": stack_field(samples, "index"),
    }

"""Default, SimCLR and MoCo collators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ssl_data.collators.samples import as_samples, stack_field

__all__ = ["default_collator", "moco_collator", "simclr_collator"]


def _view_stack(samples: Sequence[Any], view: int) -> Tensor:
    return torch.stack([torch.as_tensor(s.views[view]) for s in samples])


def default_collator(batch: Sequence[Any]) -> dict[str, Any]:
    """``data``: [B, ...] (one view) or a list of [B, ...] per view; ``label`` [B];
    ``data_valid`` bool [B]; ``data_idx`` int64 [B]. VISSL ``default_collate``."""
    samples = as_samples(batch)
    views = [_view_stack(samples, v) for v in range(len(samples[0].views))]
    return {
        "data": views[0] if len(views) == 1 else views,
        "label": stack_field(samples, "label"),
        "data_valid": stack_field(samples, "valid"),
        "data_idx": stack_field(samples, "index"),
    }


def simclr_collator(batch: Sequence[Any]) -> dict[str, Tensor]:
    """All views stacked crop-major: ``data`` [V * B, C, H, W], rows ``v*B:(v+1)*B`` are view v
    (the project's multi-crop layout); ``label``, ``data_valid``, ``data_idx`` [V * B] in the same
    order. VISSL ``simclr_collator``."""
    samples = as_samples(batch)
    n = len(samples[0].views)
    return {
        "data": torch.cat([_view_stack(samples, v) for v in range(n)]),
        "label": stack_field(samples, "label", n),
        "data_valid": stack_field(samples, "valid", n),
        "data_idx": stack_field(samples, "index", n),
    }


def moco_collator(batch: Sequence[Any]) -> dict[str, Tensor]:
    """Two views: ``data`` [B, C, H, W] (view 0, query encoder), ``data_momentum`` [B, C, H, W]
    (view 1, momentum encoder); ``label``, ``data_valid``, ``data_idx`` [B]. VISSL ``moco_collator``."""
    samples = as_samples(batch)
    if len(samples[0].views) != 2:
        raise ValueError(f"moco_collator needs exactly 2 views per sample, got {len(samples[0].views)}")
    return {
        "data": _view_stack(samples, 0),
        "data_momentum": _view_stack(samples, 1),
        "label": stack_field(samples, "label"),
        "data_valid": stack_field(samples, "valid"),
        "data_idx": stack_field(samples, "index"),
    }

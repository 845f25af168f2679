"""Multi-crop collators: crops grouped by resolution, and SwAV's multi-crop mixup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ssl_data.collators.samples import Sample, as_samples, stack_field

__all__ = ["multicrop_collator", "multicrop_mixup_collator"]


def _grouped(per_crop: list[Tensor]) -> tuple[list[Tensor], list[int]]:
    """Concatenate consecutive crops of the same spatial size: [n_g * B, C, h_g, w_g] per group."""
    groups: list[list[Tensor]] = []
    for crop in per_crop:
        if groups and groups[-1][0].shape[1:] == crop.shape[1:]:
            groups[-1].append(crop)
        else:
            groups.append([crop])
    return [torch.cat(g) for g in groups], [len(g) for g in groups]


def _per_crop(samples: Sequence[Sample]) -> list[Tensor]:
    return [torch.stack([torch.as_tensor(s.views[v]) for s in samples]) for v in range(len(samples[0].views))]


def _output(kept: Sequence[Sample], per_crop: list[Tensor]) -> dict[str, Any]:
    groups, counts = _grouped(per_crop)
    n = len(per_crop)
    return {
        "data": groups,
        "crops_per_resolution": counts,
        "label": stack_field(kept, "label", n),
        "data_valid": stack_field(kept, "valid", n),
        "data_idx": stack_field(kept, "index", n),
    }


def multicrop_collator(batch: Sequence[Any]) -> dict[str, Any]:
    """Crops grouped by resolution (SwAV, DINO, DeepCluster v2): ``data`` is a list with one tensor
    per run of consecutive same-size crops, [n_g * B, C, h_g, w_g], crop-major inside (rows
    ``c*B:(c+1)*B`` of a group are its crop c); ``crops_per_resolution`` lists n_g; ``label``,
    ``data_valid``, ``data_idx`` are [V * B], crop-major over all V crops.
    VISSL ``multicrop_collator``. Example: 2x224 + 6x96 with B=4 -> data shapes
    [8, 3, 224, 224] and [24, 3, 96, 96]."""
    samples = as_samples(batch)
    return _output(samples, _per_crop(samples))


def multicrop_mixup_collator(batch: Sequence[Any], beta: float = 0.2) -> dict[str, Any]:
    """SwAV + mixup: consecutive samples are paired, 2N images -> N: every crop of image ``2i`` is
    blended ``lam * x[2i] + (1 - lam) * x[2i+1]`` with one ``lam ~ Beta(beta, beta)`` per batch;
    labels, valid flags and indices are those of image ``2i``. Output layout as
    :func:`multicrop_collator` with N = B / 2, plus ``mix_lambda`` (float).
    VISSL ``multicrop_mixup_collator`` (beta 0.2)."""
    samples = as_samples(batch)
    if len(samples) % 2:
        raise ValueError(f"multicrop_mixup_collator needs an even batch size, got {len(samples)}")
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    lam = float(torch.distributions.Beta(torch.tensor(float(beta)), torch.tensor(float(beta))).sample())
    mixed = [lam * c[0::2].float() + (1.0 - lam) * c[1::2].float() for c in _per_crop(samples)]
    return {**_output(samples[0::2], mixed), "mix_lambda": lam}

"""The sample layouts the collators accept, normalised to one record per sample."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["Sample", "as_samples", "stack_field"]


@dataclass
class Sample:
    """One dataset sample: ``views`` (the copies/crops of the image, at least one), ``label``,
    ``valid`` (False for a replaced invalid image) and ``index`` (dataset index)."""

    views: list[Any]
    label: Any
    valid: bool
    index: int


def _as_sample(item: Any, position: int) -> Sample:
    def first(v: Any) -> Any:  # VISSL dicts repeat label/valid/index once per copy
        return v[0] if isinstance(v, (list, tuple)) else v

    if isinstance(item, Mapping):
        if "data" not in item:
            raise ValueError(f"sample {position}: a dict sample needs a 'data' key, got keys {sorted(item)}")
        data, label = item["data"], first(item.get("label", -1))
        valid, index = first(item.get("data_valid", True)), first(item.get("data_idx", position))
    elif isinstance(item, Sequence) and not isinstance(item, (str, bytes)) and 1 <= len(item) <= 4:
        data = item[0]
        label = item[1] if len(item) > 1 else -1
        index = item[2] if len(item) > 2 else position
        valid = item[3] if len(item) > 3 else True
    else:
        raise ValueError(f"sample {position}: expected a dict with 'data' or a tuple (data, label, index[, valid]), got {type(item).__name__}")
    views = list(data) if isinstance(data, (list, tuple)) else [data]
    if not views:
        raise ValueError(f"sample {position}: no image data")
    return Sample(views=views, label=label, valid=bool(valid), index=int(index))


def as_samples(batch: Sequence[Any]) -> list[Sample]:
    """Normalise a batch: VISSL dicts (``data``/``label``/``data_valid``/``data_idx``, values per
    copy) or tuples ``(data, label, index[, valid])`` where ``data`` is an image tensor or a list
    of views (what ``MultiView`` returns). All samples must have the same number of views."""
    if len(batch) == 0:
        raise ValueError("cannot collate an empty batch")
    samples = [_as_sample(item, i) for i, item in enumerate(batch)]
    n = len(samples[0].views)
    for i, s in enumerate(samples):
        if len(s.views) != n:
            raise ValueError(f"sample {i} has {len(s.views)} views but sample 0 has {n}")
    return samples


def stack_field(samples: Sequence[Sample], field: str, repeat: int = 1) -> Tensor:
    """Labels, valid flags or indices as a tensor [repeat * B] (crop-major repetition)."""
    values = [getattr(s, field) for s in samples]
    if field == "valid":
        t = torch.tensor(values, dtype=torch.bool)
    elif field == "index":
        t = torch.tensor(values, dtype=torch.int64)
    else:
        t = torch.stack([torch.as_tensor(v) for v in values])
    return t.repeat(repeat, *([1] * (t.ndim - 1)))

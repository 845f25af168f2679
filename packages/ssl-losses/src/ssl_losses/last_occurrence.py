"""Deterministic de-duplication of dataset indices before a scatter into a replicated buffer.

Writing rows with repeated indices (``index_copy_``, ``t[idx] = v``) keeps an unspecified one
of the repeats on CUDA, so two ranks could keep different ones and their "identical" buffers
would drift apart. Keeping the last occurrence explicitly makes every rank write the same rows.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["last_occurrence"]


def last_occurrence(indices: Tensor) -> Tensor:
    """Positions of the last occurrence of each distinct value of ``indices: int64 Tensor[n]``.

    Returns ``int64 Tensor[m]`` (``m`` distinct values, in increasing order of value), so that
    ``indices[last_occurrence(indices)]`` holds each value once.
    """
    values, inverse = torch.unique(indices, return_inverse=True)
    positions = torch.arange(indices.numel(), device=indices.device)
    last = torch.full((values.numel(),), -1, dtype=torch.int64, device=indices.device)
    return last.scatter_reduce_(0, inverse, positions, reduce="amax")

"""Random draws from torch's global RNG (what torchvision v2 uses), so one seed covers a pipeline."""

from __future__ import annotations

import torch

__all__ = ["rand_int", "rand_uniform"]


def rand_uniform(low: float = 0.0, high: float = 1.0) -> float:
    """A float uniform in [low, high) from torch's global RNG."""
    return low + (high - low) * float(torch.rand(()))


def rand_int(low: int, high: int) -> int:
    """An int uniform in [low, high) from torch's global RNG."""
    return int(torch.randint(low, high, ()))

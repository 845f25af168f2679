"""The precision a loss computes in: float32, or float64 for float64 inputs."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["full_precision"]


def full_precision(x: Tensor) -> Tensor:
    """``x`` (any shape) in float32, or unchanged when it is already float64.

    Losses upcast autocast's bfloat16 / float16 outputs to float32 before their reductions;
    this does the same without casting a float64 input down, so a run that trains in float64
    (``train.precision=fp64`` in ssl-train, a numerics check) computes its losses in float64.
    Differentiable (a cast); a float32 input is returned as it is.
    """
    return x if x.dtype in (torch.float32, torch.float64) else x.float()

"""Re-estimating BatchNorm running statistics of an untrained trunk on clean images."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import torch
from torch import nn

__all__ = ["reestimate_batchnorm"]


def reestimate_batchnorm(trunk: nn.Module, batches: Iterable[tuple[torch.Tensor, ...]], num_batches: int) -> int:
    """Reset every BatchNorm's running mean / variance and re-estimate them as the plain average
    over the first ``num_batches`` batches ``(images [B, 3, H, W], ...)`` (no weight changes);
    leaves the trunk in eval mode. Returns the number of batches used.

    ``ssl run`` does this to its random-init baseline, so that the baseline is not handicapped by
    untrained normalisation statistics.
    """
    norms = [m for m in trunk.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    used = 0
    if norms:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        trunk.train()
        with torch.no_grad():
            for batch in islice(batches, num_batches):
                trunk(batch[0])
                used += 1
    trunk.eval()
    return used

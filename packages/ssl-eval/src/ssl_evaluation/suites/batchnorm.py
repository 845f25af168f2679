"""Re-estimating BatchNorm running statistics of an untrained trunk on clean images."""

from __future__ import annotations

from collections.abc import Iterable, Sized
from itertools import islice

import torch
from torch import nn

from ssl_evaluation.progress import ProgressFn, Ticker

__all__ = ["reestimate_batchnorm"]


def reestimate_batchnorm(
    trunk: nn.Module,
    batches: Iterable[tuple[torch.Tensor, ...]],
    num_batches: int,
    progress: ProgressFn | None = None,
) -> int:
    """Reset every BatchNorm's running mean / variance and re-estimate them as the plain average
    over the first ``num_batches`` batches ``(images [B, 3, H, W], ...)`` (no weight changes);
    leaves the trunk in eval mode. Returns the number of batches used.
    ``progress("BatchNorm statistics", batches done, num_batches)`` after each batch (the total is
    ``len(batches)`` when that is smaller).

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
        total = min(num_batches, len(batches)) if isinstance(batches, Sized) else num_batches
        ticker = Ticker(progress, "BatchNorm statistics", total)
        with torch.no_grad():
            for batch in islice(batches, num_batches):
                trunk(batch[0])
                used += 1
                ticker.advance()
    trunk.eval()
    return used

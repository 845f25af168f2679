"""A resumable, seeded order of mini-batches over an in-memory dataset."""

from __future__ import annotations

from typing import Iterator

import torch

__all__ = ["EpochBatches"]


class EpochBatches:
    """Shuffled mini-batch indices whose order depends only on ``(seed, epoch)``.

    Because the order is a pure function of the seed and the epoch, the only state a checkpoint
    needs is the epoch and the position inside it, and a resumed run sees exactly the batches an
    uninterrupted run would have seen.

    Args:
        num_samples: dataset size N.
        batch_size: indices per batch.
        seed: base seed of the shuffling.
        drop_last: drop the final incomplete batch (contrastive losses want equal batches).
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int = 0, drop_last: bool = True) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if num_samples < (batch_size if drop_last else 1):
            raise ValueError(
                f"batch_size {batch_size} is larger than the dataset ({num_samples} images); "
                "lower data.batch_size"
            )
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.drop_last = drop_last

    def __len__(self) -> int:
        """Batches per epoch."""
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        """The permutation of ``range(num_samples)`` used in ``epoch``: int64 ``[N]``."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.num_samples, generator=gen)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[torch.Tensor]:
        """Yield the index batches (int64 ``[batch_size]``) of ``epoch``, from batch ``start`` on."""
        perm = self.order(epoch)
        for b in range(start, len(self)):
            yield perm[b * self.batch_size : (b + 1) * self.batch_size]

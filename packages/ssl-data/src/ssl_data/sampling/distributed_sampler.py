"""VISSL's StatefulDistributedSampler: each rank shuffles only its slice, resumable mid-epoch."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized
from typing import Any

import torch
from torch.utils.data import Sampler

__all__ = ["StatefulDistributedSampler"]


class StatefulDistributedSampler(Sampler[int]):
    """Distributed sampler whose state (epoch, position) survives a checkpoint.

    The dataset's indices are cut into ``num_replicas`` contiguous slices; rank ``r`` takes slice
    ``r`` and, when ``shuffle`` is true, permutes only that slice with a generator seeded from
    ``seed + epoch`` (VISSL's semantics: memory per rank is ``len(dataset) / world``, which keeps
    1B-image datasets affordable; it also means a rank always sees the same subset). With
    ``drop_last=False`` the last slice is padded with the first indices of the dataset so every
    rank has the same number of samples; with ``drop_last=True`` the tail is dropped.

    ``state_dict()`` -> ``{"epoch", "yielded", "seed", "num_replicas", "rank"}``; after
    ``load_state_dict`` the next iteration starts at sample ``yielded`` of that epoch's order
    (VISSL's ``start_iter``). torchdata's ``StatefulDataLoader`` calls both automatically.

    Args:
        dataset: anything with ``len``.
        num_replicas, rank: default to ``torch.distributed``'s world size and rank (1 and 0
            without an initialised process group).
        shard: ``"slice"`` (the above, VISSL's) or ``"stride"``: one permutation of the whole
            dataset (seeded from ``seed + epoch``) dealt out round-robin, rank ``r`` taking
            positions ``r, r + W, ...`` (torch's DistributedSampler semantics). With ``"stride"``
            the union of the ranks' ``k``-th batches of size ``b`` is the ``k``-th batch of a
            1-rank run with batch ``W * b``, whatever the world size (costs ``len(dataset)``
            ints per rank per epoch).
    """

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        shard: str = "slice",
    ) -> None:
        if shard not in ("slice", "stride"):
            raise ValueError(f"shard must be 'slice' or 'stride', got {shard!r}")
        dist_on = torch.distributed.is_available() and torch.distributed.is_initialized()
        if num_replicas is None:
            num_replicas = torch.distributed.get_world_size() if dist_on else 1
        if rank is None:
            rank = torch.distributed.get_rank() if dist_on else 0
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas - 1}], got {rank}")
        n = len(dataset)
        if n == 0:
            raise ValueError("cannot sample from an empty dataset")
        self.dataset_size = n
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.shard = shard
        self.num_samples = n // num_replicas if drop_last else math.ceil(n / num_replicas)
        if self.num_samples == 0:
            raise ValueError(f"dataset of {n} samples is smaller than num_replicas={num_replicas} with drop_last")
        self.epoch = 0
        self.yielded = 0
        self._resume_from = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch`` (call before each epoch, as for torch's sampler)."""
        if epoch != self.epoch:
            self._resume_from = 0
        self.epoch = int(epoch)

    def indices(self) -> list[int]:
        """This rank's full index order for the current epoch (``num_samples`` ints)."""
        if self.shard == "stride":
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            n, total = self.dataset_size, self.num_samples * self.num_replicas
            order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n, dtype=torch.int64)
            order = torch.cat([order, order[: max(0, total - n)]])[:total]
            return order[self.rank :: self.num_replicas].tolist()
        start = self.rank * self.num_samples
        own = torch.arange(start, start + self.num_samples, dtype=torch.int64) % self.dataset_size
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            own = own[torch.randperm(self.num_samples, generator=g)]
        return own.tolist()

    def __iter__(self) -> Iterator[int]:
        order = self.indices()
        start, self._resume_from = self._resume_from, 0
        self.yielded = start
        for index in order[start:]:
            self.yielded += 1
            yield index

    def __len__(self) -> int:
        return self.num_samples

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "yielded": self.yielded,
            "seed": self.seed,
            "num_replicas": self.num_replicas,
            "rank": self.rank,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("epoch", "yielded"):
            if key not in state:
                raise ValueError(f"sampler state is missing {key!r}: {sorted(state)}")
        if state.get("num_replicas", self.num_replicas) != self.num_replicas:
            raise ValueError(
                f"sampler state was saved with num_replicas={state['num_replicas']}, "
                f"this run has {self.num_replicas}"
            )
        yielded = int(state["yielded"])
        if not 0 <= yielded <= self.num_samples:
            raise ValueError(f"sampler state has yielded={yielded}, outside [0, {self.num_samples}]")
        self.epoch = int(state["epoch"])
        self.seed = int(state.get("seed", self.seed))
        self.yielded = yielded
        self._resume_from = yielded

"""The loader factory: torchdata's StatefulDataLoader with our sampler and worker seeding."""

from __future__ import annotations

import multiprocessing
import sys
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import Dataset
from torchdata.stateful_dataloader import StatefulDataLoader

from ssl_data.sampling.distributed_sampler import StatefulDistributedSampler
from ssl_data.sampling.seeding import worker_init_fn

__all__ = ["SSLDataLoader", "build_loader", "default_worker_start_method"]

_EPOCH_KEY = "ssl_data_epoch"


class SSLDataLoader(StatefulDataLoader):
    """A ``StatefulDataLoader`` that keeps the sampler's and the dataset's epoch together.

    ``state_dict()`` adds the epoch to torchdata's state; ``load_state_dict`` sets it on the
    dataset before workers start, so a resumed loader yields the remaining batches of that epoch
    with exactly the same pixels (with an ``SSLDataset``, whose augmentations are seeded from
    ``(seed, epoch, index)``).
    """

    sampler: StatefulDistributedSampler

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with warnings.catch_warnings():  # torchdata 0.11 calls torch.set_vital, deprecated in torch 2.14
            warnings.filterwarnings("ignore", message="'set_vital' is deprecated", category=UserWarning)
            super().__init__(*args, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        """Call before iterating each epoch: new shuffle order and new augmentation stream."""
        self.sampler.set_epoch(epoch)
        set_dataset_epoch = getattr(self.dataset, "set_epoch", None)
        if callable(set_dataset_epoch):
            set_dataset_epoch(epoch)

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def state_dict(self) -> dict[str, Any]:
        state = dict(super().state_dict())
        state[_EPOCH_KEY] = self.sampler.epoch
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        if _EPOCH_KEY in state:
            epoch = int(state.pop(_EPOCH_KEY))
            self.sampler.set_epoch(epoch)
            set_dataset_epoch = getattr(self.dataset, "set_epoch", None)
            if callable(set_dataset_epoch):
                set_dataset_epoch(epoch)
        super().load_state_dict(state)


def default_worker_start_method() -> str | None:
    """The start method ``build_loader`` gives DataLoader workers when none is asked for.

    ``"fork"`` inside a process that was itself started with "spawn" (a rank of
    ``torch.multiprocessing.spawn``, which makes "spawn" that process's default) on Linux: spawned
    workers re-import torch and the dataset at every epoch start (30-70 s here), forked ones
    start at once. This is the start method DataLoader workers get under ``torchrun`` or in any
    plain Linux script, CUDA or process group already initialised included (workers never touch
    CUDA). ``None`` (torch's default) everywhere else: the main process, macOS/Windows (where fork
    is unsafe or absent), or a "forkserver" default.
    """
    if sys.platform != "linux" or multiprocessing.parent_process() is None:
        return None
    if multiprocessing.get_start_method(allow_none=True) != "spawn":
        return None
    return "fork"


def build_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    num_workers: int = 2,
    drop_last: bool = True,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    pin_memory: bool = False,
    prefetch_factor: int | None = 2,
    multiprocessing_context: str | None = None,
    snapshot_every_n_steps: int = 1,
    persistent_workers: bool = False,
    shard: str = "slice",
) -> SSLDataLoader:
    """Build the resumable loader for one rank (VISSL's ``build_dataloader``).

    Args:
        dataset: usually an ``SSLDataset``; any map-style dataset works.
        batch_size: per rank (VISSL's ``BATCHSIZE_PER_REPLICA``).
        seed: shuffle seed of the sampler and seed of the workers' base seed.
        num_workers: DataLoader worker processes (VISSL's ``NUM_DATALOADER_WORKERS``); 0 reads
            in the main process.
        rank, world_size: default to ``torch.distributed``'s (0 and 1 without a process group).
        multiprocessing_context: "fork", "spawn" or "forkserver"; None gives
            :func:`default_worker_start_method` ("fork" in a spawned rank on Linux, else torch's
            default). Pass "spawn" to keep spawned workers there.
        snapshot_every_n_steps: how often workers report state to torchdata (1: exact resume).
        shard: how the sampler splits the data over ranks: ``"slice"`` (VISSL's contiguous slices)
            or ``"stride"`` (one global permutation dealt round-robin: the global batches do not
            depend on the world size); see ``StatefulDistributedSampler``.
        persistent_workers: keep workers between epochs (saves their start-up, which matters
            under the "spawn" start method). ``SSLDataset`` keeps its epoch in shared memory, so
            persistent workers still see ``set_epoch``; other datasets' ``set_epoch`` would not
            reach them (leave it False for those).

    Returns:
        an ``SSLDataLoader``; use ``loader.set_epoch(e)`` before each epoch and save
        ``loader.state_dict()`` in the checkpoint.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    sampler = StatefulDistributedSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last,  # type: ignore[arg-type]
        shard=shard,
    )
    generator = torch.Generator()
    generator.manual_seed(seed)
    return SSLDataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=pin_memory,
        drop_last=drop_last,
        worker_init_fn=worker_init_fn if num_workers > 0 else None,
        generator=generator,
        prefetch_factor=prefetch_factor if num_workers > 0 else None,
        persistent_workers=persistent_workers and num_workers > 0,
        multiprocessing_context=(multiprocessing_context or default_worker_start_method()) if num_workers > 0 else None,
        snapshot_every_n_steps=snapshot_every_n_steps,
    )

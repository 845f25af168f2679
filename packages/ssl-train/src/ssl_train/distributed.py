"""The process group of a run: torch.distributed set up from the launcher's environment."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ssl_train.config import ConfigError

__all__ = ["PARALLEL", "DistInfo", "all_gather_objects", "init_distributed", "mean_over_ranks", "shutdown_distributed", "wrap_model"]

PARALLEL = ("auto", "ddp", "fsdp", "none")
"""``fsdp``: FSDP2 (``torch.distributed.fsdp.fully_shard``) on the online model."""


@dataclass
class DistInfo:
    """This process's place in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    initialized_here: bool = False

    @property
    def distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized()

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(parallel: str, device_type: str, timeout_s: float = 600.0) -> DistInfo:
    """Join (or create) the default process group.

    ``auto``: DDP when the launcher (``torchrun``, ``ssl pretrain --nproc-per-node``) started
    several processes (``WORLD_SIZE`` > 1), else none. ``ddp`` and ``fsdp``: always a process
    group (one process without a launcher). ``none``: never. Backend: NCCL on CUDA, gloo on CPU.
    ``timeout_s`` bounds every collective: a rank that waits longer for a dead peer fails.
    """
    if parallel not in PARALLEL:
        raise ConfigError(f"train.parallel={parallel!r} is not one of {', '.join(PARALLEL)}")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if parallel == "none" or (parallel == "auto" and world <= 1):
        if world > 1:
            raise ConfigError("train.parallel=none but the launcher started several processes")
        return DistInfo()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    if dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, local_world, False)
    backend = "nccl" if device_type == "cuda" else "gloo"
    kwargs: dict[str, Any] = {"backend": backend, "timeout": timedelta(seconds=timeout_s)}
    if "MASTER_ADDR" not in os.environ:  # one process without a launcher
        store = tempfile.NamedTemporaryFile(prefix="ssl-pg-", delete=False)
        store.close()
        kwargs.update(init_method=f"file://{store.name}", rank=0, world_size=1)
    elif "TORCHELASTIC_RESTART_COUNT" in os.environ:
        kwargs.update(store=_attempt_store(kwargs["timeout"]), rank=int(os.environ["RANK"]), world_size=world)
    dist.init_process_group(**kwargs)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, local_world, True)


def _attempt_store(timeout: timedelta) -> dist.Store:
    """The launcher's store seen through a prefix unique to this restart attempt.

    The elastic launcher keeps one TCPStore for the whole job and hands every attempt the same
    ``MASTER_PORT``: without the prefix, the processes of a restarted attempt can read the
    previous attempt's gloo addresses and fail in ``connectFullMesh`` ("Connection refused").
    """
    store, _, _ = next(dist.rendezvous("env://", timeout=timeout))
    return dist.PrefixStore(f"ssl/attempt{os.environ['TORCHELASTIC_RESTART_COUNT']}/", store)


def all_gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` (``[obj]`` without a process group)."""
    if not info.distributed or info.world_size == 1:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def mean_over_ranks(metrics: dict[str, Tensor], info: DistInfo) -> dict[str, float]:
    """Scalar metrics averaged over the ranks (one all-reduce), as floats.

    Each rank's loss is the mean over its own rows, so the mean over ranks is the loss of the
    global batch: what a 1-process run with the whole batch logs. Every rank gets the same
    values, so a NaN stops all of them at the same step. ``metrics``: 0-d tensors, the same keys
    in the same order on every rank.
    """
    values = torch.stack([v.detach().double().reshape(()).cpu() for v in metrics.values()])  # fp64 runs keep every digit
    if info.distributed and info.world_size > 1:
        if dist.get_backend() == "nccl":
            values = values.cuda()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        values = values.cpu() / info.world_size
    return {k: float(v) for k, v in zip(metrics, values.tolist())}


def wrap_model(model: nn.Module, parallel: str, info: DistInfo, device: torch.device) -> nn.Module:
    """The module a step calls: ``model`` wrapped in DDP when a process group exists, else
    ``model`` (``parallel`` is checked by :func:`init_distributed`).

    ``fsdp``: ``model`` itself, sharded in place with FSDP2 (the trunk, each head, then the
    whole model, so that each is gathered only while it computes); its parameters become
    DTensors, so an optimizer must be built after this call. Calling it again is a no-op.
    """
    if not info.distributed:
        return model
    if parallel == "fsdp":
        from torch.distributed.fsdp import FSDPModule, fully_shard, register_fsdp_forward_method

        if not isinstance(model, FSDPModule):
            for part in [getattr(model, "trunk", None), *(h for chain in getattr(model, "heads", []) for h in chain)]:
                if part is not None and any(True for _ in part.parameters()):
                    fully_shard(part)
                    if hasattr(part, "forward_features"):  # what SSLModel calls instead of forward
                        register_fsdp_forward_method(part, "forward_features")
            fully_shard(model)
        return model
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def shutdown_distributed(info: DistInfo) -> None:
    """Destroy the process group if this run created it."""
    if info.initialized_here and dist.is_initialized():
        dist.destroy_process_group()

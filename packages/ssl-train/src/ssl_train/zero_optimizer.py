"""ZeRO stage 1 for a run: the optimizer's state sharded across ranks with torch's
``ZeroRedundancyOptimizer`` (each rank steps its part of the parameters, then broadcasts them)."""

from __future__ import annotations

from typing import Any

from ssl_train.config import ConfigError
from ssl_train.distributed import DistInfo

__all__ = ["zero_redundancy"]


def zero_redundancy(optimizer: Any, info: DistInfo, parallel: str) -> Any:
    """``optimizer`` (from :func:`ssl_train.optim.build_optimizer`) rebuilt as a
    ``ZeroRedundancyOptimizer`` of the same class, defaults and param groups (the groups keep
    the trainer's keys: ``lr_scale``, ``fixed_lr``, ``wd_fixed``, ``lars_exclude``).

    Its ``state_dict()`` is the usual, whole one once ``consolidate_state_dict(to=0)`` has run on
    every rank (the trainer does that before rank 0 saves); ``load_state_dict`` takes that whole
    state on every rank and keeps each rank's part.

    Raises:
        ConfigError: no process group, FSDP (which shards the optimizer state itself), or LARC
            (a wrapper, not a ``torch.optim.Optimizer``).
    """
    import torch
    from torch.distributed.optim import ZeroRedundancyOptimizer

    if not info.distributed:
        raise ConfigError("train.zero=true needs several processes or train.parallel=ddp")
    if parallel == "fsdp":
        raise ConfigError("train.zero=true is for DDP: FSDP (train.parallel=fsdp) already shards the optimizer state")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ConfigError(f"train.zero=true cannot shard {type(optimizer).__name__} (optim.use_larc); use optim.name=lars")
    groups = [dict(g) for g in optimizer.param_groups]
    return ZeroRedundancyOptimizer(groups, optimizer_class=type(optimizer), **optimizer.defaults)

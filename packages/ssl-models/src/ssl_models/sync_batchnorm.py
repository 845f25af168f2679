"""SyncBatchNorm conversion with VISSL's GROUP_SIZE semantics."""

from __future__ import annotations

import os

import torch.distributed as dist
from torch import nn

__all__ = ["convert_sync_batchnorm"]


def convert_sync_batchnorm(model: nn.Module, group_size: int = -1) -> nn.Module:
    """Replace every BatchNorm by ``torch.nn.SyncBatchNorm`` synchronised within groups of ranks.

    Args:
        model: the module to convert (returned converted).
        group_size: VISSL's SYNC_BN_CONFIG.GROUP_SIZE: -1 = the processes of one node
            (``LOCAL_WORLD_SIZE``), 0 = all processes, >0 = consecutive groups of that many ranks
            (must divide the world size). Without ``torch.distributed`` initialised the global
            (default) group is used.
    """
    if group_size < -1:
        raise ValueError(f"group_size must be -1, 0 or positive, got {group_size!r}")
    group = None
    if dist.is_available() and dist.is_initialized():
        world = dist.get_world_size()
        size = int(os.environ.get("LOCAL_WORLD_SIZE", world)) if group_size == -1 else group_size
        if size not in (0, world):
            if world % size:
                raise ValueError(f"group_size {size} does not divide the world size {world}")
            group, _ = dist.new_subgroups(group_size=size)
    return nn.SyncBatchNorm.convert_sync_batchnorm(model, process_group=group)

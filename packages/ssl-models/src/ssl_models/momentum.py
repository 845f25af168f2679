"""A momentum (exponential moving average) copy of a module: MoCo's key encoder, BYOL's target,
DINO's teacher."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

__all__ = ["MomentumEncoder"]


class MomentumEncoder(nn.Module):
    """Holds a frozen copy of ``online`` and moves it towards ``online`` with ``update(momentum)``.

    ``target = momentum * target + (1 - momentum) * online`` for every parameter; buffers (BN
    running statistics) are copied from the online module. The momentum is passed in at each call
    (its schedule belongs to the trainer). ``forward`` runs the copy (no gradients are tracked for
    its parameters).
    """

    def __init__(self, online: nn.Module) -> None:
        super().__init__()
        self.module = copy.deepcopy(online)
        self.module.requires_grad_(False)

    @torch.no_grad()
    def update(self, online: nn.Module, momentum: float) -> None:
        """EMA step from ``online`` (same architecture as the copy)."""
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
        target_params = list(self.module.parameters())
        online_params = list(online.parameters())
        if len(target_params) != len(online_params):
            raise ValueError("online module does not match the momentum copy (different parameter count)")
        from torch.distributed.tensor import DTensor

        # an FSDP-sharded online module holds DTensor shards: every rank gathers the full values
        values = [p.detach().full_tensor() if isinstance(p, DTensor) else p.detach() for p in online_params]
        torch._foreach_lerp_(target_params, values, 1.0 - momentum)
        for tb, ob in zip(self.module.buffers(), online.buffers()):
            tb.copy_(ob)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

"""Synchronised BatchNorm: a CPU-capable module and conversion with VISSL's GROUP_SIZE semantics.

``torch.nn.SyncBatchNorm`` only runs on accelerators. ``CPUSyncBatchNorm`` computes the batch
statistics over a process group with autograd-aware all-reduces, so it also runs on CPU tensors
with the gloo backend (and on any device whose backend can all-reduce). ``convert_sync_batchnorm``
picks torch's module on accelerators and ours on CPU.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["CPUSyncBatchNorm", "Implementation", "convert_sync_batchnorm", "sync_batchnorm_group"]

Implementation = Literal["auto", "torch", "cpu"]


class _AllReduceSum(torch.autograd.Function):
    """Sum over the group; the gradient of every rank's copy is the all-reduced output gradient."""

    @staticmethod
    def forward(ctx: FunctionCtx, tensor: Tensor, group: Any) -> Tensor:
        ctx.group = group  # type: ignore[attr-defined]
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, op=dist.ReduceOp.SUM, group=group)
        return out

    @staticmethod
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor, None]:
        return _AllReduceSum.apply(grad, ctx.group), None  # type: ignore[attr-defined]


def _group_size(group: Any) -> int:
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size(group)


class CPUSyncBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics are those of the whole batch across a process group.

    Same arguments, parameters and state-dict keys as ``nn.BatchNorm1d/2d/3d`` (``weight``,
    ``bias``, ``running_mean``, ``running_var``, ``num_batches_tracked``), so checkpoints are
    interchangeable with plain BatchNorm and ``torch.nn.SyncBatchNorm``.

    Training mode: the per-channel mean and biased variance are computed over every rank's rows
    (two all-reduces in float64: the sum and the count, then the centred sum of squares; batches
    may differ in size across ranks). Gradients flow through the all-reduces: a rank's input
    gradient is that of the sum of all ranks' losses, and the weight and bias gradients summed
    over ranks are those of BatchNorm on the concatenated batch (as with ``torch.nn.SyncBatchNorm``;
    DDP then averages them). The running variance gets the unbiased global
    variance. Eval mode, or a group of one process (or no ``torch.distributed``), is plain BatchNorm.

    Args:
        num_features: channels ``C``.
        eps, momentum, affine, track_running_stats, bias: as ``nn.BatchNorm2d``.
        process_group: the group to synchronise over (``None``: all processes).

    Shapes: input ``[B, C]``, ``[B, C, L]``, ``[B, C, H, W]`` or ``[B, C, D, H, W]``; output the same.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: Any | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected an input with at least 2 dimensions [B, C, ...], got shape {tuple(input.shape)}")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise ValueError(f"expected {self.num_features} channels in dimension 1, got shape {tuple(input.shape)}")
        group = self.process_group if self.process_group is not None else dist.group.WORLD
        if not self.training or _group_size(group) == 1:
            return super().forward(input)  # plain BatchNorm (running statistics or local batch)

        factor = 0.0
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum

        x = input.float() if input.dtype in (torch.float16, torch.bfloat16) else input
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        local_count = float(x.numel() // x.shape[1])
        first = torch.cat([x.sum(dim=dims, dtype=torch.float64), x.new_full((1,), local_count, dtype=torch.float64)])
        first = _AllReduceSum.apply(first, group)
        count = float(first[-1].item())
        if count <= 1:
            raise ValueError(f"expected more than 1 value per channel across the group when training, got input shape {tuple(input.shape)}")
        mean = first[:-1] / count
        centred = x - mean.to(x.dtype).view(shape)
        var = _AllReduceSum.apply(centred.square().sum(dim=dims, dtype=torch.float64), group) / count
        out = centred * torch.rsqrt(var + self.eps).to(x.dtype).view(shape)
        if self.weight is not None:
            out = out * self.weight.to(x.dtype).view(shape)
        if self.bias is not None:
            out = out + self.bias.to(x.dtype).view(shape)

        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                unbiased = var * (count / (count - 1))
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
        return out.to(input.dtype)


def sync_batchnorm_group(group_size: int = -1) -> Any | None:
    """The process group one rank synchronises BatchNorm over, with VISSL's GROUP_SIZE semantics.

    Args:
        group_size: ``SYNC_BN_CONFIG.GROUP_SIZE``: -1 = the processes of one node
            (``LOCAL_WORLD_SIZE``, all processes when unset), 0 = all processes, >0 = consecutive
            groups of that many ranks (must divide the world size).

    Returns:
        ``None`` for all processes (or without ``torch.distributed``), else this rank's subgroup.
        Every rank must call it (creating subgroups is collective).
    """
    if group_size < -1:
        raise ValueError(f"group_size must be -1, 0 or positive, got {group_size!r}")
    if not (dist.is_available() and dist.is_initialized()):
        return None
    world = dist.get_world_size()
    size = int(os.environ.get("LOCAL_WORLD_SIZE", world)) if group_size == -1 else group_size
    if size in (0, world):
        return None
    if size > world or world % size:
        raise ValueError(f"group_size {size} does not divide the world size {world}")
    group, _ = dist.new_subgroups(group_size=size)
    return group


def _on_accelerator(model: nn.Module) -> bool:
    tensors = [*model.parameters(), *model.buffers()]
    return bool(tensors) and all(t.device.type not in ("cpu", "meta") for t in tensors)


def _convert(module: nn.Module, target: type[_BatchNorm], group: Any | None) -> nn.Module:
    out = module
    if isinstance(module, _BatchNorm) and type(module) is not target:
        out = target(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
            group,
            bias=module.bias is not None,
        )
        # Share the very same parameter and buffer objects: nothing is copied, keys are unchanged.
        out.weight = module.weight
        out.bias = module.bias
        out.running_mean = module.running_mean
        out.running_var = module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
        if hasattr(module, "qconfig"):
            out.qconfig = module.qconfig
    for name, child in module.named_children():
        out.add_module(name, _convert(child, target, group))
    return out


def convert_sync_batchnorm(model: nn.Module, group_size: int = -1, implementation: Implementation = "auto") -> nn.Module:
    """Replace every BatchNorm by a synchronised BatchNorm over groups of ranks.

    Args:
        model: the module to convert (returned converted; a bare BatchNorm module is replaced).
        group_size: VISSL's SYNC_BN_CONFIG.GROUP_SIZE: -1 = the processes of one node
            (``LOCAL_WORLD_SIZE``), 0 = all processes, >0 = consecutive groups of that many ranks
            (must divide the world size). Without ``torch.distributed`` initialised the global
            (default) group is used. Every rank must call this (subgroups are created collectively).
        implementation: "torch" = ``torch.nn.SyncBatchNorm`` (accelerators only), "cpu" =
            ``CPUSyncBatchNorm`` (any device, gloo included), "auto" = torch's when every
            parameter and buffer of ``model`` is on an accelerator, ours otherwise.

    State-dict keys and values are unchanged (the parameters and buffers are shared, not copied).
    """
    if implementation not in ("auto", "torch", "cpu"):
        raise ValueError(f"implementation must be 'auto', 'torch' or 'cpu', got {implementation!r}")
    group = sync_batchnorm_group(group_size)
    if implementation == "auto":
        implementation = "torch" if _on_accelerator(model) else "cpu"
    target: type[_BatchNorm] = nn.SyncBatchNorm if implementation == "torch" else CPUSyncBatchNorm
    return _convert(model, target, group)

"""Collectives that work on one process and on many (``torch.distributed``).

Every function here is the identity (or the obvious single-process value) when
``torch.distributed`` is not initialised or the world has one process, so a loss
written with them runs unchanged on a laptop and under ``torchrun``.

Gradient convention: each rank's loss is the mean over its own rows and DDP
averages parameter gradients over ranks. The backward of :func:`gather_with_grad`
and :func:`all_reduce_sum` therefore SUMS the incoming gradients of all ranks, so
that after DDP's average the step equals the one for the loss on the global batch.
Concretely, the gradient a rank sees for its input is ``world_size`` times the
gradient of the global-batch loss with respect to that input.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = [
    "all_gather_no_grad",
    "all_reduce_sum",
    "gather_with_grad",
    "is_distributed",
    "rank",
    "world_size",
]


def world_size() -> int:
    """Number of processes in the default group (1 when not initialised)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def rank() -> int:
    """Rank of this process in the default group (0 when not initialised)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return 0


def is_distributed() -> bool:
    """True when ``torch.distributed`` is initialised with more than one process."""
    return world_size() > 1


def _gather(x: Tensor) -> Tensor:
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.batch = x.shape[0]  # type: ignore[attr-defined]
        return _gather(x)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = rank() * ctx.batch  # type: ignore[attr-defined]
        return grad[start : start + ctx.batch]  # type: ignore[attr-defined]


def gather_with_grad(x: Tensor) -> Tensor:
    """All-gather along dim 0, keeping the autograd graph.

    Args:
        x: ``[B, ...]``, the same shape on every rank.

    Returns:
        ``[world_size * B, ...]``, rank-major (rows ``r*B:(r+1)*B`` come from rank
        ``r``). The backward sums the gradients of all ranks and hands each rank
        its own slice. On one process ``x`` itself is returned.
    """
    if not is_distributed():
        return x
    return _GatherWithGrad.apply(x)


@torch.no_grad()
def all_gather_no_grad(x: Tensor) -> Tensor:
    """All-gather along dim 0 without gradient.

    Args:
        x: ``[B, ...]``, the same shape on every rank.

    Returns:
        ``[world_size * B, ...]`` rank-major, detached. On one process ``x.detach()``.
    """
    if not is_distributed():
        return x.detach()
    return _gather(x.detach())


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor) -> Tensor:  # type: ignore[override]
        out = x.contiguous().clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


def all_reduce_sum(x: Tensor) -> Tensor:
    """Sum ``x`` over all ranks and return the result (a new tensor; ``x`` is unchanged).

    Differentiable: the backward sums the gradients of all ranks. On one process
    ``x`` itself is returned.

    Args:
        x: any shape, the same on every rank.
    """
    if not is_distributed():
        return x
    return _AllReduceSum.apply(x)

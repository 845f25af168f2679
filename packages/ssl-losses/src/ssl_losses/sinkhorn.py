"""Sinkhorn-Knopp equipartition over the global batch (VISSL ``distibuted_sinkhornknopp``)."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from ssl_losses.distributed import all_reduce_sum, is_distributed, world_size

__all__ = ["distributed_sinkhorn_knopp"]

_EPS = 1e-12


def _global_max(x: Tensor) -> Tensor:
    m = x.max().clone()
    if is_distributed():
        dist.all_reduce(m, op=dist.ReduceOp.MAX)
    return m


@torch.no_grad()
def distributed_sinkhorn_knopp(
    scores: Tensor,
    epsilon: float = 0.05,
    num_iters: int = 3,
    hard_assignment: bool = False,
    use_double_precision: bool = False,
) -> Tensor:
    """Soft codes that split the global batch equally among the prototypes (SwAV).

    ``Q = exp(scores / epsilon)`` (shifted by the global max for stability) is scaled
    ``num_iters`` times alternately so that every prototype receives ``1/K`` of the total
    mass and every sample ``1/N`` (``N`` = rows on all ranks); the row and total sums are
    all-reduced, so the result equals running on the concatenated batch of all ranks. The
    returned rows are normalised to sum to 1. No gradient flows.

    Args:
        scores: ``[B, K]`` prototype scores of this rank's samples (same ``B`` on every
            rank).
        epsilon: entropic regularisation, the temperature of the codes (VISSL
            ``epsilon``, 0.05).
        num_iters: Sinkhorn iterations (VISSL ``num_iters``, 3).
        hard_assignment: return one-hot codes (argmax of the soft codes), as VISSL does
            during its first ``temp_hard_assignment_iters`` iterations.
        use_double_precision: iterate in float64 (VISSL ``use_double_precision``).

    Returns:
        ``[B, K]`` codes, float32 (float64 with ``use_double_precision``).
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D [B, K], got shape {tuple(scores.shape)}")
    if epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    if num_iters < 0:
        raise ValueError(f"num_iters must be >= 0, got {num_iters}")
    dtype = torch.float64 if use_double_precision else torch.float32
    q = scores.detach().to(dtype) / epsilon
    q = q.sub_(_global_max(q)).exp_().t()  # [K, B]
    num_prototypes = q.shape[0]
    total_samples = q.shape[1] * world_size()
    q /= all_reduce_sum(q.sum())
    for _ in range(num_iters):
        row_sums = all_reduce_sum(q.sum(dim=1))
        if bool((row_sums == 0).any()):
            q += _EPS
            row_sums = all_reduce_sum(q.sum(dim=1))
        q *= (1.0 / (num_prototypes * row_sums)).unsqueeze(1)
        q *= (1.0 / (total_samples * q.sum(dim=0))).unsqueeze(0)
    codes = (q / q.sum(dim=0, keepdim=True)).t()
    if hard_assignment:
        codes = torch.zeros_like(codes).scatter_(1, codes.argmax(dim=1, keepdim=True), 1.0)
    return codes

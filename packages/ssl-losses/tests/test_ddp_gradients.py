"""End to end with DistributedDataParallel: one step on 2 gloo ranks gives the parameter
gradient of 1 process on the concatenated batch (the gradient convention of
ssl_losses.distributed: gather/all-reduce backward sums, DDP averages)."""

import pytest
import torch
from dist_harness import WORLD_SIZE, concat_crop_major, run_on_ranks
from torch import nn

from ssl_losses import BarlowTwinsLoss, SimCLRLoss, distributed


def _make_loss(name: str) -> nn.Module:
    if name == "simclr":
        return SimCLRLoss(temperature=0.2, num_crops=3)
    return BarlowTwinsLoss(lambda_=0.05)


_CROPS = {"simclr": 3, "barlow": 2}


def _rank_ddp_step(name: str, per_rank: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    model = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        model.weight.copy_(weight)
    ddp = nn.parallel.DistributedDataParallel(model)
    loss = _make_loss(name)(ddp(per_rank[distributed.rank()]))
    loss.backward()
    return model.weight.grad


@pytest.mark.parametrize("name", ["simclr", "barlow"])
def test_ddp_step_equals_single_process_step(name: str) -> None:
    g = torch.Generator().manual_seed(len(name))
    crops, batch, dim_in, dim_out = _CROPS[name], 3, 6, 5
    per_rank = torch.randn(WORLD_SIZE, crops * batch, dim_in, generator=g)
    weight = torch.randn(dim_out, dim_in, generator=g)
    grads = run_on_ranks(_rank_ddp_step, name, per_rank, weight)

    model = nn.Linear(dim_in, dim_out, bias=False)
    with torch.no_grad():
        model.weight.copy_(weight)
    _make_loss(name)(model(concat_crop_major(per_rank, crops))).backward()
    for grad in grads:
        torch.testing.assert_close(grad, model.weight.grad)

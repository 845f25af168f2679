"""ssl_losses.distributed on one process and on 2 real gloo processes."""

import torch
from dist_harness import WORLD_SIZE, run_on_ranks

from ssl_losses import distributed


def test_single_process_identity() -> None:
    x = torch.randn(3, 4, requires_grad=True)
    assert distributed.world_size() == 1
    assert distributed.rank() == 0
    assert not distributed.is_distributed()
    assert distributed.gather_with_grad(x) is x
    assert distributed.all_reduce_sum(x) is x
    out = distributed.all_gather_no_grad(x)
    assert not out.requires_grad and torch.equal(out, x.detach())


def _collectives(data: torch.Tensor, weights: torch.Tensor) -> dict:
    r = distributed.rank()
    x = data[r].clone().requires_grad_(True)  # [3, 2] on each rank
    gathered = distributed.gather_with_grad(x)
    (gathered * weights[r]).sum().backward()
    y = data[r].clone().requires_grad_(True)
    summed = distributed.all_reduce_sum(y)
    (summed * weights[r][:3]).sum().backward()
    return {
        "world": distributed.world_size(),
        "rank": r,
        "is_distributed": distributed.is_distributed(),
        "gathered": gathered.detach(),
        "gather_grad": x.grad,
        "no_grad": distributed.all_gather_no_grad(x),
        "summed": summed.detach(),
        "sum_grad": y.grad,
        "input_after": y.detach(),
    }


def test_collectives_on_two_processes() -> None:
    g = torch.Generator().manual_seed(0)
    data = torch.randn(WORLD_SIZE, 3, 2, generator=g)
    weights = torch.randn(WORLD_SIZE, 3 * WORLD_SIZE, 2, generator=g)
    res = run_on_ranks(_collectives, data, weights)
    full = data.reshape(-1, 2)
    for r, out in enumerate(res):
        assert out["world"] == WORLD_SIZE and out["rank"] == r and out["is_distributed"]
        assert torch.equal(out["gathered"], full)
        assert torch.equal(out["no_grad"], full)
        assert not out["no_grad"].requires_grad
        # d/dx_r of sum_r' <w_r', gather(x)>: the rows of every rank's weights at slice r.
        expected = sum(weights[q][r * 3 : (r + 1) * 3] for q in range(WORLD_SIZE))
        torch.testing.assert_close(out["gather_grad"], expected)
        torch.testing.assert_close(out["summed"], data.sum(0))
        torch.testing.assert_close(out["sum_grad"], sum(weights[q][:3] for q in range(WORLD_SIZE)))
        assert torch.equal(out["input_after"], data[r])  # all_reduce_sum leaves x alone

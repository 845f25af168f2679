"""VICRegLoss against a per-sample loop written from the paper, on 1 and 2 processes."""

import math

import pytest
import torch
from dist_harness import WORLD_SIZE, run_on_ranks

from ssl_losses import VICRegLoss, distributed


def _reference(emb, sim=25.0, std=25.0, cov=1.0, eps=1e-4):
    rows = emb.double().tolist()
    n = len(rows) // 2
    a, b = rows[:n], rows[n:]
    dim = len(rows[0])
    invariance = sum((a[i][d] - b[i][d]) ** 2 for i in range(n) for d in range(dim)) / (n * dim)
    variance, covariance = 0.0, 0.0
    for view in (a, b):
        mean = [sum(r[d] for r in view) / n for d in range(dim)]
        c = [[r[d] - mean[d] for d in range(dim)] for r in view]
        for d in range(dim):
            var = sum(c[i][d] ** 2 for i in range(n)) / (n - 1)
            variance += max(0.0, 1.0 - math.sqrt(var + eps)) / dim / 2
        for d in range(dim):
            for e in range(dim):
                if d != e:
                    covariance += (sum(c[i][d] * c[i][e] for i in range(n)) / (n - 1)) ** 2 / dim
    return sim * invariance + std * variance + cov * covariance


@pytest.mark.parametrize(("batch", "dim", "scale"), [(2, 3, 1.0), (8, 5, 0.3), (16, 4, 2.0)])
@pytest.mark.parametrize("coeffs", [(25.0, 25.0, 1.0), (1.0, 0.5, 3.0)])
def test_matches_loop(batch, dim, scale, coeffs):
    g = torch.Generator().manual_seed(batch * dim)
    emb = torch.randn(2 * batch, dim, generator=g) * scale  # small scale: the variance hinge is active
    loss = VICRegLoss(*coeffs)(emb)
    assert loss.item() == pytest.approx(_reference(emb, *coeffs), rel=1e-5)


def test_bf16_autocast_finite():
    x = torch.randn(16, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = VICRegLoss()(x @ torch.eye(8))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()


def test_bad_input():
    with pytest.raises(ValueError, match="embeddings"):
        VICRegLoss()(torch.randn(5, 4))
    with pytest.raises(ValueError, match="embeddings"):
        VICRegLoss()(torch.randn(2, 4))  # one row per view
    with pytest.raises(ValueError, match="std_coeff"):
        VICRegLoss(std_coeff=-1)


def _rank_body(full: torch.Tensor, batch: int):
    r = distributed.rank()
    views = full.view(2, -1, full.shape[1])
    local = views[:, r * batch : (r + 1) * batch].reshape(2 * batch, -1).clone().requires_grad_()
    loss = VICRegLoss()(local)
    loss.backward()
    return loss.detach(), local.grad


def test_two_processes_equal_one_process_on_concatenated_batch():
    batch, dim = 4, 6
    full = torch.randn(2 * WORLD_SIZE * batch, dim, generator=torch.Generator().manual_seed(0)) * 0.5
    single = full.clone().requires_grad_()
    loss = VICRegLoss()(single)
    loss.backward()
    grad_views = single.grad.view(2, WORLD_SIZE * batch, dim)
    for r, (rank_loss, rank_grad) in enumerate(run_on_ranks(_rank_body, full, batch)):
        torch.testing.assert_close(rank_loss, loss.detach())
        expected = grad_views[:, r * batch : (r + 1) * batch].reshape(2 * batch, dim)
        # DDP averages over ranks: each rank's gradient is world_size x the global one
        torch.testing.assert_close(rank_grad / WORLD_SIZE, expected)

"""KoLeoLoss against a brute-force nearest-neighbour loop from the definition."""

import math

import pytest
import torch

from ssl_losses import KoLeoLoss


def _reference(x, eps=1e-8):
    rows = []
    for r in x.double().tolist():
        n = math.sqrt(sum(v * v for v in r))
        rows.append([v / n for v in r])
    total = 0.0
    for i, a in enumerate(rows):
        best = min(math.dist(a, b) for j, b in enumerate(rows) if j != i)
        total += -math.log(best + eps)
    return total / len(rows)


@pytest.mark.parametrize("shape", [(2, 3), (7, 4), (16, 32)])
def test_matches_loop(shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(shape[0]))
    assert KoLeoLoss()(x).item() == pytest.approx(_reference(x), rel=1e-5)


def test_pushes_neighbours_apart():
    x = torch.randn(12, 8, generator=torch.Generator().manual_seed(0)).requires_grad_()
    before = KoLeoLoss()(x).item()
    for _ in range(20):
        (grad,) = torch.autograd.grad(KoLeoLoss()(x), x)
        x = (x - 0.05 * grad).detach().requires_grad_()
    assert KoLeoLoss()(x).item() < before


def test_bf16_and_duplicate_rows_finite():
    x = torch.randn(6, 5)
    x[1] = x[0]
    x.requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = KoLeoLoss()(x @ torch.eye(5))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()


def test_bad_input():
    with pytest.raises(ValueError, match="embeddings"):
        KoLeoLoss()(torch.randn(1, 4))
    with pytest.raises(ValueError, match="embeddings"):
        KoLeoLoss()(torch.randn(4))
    with pytest.raises(ValueError, match="eps"):
        KoLeoLoss(eps=0)

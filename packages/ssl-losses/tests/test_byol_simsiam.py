"""BYOLLoss and SimSiamLoss against per-sample loops written from the papers."""

import math

import pytest
import torch

from ssl_losses import BYOLLoss, SimSiamLoss


def _unit(v):
    n = math.sqrt(sum(a * a for a in v))
    return [a / n for a in v]


def _pairs(p, z, num_crops):
    batch = p.shape[0] // num_crops
    nt = z.shape[0] // batch
    pl, zl = p.double().tolist(), z.double().tolist()
    out = []
    for i in range(num_crops):
        for j in range(nt):
            if i == j:
                continue
            for b in range(batch):
                out.append((_unit(pl[i * batch + b]), _unit(zl[j * batch + b])))
    return out


def _byol_reference(p, z, num_crops):
    # paper: || p/|p| - z/|z| ||^2, averaged over pairs and samples
    pairs = _pairs(p, z, num_crops)
    return sum(sum((a - b) ** 2 for a, b in zip(u, v)) for u, v in pairs) / len(pairs)


def _simsiam_reference(p, z, num_crops):
    pairs = _pairs(p, z, num_crops)
    return sum(-sum(a * b for a, b in zip(u, v)) for u, v in pairs) / len(pairs)


CASES = [(2, 2, 4, 3), (2, 2, 1, 16), (4, 2, 5, 8), (3, 3, 2, 5)]


@pytest.mark.parametrize(("num_crops", "num_targets", "batch", "dim"), CASES)
def test_byol_matches_loop(num_crops, num_targets, batch, dim):
    g = torch.Generator().manual_seed(num_crops * 100 + batch)
    p, z = torch.randn(num_crops * batch, dim, generator=g), torch.randn(num_targets * batch, dim, generator=g)
    assert BYOLLoss(num_crops)(p, z).item() == pytest.approx(_byol_reference(p, z, num_crops), rel=1e-5)


@pytest.mark.parametrize(("num_crops", "num_targets", "batch", "dim"), CASES)
def test_simsiam_matches_loop(num_crops, num_targets, batch, dim):
    g = torch.Generator().manual_seed(num_crops * 10 + batch)
    p, z = torch.randn(num_crops * batch, dim, generator=g), torch.randn(num_targets * batch, dim, generator=g)
    assert SimSiamLoss(num_crops)(p, z).item() == pytest.approx(_simsiam_reference(p, z, num_crops), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("loss_cls", [BYOLLoss, SimSiamLoss])
def test_targets_get_no_gradient_and_bf16_is_finite(loss_cls):
    p = torch.randn(8, 6, requires_grad=True)
    z = torch.randn(8, 6, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = loss_cls()(p @ torch.eye(6), z @ torch.eye(6))
    loss.backward()
    assert torch.isfinite(loss)
    assert z.grad is None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


@pytest.mark.parametrize("loss_cls", [BYOLLoss, SimSiamLoss])
def test_bad_input(loss_cls):
    loss = loss_cls(num_crops=2)
    with pytest.raises(ValueError, match="predictions"):
        loss(torch.randn(5, 4), torch.randn(5, 4))
    with pytest.raises(ValueError, match="targets"):
        loss(torch.randn(6, 4), torch.randn(6, 3))
    with pytest.raises(ValueError, match="targets"):
        loss(torch.randn(6, 4), torch.randn(9, 4))
    with pytest.raises(ValueError, match="targets"):
        loss(torch.randn(6, 4), torch.randn(0, 4))
    with pytest.raises(ValueError, match="num_crops"):
        loss_cls(num_crops=1)

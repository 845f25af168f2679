"""BarlowTwinsLoss against NumPy references of the paper's and VISSL 0.1.6's formulas, gradcheck, and 2 gloo processes."""

import numpy as np
import pytest
import torch
from dist_harness import WORLD_SIZE, concat_crop_major, run_on_ranks

from ssl_losses import BarlowTwinsLoss, distributed


def reference_barlow(za: np.ndarray, zb: np.ndarray, lambda_: float, scale: float) -> float:
    """Paper's Eq. (1)-(2) with batch-normalised views, written with explicit loops over C."""
    def standardise(z: np.ndarray) -> np.ndarray:
        z = z.astype(np.float64)
        return (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-5)

    a, b = standardise(za), standardise(zb)
    n, d = a.shape
    loss = 0.0
    for i in range(d):
        for j in range(d):
            c_ij = sum(a[k, i] * b[k, j] for k in range(n)) / n
            loss += (1 - c_ij) ** 2 if i == j else lambda_ * c_ij**2
    return scale * loss


def reference_vissl_016(za: np.ndarray, zb: np.ndarray, lambda_: float, scale: float) -> float:
    """VISSL 0.1.6's barlow_twins_loss, written out: one mean and one biased variance per feature
    over the 2N rows of BOTH views (its SyncNormalizeFunction, var = E[x^2] - E[x]^2), then
    C = a^T b / N (its all-reduce-mean of the per-rank a^T b / B), explicit loops over C."""
    both = np.concatenate([za, zb]).astype(np.float64)
    mean = both.mean(axis=0)
    var = (both**2).mean(axis=0) - mean**2
    normed = (both - mean) / np.sqrt(var + 1e-5)
    n, d = za.shape
    a, b = normed[:n], normed[n:]
    loss = 0.0
    for i in range(d):
        for j in range(d):
            c_ij = sum(a[k, i] * b[k, j] for k in range(n)) / n
            loss += (1 - c_ij) ** 2 if i == j else lambda_ * c_ij**2
    return scale * loss


@pytest.mark.parametrize(
    ("batch", "dim", "lambda_", "scale"),
    [(8, 4, 0.0051, 0.024), (5, 6, 0.1, 1.0), (16, 3, 0.0, 0.5)],
)
def test_matches_numpy_reference(batch: int, dim: int, lambda_: float, scale: float) -> None:
    g = torch.Generator().manual_seed(batch + dim)
    za = torch.randn(batch, dim, generator=g)
    zb = za + 0.5 * torch.randn(batch, dim, generator=g)
    loss = BarlowTwinsLoss(lambda_=lambda_, scale_loss=scale)(torch.cat([za, zb]))
    expected = reference_barlow(za.numpy(), zb.numpy(), lambda_, scale)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_defaults_and_gradcheck() -> None:
    loss_fn = BarlowTwinsLoss()
    assert (loss_fn.lambda_, loss_fn.scale_loss, loss_fn.embedding_dim) == (0.0051, 0.024, None)
    z = torch.randn(2 * 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(BarlowTwinsLoss(lambda_=0.3), (z,))


def _rank_barlow(per_rank: torch.Tensor) -> dict:
    z = per_rank[distributed.rank()].clone().requires_grad_(True)
    loss = BarlowTwinsLoss(lambda_=0.05)(z)
    loss.backward()
    return {"loss": loss.detach(), "grad": z.grad}


def test_two_processes_equal_one_process_on_concatenated_batch() -> None:
    batch, dim = 4, 5
    per_rank = torch.randn(WORLD_SIZE, 2 * batch, dim, generator=torch.Generator().manual_seed(3))
    res = run_on_ranks(_rank_barlow, per_rank)
    full = concat_crop_major(per_rank, 2)
    full.requires_grad_(True)
    single = BarlowTwinsLoss(lambda_=0.05)(full)
    single.backward()
    for out in res:  # the loss is global: the same value on every rank
        torch.testing.assert_close(out["loss"], single.detach())
    grads = torch.stack([o["grad"] for o in res]) / WORLD_SIZE
    torch.testing.assert_close(concat_crop_major(grads, 2), full.grad)


def test_bf16_autocast_is_finite() -> None:
    z = torch.randn(2 * 16, 32, requires_grad=True)
    expected = BarlowTwinsLoss()(z).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = BarlowTwinsLoss()(z.to(torch.bfloat16))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    assert loss.item() == pytest.approx(expected, rel=5e-2)


def test_bad_input_names_the_argument() -> None:
    with pytest.raises(ValueError, match="embedding must be"):
        BarlowTwinsLoss()(torch.randn(7, 4))
    with pytest.raises(ValueError, match="embedding_dim=8"):
        BarlowTwinsLoss(embedding_dim=8)(torch.randn(6, 4))
    with pytest.raises(ValueError, match="at least 2 images"):
        BarlowTwinsLoss()(torch.randn(2, 4))


@pytest.mark.parametrize(
    ("batch", "dim", "lambda_", "scale"),
    [(8, 4, 0.0051, 0.024), (5, 6, 0.1, 1.0), (16, 3, 0.0, 0.5)],
)
def test_vissl_convention_matches_numpy_reference(batch: int, dim: int, lambda_: float, scale: float) -> None:
    g = torch.Generator().manual_seed(batch * dim)
    za = torch.randn(batch, dim, generator=g)
    zb = 2.0 + za + 0.5 * torch.randn(batch, dim, generator=g)  # shifted: joint and per-view means differ
    z = torch.cat([za, zb])
    vissl = BarlowTwinsLoss(lambda_=lambda_, scale_loss=scale, convention="vissl")(z)
    paper = BarlowTwinsLoss(lambda_=lambda_, scale_loss=scale)(z)
    assert vissl.item() == pytest.approx(reference_vissl_016(za.numpy(), zb.numpy(), lambda_, scale), rel=1e-5)
    assert paper.item() == pytest.approx(reference_barlow(za.numpy(), zb.numpy(), lambda_, scale), rel=1e-5)
    assert abs(vissl.item() - paper.item()) > 1e-3 * abs(paper.item())  # the two conventions really differ


def test_vissl_convention_gradcheck_and_bad_name() -> None:
    z = torch.randn(2 * 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(BarlowTwinsLoss(lambda_=0.3, convention="vissl"), (z,))
    assert BarlowTwinsLoss().convention == "paper"
    with pytest.raises(ValueError, match="convention must be one of"):
        BarlowTwinsLoss(convention="vissl-0.1.7")


def _rank_barlow_vissl(per_rank: torch.Tensor) -> dict:
    z = per_rank[distributed.rank()].clone().requires_grad_(True)
    loss = BarlowTwinsLoss(lambda_=0.05, convention="vissl")(z)
    loss.backward()
    return {"loss": loss.detach(), "grad": z.grad}


def test_vissl_convention_two_processes_equal_one_process() -> None:
    batch, dim = 4, 5
    per_rank = torch.randn(WORLD_SIZE, 2 * batch, dim, generator=torch.Generator().manual_seed(4))
    per_rank[:, batch:] += 1.5
    res = run_on_ranks(_rank_barlow_vissl, per_rank)
    full = concat_crop_major(per_rank, 2).requires_grad_(True)
    single = BarlowTwinsLoss(lambda_=0.05, convention="vissl")(full)
    single.backward()
    for out in res:
        torch.testing.assert_close(out["loss"], single.detach())
    grads = torch.stack([o["grad"] for o in res]) / WORLD_SIZE
    torch.testing.assert_close(concat_crop_major(grads, 2), full.grad)

"""SimCLRLoss against a NumPy per-sample reference, on 1 and 2 processes."""

import numpy as np
import pytest
import torch
from dist_harness import WORLD_SIZE, concat_crop_major, run_on_ranks

from ssl_losses import SimCLRLoss, distributed


def reference_simclr(
    per_rank: list[np.ndarray], num_crops: int, temperature: float, global_negatives: bool
) -> float:
    """Per-sample InfoNCE from the SimCLR paper; ``per_rank[r]`` is rank r's ``[C*B, D]``."""
    rows = []  # (rank, image, crop, unit vector)
    for r, emb in enumerate(per_rank):
        b = emb.shape[0] // num_crops
        for i, v in enumerate(emb.astype(np.float64)):
            rows.append((r, i % b, i // b, v / np.linalg.norm(v)))
    terms = []
    for ra, ia, ca, va in rows:
        negs = 0.0
        for rk, ik, ck, vk in rows:
            same_image = rk == ra and ik == ia
            if same_image or (not global_negatives and rk != ra):
                continue
            negs += np.exp(va @ vk / temperature)
        for rp, ip, cp, vp in rows:
            if rp == ra and ip == ia and cp != ca:
                pos = np.exp(va @ vp / temperature)
                terms.append(-np.log(pos / (pos + negs)))
    return float(np.mean(terms))


@pytest.mark.parametrize(
    ("crops", "batch", "dim", "temperature"),
    [(2, 4, 8, 0.1), (2, 7, 16, 0.5), (3, 5, 8, 0.2), (6, 3, 4, 1.0)],
)
def test_matches_numpy_reference(crops: int, batch: int, dim: int, temperature: float) -> None:
    g = torch.Generator().manual_seed(crops * 100 + batch)
    z = torch.randn(crops * batch, dim, generator=g)
    loss = SimCLRLoss(temperature=temperature, num_crops=crops)(z)
    expected = reference_simclr([z.numpy()], crops, temperature, global_negatives=True)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_scale_invariant_and_default_temperature() -> None:
    z = torch.randn(2 * 5, 6, generator=torch.Generator().manual_seed(1))
    loss = SimCLRLoss()
    assert loss.temperature == 0.1 and loss.num_crops == 2
    expected = reference_simclr([z.numpy()], 2, 0.1, True)
    assert loss(3.0 * z).item() == pytest.approx(expected, rel=1e-5)


def test_gradient_matches_finite_differences() -> None:
    z = torch.randn(3 * 3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    z.requires_grad_(True)
    assert torch.autograd.gradcheck(SimCLRLoss(temperature=0.3, num_crops=3), (z,))


def _rank_simclr(per_rank: torch.Tensor, crops: int, temperature: float, global_neg: bool) -> dict:
    z = per_rank[distributed.rank()].clone().requires_grad_(True)
    loss = SimCLRLoss(temperature, num_crops=crops, global_negatives=global_neg)(z)
    loss.backward()
    return {"loss": loss.detach(), "grad": z.grad}


@pytest.mark.parametrize(("crops", "batch"), [(2, 3), (4, 2)])
def test_two_processes_equal_one_process_on_concatenated_batch(crops: int, batch: int) -> None:
    g = torch.Generator().manual_seed(crops)
    per_rank = torch.randn(WORLD_SIZE, crops * batch, 8, generator=g)
    res = run_on_ranks(_rank_simclr, per_rank, crops, 0.2, True)

    full = concat_crop_major(per_rank, crops).requires_grad_(True)
    single = SimCLRLoss(0.2, num_crops=crops)(full)
    single.backward()
    mean_loss = sum(out["loss"] for out in res) / WORLD_SIZE
    torch.testing.assert_close(mean_loss, single.detach())
    ref = reference_simclr([p.numpy() for p in per_rank], crops, 0.2, global_negatives=True)
    assert mean_loss.item() == pytest.approx(ref, rel=1e-5)
    # Each rank's input gradient is world_size x the global loss's (DDP then averages).
    grads = torch.stack([out["grad"] for out in res]) / WORLD_SIZE
    torch.testing.assert_close(concat_crop_major(grads, crops), full.grad)


def test_local_negatives_on_two_processes_match_vissl_multicrop() -> None:
    per_rank = torch.randn(WORLD_SIZE, 3 * 2, 4, generator=torch.Generator().manual_seed(5))
    res = run_on_ranks(_rank_simclr, per_rank, 3, 0.1, False)
    for r, out in enumerate(res):
        ref = reference_simclr([per_rank[r].numpy()], 3, 0.1, global_negatives=True)
        assert out["loss"].item() == pytest.approx(ref, rel=1e-5)


def test_bf16_autocast_is_finite_and_close() -> None:
    z = torch.randn(4 * 8, 16, generator=torch.Generator().manual_seed(3), requires_grad=True)
    loss_fn = SimCLRLoss(num_crops=4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = loss_fn(z.to(torch.bfloat16))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    assert loss.item() == pytest.approx(loss_fn(z).item(), rel=2e-2)


def test_bad_input_names_the_argument() -> None:
    loss = SimCLRLoss(num_crops=3, embedding_dim=8)
    with pytest.raises(ValueError, match="embeddings must be 2-D"):
        loss(torch.randn(3, 2, 8))
    with pytest.raises(ValueError, match="num_crops=3"):
        loss(torch.randn(8, 8))
    with pytest.raises(ValueError, match="embedding_dim=8"):
        loss(torch.randn(6, 4))
    with pytest.raises(ValueError, match="temperature"):
        SimCLRLoss(temperature=0.0)
    with pytest.raises(ValueError, match="num_crops"):
        SimCLRLoss(num_crops=1)

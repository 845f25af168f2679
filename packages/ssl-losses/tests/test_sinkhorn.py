"""distributed_sinkhorn_knopp against NumPy, its equipartition property, and 2 gloo processes."""

import numpy as np
import pytest
import torch
from dist_harness import WORLD_SIZE, run_on_ranks
from swav_reference import sinkhorn

from ssl_losses import distributed, distributed_sinkhorn_knopp


@pytest.mark.parametrize(
    ("batch", "protos", "epsilon", "iters"),
    [(8, 5, 0.05, 3), (16, 3, 0.1, 1), (6, 10, 0.5, 5), (4, 4, 0.05, 0)],
)
def test_matches_numpy_reference(batch: int, protos: int, epsilon: float, iters: int) -> None:
    scores = torch.randn(batch, protos, generator=torch.Generator().manual_seed(batch + protos))
    scores = torch.nn.functional.normalize(scores, dim=1)  # cosine scores, as in SwAV
    codes = distributed_sinkhorn_knopp(scores, epsilon=epsilon, num_iters=iters)
    np.testing.assert_allclose(codes.numpy(), sinkhorn(scores.numpy(), epsilon, iters), rtol=1e-4,
                               atol=1e-6)
    double = distributed_sinkhorn_knopp(scores, epsilon, iters, use_double_precision=True)
    assert double.dtype == torch.float64
    np.testing.assert_allclose(double.numpy(), sinkhorn(scores.numpy(), epsilon, iters), rtol=1e-9)


def test_converges_to_equipartition() -> None:
    scores = torch.randn(12, 4, generator=torch.Generator().manual_seed(0))
    codes = distributed_sinkhorn_knopp(scores, epsilon=0.5, num_iters=200)
    torch.testing.assert_close(codes.sum(dim=1), torch.ones(12))
    torch.testing.assert_close(codes.sum(dim=0), torch.full((4,), 3.0), rtol=1e-4, atol=1e-4)


def test_hard_assignment_is_one_hot_argmax() -> None:
    scores = torch.randn(10, 6, generator=torch.Generator().manual_seed(1))
    soft = distributed_sinkhorn_knopp(scores, 0.05, 3)
    hard = distributed_sinkhorn_knopp(scores, 0.05, 3, hard_assignment=True)
    assert torch.equal(hard.sum(dim=1), torch.ones(10))
    assert torch.equal(hard.argmax(dim=1), soft.argmax(dim=1))


def test_large_scores_do_not_overflow() -> None:
    scores = torch.randn(8, 5, generator=torch.Generator().manual_seed(2)) * 50
    codes = distributed_sinkhorn_knopp(scores, epsilon=0.05, num_iters=3)
    assert torch.isfinite(codes).all()


def test_bad_input_names_the_argument() -> None:
    with pytest.raises(ValueError, match="scores"):
        distributed_sinkhorn_knopp(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="epsilon"):
        distributed_sinkhorn_knopp(torch.randn(2, 3), epsilon=0.0)


def _rank_sinkhorn(scores: torch.Tensor) -> torch.Tensor:
    return distributed_sinkhorn_knopp(scores[distributed.rank()], epsilon=0.05, num_iters=3)


def test_two_processes_normalise_over_the_global_batch() -> None:
    scores = torch.randn(WORLD_SIZE, 5, 7, generator=torch.Generator().manual_seed(3))
    res = run_on_ranks(_rank_sinkhorn, scores)
    single = distributed_sinkhorn_knopp(scores.reshape(-1, 7), epsilon=0.05, num_iters=3)
    torch.testing.assert_close(torch.cat(res), single)
    # and it is not the per-process result
    assert not torch.allclose(res[0], distributed_sinkhorn_knopp(scores[0], 0.05, 3))

"""MoCoLoss against a NumPy per-sample reference, queue state, and 2 gloo processes."""

import numpy as np
import pytest
import torch
from dist_harness import WORLD_SIZE, run_on_ranks

from ssl_losses import MoCoLoss, distributed


def _unit(x: np.ndarray, axis: int) -> np.ndarray:
    return x / np.linalg.norm(x, axis=axis, keepdims=True)


def reference_moco_steps(
    steps: list[tuple[np.ndarray, np.ndarray]], queue: np.ndarray, temperature: float
) -> tuple[list[float], np.ndarray, int]:
    """Per-sample InfoNCE of each step, then FIFO enqueue of that step's keys."""
    queue = queue.astype(np.float64).copy()
    size = queue.shape[1]
    ptr, losses = 0, []
    for query, key in steps:
        q = _unit(query.astype(np.float64), 1)
        k = _unit(key.astype(np.float64), 1)
        per_sample = []
        for i in range(len(q)):
            pos = np.exp(q[i] @ k[i] / temperature)
            neg = sum(np.exp(q[i] @ queue[:, j] / temperature) for j in range(size))
            per_sample.append(-np.log(pos / (pos + neg)))
        losses.append(float(np.mean(per_sample)))
        for row in k:
            queue[:, ptr] = row
            ptr = (ptr + 1) % size
    return losses, queue, ptr


@pytest.mark.parametrize(
    ("batch", "dim", "queue_size", "temperature", "num_steps"),
    [(4, 8, 8, 0.2, 3), (3, 16, 12, 0.07, 2), (5, 4, 5, 1.0, 2)],
)
def test_matches_numpy_reference_over_steps(
    batch: int, dim: int, queue_size: int, temperature: float, num_steps: int
) -> None:
    g = torch.Generator().manual_seed(batch * dim)
    loss_fn = MoCoLoss(embedding_dim=dim, queue_size=queue_size, temperature=temperature)
    start_queue = loss_fn.queue.numpy().copy()
    assert np.allclose(np.linalg.norm(start_queue, axis=0), 1.0, atol=1e-5)
    steps = [(torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g))
             for _ in range(num_steps)]
    losses = [loss_fn(q, k).item() for q, k in steps]
    ref_losses, ref_queue, ref_ptr = reference_moco_steps(
        [(q.numpy(), k.numpy()) for q, k in steps], start_queue, temperature
    )
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    np.testing.assert_allclose(loss_fn.queue.numpy(), ref_queue, rtol=1e-5, atol=1e-6)
    assert int(loss_fn.queue_ptr) == ref_ptr


def test_defaults_and_eval_mode_leaves_queue() -> None:
    loss_fn = MoCoLoss()
    assert (loss_fn.embedding_dim, loss_fn.queue_size) == (128, 65536)
    assert (loss_fn.momentum, loss_fn.temperature) == (0.999, 0.2)
    assert loss_fn.queue.shape == (128, 65536)
    small = MoCoLoss(embedding_dim=4, queue_size=8).eval()
    before = small.queue.clone()
    small(torch.randn(2, 4), torch.randn(2, 4))
    assert torch.equal(small.queue, before) and int(small.queue_ptr) == 0


def test_state_dict_round_trip_restores_queue() -> None:
    g = torch.Generator().manual_seed(1)
    a = MoCoLoss(embedding_dim=6, queue_size=8)
    for _ in range(3):
        a(torch.randn(2, 6, generator=g), torch.randn(2, 6, generator=g))
    state = a.state_dict()
    assert set(state) == {"queue", "queue_ptr"}
    b = MoCoLoss(embedding_dim=6, queue_size=8)
    b.load_state_dict(state)
    assert torch.equal(b.queue, a.queue) and torch.equal(b.queue_ptr, a.queue_ptr)
    q, k = torch.randn(2, 6, generator=g), torch.randn(2, 6, generator=g)
    assert a(q, k).item() == b(q, k).item()


def test_gradient_flows_to_query_only() -> None:
    q = torch.randn(4, 8, requires_grad=True)
    k = torch.randn(4, 8, requires_grad=True)
    MoCoLoss(embedding_dim=8, queue_size=8)(q, k).backward()
    assert q.grad is not None and torch.isfinite(q.grad).all()
    assert k.grad is None


def _rank_moco(queries: torch.Tensor, keys: torch.Tensor) -> dict:
    r = distributed.rank()
    loss_fn = MoCoLoss(embedding_dim=queries.shape[-1], queue_size=8, temperature=0.2)
    losses, grads = [], []
    for step in range(queries.shape[0]):
        q = queries[step, r].clone().requires_grad_(True)
        loss = loss_fn(q, keys[step, r])
        loss.backward()
        losses.append(loss.detach())
        grads.append(q.grad)
    return {"losses": torch.stack(losses), "grads": torch.stack(grads),
            "queue": loss_fn.queue, "ptr": loss_fn.queue_ptr}


def test_two_processes_equal_one_process_and_queues_match() -> None:
    g = torch.Generator().manual_seed(7)
    steps, batch, dim = 3, 2, 8
    queries = torch.randn(steps, WORLD_SIZE, batch, dim, generator=g)
    keys = torch.randn(steps, WORLD_SIZE, batch, dim, generator=g)
    res = run_on_ranks(_rank_moco, queries, keys)

    single = MoCoLoss(embedding_dim=dim, queue_size=8, temperature=0.2)
    for step in range(steps):
        q = queries[step].reshape(-1, dim).clone().requires_grad_(True)
        loss = single(q, keys[step].reshape(-1, dim))
        loss.backward()
        torch.testing.assert_close(sum(o["losses"][step] for o in res) / WORLD_SIZE, loss.detach())
        grads = torch.cat([o["grads"][step] for o in res]) / WORLD_SIZE
        torch.testing.assert_close(grads, q.grad)
    for out in res:
        assert torch.equal(out["queue"], res[0]["queue"])
        torch.testing.assert_close(out["queue"], single.queue)
        assert torch.equal(out["ptr"], single.queue_ptr)


def _rank_bad_queue() -> str:
    try:
        MoCoLoss(embedding_dim=4, queue_size=6)(torch.randn(2, 4), torch.randn(2, 4))
    except ValueError as err:
        return str(err)
    return "no error"


def test_queue_not_multiple_of_global_batch_is_rejected() -> None:
    # 6 is a multiple of the local batch 2 but not of the global batch 4.
    messages = run_on_ranks(_rank_bad_queue)
    assert all("queue_size=6" in m and "global batch 4" in m for m in messages)
    with pytest.raises(ValueError, match="queue_size=6"):
        MoCoLoss(embedding_dim=4, queue_size=6)(torch.randn(4, 4), torch.randn(4, 4))


def test_bad_shapes_name_the_argument() -> None:
    loss_fn = MoCoLoss(embedding_dim=4, queue_size=8)
    with pytest.raises(ValueError, match="query"):
        loss_fn(torch.randn(2, 5), torch.randn(2, 5))
    with pytest.raises(ValueError, match="key"):
        loss_fn(torch.randn(2, 4), torch.randn(3, 4))
    with pytest.raises(ValueError, match="temperature"):
        MoCoLoss(temperature=-1.0)


def test_bf16_autocast_is_finite() -> None:
    loss_fn = MoCoLoss(embedding_dim=16, queue_size=32)
    q = torch.randn(8, 16, requires_grad=True)
    k = torch.randn(8, 16)
    expected = MoCoLoss(embedding_dim=16, queue_size=32).eval()(q, k).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = loss_fn(q.to(torch.bfloat16), k.to(torch.bfloat16))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(q.grad).all()
    assert torch.isfinite(loss_fn.queue).all()
    assert loss.item() == pytest.approx(expected, rel=2e-2)

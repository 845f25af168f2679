"""SwAVMomentumLoss against the NumPy reference (teacher codes), its queue, and 2 gloo processes."""

import numpy as np
import pytest
import torch
from dist_harness import WORLD_SIZE, concat_crop_major, run_on_ranks
from swav_reference import swapped_prediction

from ssl_losses import SwAVMomentumLoss, distributed


def _scores(rows: int, protos: int, seed: int) -> torch.Tensor:
    return torch.rand(rows, protos, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize(
    ("crops", "batch", "protos", "assign", "temperature"),
    [(2, 6, [5], [0, 1], 0.1), (4, 5, [3, 7], [0, 1], 0.3), (3, 4, [6], [2], 0.1)],
)
def test_matches_numpy_reference(
    crops: int, batch: int, protos: list[int], assign: list[int], temperature: float
) -> None:
    student = [_scores(crops * batch, k, seed=k) for k in protos]
    teacher = [_scores(len(assign) * batch, k, seed=100 + k) for k in protos]
    loss_fn = SwAVMomentumLoss(temperature=temperature, num_crops=crops, crops_for_assign=assign)
    loss = loss_fn(student, teacher)
    s_np = [s.double().numpy().reshape(crops, batch, -1) for s in student]
    t_np = [list(t.double().numpy().reshape(len(assign), batch, -1)) for t in teacher]
    expected = swapped_prediction(s_np, t_np, assign, crops, temperature, 0.05, 3)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_defaults_and_gradient_only_to_student() -> None:
    loss_fn = SwAVMomentumLoss()
    assert (loss_fn.momentum, loss_fn.momentum_eval_mode_iter_start) == (0.99, 0)
    assert (loss_fn.temperature, loss_fn.epsilon, loss_fn.crops_for_assign) == (0.1, 0.05, [0, 1])
    student = _scores(2 * 4, 5, 1).requires_grad_(True)
    teacher = _scores(2 * 4, 5, 2).requires_grad_(True)
    loss_fn(student, teacher).backward()
    assert student.grad is not None and teacher.grad is None


def _rank_swav_momentum(student: torch.Tensor, teacher_emb: torch.Tensor, protos: torch.Tensor) -> dict:
    r = distributed.rank()
    loss_fn = SwAVMomentumLoss(num_crops=3, embedding_dim=protos.shape[1], queue_length=8)
    losses, grads = [], []
    for step in range(student.shape[0]):
        s = student[step, r].clone().requires_grad_(True)
        t_emb = teacher_emb[step, r]
        loss = loss_fn(s, t_emb @ protos.t(), t_emb, protos)
        loss.backward()
        losses.append(loss.detach())
        grads.append(s.grad)
    return {"losses": torch.stack(losses), "grads": torch.stack(grads),
            "count": int(loss_fn.queue_count)}


def test_two_processes_with_queue_equal_one_process() -> None:
    steps, crops, batch, dim, protos = 3, 3, 2, 6, 4
    g = torch.Generator().manual_seed(4)
    student = torch.rand(steps, WORLD_SIZE, crops * batch, protos, generator=g) * 2 - 1
    teacher_emb = torch.nn.functional.normalize(
        torch.randn(steps, WORLD_SIZE, 2 * batch, dim, generator=g), dim=-1)
    prototypes = torch.nn.functional.normalize(torch.randn(protos, dim, generator=g), dim=1)
    res = run_on_ranks(_rank_swav_momentum, student, teacher_emb, prototypes)

    single = SwAVMomentumLoss(num_crops=crops, embedding_dim=dim, queue_length=8)
    queue: list[list[np.ndarray]] = [[], []]
    for step in range(steps):
        s = concat_crop_major(student[step], crops).clone().requires_grad_(True)
        t_emb = concat_crop_major(teacher_emb[step], 2)
        loss = single(s, t_emb @ prototypes.t(), t_emb, prototypes)
        loss.backward()
        torch.testing.assert_close(sum(o["losses"][step] for o in res) / WORLD_SIZE, loss.detach())
        grads = torch.stack([o["grads"][step] for o in res]) / WORLD_SIZE
        torch.testing.assert_close(concat_crop_major(grads, crops), s.grad)
        # independent check of the queue semantics on the global batch
        s_np = [s.detach().double().numpy().reshape(crops, WORLD_SIZE * batch, -1)]
        t_np = t_emb.double().numpy().reshape(2, WORLD_SIZE * batch, dim)
        p_np = prototypes.double().numpy()
        q_scores = [[np.stack(queue[a]) @ p_np.T for a in range(2)]] if queue[0] else None
        expected = swapped_prediction(s_np, [[t_np[0] @ p_np.T, t_np[1] @ p_np.T]], [0, 1], crops,
                                      0.1, 0.05, 3, q_scores)
        assert loss.item() == pytest.approx(expected, rel=1e-5)
        for a in range(2):
            queue[a] = (list(t_np[a]) + queue[a])[:8]
    assert [o["count"] for o in res] == [8 // WORLD_SIZE] * WORLD_SIZE


def test_bf16_autocast_is_finite() -> None:
    student = _scores(4 * 8, 16, seed=1).requires_grad_(True)
    teacher = _scores(2 * 8, 16, seed=2)
    expected = SwAVMomentumLoss(num_crops=4)(student, teacher).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = SwAVMomentumLoss(num_crops=4)(student.to(torch.bfloat16), teacher.to(torch.bfloat16))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()
    assert loss.item() == pytest.approx(expected, rel=5e-2)


def test_bad_input_names_the_argument() -> None:
    loss_fn = SwAVMomentumLoss(num_crops=3)
    with pytest.raises(ValueError, match="teacher_scores"):
        loss_fn(torch.randn(6, 4), torch.randn(6, 4))  # needs 2 * B = 4 rows
    with pytest.raises(ValueError, match="teacher_scores has 2 head"):
        loss_fn(torch.randn(6, 4), [torch.randn(4, 4), torch.randn(4, 4)])
    with pytest.raises(ValueError, match="prototypes"):
        loss_fn(torch.randn(6, 4), torch.randn(4, 5))
    with pytest.raises(ValueError, match="teacher_embedding and prototypes are required"):
        SwAVMomentumLoss(embedding_dim=4, queue_length=4)(torch.randn(4, 3), torch.randn(4, 3))

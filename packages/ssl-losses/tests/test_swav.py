"""SwAVLoss against the NumPy reference (swav_reference.py), its queue, state, and 2 gloo processes."""

import numpy as np
import pytest
import torch
from dist_harness import WORLD_SIZE, concat_crop_major, run_on_ranks
from swav_reference import swapped_prediction

from ssl_losses import SwAVLoss, distributed


def _scores(rows: int, protos: int, seed: int) -> torch.Tensor:
    """Cosine-like scores in [-1, 1], the scale SwAV's normalised prototypes give."""
    return torch.rand(rows, protos, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _split(scores: torch.Tensor, crops: int) -> np.ndarray:
    return scores.detach().double().numpy().reshape(crops, -1, scores.shape[1])


@pytest.mark.parametrize(
    ("crops", "batch", "protos", "assign", "temperature", "epsilon"),
    [
        (2, 8, [5], [0, 1], 0.1, 0.05),
        (4, 6, [7], [0, 1], 0.5, 0.1),
        (3, 5, [4, 6], [1], 0.2, 0.05),
        (6, 4, [3], [0, 2], 0.1, 0.05),
    ],
)
def test_matches_numpy_reference(
    crops: int, batch: int, protos: list[int], assign: list[int], temperature: float, epsilon: float
) -> None:
    heads = [_scores(crops * batch, k, seed=k + crops) for k in protos]
    loss_fn = SwAVLoss(temperature=temperature, epsilon=epsilon, crops_for_assign=assign,
                       num_crops=crops, num_prototypes=protos)
    loss = loss_fn(heads if len(heads) > 1 else heads[0])
    student = [_split(s, crops) for s in heads]
    targets = [[st[c] for c in assign] for st in student]
    expected = swapped_prediction(student, targets, assign, crops, temperature, epsilon, 3)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    double = SwAVLoss(temperature=temperature, epsilon=epsilon, crops_for_assign=assign,
                      num_crops=crops, use_double_precision=True)(heads)
    assert double.item() == pytest.approx(expected, rel=1e-6)


def test_defaults() -> None:
    loss_fn = SwAVLoss()
    assert (loss_fn.temperature, loss_fn.epsilon, loss_fn.num_iters) == (0.1, 0.05, 3)
    assert loss_fn.crops_for_assign == [0, 1] and loss_fn.num_crops == 2
    assert loss_fn.use_double_precision is False and loss_fn.normalize_last_layer is True
    assert (loss_fn.temp_hard_assignment_iters, loss_fn.embedding_dim) == (0, 128)
    assert (loss_fn.queue_length, loss_fn.start_iter, loss_fn.local_queue_length) == (0, 0, 0)


def test_hard_assignment_for_the_first_iterations() -> None:
    scores = _scores(2 * 6, 4, seed=3)
    loss_fn = SwAVLoss(temp_hard_assignment_iters=1)
    student = [_split(scores, 2)]
    targets = [[student[0][0], student[0][1]]]
    hard = swapped_prediction(student, targets, [0, 1], 2, 0.1, 0.05, 3, hard=True)
    soft = swapped_prediction(student, targets, [0, 1], 2, 0.1, 0.05, 3)
    assert loss_fn(scores).item() == pytest.approx(hard, rel=1e-5)
    assert loss_fn(scores).item() == pytest.approx(soft, rel=1e-5)


def test_queue_over_steps_matches_reference_and_state_dict_restores_it() -> None:
    crops, batch, dim, protos, start_iter, qlen = 3, 4, 8, 5, 1, 8
    g = torch.Generator().manual_seed(11)
    prototypes = torch.randn(protos, dim, generator=g)
    unit_protos = prototypes.double().numpy()
    unit_protos /= np.linalg.norm(unit_protos, axis=1, keepdims=True)
    loss_fn = SwAVLoss(num_crops=crops, embedding_dim=dim, queue_length=qlen, start_iter=start_iter)
    queue: list[list[np.ndarray]] = [[], []]  # newest first, per assignment crop
    restored = None
    for step in range(4):
        emb = torch.nn.functional.normalize(torch.randn(crops * batch, dim, generator=g), dim=1)
        scores = emb @ torch.nn.functional.normalize(prototypes, dim=1).t()
        if step == 3:  # continue from a checkpoint of the loss state
            restored = SwAVLoss(num_crops=crops, embedding_dim=dim, queue_length=qlen,
                                start_iter=start_iter)
            restored.load_state_dict(loss_fn.state_dict())
            loss_fn = restored
        loss = loss_fn(scores, emb, prototypes)
        student = [_split(scores, crops)]
        targets = [[student[0][0], student[0][1]]]
        active = step >= start_iter
        q_scores = None
        if active and queue[0]:
            q_scores = [[np.stack(queue[a]) @ unit_protos.T for a in range(2)]]
        expected = swapped_prediction(student, targets, [0, 1], crops, 0.1, 0.05, 3, q_scores)
        assert loss.item() == pytest.approx(expected, rel=1e-5), step
        if active:
            e = emb.double().numpy().reshape(crops, batch, dim)
            for a in range(2):
                queue[a] = (list(e[a]) + queue[a])[:qlen]
    assert restored is not None
    assert set(restored.state_dict()) == {"num_iteration", "local_emb_queue", "queue_count"}
    assert int(restored.num_iteration) == 4 and int(restored.queue_count) == qlen


def _rank_swav(per_rank: torch.Tensor, emb: torch.Tensor, protos: torch.Tensor) -> dict:
    r = distributed.rank()
    loss_fn = SwAVLoss(num_crops=3, embedding_dim=emb.shape[-1], queue_length=16,
                       crops_for_assign=[0, 2])
    losses, grads = [], []
    for step in range(per_rank.shape[0]):
        s = per_rank[step, r].clone().requires_grad_(True)
        loss = loss_fn(s, emb[step, r], protos)
        loss.backward()
        losses.append(loss.detach())
        grads.append(s.grad)
    return {"losses": torch.stack(losses), "grads": torch.stack(grads),
            "state": {k: v.clone() for k, v in loss_fn.state_dict().items()},
            "local_queue_length": loss_fn.local_queue_length}


def test_two_processes_equal_one_process_on_concatenated_batch() -> None:
    steps, crops, batch, dim, protos = 3, 3, 4, 6, 5
    g = torch.Generator().manual_seed(5)
    emb = torch.nn.functional.normalize(torch.randn(steps, WORLD_SIZE, crops * batch, dim,
                                                    generator=g), dim=-1)
    prototypes = torch.nn.functional.normalize(torch.randn(protos, dim, generator=g), dim=1)
    scores = emb @ prototypes.t()
    res = run_on_ranks(_rank_swav, scores, emb, prototypes)

    single = SwAVLoss(num_crops=crops, embedding_dim=dim, queue_length=16, crops_for_assign=[0, 2])
    for step in range(steps):
        s = concat_crop_major(scores[step], crops).clone().requires_grad_(True)
        loss = single(s, concat_crop_major(emb[step], crops), prototypes)
        loss.backward()
        torch.testing.assert_close(sum(o["losses"][step] for o in res) / WORLD_SIZE, loss.detach())
        grads = torch.stack([o["grads"][step] for o in res]) / WORLD_SIZE
        torch.testing.assert_close(concat_crop_major(grads, crops), s.grad)
    assert [o["local_queue_length"] for o in res] == [16 // WORLD_SIZE] * WORLD_SIZE
    for o in res:
        assert torch.equal(o["state"]["num_iteration"], single.num_iteration)
        assert int(o["state"]["queue_count"]) == 16 // WORLD_SIZE


def test_bf16_autocast_is_finite() -> None:
    scores = _scores(4 * 8, 16, seed=9).requires_grad_(True)
    expected = SwAVLoss(num_crops=4)(scores).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = SwAVLoss(num_crops=4)(scores.to(torch.bfloat16))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(scores.grad).all()
    assert loss.item() == pytest.approx(expected, rel=5e-2)


def test_bad_input_names_the_argument() -> None:
    with pytest.raises(ValueError, match="num_crops=3"):
        SwAVLoss(num_crops=3)(torch.randn(8, 4))
    with pytest.raises(ValueError, match=r"scores\[1\]"):
        SwAVLoss()([torch.randn(8, 4), torch.randn(6, 4)])
    with pytest.raises(ValueError, match="num_prototypes"):
        SwAVLoss(num_prototypes=[5])(torch.randn(8, 4))
    with pytest.raises(ValueError, match="crops_for_assign"):
        SwAVLoss(num_crops=2, crops_for_assign=[0, 2])
    with pytest.raises(ValueError, match="embedding and prototypes are required"):
        SwAVLoss(embedding_dim=4, queue_length=8)(torch.randn(8, 3))
    with pytest.raises(ValueError, match="local_queue_length=6"):
        SwAVLoss(embedding_dim=4, queue_length=6)(torch.randn(8, 3), torch.randn(8, 4),
                                                   torch.randn(3, 4))
    with pytest.raises(ValueError, match="embedding must be"):
        SwAVLoss(embedding_dim=4, queue_length=8)(torch.randn(8, 3), torch.randn(8, 5),
                                                   torch.randn(3, 4))
    with pytest.raises(ValueError, match="prototypes must be"):
        SwAVLoss(embedding_dim=4, queue_length=8)(torch.randn(8, 3), torch.randn(8, 4),
                                                   [torch.randn(3, 4), torch.randn(3, 4)])

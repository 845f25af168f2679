"""NCEMemoryLoss (NPID / NPID++ / PIRL) against a per-sample loop written from the papers,
on 1 and 2 processes."""

import math

import pytest
import torch
from dist_harness import WORLD_SIZE, run_on_ranks

from ssl_losses import NCEMemoryLoss, distributed


def _unit(v):
    n = math.sqrt(sum(a * a for a in v))
    return [a / n for a in v]


def _reference(memory, outputs, indices, negatives, *, temperature, momentum, loss_type, weights, updaters,
               num_train_samples, norm_constant=-1.0, ignore_index=-1):
    """One forward of the loss in plain Python. Returns (loss, memory after, norm constant)."""
    mem = [list(r) for r in memory.double().tolist()]
    idx, neg = indices.tolist(), negatives.tolist()
    z = norm_constant
    total = 0.0
    for o, out in enumerate(outputs):
        emb = [_unit(r) for r in out.double().tolist()]
        rows = [b for b in range(len(idx)) if idx[b] != ignore_index]
        scores = [[sum(m * e for m, e in zip(mem[j], emb[b])) / temperature for j in [idx[b]] + neg[b]] for b in rows]
        if loss_type == "cross_entropy":
            term = sum(-s[0] + math.log(sum(math.exp(v) for v in s)) for s in scores) / len(rows)
        else:
            k = len(neg[0])
            if z < 0:  # NPID: Z = N * mean of exp(s) over the batch, estimated once
                z = num_train_samples * sum(math.exp(v) for s in scores for v in s) / (len(scores) * (k + 1))
            pn = 1.0 / num_train_samples
            eps = 1.1920928955078125e-07
            term = 0.0
            for s in scores:
                p = [math.exp(v) / z for v in s]
                term -= math.log(p[0] / (p[0] + k * pn + eps))  # h(positive) = P / (P + K Pn)
                term -= sum(math.log(k * pn / (q + k * pn + eps)) for q in p[1:])  # 1 - h(negative)
            term /= len(rows)
        total += weights[o] * term
        if o in updaters:
            for b in rows:
                mem[idx[b]] = _unit([momentum * m + (1 - momentum) * e for m, e in zip(mem[idx[b]], emb[b])])
    return total, torch.tensor(mem, dtype=torch.float64), z


@pytest.mark.parametrize("loss_type", ["nce", "cross_entropy"])
@pytest.mark.parametrize(("batch", "dim", "num_negatives", "temperature"), [(4, 8, 10, 0.07), (6, 3, 25, 0.5)])
def test_single_output_matches_loop_over_two_steps(loss_type, batch, dim, num_negatives, temperature):
    n = 40
    loss_fn = NCEMemoryLoss(n, dim, num_negatives, temperature=temperature, momentum=0.5, loss_type=loss_type)
    g = torch.Generator().manual_seed(batch)
    z = -1.0
    for _step in range(2):
        emb = torch.randn(batch, dim, generator=g)
        idx = torch.randperm(n, generator=g)[:batch]
        idx[1] = -1  # an ignored row
        neg = torch.randint(0, n, (batch, num_negatives), generator=g)
        ref_loss, ref_mem, z = _reference(
            loss_fn.memory, [emb], idx, neg, temperature=temperature, momentum=0.5, loss_type=loss_type,
            weights=[1.0], updaters={0}, num_train_samples=n, norm_constant=z,
        )
        loss = loss_fn(emb, idx, negatives=neg)
        assert loss.item() == pytest.approx(ref_loss, rel=1e-5)
        torch.testing.assert_close(loss_fn.memory.double(), ref_mem, atol=1e-6, rtol=1e-5)
    if loss_type == "nce":
        assert loss_fn.norm_constant.item() == pytest.approx(z, rel=1e-6)


@pytest.mark.parametrize("update_on_forward", [True, False])
def test_pirl_two_outputs_weights_and_update_index(update_on_forward):
    n, dim, batch = 30, 5, 4
    kwargs = dict(num_negatives=7, loss_type="cross_entropy", loss_weights=(0.5, 0.5), momentum=0.3)
    if not update_on_forward:
        kwargs |= dict(update_mem_on_forward=False, update_mem_with_emb_index=1)
    loss_fn = NCEMemoryLoss(n, dim, **kwargs)
    g = torch.Generator().manual_seed(1)
    outputs = [torch.randn(batch, dim, generator=g) for _ in range(2)]
    idx = torch.tensor([3, 17, 0, 29])
    neg = torch.randint(0, n, (batch, 7), generator=g)
    ref_loss, ref_mem, _ = _reference(
        loss_fn.memory, outputs, idx, neg, temperature=0.07, momentum=0.3, loss_type="cross_entropy",
        weights=[0.5, 0.5], updaters={0, 1} if update_on_forward else {1}, num_train_samples=n,
    )
    assert loss_fn(outputs, idx, negatives=neg).item() == pytest.approx(ref_loss, rel=1e-5)
    torch.testing.assert_close(loss_fn.memory.double(), ref_mem, atol=1e-6, rtol=1e-5)


def test_float64_inputs_and_bank_are_computed_in_float64():
    """PIRL's two outputs against a float64 bank: loss and bank equal the double-precision loop to
    1e-12 (a float32 computation is ~1e-7 off), and the loss is float64."""
    n, dim, batch = 30, 5, 4
    loss_fn = NCEMemoryLoss(n, dim, num_negatives=7, loss_type="cross_entropy", loss_weights=(0.5, 0.5),
                            update_mem_on_forward=False, update_mem_with_emb_index=1).double()  # fmt: skip
    g = torch.Generator().manual_seed(2)
    outputs = [torch.randn(batch, dim, generator=g, dtype=torch.float64) for _ in range(2)]
    idx, neg = torch.tensor([3, 17, 0, 29]), torch.randint(0, n, (batch, 7), generator=g)
    ref_loss, ref_mem, _ = _reference(
        loss_fn.memory, outputs, idx, neg, temperature=0.07, momentum=0.5, loss_type="cross_entropy",
        weights=[0.5, 0.5], updaters={1}, num_train_samples=n,
    )
    loss = loss_fn(outputs, idx, negatives=neg)
    assert loss.dtype == torch.float64 and loss_fn.memory.dtype == torch.float64
    assert loss.item() == pytest.approx(ref_loss, rel=1e-12)
    torch.testing.assert_close(loss_fn.memory, ref_mem, atol=1e-12, rtol=1e-12)


def test_update_memory_by_hand_matches_loop():
    loss_fn = NCEMemoryLoss(15, 4, num_negatives=2, momentum=0.8)
    emb, idx = torch.randn(3, 4), torch.tensor([14, -1, 2])
    before = loss_fn.memory.double().tolist()
    loss_fn.update_memory(emb, idx)
    expected = [list(r) for r in before]
    for e, i in zip(emb.double().tolist(), idx.tolist()):
        if i >= 0:
            expected[i] = _unit([0.8 * m + 0.2 * u for m, u in zip(before[i], _unit(e))])
    torch.testing.assert_close(loss_fn.memory.double(), torch.tensor(expected, dtype=torch.float64), atol=1e-6, rtol=1e-5)


def test_repeated_index_is_updated_once_with_its_last_row():
    loss_fn = NCEMemoryLoss(6, 3, num_negatives=2, momentum=0.5)
    emb, idx = torch.randn(3, 3), torch.tensor([4, 1, 4])
    before = loss_fn.memory.double().tolist()
    loss_fn.update_memory(emb, idx)
    rows = emb.double().tolist()
    for i, e in ((4, rows[2]), (1, rows[1])):
        want = _unit([0.5 * m + 0.5 * u for m, u in zip(before[i], _unit(e))])
        torch.testing.assert_close(loss_fn.memory[i].double(), torch.tensor(want, dtype=torch.float64), atol=1e-6, rtol=1e-5)


def test_fixed_norm_constant_and_random_negatives():
    loss_fn = NCEMemoryLoss(20, 4, num_negatives=6, norm_constant=3.0)
    emb, idx = torch.randn(3, 4), torch.tensor([1, 2, 3])
    loss_fn(emb, idx, generator=torch.Generator().manual_seed(0))
    assert loss_fn.norm_constant.item() == 3.0


def test_gradient_only_through_embeddings_and_bf16_finite():
    loss_fn = NCEMemoryLoss(50, 8, num_negatives=20)
    emb = torch.randn(6, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = loss_fn(emb @ torch.eye(8), torch.arange(6), generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0
    assert not loss_fn.memory.requires_grad and torch.isfinite(loss_fn.memory).all()


def test_state_dict_holds_the_bank():
    a = NCEMemoryLoss(12, 4, num_negatives=3, seed=0)
    a(torch.randn(4, 4), torch.arange(4), generator=torch.Generator().manual_seed(0))
    b = NCEMemoryLoss(12, 4, num_negatives=3, seed=1)
    assert not torch.equal(a.memory, b.memory)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.memory, b.memory) and b.norm_constant.item() == a.norm_constant.item() > 0
    assert set(a.state_dict()) == {"memory", "norm_constant"}


def test_bad_input():
    loss_fn = NCEMemoryLoss(10, 4, num_negatives=3)
    with pytest.raises(ValueError, match="indices"):
        loss_fn(torch.randn(2, 4), torch.tensor([0, 10]))
    with pytest.raises(ValueError, match="indices"):
        loss_fn(torch.randn(2, 4), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"embeddings\[0\]"):
        loss_fn(torch.randn(2, 5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="loss_weights"):
        loss_fn([torch.randn(2, 4)] * 2, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="negatives"):
        loss_fn(torch.randn(2, 4), torch.tensor([0, 1]), negatives=torch.full((2, 3), 10))
    with pytest.raises(ValueError, match="loss_type"):
        NCEMemoryLoss(10, loss_type="infonce")
    with pytest.raises(ValueError, match="update_mem_with_emb_index"):
        NCEMemoryLoss(10, update_mem_on_forward=False)
    with pytest.raises(ValueError, match="num_train_samples"):
        NCEMemoryLoss(-1)


N, DIM, BATCH, K = 24, 6, 3, 9
LOSS_KW = dict(num_negatives=K, loss_weights=(0.5, 0.5), update_mem_on_forward=False, update_mem_with_emb_index=1)


def _rank_body(loss_type, outputs, indices, negatives):
    r = distributed.rank()
    rows = slice(r * BATCH, (r + 1) * BATCH)
    loss_fn = NCEMemoryLoss(N, DIM, loss_type=loss_type, **LOSS_KW)
    results = []
    for step in range(2):
        local = [o[step, rows].clone().requires_grad_() for o in outputs]
        loss = loss_fn(local, indices[step, rows], negatives=negatives[step, rows])
        loss.backward()
        results.append((loss.detach(), [x.grad for x in local]))
    return results, loss_fn.memory, loss_fn.norm_constant


@pytest.mark.parametrize("loss_type", ["nce", "cross_entropy"])
def test_two_processes_equal_one_process_on_concatenated_batch(loss_type):
    g = torch.Generator().manual_seed(2)
    outputs = [torch.randn(2, WORLD_SIZE * BATCH, DIM, generator=g) for _ in range(2)]
    indices = torch.stack([torch.randperm(N, generator=g)[: WORLD_SIZE * BATCH] for _ in range(2)])
    negatives = torch.randint(0, N, (2, WORLD_SIZE * BATCH, K), generator=g)
    single = NCEMemoryLoss(N, DIM, loss_type=loss_type, **LOSS_KW)
    expected = []
    for step in range(2):
        full = [o[step].clone().requires_grad_() for o in outputs]
        loss = single(full, indices[step], negatives=negatives[step])
        loss.backward()
        expected.append((loss.detach(), [x.grad for x in full]))
    ranks = run_on_ranks(_rank_body, loss_type, outputs, indices, negatives)
    for step in range(2):
        # each rank's loss is its local mean: their average is the global-batch loss
        mean_loss = sum(res[step][0] for res, _, _ in ranks) / WORLD_SIZE
        torch.testing.assert_close(mean_loss, expected[step][0])
        for r, (res, _, _) in enumerate(ranks):
            for grad, full_grad in zip(res[step][1], expected[step][1]):
                torch.testing.assert_close(grad / WORLD_SIZE, full_grad[r * BATCH : (r + 1) * BATCH])
    for _, memory, norm_constant in ranks:
        torch.testing.assert_close(memory, single.memory)  # the bank is the same on every rank
        assert norm_constant.item() == pytest.approx(single.norm_constant.item(), rel=1e-6)
    assert torch.equal(ranks[0][1], ranks[1][1])

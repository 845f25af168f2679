"""DeepClusterV2Loss against plain-Python k-means and cross entropy loops, on 1 and 2 processes."""

import math

import pytest
import torch
from dist_harness import WORLD_SIZE, run_on_ranks

from ssl_losses import DeepClusterV2Loss, distributed


def _unit(v):
    n = math.sqrt(sum(a * a for a in v))
    return [a / n for a in v]


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def _argmax(values):
    return max(range(len(values)), key=lambda i: values[i])


def _kmeans(points, centroids, iters):
    """Spherical k-means from the paper's description: assign by largest dot product, new centroid
    = normalised mean of its points, an empty cluster keeps its centroid."""
    cents = [list(c) for c in centroids]
    for _ in range(iters):
        assign = [_argmax([_dot(p, c) for c in cents]) for p in points]
        for k in range(len(cents)):
            members = [p for p, a in zip(points, assign) if a == k]
            if members:
                cents[k] = _unit([sum(col) / len(members) for col in zip(*members)])
    return cents, [_argmax([_dot(p, c) for c in cents]) for p in points]


def _ce_reference(emb, indices, centroid_sets, assignment_sets, temperature, num_crops):
    batch = len(indices)
    rows = [_unit(r) for r in emb.double().tolist()]
    total = 0.0
    for cents, assign in zip(centroid_sets, assignment_sets):
        terms = []
        for c in range(num_crops):
            for b in range(batch):
                y = assign[indices[b]]
                if y == -100:
                    continue
                s = [_dot(rows[c * batch + b], k) / temperature for k in cents]
                m = max(s)
                terms.append(-(s[y] - m - math.log(sum(math.exp(v - m) for v in s))))
        total += sum(terms) / len(terms)
    return total / len(centroid_sets)


@pytest.mark.parametrize(("num_crops", "crops_for_mb", "clusters", "temperature"), [(2, (0,), (3, 4), 0.1), (3, (0, 1), (5, 2, 4), 0.5)])
def test_kmeans_and_loss_match_loops(num_crops, crops_for_mb, clusters, temperature):
    n, dim, batch, iters = 20, 4, 5, 6
    g = torch.Generator().manual_seed(len(clusters))
    order = torch.randperm(n, generator=g)
    kw = dict(num_crops=num_crops, temperature=temperature, num_clusters=clusters, crops_for_mb=crops_for_mb, embedding_dim=dim)
    init_probe = DeepClusterV2Loss(n, kmeans_iters=0, **kw)  # observes the initial centroids
    loss_fn = DeepClusterV2Loss(n, kmeans_iters=iters, **kw)
    banks = [[None] * n for _ in crops_for_mb]
    for step in range(n // batch):  # one epoch fills the memory, loss is 0 before any clustering
        idx = order[step * batch : (step + 1) * batch]
        emb = torch.randn(num_crops * batch, dim, generator=g)
        init_probe.update_memory(emb, idx)
        assert loss_fn(emb, idx).item() == 0.0
        for m, crop in enumerate(crops_for_mb):
            for b in range(batch):
                banks[m][int(idx[b])] = _unit(emb[crop * batch + b].double().tolist())
    init_probe.cluster_memory(seed=7)
    loss_fn.cluster_memory(seed=7)
    ref_centroids, ref_assign = [], []
    for h, k in enumerate(clusters):
        bank = banks[h % len(crops_for_mb)]
        init = init_probe.centroids(h).double().tolist()
        # the initial centroids are k distinct memory rows
        hits = {min(range(n), key=lambda i: math.dist(bank[i], c)) for c in init}
        assert len(hits) == k and all(min(math.dist(bank[i], c) for i in range(n)) < 1e-6 for c in init)
        cents, assign = _kmeans(bank, init, iters)
        torch.testing.assert_close(loss_fn.centroids(h).double(), torch.tensor(cents, dtype=torch.float64), atol=1e-5, rtol=1e-5)
        assert loss_fn.assignments[h].tolist() == assign
        ref_centroids.append(cents)
        ref_assign.append(assign)
    assert int(loss_fn.memory_position) == 0
    idx = order[:batch]
    emb = torch.randn(num_crops * batch, dim, generator=g)
    loss = loss_fn(emb, idx)
    assert loss.item() == pytest.approx(_ce_reference(emb, idx.tolist(), ref_centroids, ref_assign, temperature, num_crops), rel=1e-5)


def test_unclustered_rows_are_ignored_and_bf16_finite():
    loss_fn = DeepClusterV2Loss(10, num_clusters=(2,), embedding_dim=3, kmeans_iters=2)
    loss_fn.update_memory(torch.randn(8, 3), torch.arange(4))
    loss_fn.cluster_memory()
    assert (loss_fn.assignments[0, 4:] == -100).all() and (loss_fn.assignments[0, :4] >= 0).all()
    x = torch.randn(4, 3, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = loss_fn(x @ torch.eye(3), torch.tensor([0, 9]))
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 0 and torch.isfinite(x.grad).all()
    assert x.grad[1].abs().sum() == 0 and x.grad[0].abs().sum() > 0  # row of sample 9 is not clustered


def test_sample_stored_twice_gets_its_last_rows_cluster():
    loss_fn = DeepClusterV2Loss(5, num_crops=1, num_clusters=(2,), embedding_dim=2, kmeans_iters=3)
    # sample 0 first near (1, 0), then (padding of a distributed sampler) near (0, 1)
    emb = torch.tensor([[1.0, 0.05], [0.9, -0.1], [0.05, 1.0], [-0.1, 0.9], [0.02, 1.0]])
    loss_fn.update_memory(emb, torch.tensor([0, 1, 2, 3, 0]))
    loss_fn.cluster_memory(seed=0)
    a = loss_fn.assignments[0].tolist()
    assert a[1] != a[2] and a[0] == a[2] == a[3]


def test_state_dict_round_trip():
    a = DeepClusterV2Loss(12, num_clusters=(2, 3), embedding_dim=4)
    a.update_memory(torch.randn(12, 4), torch.arange(6))
    a.cluster_memory(seed=1)
    a.update_memory(torch.randn(4, 4), torch.arange(2))
    b = DeepClusterV2Loss(12, num_clusters=(2, 3), embedding_dim=4)
    b.load_state_dict(a.state_dict())
    for name, t in a.state_dict().items():
        assert torch.equal(t, b.state_dict()[name]), name
    assert int(b.memory_position) == 2


def test_bad_input():
    loss_fn = DeepClusterV2Loss(8, num_clusters=(3,), embedding_dim=4, memory_size=4)
    with pytest.raises(ValueError, match="embeddings"):
        loss_fn(torch.randn(3, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="indices"):
        loss_fn(torch.randn(4, 4), torch.tensor([0, 8]))
    with pytest.raises(ValueError, match="indices"):
        loss_fn(torch.randn(4, 4), torch.tensor([0.0, 1.0]))
    loss_fn.update_memory(torch.randn(4, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="num_clusters"):
        loss_fn.cluster_memory()  # 2 samples stored, 3 clusters
    loss_fn.update_memory(torch.randn(4, 4), torch.tensor([2, 3]))
    with pytest.raises(ValueError, match="memory_size"):
        loss_fn.update_memory(torch.randn(4, 4), torch.tensor([4, 5]))
    with pytest.raises(ValueError, match="crops_for_mb"):
        DeepClusterV2Loss(8, num_crops=2, crops_for_mb=(2,))
    with pytest.raises(ValueError, match="num_clusters"):
        DeepClusterV2Loss(8, num_clusters=())


N, DIM, BATCH, STEPS, NUM_CROPS = 32, 5, 4, 4, 2
KW = dict(num_crops=NUM_CROPS, num_clusters=(4, 6), crops_for_mb=(0, 1), embedding_dim=DIM, kmeans_iters=5)


def _rank_body(embeddings, indices):
    r = distributed.rank()
    loss_fn = DeepClusterV2Loss(N, **KW)
    out = []
    for epoch in range(2):
        if epoch:
            loss_fn.cluster_memory(seed=3)
        for step in range(STEPS):
            local = embeddings[epoch, step, :, r * BATCH : (r + 1) * BATCH].reshape(NUM_CROPS * BATCH, DIM)
            local = local.clone().requires_grad_()
            loss = loss_fn(local, indices[epoch, step, r * BATCH : (r + 1) * BATCH])
            loss.backward()
            out.append((loss.detach(), local.grad))
    return out, loss_fn.assignments, [loss_fn.centroids(h) for h in range(2)], loss_fn.memory_size


def test_two_processes_equal_one_process_on_concatenated_batch():
    g = torch.Generator().manual_seed(5)
    global_batch = WORLD_SIZE * BATCH
    embeddings = torch.randn(2, STEPS, NUM_CROPS, global_batch, DIM, generator=g)
    indices = torch.stack([torch.randperm(N, generator=g).view(STEPS, global_batch) for _ in range(2)])
    single = DeepClusterV2Loss(N, **KW)
    expected = []
    for epoch in range(2):
        if epoch:
            single.cluster_memory(seed=3)
        for step in range(STEPS):
            full = embeddings[epoch, step].reshape(NUM_CROPS * global_batch, DIM).clone().requires_grad_()
            loss = single(full, indices[epoch, step])
            loss.backward()
            expected.append((loss.detach(), full.grad.view(NUM_CROPS, global_batch, DIM)))
    ranks = run_on_ranks(_rank_body, embeddings, indices)
    assert ranks[0][3] == N // WORLD_SIZE  # default memory: one epoch of a distributed sampler
    for r, (steps, assignments, centroids, _) in enumerate(ranks):
        assert torch.equal(assignments, single.assignments)  # identical on every rank
        for h in range(2):
            torch.testing.assert_close(centroids[h], single.centroids(h))
        for (_loss, grad), (_full_loss, full_grad) in zip(steps, expected):
            expected_grad = full_grad[:, r * BATCH : (r + 1) * BATCH].reshape(NUM_CROPS * BATCH, DIM)
            torch.testing.assert_close(grad / WORLD_SIZE, expected_grad)
    for i, (full_loss, _) in enumerate(expected):
        torch.testing.assert_close(sum(res[0][i][0] for res in ranks) / WORLD_SIZE, full_loss)
    assert (single.assignments >= 0).all() and expected[-1][0] > 0

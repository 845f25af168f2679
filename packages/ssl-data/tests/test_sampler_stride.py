"""StatefulDistributedSampler(shard="stride"): global batches that do not depend on the world size."""

import torch

from ssl_data import StatefulDistributedSampler


def test_stride_ranks_deal_one_global_permutation():
    data = list(range(11))
    one = list(StatefulDistributedSampler(data, 1, 0, seed=3, drop_last=True, shard="stride"))
    g = torch.Generator().manual_seed(3)
    assert one == torch.randperm(11, generator=g).tolist()  # independent reference: torch's permutation
    ranks = [list(StatefulDistributedSampler(data, 2, r, seed=3, drop_last=True, shard="stride")) for r in range(2)]
    assert ranks[0] == one[0:10:2] and ranks[1] == one[1:10:2]
    b = 2  # per-rank batch: the union of the ranks' k-th batches is the 1-rank k-th batch of 2b
    for k in range(2):
        assert sorted(ranks[0][k * b:(k + 1) * b] + ranks[1][k * b:(k + 1) * b]) == sorted(one[2 * b * k:2 * b * (k + 1)])


def test_stride_pads_and_resumes():
    data = list(range(5))
    ranks = [list(StatefulDistributedSampler(data, 2, r, shuffle=False, shard="stride")) for r in range(2)]
    assert ranks == [[0, 2, 4], [1, 3, 0]]
    s = StatefulDistributedSampler(list(range(12)), 2, 1, seed=5, shard="stride")
    s.set_epoch(2)
    full = list(s)
    it = iter(s)
    head = [next(it) for _ in range(2)]
    t = StatefulDistributedSampler(list(range(12)), 2, 1, seed=5, shard="stride")
    t.load_state_dict(s.state_dict())
    assert head + list(t) == full

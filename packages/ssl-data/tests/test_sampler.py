"""StatefulDistributedSampler (VISSL semantics) and seeding helpers."""

import random

import numpy as np
import pytest
import torch

from ssl_data import StatefulDistributedSampler, sample_seed
from ssl_data.sampling import seeded_rngs


def test_rank_slices_are_shuffled_within_and_cover_the_data():
    data = list(range(10))
    r0 = StatefulDistributedSampler(data, num_replicas=2, rank=0, seed=1)
    r1 = StatefulDistributedSampler(data, num_replicas=2, rank=1, seed=1)
    a, b = list(r0), list(r1)
    assert sorted(a) == [0, 1, 2, 3, 4] and sorted(b) == [5, 6, 7, 8, 9]
    # The permutation is torch.randperm seeded with seed + epoch, applied to the slice.
    g = torch.Generator().manual_seed(1)
    assert a == [int(x) for x in torch.arange(5)[torch.randperm(5, generator=g)]]
    r0.set_epoch(1)
    e1 = list(r0)
    assert e1 != a and sorted(e1) == sorted(a)


def test_padding_and_drop_last():
    data = list(range(7))
    pad = [list(StatefulDistributedSampler(data, 2, r, shuffle=False)) for r in range(2)]
    assert pad == [[0, 1, 2, 3], [4, 5, 6, 0]]
    drop = [list(StatefulDistributedSampler(data, 2, r, shuffle=False, drop_last=True)) for r in range(2)]
    assert drop == [[0, 1, 2], [3, 4, 5]]


def test_state_resumes_mid_epoch():
    s = StatefulDistributedSampler(list(range(12)), num_replicas=1, rank=0, seed=5)
    s.set_epoch(3)
    full = list(s)
    it = iter(s)
    head = [next(it) for _ in range(4)]
    state = s.state_dict()
    assert state["epoch"] == 3 and state["yielded"] == 4
    t = StatefulDistributedSampler(list(range(12)), num_replicas=1, rank=0, seed=0)
    t.load_state_dict(state)
    assert head + list(t) == full
    assert list(t) == full  # the next iteration starts the epoch from the beginning again
    with pytest.raises(ValueError, match="num_replicas=4"):
        t.load_state_dict({**state, "num_replicas": 4})
    with pytest.raises(ValueError, match="missing 'yielded'"):
        t.load_state_dict({"epoch": 0})


def test_bad_arguments():
    with pytest.raises(ValueError, match="rank must be in"):
        StatefulDistributedSampler([1, 2], num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="empty"):
        StatefulDistributedSampler([], num_replicas=1, rank=0)


def test_sample_seed_and_seeded_rngs_restore_state():
    assert sample_seed(0, 1, 2) == sample_seed(0, 1, 2)
    seeds = {sample_seed(0, e, i) for e in range(3) for i in range(100)}
    assert len(seeds) == 300
    torch.manual_seed(123)
    random.seed(4)
    np.random.seed(5)
    expected = (torch.rand(1), random.random(), np.random.rand())
    torch.manual_seed(123)
    random.seed(4)
    np.random.seed(5)
    with seeded_rngs(99):
        inside = (torch.rand(1), random.random(), np.random.rand())
    with seeded_rngs(99):
        assert torch.equal(torch.rand(1), inside[0]) and random.random() == inside[1] and np.random.rand() == inside[2]
    after = (torch.rand(1), random.random(), np.random.rand())
    assert torch.equal(after[0], expected[0]) and after[1:] == expected[1:]  # outer streams untouched


class _NumpyDraws(torch.utils.data.Dataset):
    """Each item draws from numpy's global generator (a legacy PIL/numpy augmentation)."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return torch.tensor([np.random.randint(0, 2**31 - 1), torch.utils.data.get_worker_info().id])


def _draws():
    from torch.utils.data import DataLoader

    from ssl_data import worker_init_fn

    g = torch.Generator().manual_seed(11)
    loader = DataLoader(_NumpyDraws(), batch_size=1, num_workers=2, worker_init_fn=worker_init_fn,
                        generator=g, multiprocessing_context="fork")
    return torch.cat(list(loader))


def test_worker_init_fn_gives_distinct_reproducible_numpy_streams():
    a, b = _draws(), _draws()
    assert torch.equal(a, b)  # reproducible with a seeded loader generator
    by_worker = {w: a[a[:, 1] == w, 0].tolist() for w in (0, 1)}
    assert by_worker[0] != by_worker[1]  # without worker_init_fn both forks would draw the same

"""The batch order is a seeded permutation per epoch and resumes mid-epoch exactly."""

import pytest
import torch

from ssl_train import EpochBatches


def test_each_epoch_is_a_permutation_and_epochs_differ():
    b = EpochBatches(103, 10, seed=3)
    assert len(b) == 10
    e0 = torch.cat(list(b.epoch(0)))
    e1 = torch.cat(list(b.epoch(1)))
    assert len(e0) == 100 and len(set(e0.tolist())) == 100
    assert not torch.equal(e0, e1)
    assert torch.equal(e0, torch.cat(list(EpochBatches(103, 10, seed=3).epoch(0))))


def test_resume_from_batch_k_gives_the_rest():
    b = EpochBatches(64, 8, seed=1)
    full = list(b.epoch(2))
    rest = list(b.epoch(2, start=3))
    assert all(torch.equal(x, y) for x, y in zip(full[3:], rest)) and len(rest) == 5


def test_batch_larger_than_dataset():
    with pytest.raises(ValueError, match="larger than the dataset"):
        EpochBatches(5, 8)

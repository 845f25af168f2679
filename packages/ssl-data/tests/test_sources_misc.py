"""Synthetic source, multi-source dataset, LABEL_TYPE and DATA_LIMIT."""

from collections import Counter

import numpy as np
import pytest
import torch

from ssl_data import MultiSourceDataset, SSLDataset, SyntheticImageDataset, TensorImageDataset, limit_dataset
from ssl_data.sources import data_limit_indices


def test_synthetic_is_deterministic_and_class_coloured():
    a = SyntheticImageDataset(num_samples=20, size=(6, 5), num_classes=4, seed=1, noise=10)
    b = SyntheticImageDataset(num_samples=20, size=(6, 5), num_classes=4, seed=1, noise=10)
    x, y, i = a[7]
    assert x.shape == (3, 6, 5) and x.dtype == torch.uint8 and (y, i) == (3, 7)
    assert torch.equal(x, b[7][0]) and not torch.equal(x, a[8][0])
    # Pixels stay within [colour, colour + noise] of their class colour.
    colour = a.class_colours[3]
    assert ((x.int() - colour) >= 0).all() and ((x.int() - colour) <= 10).all()
    with pytest.raises(IndexError):
        a[20]


def test_multi_source_items_and_labels():
    s1 = TensorImageDataset(torch.zeros(3, 2, 2, dtype=torch.uint8), torch.tensor([1, 2, 3]))
    s2 = TensorImageDataset(torch.ones(3, 2, 2, dtype=torch.uint8), torch.tensor([7, 8, 9]))
    ds = MultiSourceDataset([s1, s2])
    images, label, idx = ds[1]
    assert len(images) == 2 and int(images[0].sum()) == 0 and int(images[1].sum()) == 12
    assert (label, idx) == (2, 1)
    assert MultiSourceDataset([s1, s2], label_source=None)[2][1] == [3, 9]
    wrapped = SSLDataset(ds, transform=lambda t: t.float() + 1)
    views, _, _ = wrapped[0]
    assert len(views) == 2 and float(views[1].mean()) == 2.0
    with pytest.raises(ValueError, match="same length"):
        MultiSourceDataset([s1, TensorImageDataset(torch.zeros(2, 2, 2, dtype=torch.uint8), torch.tensor([0, 0]))])


@pytest.mark.parametrize(("label_type", "expected"), [("standard", [5, 6, 7]), ("sample_index", [0, 1, 2]), ("zero", [0, 0, 0])])
def test_label_type(label_type, expected):
    src = TensorImageDataset(torch.zeros(3, 2, 2, dtype=torch.uint8), torch.tensor([5, 6, 7]))
    ds = SSLDataset(src, label_type=label_type)
    assert [ds[i][1] for i in range(3)] == expected


def test_label_type_rejected():
    src = TensorImageDataset(torch.zeros(1, 2, 2, dtype=torch.uint8), torch.tensor([0]))
    with pytest.raises(ValueError, match="label_type must be one of standard, sample_index, zero"):
        SSLDataset(src, label_type="onehot")


def test_data_limit_balanced_seeded_and_disjoint_skips():
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    a = data_limit_indices(labels, 20, seed=3, balanced=True)
    assert Counter(labels[a].tolist()) == {0: 5, 1: 5, 2: 5, 3: 5}
    assert a == data_limit_indices(labels, 20, seed=3, balanced=True)
    assert a != data_limit_indices(labels, 20, seed=4, balanced=True)
    b = data_limit_indices(labels, 20, seed=3, balanced=True, skip_num_samples=20)
    assert not set(a) & set(b)
    # 15 asked of each class; class 0 has only 10 and gives all of them
    assert Counter(labels[data_limit_indices(labels, 60, balanced=True)].tolist()) == {0: 10, 1: 15, 2: 15, 3: 15}


def test_data_limit_balanced_remainder_goes_to_the_first_classes():
    """VISSL's split: 8 = 3 * 2 + 2, so classes 0 and 1 get 3 and class 2 gets 2; a skip of 8 is
    split the same way, so the next subset is disjoint."""
    labels = np.repeat(np.array([5, 7, 9]), 10)
    first = data_limit_indices(labels, 8, seed=1, balanced=True)
    assert Counter(labels[first].tolist()) == {5: 3, 7: 3, 9: 2}
    rest = data_limit_indices(labels, 22, seed=1, balanced=True, skip_num_samples=8)
    assert Counter(labels[rest].tolist()) == {5: 7, 7: 7, 9: 7}  # 22 = 3 * 7 + 1, class 5 has 7 left
    assert not set(first) & set(rest)
    with pytest.raises(ValueError, match="smaller than the 3 classes"):
        data_limit_indices(labels, 2, balanced=True)
    with pytest.raises(ValueError, match="keeps no sample"):
        data_limit_indices(labels, 0)
    with pytest.raises(ValueError, match="skip_num_samples"):
        data_limit_indices(labels, 3, skip_num_samples=-1)


def test_data_limit_unbalanced_and_dataset_wrapper():
    labels = np.zeros(50, dtype=np.int64)
    u = data_limit_indices(labels, 7, seed=0)
    assert len(u) == len(set(u)) == 7 and all(0 <= i < 50 for i in u)
    assert data_limit_indices(labels, -1) == list(range(50))
    src = TensorImageDataset(torch.arange(50, dtype=torch.uint8).reshape(50, 1, 1), torch.arange(50) % 5)
    sub = limit_dataset(src, 10, seed=1, balanced=True)
    assert len(sub) == 10 and sorted(sub[i][1] for i in range(10)) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert limit_dataset(src, -1) is src
    head, tail = data_limit_indices(labels, 10), data_limit_indices(labels, 45, skip_num_samples=10)
    assert len(tail) == 40 and sorted(head + tail) == list(range(50))  # what is left after the skip

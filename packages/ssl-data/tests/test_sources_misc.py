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
    with pytest.raises(ValueError, match="class 0 has 10 samples"):
        data_limit_indices(labels, 60, balanced=True)


def test_data_limit_unbalanced_and_dataset_wrapper():
    labels = np.zeros(50, dtype=np.int64)
    u = data_limit_indices(labels, 7, seed=0)
    assert len(u) == len(set(u)) == 7 and all(0 <= i < 50 for i in u)
    assert data_limit_indices(labels, -1) == list(range(50))
    src = TensorImageDataset(torch.arange(50, dtype=torch.uint8).reshape(50, 1, 1), torch.arange(50) % 5)
    sub = limit_dataset(src, 10, seed=1, balanced=True)
    assert len(sub) == 10 and sorted(sub[i][1] for i in range(10)) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert limit_dataset(src, -1) is src
    with pytest.raises(ValueError, match="exceeds"):
        data_limit_indices(labels, 45, skip_num_samples=10)

"""TensorImageDataset, digits and default_dataset."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits as sk_digits

from ssl_data import TensorImageDataset, default_dataset, load_digits
from ssl_data.sources import fashion_mnist_available


def test_digits_split_is_deterministic_disjoint_and_complete():
    xtr, ytr = load_digits("train")
    xte, yte = load_digits("test")
    assert xtr.dtype == torch.uint8 and xtr.shape[1:] == (8, 8) and ytr.dtype == torch.int64
    assert len(ytr) + len(yte) == 1797 and len(yte) == 360
    ref = sk_digits()
    ref_images = np.rint(ref.images * 255 / 16).astype(np.uint8)
    # Every returned image is one of sklearn's (with its label), none appears in both splits.
    keys = {ref_images[i].tobytes(): int(ref.target[i]) for i in range(len(ref.target))}
    seen = [(x.numpy().tobytes(), int(y)) for x, y in zip(torch.cat([xtr, xte]), torch.cat([ytr, yte]))]
    assert all(keys[k] == y for k, y in seen)
    assert int(xtr.max()) == 255 and int(xtr.min()) == 0
    x2, y2 = load_digits("train")
    assert torch.equal(xtr, x2) and torch.equal(ytr, y2)
    # Stratified: every class is in both splits.
    assert set(ytr.tolist()) == set(yte.tolist()) == set(range(10))


def test_tensor_dataset_grey_becomes_three_channels():
    images = torch.arange(2 * 4 * 5, dtype=torch.uint8).reshape(2, 4, 5)
    ds = TensorImageDataset(images, torch.tensor([7, 3]))
    img, label, index = ds[1]
    assert img.shape == (3, 4, 5) and img.dtype == torch.uint8
    for c in range(3):
        assert torch.equal(img[c], images[1])
    assert (label, index) == (3, 1) and isinstance(label, int)
    assert len(ds) == 2 and ds.targets == [7, 3]


def test_tensor_dataset_rgb_and_transform():
    images = torch.randint(0, 256, (3, 3, 6, 6), dtype=torch.uint8)
    ds = TensorImageDataset(images, torch.zeros(3, dtype=torch.int64), transform=lambda t: t.float() / 255)
    out, _, idx = ds[2]
    assert idx == 2 and torch.allclose(out, images[2].float() / 255)


@pytest.mark.parametrize(
    ("images", "labels", "match"),
    [
        (torch.zeros(2, 4, 4), torch.zeros(2, dtype=torch.int64), "uint8"),
        (torch.zeros(2, 2, 4, 4, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64), "shape"),
        (torch.zeros(2, 4, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64), "labels"),
        (torch.zeros(2, 4, 4, dtype=torch.uint8), torch.zeros(2), "integers"),
    ],
)
def test_tensor_dataset_bad_input(images, labels, match):
    with pytest.raises(ValueError, match=match):
        TensorImageDataset(images, labels)


def test_default_dataset_picks_fashion_mnist_or_digits(tmp_path):
    ds = default_dataset("test")
    if fashion_mnist_available():
        assert ds.name == "fashion_mnist" and len(ds) == 10000 and ds[0][0].shape == (3, 28, 28)
    else:
        assert ds.name == "digits"
    fallback = default_dataset("test", root=tmp_path)  # empty folder: no Fashion-MNIST there
    assert fallback.name == "digits" and len(fallback) == 360 and fallback[0][0].shape == (3, 8, 8)

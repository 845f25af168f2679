"""torchvision_dataset from local files: real Fashion-MNIST files in torchvision's layout."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from ssl_data import TorchvisionSource, load_fashion_mnist
from ssl_data.sources import fashion_mnist_available

FMNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not fashion_mnist_available(FMNIST), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_through_torchvision_matches_our_reader(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for f in FMNIST.glob("*-ubyte.gz"):  # torchvision's layout: the real files, decompressed
        with gzip.open(f, "rb") as src, open(raw / f.name[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    ds = TorchvisionSource("fashion-mnist", tmp_path, split="test")
    images, labels = load_fashion_mnist("test")
    assert len(ds) == 10000
    for i in (0, 4321, 9999):
        img, label, idx = ds[i]
        assert img.mode == "RGB" and idx == i and label == int(labels[i])
        np.testing.assert_array_equal(np.asarray(img)[..., 0], images[i].numpy())
    assert ds.targets[:5] == labels[:5].tolist()


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "mnist", "stl10", "svhn"])
def test_missing_files_name_the_layout(tmp_path, name):
    with pytest.raises(FileNotFoundError, match=f"{name} files not found or corrupt under {tmp_path}"):
        TorchvisionSource(name, tmp_path, split="test")


def test_bad_name_split_root(tmp_path):
    with pytest.raises(ValueError, match="unknown torchvision dataset 'imagenet'"):
        TorchvisionSource("imagenet", tmp_path)
    with pytest.raises(ValueError, match="svhn has splits"):
        TorchvisionSource("svhn", tmp_path, split="unlabeled")
    with pytest.raises(FileNotFoundError, match="root folder not found"):
        TorchvisionSource("cifar10", tmp_path / "nope")

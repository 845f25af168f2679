"""Labelled splits from the built-in sources and from real image folders on disk."""

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_train import load_split
from ssl_train.data import ImageSplit, balanced_subset


def _write_tree(root, classes, per_class, size=(20, 12), mode="RGB"):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            arr = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(arr).convert(mode).save(root / c / f"{i}.png")


def test_digits_split_is_three_channel_and_resized():
    split = load_split("digits", "train", image_size=16)
    assert split.images.dtype == torch.uint8 and split.images.shape[1:] == (3, 16, 16)
    assert torch.equal(split.images[:, 0], split.images[:, 1])
    assert split.labels.unique().tolist() == list(range(10))


def test_folder_with_train_and_val(tmp_path):
    _write_tree(tmp_path / "train", ["cat", "dog"], 3)
    _write_tree(tmp_path / "val", ["cat", "dog"], 2, mode="L")
    train = load_split(str(tmp_path), "train", image_size=8)
    test = load_split(str(tmp_path), "test", image_size=8)
    assert (len(train), len(test)) == (6, 4)
    assert train.classes == ["cat", "dog"] and test.images.shape == (4, 3, 8, 8)


def test_single_folder_is_split_stratified(tmp_path):
    _write_tree(tmp_path, ["a", "b", "c"], 10)
    train = load_split(str(tmp_path), "train", image_size=8, val_fraction=0.2)
    test = load_split(str(tmp_path), "test", image_size=8, val_fraction=0.2)
    assert (len(train), len(test)) == (24, 6)
    assert torch.bincount(test.labels).tolist() == [2, 2, 2]


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_split(str(tmp_path / "nope"), "train", 8)
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises((FileNotFoundError, ValueError)):
        load_split(str(tmp_path / "empty"), "train", 8)


def test_balanced_subset():
    labels = torch.tensor([0] * 50 + [1] * 5 + [2] * 45)
    idx = balanced_subset(labels, 30, seed=0)
    counts = torch.bincount(labels[idx]).tolist()
    assert sum(counts) == 30 and counts[1] == 5 and abs(counts[0] - counts[2]) <= 1
    assert torch.equal(idx, balanced_subset(labels, 30, seed=0))


def test_split_length_is_the_number_of_images_for_multi_label_targets():
    images = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    voc = ImageSplit(images, torch.zeros(4, 20, dtype=torch.int64), [f"c{i}" for i in range(20)], "voc")
    assert len(voc) == 4  # 4 images, not 4 x 20 label entries
    ids = ImageSplit(images, torch.tensor([0, 1, 0, 1]), ["a", "b"], "ids")
    assert len(ids) == 4

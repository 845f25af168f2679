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


def _write_solid(root, cls, values):
    """One 4x4 image per value, every pixel = value: the image identifies itself."""
    (root / cls).mkdir(parents=True, exist_ok=True)
    for v in values:
        Image.fromarray(np.full((4, 4, 3), v, dtype=np.uint8)).save(root / cls / f"{v}.png")


def test_single_folder_train_and_test_never_overlap_whatever_the_seeds(tmp_path):
    _write_solid(tmp_path, "a", range(0, 100, 5))
    _write_solid(tmp_path, "b", range(101, 201, 5))
    test = load_split(str(tmp_path), "test", image_size=4, val_fraction=0.2, seed=0)
    held_out = set(test.images[:, 0, 0, 0].tolist())
    for seed in (0, 3, 11):
        train = load_split(str(tmp_path), "train", image_size=4, val_fraction=0.2, seed=seed)
        assert held_out.isdisjoint(train.images[:, 0, 0, 0].tolist())
        assert len(train) + len(test) == 40


def test_test_labels_follow_the_train_class_folders(tmp_path):
    # val/ lacks "b": ImageFolder alone would number val's "c" as 1 (train's "b")
    for cls, value in (("a", 10), ("b", 20), ("c", 30)):
        _write_solid(tmp_path / "train", cls, [value, value + 1])
    _write_solid(tmp_path / "val", "a", [12])
    _write_solid(tmp_path / "val", "c", [32, 33])
    train = load_split(str(tmp_path), "train", image_size=4)
    test = load_split(str(tmp_path), "test", image_size=4)
    assert test.classes == train.classes == ["a", "b", "c"]
    by_value = dict(zip(test.images[:, 0, 0, 0].tolist(), test.labels.tolist()))
    assert by_value == {12: 0, 32: 2, 33: 2}
    _write_solid(tmp_path / "val", "zebra", [40])
    with pytest.raises(ValueError, match="zebra"):
        load_split(str(tmp_path), "test", image_size=4)

"""Benchmark splits read real image files through ssl-data, one batch at a time; unreadable files
are replaced and reported by count and name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_evaluation.suites import feature_batches, open_split

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def _folder(root: Path, per_class: int, broken: int = 0) -> Path:
    rng = np.random.default_rng(0)
    for c in range(3):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(root / f"class{c}" / f"{i}.png")
    for i in range(broken):
        (root / "class1" / f"broken{i}.png").write_bytes(b"not a png")
    return root


def test_single_tree_held_out_split_is_disjoint_and_stratified(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", per_class=10)
    train = open_split(str(root), "train", 12, seed=1)
    test = open_split(str(root), "test", 12, seed=5)
    assert (len(train), len(test)) == (24, 6)
    assert sorted(test.targets.tolist()) == [0, 0, 1, 1, 2, 2]
    train_paths = {train.dataset.source.dataset.samples[i][0] for i in train.dataset.source.indices}
    test_paths = {test.dataset.source.dataset.samples[i][0] for i in test.dataset.source.indices}
    assert not train_paths & test_paths


def test_pixels_are_the_files_normalised(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", per_class=2)
    (tmp_path / "tv").mkdir()
    split = open_split(str(root), "train", 12, val_fraction=0.5)
    images, labels, index = next(iter(feature_batches(split, batch_size=2)))
    subset = split.dataset.source
    path = subset.dataset.samples[subset.indices[int(index[0])]][0]
    expected = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(images[0], (expected - MEAN) / STD, atol=1e-5, rtol=0)


def test_broken_files_are_counted_and_named(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _folder(root / "train", per_class=40, broken=1)
    _folder(root / "val", per_class=2)
    split = open_split(str(root), "train", 12)
    split.dataset.invalid.max_invalid_fraction = 0.05
    seen = []
    batches = feature_batches(split, batch_size=16, progress=lambda stage, done, total: seen.append((done, total)))
    n = sum(int(b[0].shape[0]) for b in batches)
    assert n == len(split) == 121
    summary = split.invalid_summary()
    assert summary["count"] == 1
    assert summary["first"] and summary["first"][0].endswith("broken0.png")
    assert seen[0] == (0, 121) and seen[-1] == (121, 121)


def test_limit_is_class_balanced(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", per_class=10)
    split = open_split(str(root), "train", 12, limit=6, seed=3)
    assert torch.bincount(split.targets).tolist() == [2, 2, 2]


def test_digits_and_missing_paths() -> None:
    split = open_split("digits", "test", 8)
    assert len(split) == 360 and split.source == "digits"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_split("/nonexistent/folder", "train", 8)
    with pytest.raises(FileNotFoundError, match="cifar10"):
        open_split("cifar10:/nonexistent", "train", 8)


@pytest.mark.parametrize(("size", "limit", "normalize", "shuffle_seed"), [(32, 300, True, None), (8, 0, False, 3), (20, 0, True, 1)])
def test_in_memory_batches_equal_the_per_image_path(size: int, limit: int, normalize: bool, shuffle_seed: int | None) -> None:
    """Digits are held in memory: feature_batches transforms whole batches, and must give exactly
    the batches (values, dtype, order, labels, indices) of the per-image DataLoader it replaces,
    and the pixels torchvision computes from the raw images one at a time."""
    import ssl_data
    from torch.utils.data import DataLoader
    from torchvision.transforms.v2 import functional as F

    split = open_split("digits", "train", size, limit=limit, normalize=normalize)
    assert split.in_memory is not None
    fast = list(feature_batches(split, 64, shuffle_seed=shuffle_seed))
    generator = None if shuffle_seed is None else torch.Generator().manual_seed(shuffle_seed)
    slow = list(DataLoader(split.dataset, batch_size=64, shuffle=generator is not None, generator=generator))
    assert len(fast) == len(slow)
    for (x, y, i), (x_ref, y_ref, i_ref) in zip(fast, slow):
        assert x.dtype == x_ref.dtype and torch.equal(x, x_ref)
        assert torch.equal(y, y_ref) and torch.equal(i, i_ref)
    images, labels = ssl_data.load_digits("train")
    x, y, i = fast[0]
    if limit:  # indices are positions in the limited split; map them back through its subset
        raw_index = [split.dataset.source.indices[int(j)] for j in i[:5]]
    else:
        raw_index = [int(j) for j in i[:5]]
    for row, j in enumerate(raw_index):
        image = F.resize(images[j].unsqueeze(0).expand(3, -1, -1), [size], antialias=True)
        if normalize:
            image = F.normalize(F.to_dtype(image, torch.float32, scale=True), MEAN.flatten().tolist(), STD.flatten().tolist())
        assert torch.equal(x[row], image)
        assert int(y[row]) == int(labels[j])

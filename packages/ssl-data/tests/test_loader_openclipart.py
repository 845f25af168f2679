"""End to end on real files: openclipart PNGs read as disk_folder with SimCLR and multi-crop.

A subset (2 images per category folder plus the smallest and the largest file) keeps the test
short; benchmarks/openclipart_full_read.py reads all 8,121 images (numbers in the README).
"""

import os
import struct
from pathlib import Path

from PIL import Image

import pytest
import torch
from torch.utils.data import Subset

from ssl_data import ImageFolderSource, SSLDataset, build_loader

OPENCLIPART = Path("/usr/share/openclipart/png")
pytestmark = pytest.mark.skipif(not OPENCLIPART.is_dir(), reason="openclipart-png not installed")

transforms = pytest.importorskip("ssl_data.transforms")


def _subset(source: ImageFolderSource) -> list[int]:
    per_class: dict[int, list[int]] = {}
    for i, (_, label) in enumerate(source.samples):
        per_class.setdefault(label, []).append(i)
    chosen = [i for idx in per_class.values() for i in idx[:2]]
    sizes = [os.path.getsize(p) for p, _ in source.samples]
    chosen += [min(range(len(sizes)), key=sizes.__getitem__), max(range(len(sizes)), key=sizes.__getitem__)]
    return sorted(set(chosen))


def _png_pixels(path: str) -> int:
    """Width * height from the PNG IHDR chunk (bytes 16-24), read without any image library."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width * height


@pytest.mark.parametrize(
    ("make_transform", "shapes"),
    [
        (lambda: transforms.MultiView(transforms.simclr_transform(32), 2), [32, 32]),
        (
            lambda: transforms.multicrop_transform(size_crops=(32, 16), num_crops=(2, 2)),
            [32, 32, 16, 16],
        ),
    ],
    ids=["simclr", "multicrop"],
)
def test_openclipart_end_to_end(make_transform, shapes):
    source = ImageFolderSource(OPENCLIPART)
    assert len(source.classes) == 22
    indices = _subset(source)
    dataset = SSLDataset(Subset(source, indices), transform=make_transform(), seed=0, max_invalid_fraction=0.1)
    loader = build_loader(dataset, batch_size=8, num_workers=2, drop_last=False, shuffle=False)
    loader.set_epoch(0)
    seen = []
    for views, labels, idx in loader:
        assert [v.shape[-1] for v in views] == shapes
        for v in views:
            assert v.dtype == torch.float32 and v.shape[1] == 3 and torch.isfinite(v).all()
        # Two views of the same image differ (independent random crops/jitter).
        assert not torch.equal(views[0], views[1])
        assert labels.min() >= 0 and labels.max() < 22
        seen += idx.tolist()
    assert sorted(seen) == list(range(len(indices)))
    # Counters are shared with the worker processes. Every image was decoded except those over
    # PIL's decompression-bomb limit (refused from 1x the limit, where PIL itself only warns;
    # openclipart has a 231-megapixel PNG), which were replaced.
    assert dataset.num_seen == len(indices)
    too_big = sum(_png_pixels(source.samples[i][0]) > Image.MAX_IMAGE_PIXELS for i in indices)
    assert too_big >= 1  # the largest file of the subset is one
    assert dataset.num_invalid == too_big

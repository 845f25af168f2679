"""``load_rgb`` composites transparent images a band of rows at a time: the same pixels as PIL's
whole-image ``alpha_composite``, and a large RGBA PNG needs the decoded image plus its RGB copy,
not four full-size copies."""

from __future__ import annotations

import json
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_data.sources import image_file
from ssl_data.sources.image_file import load_rgb


def _whole_image(img: Image.Image, background: tuple[int, int, int]) -> np.ndarray:
    """PIL's own whole-image composite: the reference."""
    canvas = Image.new("RGBA", img.size, (*background, 255))
    return np.asarray(Image.alpha_composite(canvas, img.convert("RGBA")).convert("RGB"))


def _images() -> dict[str, Image.Image]:
    rng = np.random.default_rng(0)
    rgba = Image.fromarray(rng.integers(0, 256, (37, 23, 4), dtype=np.uint8), "RGBA")
    la = Image.fromarray(rng.integers(0, 256, (29, 31, 2), dtype=np.uint8), "LA")
    palette = Image.fromarray(rng.integers(0, 8, (19, 41), dtype=np.uint8), "P")
    palette.putpalette(rng.integers(0, 256, 8 * 3, dtype=np.uint8).tolist())
    palette.info["transparency"] = 3
    return {"RGBA": rgba, "LA": la, "P+transparency": palette}


@pytest.mark.parametrize("band_pixels", [1, 50, 1 << 20])  # one row, a few rows, the whole image at once
@pytest.mark.parametrize("mode", ["RGBA", "LA", "P+transparency"])
def test_banded_composite_equals_the_whole_image(tmp_path: Path, monkeypatch, mode: str, band_pixels: int) -> None:
    monkeypatch.setattr(image_file, "_BAND_PIXELS", band_pixels)
    img = _images()[mode]
    path = tmp_path / "image.png"
    img.save(path)
    with Image.open(path) as reread:
        reread.load()
        expected = _whole_image(reread, (10, 200, 30))
    got = load_rgb(path, background=(10, 200, 30))
    assert got.mode == "RGB" and got.size == img.size
    np.testing.assert_array_equal(np.asarray(got), expected)


PEAK = """
import json, resource, sys
from ssl_data.sources.image_file import load_rgb
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
image = load_rgb(sys.argv[1])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"kib": after - before, "size": list(image.size)}))
"""


def test_a_large_transparent_png_needs_about_the_decoded_image_and_its_rgb_copy(tmp_path: Path) -> None:
    width, height = 4000, 3000  # 12 Mpixels: 48 MB decoded RGBA, 36 MB as RGB
    alpha = np.broadcast_to(np.linspace(0, 255, width, dtype=np.uint8), (height, width))
    pixels = np.zeros((height, width, 4), dtype=np.uint8)
    pixels[..., 0], pixels[..., 3] = 200, alpha
    path = tmp_path / "large.png"
    Image.fromarray(pixels, "RGBA").save(path, compress_level=1)
    del pixels
    proc = subprocess.run([sys.executable, "-c", PEAK, str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["size"] == [width, height]
    decoded_mib, rgb_mib = width * height * 4 / 2**20, width * height * 3 / 2**20
    grown_mib = report["kib"] / 1024
    # whole-image compositing held four full-size copies (about 4 x 46 + 34 MiB)
    assert grown_mib < 1.25 * (decoded_mib + rgb_mib), grown_mib


class _Images(torch.utils.data.Dataset):
    """A source of fresh images that records, at every read, which earlier images are still alive."""

    def __init__(self, count: int) -> None:
        self.count, self.refs, self.alive_at_read = count, [], []

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int):
        self.alive_at_read.append([ref() is not None for ref in self.refs])
        image = Image.new("RGB", (8, 8), (index, 0, 0))
        self.refs.append(weakref.ref(image))
        return image, 0, index


def test_a_batch_does_not_hold_a_decoded_image_while_the_next_decodes() -> None:
    """SSLDataset reads a batch image after image: the previous decoded image (a 40-Mpixel PNG is
    122 MB as RGB) is released before the next one is read, only its transformed sample is kept."""
    from ssl_data import SSLDataset

    source = _Images(4)
    batch = SSLDataset(source, transform=lambda image: np.asarray(image)[0, 0, 0]).__getitems__([0, 1, 2, 3])
    assert [int(data) for data, _, _ in batch] == [0, 1, 2, 3]
    assert source.alive_at_read == [[], [False], [False, False], [False, False, False]]

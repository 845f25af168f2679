"""Invalid images: replaced by a recent valid image not in the batch, counted, logged, limited.
Every kind of bad file, written for real: truncated, empty, not an image, corrupt, decompression
bombs (refused with the pixel limit, not warned about), garbled TIFF."""

import io
import logging
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssl_data import ImageFolderSource, SSLDataset, TooManyInvalidImagesError, build_loader

OPENCLIPART = Path("/usr/share/openclipart/png")


def _folder(tmp_path: Path, n_valid: int, bad: dict[str, bytes]) -> Path:
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    for i in range(n_valid):
        value = np.full((6, 6, 3), i * 10, np.uint8)  # image i is constant i*10: identifiable
        Image.fromarray(value).save(root / "a" / f"img{i:02d}.png")
    for name, payload in bad.items():
        (root / "a" / name).write_bytes(payload)
    return root


def _truncated_png() -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()[:40]


def _as_tensor(img):
    return torch.from_numpy(np.asarray(img).copy())


def test_replacement_is_a_valid_image_not_in_the_batch(tmp_path, caplog):
    root = _folder(tmp_path, 6, {"img03x_bad.png": _truncated_png(), "img04x_empty.png": b""})
    source = ImageFolderSource(root)
    names = [Path(p).name for p, _ in source.samples]
    bad = [names.index("img03x_bad.png"), names.index("img04x_empty.png")]
    valid = [i for i in range(len(source)) if i not in bad]
    ds = SSLDataset(source, transform=_as_tensor, max_invalid_fraction=0.5)
    batch_indices = [bad[0], valid[0], valid[1], bad[1], valid[2]]
    with caplog.at_level(logging.WARNING, logger="ssl_data.invalid_images"):
        batch = ds.__getitems__(batch_indices)
    assert ds.num_invalid == 2 and ds.num_seen == 5
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "img03x_bad.png" in logged and "img04x_empty.png" in logged
    values = [int(x[0, 0, 0]) for x, _, _ in batch]
    assert [idx for _, _, idx in batch] == batch_indices  # slots keep their own index
    # Replacements are valid images of the folder, and no image appears twice in the batch.
    assert all(values[j] in {i * 10 for i in range(6)} for j in (0, 3))
    assert len(set(values)) == len(values)


def test_no_replacement_possible_is_a_clear_error(tmp_path):
    root = _folder(tmp_path, 2, {"img00x_bad.png": b"junk"})
    ds = SSLDataset(ImageFolderSource(root), transform=_as_tensor, max_invalid_fraction=0.9)
    with pytest.raises(RuntimeError, match="no valid replacement found for invalid image .*img00x_bad.png"):
        ds.__getitems__(list(range(len(ds))))  # every other sample is already in the batch


def test_replacement_prefers_recent_images(tmp_path):
    root = _folder(tmp_path, 5, {"img02x_bad.png": b"not a png"})
    source = ImageFolderSource(root)
    names = [Path(p).name for p, _ in source.samples]
    bad = names.index("img02x_bad.png")
    ds = SSLDataset(source, transform=_as_tensor, max_invalid_fraction=0.5)
    ds[4]  # most recently seen valid image: img?? at index 4
    out = ds[bad]
    ref = _as_tensor(Image.open(source.samples[4][0]).convert("RGB"))
    assert torch.equal(out[0], ref) and out[2] == bad


def test_too_many_invalid_images_stop_with_a_clear_error(tmp_path):
    bad = {f"z{i}.png": b"garbage" for i in range(4)}
    root = _folder(tmp_path, 4, bad)
    ds = SSLDataset(ImageFolderSource(root), transform=_as_tensor, max_invalid_fraction=0.2)
    loader = build_loader(ds, batch_size=4, num_workers=0, shuffle=False, drop_last=False)
    with pytest.raises(TooManyInvalidImagesError, match=r"invalid images among .* max_invalid_fraction=0.2"):
        for _ in loader:
            pass


def test_raise_mode_propagates(tmp_path):
    root = _folder(tmp_path, 2, {"bad.png": b"garbage"})
    source = ImageFolderSource(root)
    ds = SSLDataset(source, invalid_images="raise")
    bad = [Path(p).name for p, _ in source.samples].index("bad.png")
    with pytest.raises(OSError):
        ds[bad]


@pytest.mark.skipif(not OPENCLIPART.is_dir(), reason="openclipart-png not installed")
def test_corrupt_openclipart_copies_counted_through_workers(tmp_path):
    root = tmp_path / "clip"
    files = sorted((OPENCLIPART / "animals").glob("*.png"))[:10]
    (root / "animals").mkdir(parents=True)
    for f in files:
        shutil.copy(f, root / "animals" / f.name)
    for f in files[:2]:  # truncate two real PNGs in the middle of their data
        data = f.read_bytes()
        (root / "animals" / f.name).write_bytes(data[: len(data) // 2])
    ds = SSLDataset(ImageFolderSource(root), transform=lambda im: _as_tensor(im.resize((8, 8))), max_invalid_fraction=0.3)
    loader = build_loader(ds, batch_size=5, num_workers=2, shuffle=False, drop_last=False)
    loader.set_epoch(0)
    count = sum(len(idx) for _, _, idx in loader)
    assert count == 10
    assert ds.num_invalid == 2 and ds.num_seen == 10


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit black PNG of ``width x height``: a few kB that decode to width*height pixels."""
    packer = zlib.compressobj(9)
    row = b"\x00" + bytes((width + 7) // 8)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.RandomState(0).randint(0, 255, (48, 48, 3), np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def _bad_files() -> dict[str, bytes]:
    png, jpeg = _encoded("PNG"), _encoded("JPEG")
    broken = bytearray(png)
    broken[len(png) // 2] ^= 0xFF  # one flipped byte inside the compressed data
    return {
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "truncated.png": png[: len(png) // 2],
        "empty.png": b"",
        "notes.jpg": b"these are my notes, not a JPEG\n",  # not an image, image extension
        "corrupt.png": bytes(broken),
        "bomb_warned.png": _bomb_png(10_000, 9_000),  # 90 M pixels: PIL only warns and decodes
        "bomb_refused.png": _bomb_png(14_000, 13_000),  # 182 M pixels: over twice the limit
        "garbled.tif": _encoded("TIFF")[:8] + b"\xff" * 40,
    }


def test_load_rgb_refuses_bombs_with_the_limit(tmp_path: Path) -> None:
    import warnings

    from ssl_data.sources import load_rgb

    for name, size in (("warned.png", (10_000, 9_000)), ("refused.png", (14_000, 13_000))):
        (tmp_path / name).write_bytes(_bomb_png(*size))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning instead of the error would fail the test
            with pytest.raises(Image.DecompressionBombError) as err:
                load_rgb(tmp_path / name)
        pixels = f"{size[0] * size[1]:,}"
        assert str(err.value).startswith(f"{tmp_path / name}: ") and pixels in str(err.value)
        assert f"exceed the limit of {Image.MAX_IMAGE_PIXELS:,} (PIL.Image.MAX_IMAGE_PIXELS)" in str(err.value)


@pytest.mark.parametrize("workers", [0, 2])
def test_every_kind_of_bad_file_is_replaced_and_counted(tmp_path: Path, caplog, workers: int) -> None:
    bad = _bad_files()
    root = _folder(tmp_path, 12, {**bad, "png_named.jpg": _encoded("PNG")})  # a PNG called .jpg is fine
    source = ImageFolderSource(root)
    assert len(source) == 12 + len(bad) + 1
    ds = SSLDataset(source, transform=lambda im: _as_tensor(im.resize((6, 6))), max_invalid_fraction=0.5)
    loader = build_loader(ds, batch_size=7, num_workers=workers, shuffle=False, drop_last=False)
    loader.set_epoch(0)
    with caplog.at_level(logging.WARNING, logger="ssl_data.invalid_images"):
        seen = [int(i) for _, _, idx in loader for i in idx]
    assert sorted(seen) == list(range(len(source)))
    assert ds.num_invalid == len(bad) and ds.num_seen == len(source)
    if workers == 0:  # worker processes log in their own process
        logged = " ".join(r.getMessage() for r in caplog.records)
        assert all(name in logged for name in bad) and "png_named.jpg" not in logged
        assert "DecompressionBombError" in logged and "PIL.Image.MAX_IMAGE_PIXELS" in logged


def test_open_image_is_one_line_naming_the_file(tmp_path: Path) -> None:
    """The opener of readers that stop at a bad file: one UnreadableImageError (a ValueError) per
    kind of bad file, naming it; header-only opening refuses bombs without decoding."""
    import warnings

    from ssl_data.sources import UnreadableImageError, open_image

    for name, payload in _bad_files().items():
        (tmp_path / name).write_bytes(payload)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # refused, not warned about
            with pytest.raises(UnreadableImageError) as err:
                open_image(tmp_path / name, what="mask")
        message = str(err.value)
        assert message.startswith(f"cannot read mask {tmp_path / name}") and "\n" not in message, message
        assert isinstance(err.value, ValueError)
        if name.startswith("bomb"):
            assert "decompression bomb" in message and f"{Image.MAX_IMAGE_PIXELS:,}" in message
            with pytest.raises(UnreadableImageError, match="decompression bomb"):
                open_image(tmp_path / name, decode=False)
    with pytest.raises(FileNotFoundError):
        open_image(tmp_path / "missing.png")
    # header only: a truncated file still gives its size; decoding it fails
    with open_image(tmp_path / "truncated.png", decode=False) as im:
        assert im.size == (48, 48)
    good = tmp_path / "good.png"
    Image.fromarray(np.random.RandomState(1).randint(0, 255, (5, 7, 4), np.uint8), mode="RGBA").save(good)
    with Image.open(good) as reference:
        expected = np.asarray(reference.convert("RGBA"))
    rgb = np.asarray(open_image(good, rgb=True), dtype=np.float64)
    alpha = expected[..., 3:] / 255.0  # composited onto white, as load_rgb does
    np.testing.assert_allclose(rgb, expected[..., :3] * alpha + 255 * (1 - alpha), atol=1.0)
    with open_image(good) as im:
        assert im.mode == "RGBA" and np.array_equal(np.asarray(im), expected)

"""ImageFolderSource (disk_folder) on real files written to tmp_path and on openclipart PNGs."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssl_data import ImageFolderSource
from ssl_data.sources import load_rgb

OPENCLIPART = Path("/usr/share/openclipart/png")


def _save(path: Path, array: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)


def test_classes_labels_and_pixels(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for cls in ("zebra", "apple"):
        for i in range(2):
            a = rng.integers(0, 256, size=(5 + i, 7, 3), dtype=np.uint8)
            p = tmp_path / cls / ("deep" if i else "") / f"img{i}.PNG"
            _save(p, a)
            arrays[str(p)] = (a, cls)
    (tmp_path / "apple" / "notes.txt").write_text("not an image")
    ds = ImageFolderSource(tmp_path)
    assert ds.classes == ["apple", "zebra"] and len(ds) == 4
    for i in range(len(ds)):
        img, label, index = ds[i]
        ref, cls = arrays[ds.samples[i][0]]
        assert index == i and ds.classes[label] == cls
        np.testing.assert_array_equal(np.asarray(img), ref)


def test_missing_path_and_empty_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist: .*missing"):
        ImageFolderSource(tmp_path / "missing")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    (tmp_path / "empty" / "cls" / "readme.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="no image files"):
        ImageFolderSource(tmp_path / "empty")
    (tmp_path / "bare").mkdir()
    with pytest.raises(FileNotFoundError, match="no image files"):
        ImageFolderSource(tmp_path / "bare")
    f = tmp_path / "file.png"
    f.write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="file.png"):
        ImageFolderSource(f)


def test_flat_folder_is_one_class_unless_disallowed(tmp_path):
    _save(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    _save(tmp_path / "b.jpg", np.zeros((4, 4, 3), np.uint8))
    ds = ImageFolderSource(tmp_path)
    assert len(ds) == 2 and {ds[i][1] for i in range(2)} == {0}
    with pytest.raises(FileNotFoundError):
        ImageFolderSource(tmp_path, allow_flat=False)


def test_alpha_is_composited_on_white(tmp_path):
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = np.array([[0, 128, 255]] * 3, np.uint8)
    _save(tmp_path / "x.png", rgba, mode="RGBA")
    out = np.asarray(load_rgb(tmp_path / "x.png")).astype(np.float64)
    alpha = rgba[..., 3:4] / 255.0
    expected = rgba[..., :3] * alpha + 255 * (1 - alpha)
    np.testing.assert_allclose(out, expected, atol=1.0)


def test_palette_with_transparency_and_grey16(tmp_path):
    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([10, 20, 30] + [0, 0, 0] * 255)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "p.png", transparency=0)
    assert np.asarray(load_rgb(tmp_path / "p.png")).tolist() == [[[255, 255, 255]] * 4] * 4
    grey16 = np.full((2, 2), 65535, dtype=np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g.png")
    assert np.asarray(load_rgb(tmp_path / "g.png")).min() == 255


@pytest.mark.skipif(not OPENCLIPART.is_dir(), reason="openclipart-png not installed")
def test_openclipart_layout():
    ds = ImageFolderSource(OPENCLIPART)
    assert len(ds.classes) == 22 and len(ds) == 8121
    img, label, index = ds[0]
    assert img.mode == "RGB" and 0 <= label < 22 and index == 0

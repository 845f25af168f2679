"""``imagenet21k`` (MIIL's ImageNet-21K processing into MM-OVOD's ``imagenet21k_P``) on a tiny
release written here: one class as a real tar archive, two as folders of real JPEGs."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssl_data.prep import prepare

RNG = np.random.default_rng(0)


def _jpeg_bytes(h: int = 8, w: int = 12) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(RNG.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def _release(root: Path) -> dict[str, dict[str, bytes]]:
    """n00000001.tar (5 images), n00000002/ (5 images), n00000003/ (2 images) -> their bytes."""
    files = {wnid: {f"{wnid}_{i}.JPEG": _jpeg_bytes() for i in range(n)}
             for wnid, n in (("n00000001", 5), ("n00000002", 5), ("n00000003", 2))}
    root.mkdir(parents=True)
    with tarfile.open(root / "n00000001.tar", "w") as t:
        for name, data in files["n00000001"].items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    for wnid in ("n00000002", "n00000003"):
        (root / wnid).mkdir()
        for name, data in files[wnid].items():
            (root / wnid / name).write_bytes(data)
    (root / "README.txt").write_text("not a class")
    return files


def test_classes_split_into_train_val_and_small(tmp_path) -> None:
    files = _release(tmp_path / "fall11")
    summary = prepare("imagenet21k", tmp_path / "fall11", tmp_path / "out", min_images=4, val_per_class=2)
    root = tmp_path / "out" / "imagenet21k_P"
    assert summary["classes"] == {"train": 2, "val": 2, "imagenet21k_small_classes": 1}
    assert summary["images"] == {"train": 6, "val": 4, "imagenet21k_small_classes": 2}
    for wnid in ("n00000001", "n00000002"):
        val = {p.name for p in (root / "val" / wnid).iterdir()}
        train = {p.name for p in (root / "train" / wnid).iterdir()}
        assert len(val) == 2 and val.isdisjoint(train) and val | train == set(files[wnid])
        for name in val | train:  # bytes unchanged, from the tar and from the folder
            split = "val" if name in val else "train"
            assert (root / split / wnid / name).read_bytes() == files[wnid][name]
    assert {p.name for p in (root / "imagenet21k_small_classes" / "n00000003").iterdir()} == set(files["n00000003"])
    assert not (root / "train" / "n00000003").exists()
    again = prepare("imagenet21k", tmp_path / "fall11", tmp_path / "again", min_images=4, val_per_class=2)
    assert again["images"] == summary["images"]
    assert sorted(p.name for p in (tmp_path / "again/imagenet21k_P/val/n00000002").iterdir()) == sorted(
        p.name for p in (root / "val" / "n00000002").iterdir())  # seeded


def test_resize_makes_the_shorter_side_n_and_leaves_the_input_alone(tmp_path) -> None:
    files = _release(tmp_path / "fall11")
    prepare("imagenet21k", tmp_path / "fall11", tmp_path / "out", min_images=4, val_per_class=1, resize=4)
    for path in (tmp_path / "out" / "imagenet21k_P").rglob("*.JPEG"):
        with Image.open(path) as im:
            assert im.size == (6, 4)  # 12 x 8 scaled by 4 / 8
    assert (tmp_path / "fall11" / "n00000002" / "n00000002_0.JPEG").read_bytes() == files["n00000002"]["n00000002_0.JPEG"]


def test_truncated_archive_is_one_line_and_leaves_nothing(tmp_path) -> None:
    _release(tmp_path / "fall11")
    tar = tmp_path / "fall11" / "n00000001.tar"
    tar.write_bytes(tar.read_bytes()[:1500])
    with pytest.raises(ValueError, match="n00000001.tar is truncated or corrupt") as e:
        prepare("imagenet21k", tmp_path / "fall11", tmp_path / "out", min_images=4, val_per_class=2)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="no class archive"):
        prepare("imagenet21k", tmp_path / "fall11" / "n00000003", tmp_path / "out")

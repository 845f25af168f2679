"""ssl-data's outputs on real files: the user's umask, a real full disk, a real read-only mount."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssl_data.catalog import catalog_add
from ssl_data.prep.outputs import save_npy, write_disk_folder


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _images(folder: Path, n: int, size: int = 8) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(0)
    paths = [folder / f"img{i}.png" for i in range(n)]
    for p in paths:
        Image.fromarray(rng.randint(0, 255, (size, size, 3), np.uint8)).save(p)
    return paths


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_outputs_follow_the_umask(tmp_path: Path, mask: int, file_mode: int, dir_mode: int) -> None:
    images = _images(tmp_path / "src", 2)
    before = os.umask(mask)
    try:
        npy = save_npy(tmp_path / "out" / "train_images.npy", np.array([str(p) for p in images]))
        labels = save_npy(tmp_path / "out" / "train_labels.npy", np.array([0, 1]))
        catalog = catalog_add("mine", {"train": [str(npy), str(labels)]}, path=tmp_path / "cfg" / "catalog.json")
        write_disk_folder(tmp_path / "folder", {"train": [(images[0], "cat"), (images[1], "dog")]})
    finally:
        os.umask(before)
    assert _mode(npy) == file_mode and _mode(labels) == file_mode and _mode(catalog) == file_mode
    for folder in ("out", "cfg", "folder", "folder/train", "folder/train/cat"):
        assert _mode(tmp_path / folder) == dir_mode, folder
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_full_disk_names_the_path_and_the_space(mount_tmpfs, tmp_path: Path) -> None:
    disk = mount_tmpfs("64k")
    with pytest.raises(OSError) as err:
        save_npy(disk / "prep" / "features.npy", np.zeros(40_000, np.float32))  # 160 kB on 64 kB
    message = str(err.value)
    assert err.value.errno == errno.ENOSPC and "\n" not in message
    assert message.startswith(f"disk full: cannot write {disk / 'prep' / 'features.npy'}: it needs 0.2 MiB (160,128 bytes)")
    assert "are free in" in message
    big = _images(tmp_path / "src", 3, size=96)  # ~83 kB of noise PNGs, copied across file systems
    with pytest.raises(OSError, match=f"disk full: cannot write {disk / 'train'}: it needs") as err:
        write_disk_folder(disk, {"train": [(p, "a") for p in big]})
    assert sorted(p.name for p in disk.iterdir()) == ["prep"] and list((disk / "prep").iterdir()) == []


def test_read_only_folder_is_named(mount_tmpfs, tmp_path: Path) -> None:
    disk = mount_tmpfs(read_only=True)
    expected = f"the folder {disk} is not writable (a read-only file system)"
    with pytest.raises(PermissionError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        save_npy(disk / "labels.npy", np.arange(3))
    npy = save_npy(tmp_path / "labels.npy", np.arange(3))
    with pytest.raises(PermissionError, match="is not writable"):
        catalog_add("mine", {"train": [str(npy), str(npy)]}, path=disk / "catalog.json")
    with pytest.raises(PermissionError, match="is not writable"):
        write_disk_folder(disk / "sub", {"train": [(npy, "a")]})
    assert list(disk.iterdir()) == []

"""Atomic writes on real files: the user's umask, a real full disk, a real read-only mount."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from ssl_models import (
    DiskFullError,
    atomic_write_bytes,
    atomic_write_text,
    build_trunk,
    check_writable,
    model_payload,
    save_checkpoint,
)


@pytest.fixture
def umask() -> Iterator[None]:
    before = os.umask(0o022)
    yield
    os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_files_and_folders_follow_the_umask(tmp_path: Path, umask: None, mask: int, file_mode: int, dir_mode: int) -> None:
    os.umask(mask)
    ckpt = save_checkpoint(model_payload(build_trunk("resnet18", width_multiplier=0.25)), tmp_path / "new" / "a.pt")
    text = atomic_write_text(tmp_path / "new" / "b" / "results.json", "{}\n")
    assert _mode(ckpt) == file_mode and _mode(text) == file_mode
    assert _mode(tmp_path / "new") == dir_mode and _mode(tmp_path / "new" / "b") == dir_mode
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["a.pt", "b"]  # no temporary file


def test_full_disk_names_path_and_space_and_keeps_old_file(mount_tmpfs) -> None:
    disk = mount_tmpfs("64k")
    old = atomic_write_bytes(disk / "model.pt", b"old checkpoint")
    big = {"w": torch.zeros(100_000)}  # 400 kB of tensor data on a 64 kB disk
    with pytest.raises(DiskFullError) as err:
        save_checkpoint(big, old)
    message = str(err.value)
    assert "\n" not in message
    assert f"cannot write {old}" in message and "it needs 39" in message and "KiB" in message
    assert err.value.needed is not None and err.value.needed > 400_000
    assert err.value.free < 64 * 1024 and "free in" in message
    assert old.read_bytes() == b"old checkpoint"
    assert [p.name for p in disk.iterdir()] == ["model.pt"]  # the temporary file is gone


def test_full_disk_on_plain_bytes(mount_tmpfs) -> None:
    disk = mount_tmpfs("64k")
    with pytest.raises(DiskFullError, match=r"needs 128\.0 KiB \(131,072 bytes\)"):
        atomic_write_bytes(disk / "sub" / "features.npy", bytes(128 * 1024))
    assert [p.name for p in (disk / "sub").iterdir()] == []


def test_read_only_folder_is_named(mount_tmpfs) -> None:
    disk = mount_tmpfs(read_only=True)
    with pytest.raises(PermissionError) as err:
        atomic_write_text(disk / "report.md", "# report\n")
    assert str(err.value) == f"cannot write {disk / 'report.md'}: the folder {disk} is not writable (a read-only file system)"
    with pytest.raises(PermissionError, match="is not writable"):
        save_checkpoint({"w": torch.zeros(2)}, disk / "runs" / "final.pt")  # the missing parent cannot be made
    assert list(disk.iterdir()) == []


def test_a_folder_as_target_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        atomic_write_text(tmp_path, "x")


def test_check_writable_before_the_work(mount_tmpfs, tmp_path: Path) -> None:
    disk = mount_tmpfs(read_only=True)
    with pytest.raises(PermissionError, match=f"the folder {disk} is not writable \\(a read-only file system\\)"):
        check_writable(disk / "a" / "b" / "out.pt")
    assert check_writable(tmp_path / "new" / "out.pt") == tmp_path / "new" / "out.pt"

"""Test settings for ssl-models: tiny models run fastest on one thread (no OpenMP spin-waiting
on a shared 2-core machine). The previous thread count is restored after each test."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def mount_tmpfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Path]]:
    """``mount_tmpfs(size="64k", read_only=False) -> Path``: a real, small tmpfs mounted for the
    test (unmounted afterwards); the test is skipped where mounting is impossible (not root)."""
    mounted: list[Path] = []

    def mount(size: str = "64k", read_only: bool = False) -> Path:
        target = tmp_path_factory.mktemp("tmpfs")
        options = f"size={size},mode=0777" + (",ro" if read_only else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(target)
        return target

    yield mount
    for target in mounted:
        subprocess.run(["umount", str(target)], check=True)

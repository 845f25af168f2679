"""ssl-data's tests may import each other's helpers (the suite runs with --import-mode=importlib,
which does not put test folders on sys.path); the ``mount_tmpfs`` fixture."""

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))


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

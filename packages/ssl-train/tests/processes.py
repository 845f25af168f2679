"""Finding the worker processes of a launcher in /proc (for the fault tests)."""

from __future__ import annotations

import time
from pathlib import Path


def child_pid(parent: int, env_entry: str, timeout: float = 120) -> int:
    """The pid of the child of ``parent`` whose environment holds ``env_entry`` (``"RANK=1"``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                env = (entry / "environ").read_bytes().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue
            if ppid == parent and env_entry.encode() in env:
                return int(entry.name)
        time.sleep(0.1)
    raise AssertionError(f"no child of pid {parent} with {env_entry} appeared")

"""Run the real `ssl` command in a subprocess (what a user types), capturing its output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["run_ssl"]


def run_ssl(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``ssl ARGS...`` with the test interpreter; returns the completed process (text output)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="120")
    return subprocess.run(
        [sys.executable, "-m", "ssl_cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )

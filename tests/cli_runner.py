"""Run the real `ssl` command: in a subprocess (what a user types) or in this process (fast)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["run_ssl", "ssl_in_process"]


def run_ssl(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``ssl ARGS...`` with the test interpreter; returns the completed process (text output)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="120")
    return subprocess.run(
        [sys.executable, "-m", "ssl_cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def ssl_in_process(*args: object) -> tuple[int, str, str]:
    """``ssl ARGS`` in this process through the console script's entry point (no interpreter start:
    for the many short cases); returns ``(exit code, stdout, stderr)``."""
    import contextlib
    import io

    from ssl_cli.main import main

    out, err = io.StringIO(), io.StringIO()
    code: object = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message") prints the message and exits 1
        err.write(f"{code}\n")
        code = 1
    return code, out.getvalue(), err.getvalue()

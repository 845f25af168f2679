"""Turning expected failures into one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import sys
from typing import NoReturn

__all__ = ["EXPECTED_ERRORS", "UsageError", "fail"]


class UsageError(ValueError):
    """Bad command-line input detected by the CLI itself."""


# What a user can cause with bad input; anything else is a bug and keeps its traceback.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # ConfigError, CheckpointError, UsageError and the libraries' argument checks
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
    FileExistsError,
)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``ssl: error: message`` (first line only) to stderr and exit with ``code``."""
    first = str(message).strip().splitlines()[0] if str(message).strip() else "failed"
    print(f"ssl: error: {first}", file=sys.stderr, flush=True)
    raise SystemExit(code)

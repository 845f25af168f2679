"""Turning expected failures, and Ctrl-C, into one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

__all__ = ["EXPECTED_ERRORS", "UsageError", "fail", "from_ctrl_c", "interrupted", "interrupts_end_loading"]

INTERRUPTED = "ssl: interrupted"


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


def interrupted() -> NoReturn:
    """Ctrl-C outside a training step: ``ssl: interrupted`` on stderr and exit 130 (128 + SIGINT).

    What was being written is not left half-done: files are written atomically and folders are
    staged and renamed into place, so the interrupt removes the temporary file or folder."""
    print(INTERRUPTED, file=sys.stderr, flush=True)
    raise SystemExit(130)


def from_ctrl_c(exc: SystemExit) -> bool:
    """Whether ``exc`` is typer's silent exit 130 for a KeyboardInterrupt (typer turns Ctrl-C into
    ``Exit(130)`` raised from the KeyboardInterrupt, then ``sys.exit(130)``)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextmanager
def interrupts_end_loading() -> Iterator[None]:
    """While the command's modules load (seconds: torch, torchvision, the benchmark list), Ctrl-C
    prints ``ssl: interrupted`` and ends the process with 130 at once: nothing has been written yet,
    and an import cut by a KeyboardInterrupt would print a traceback. Only Python's own SIGINT
    handler is replaced (an ignored SIGINT stays ignored), only in the main thread."""
    python_default = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if threading.current_thread() is not threading.main_thread() or not python_default:
        yield
        return

    def stop(signum: int, frame: object) -> None:
        print(INTERRUPTED, file=sys.stderr, flush=True)
        os._exit(130)

    signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)

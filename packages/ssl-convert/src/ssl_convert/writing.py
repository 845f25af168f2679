"""Atomic writes: a temporary file in the destination folder, flush + fsync, then ``os.replace``."""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import torch

__all__ = ["save_pickle", "save_torch", "write_atomically"]


def write_atomically(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(file)`` on a temporary file next to ``path`` and rename it into place.

    The destination either keeps its old content or gets the complete new one; the temporary
    file is removed on any error. Raises ``FileNotFoundError`` if the parent folder is missing.
    """
    dest = Path(path)
    if not dest.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {dest.parent}")
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def save_torch(obj: object, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj)`` atomically."""
    return write_atomically(path, lambda f: torch.save(obj, f))


def save_pickle(obj: object, path: str | os.PathLike[str]) -> Path:
    """``pickle.dump(obj, protocol=4)`` atomically (no torch objects may be inside)."""
    return write_atomically(path, lambda f: pickle.dump(obj, f, protocol=4))

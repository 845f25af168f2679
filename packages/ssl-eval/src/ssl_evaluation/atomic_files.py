"""Atomic file writes for results, reports and feature files: ssl-models' writer.

A crash never leaves a half-written file at the final path; files follow the user's umask (0644
under 022); a full disk raises ``ssl_models.DiskFullError`` naming the path, the size needed and
the free space; a read-only folder raises ``PermissionError`` naming it; no temporary file is
left (see :mod:`ssl_models.atomic_files`). ssl_models is imported on first write, not with
ssl_evaluation (it imports timm).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text"]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent folders created) and return the path."""
    from ssl_models.atomic_files import atomic_write_bytes as write

    return write(path, data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (parent folders created) and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))

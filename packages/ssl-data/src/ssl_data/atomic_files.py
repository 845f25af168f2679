"""Atomic files and folders for ssl-data's catalog and data-prep outputs.

A file is written to a temporary file beside it, fsynced and ``os.replace``d, so readers see the
old or the complete new file; a folder tree is built in a temporary folder and renamed into place.
Both are created with mode 0666 / 0777 so the user's umask applies (0644 / 0755 under umask 022),
unlike ``tempfile.mkstemp`` / ``mkdtemp`` (0600 / 0700). A full disk raises ``OSError`` (ENOSPC)
naming the path, the size needed and the space free; a read-only folder ``PermissionError`` naming
the folder; no temporary file is left.

ssl-models has the same writer (``ssl_models.atomic_files``) for the other packages; ssl-data
imports no sibling package (DESIGN.md), so it keeps this small copy.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["explain_os_error", "make_temp_dir", "write_atomically"]

_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB ({n:,} bytes)"


def explain_os_error(err: OSError, target: Path, folder: Path, needed: int | None = None) -> OSError:
    """``err`` as one line naming ``folder`` (read-only) or ``target``, the space ``needed`` (bytes,
    if known) and the space free (disk full); any other error is returned unchanged."""
    if err.errno in _NOT_WRITABLE:
        why = "a read-only file system" if err.errno == errno.EROFS else "permission denied"
        out: OSError = PermissionError(f"cannot write {target}: the folder {folder} is not writable ({why})")
    elif err.errno in _DISK_FULL:
        need = f"it needs {_mib(needed)}" if needed is not None else "it needs more space"
        free = shutil.disk_usage(folder).free
        out = OSError(f"disk full: cannot write {target}: {need} and {_mib(free)} are free in {folder}")
    else:
        return err
    out.errno = err.errno
    return out


def _new_name(folder: Path, name: str, create: Callable[[Path], object]) -> Path:
    while True:
        candidate = folder / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            create(candidate)
        except FileExistsError:
            continue
        return candidate


def make_temp_dir(parent: Path, name: str) -> Path:
    """A new empty folder ``parent/.<name>.<random>.tmp`` with mode 0777 less the umask (to be
    filled and renamed into place); ``parent`` is created when missing."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        return _new_name(parent, name, lambda p: os.mkdir(p, 0o777))
    except OSError as err:
        raise explain_os_error(err, parent / name, parent, None) from None


class _Sink:
    """A write-only file that forwards to ``file``, remembering its OSError (``np.save`` and
    ``torch.save`` on a real file hide the errno), or without a file only counts bytes."""

    def __init__(self, file: BinaryIO | None = None) -> None:
        self.file = file
        self.size = 0
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        if self.file is not None:
            try:
                self.file.write(data)
            except OSError as err:
                self.error = err
                raise
        self.size += memoryview(data).nbytes
        return memoryview(data).nbytes

    def flush(self) -> None:
        if self.file is not None:
            self.file.flush()


def _size_of(write: Callable[[BinaryIO], None]) -> int | None:
    counter = _Sink()
    try:
        write(counter)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - only for the message
        return None
    return counter.size


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path`` (parents created), fsync, rename.

    ``file`` has ``write`` and ``flush``. On a full disk ``write`` runs once more into a byte
    counter to measure the size needed.
    """
    path = Path(path)
    folder = path.parent
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fds: list[int] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = _new_name(folder, path.name, lambda p: fds.append(os.open(p, flags, 0o666)))
    except OSError as err:
        raise explain_os_error(err, path, folder) from None
    sink = _Sink()
    try:
        with os.fdopen(fds[0], "wb") as f:
            sink.file = f
            write(sink)  # type: ignore[arg-type]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as raised:
        tmp.unlink(missing_ok=True)
        err = sink.error or raised
        if isinstance(err, OSError) and err.errno in _DISK_FULL | _NOT_WRITABLE:
            raise explain_os_error(err, path, folder, _size_of(write) if err.errno in _DISK_FULL else None) from None
        raise
    return path

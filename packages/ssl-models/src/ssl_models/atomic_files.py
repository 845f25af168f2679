"""Atomic file writes: a temporary file beside the target, fsync, ``os.replace``, fsync of the folder.

Readers see the old file or the complete new one, never a part. Files get the mode of an
ordinary ``open(path, "w")``: 0666 less the user's umask (0644 under umask 022), unlike
``tempfile.mkstemp``'s 0600. Failures are one line and leave no temporary file behind:

- a full disk (or quota) raises :class:`DiskFullError`, naming the path, the size the file needs
  and the space that is free;
- a read-only or unwritable folder raises ``PermissionError`` naming the folder.

ssl-models' checkpoints, ssl-convert's converted weights and ssl-evaluation's results, reports
and feature files are written here (ssl-data, which imports no sibling, keeps its own copy).
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["DiskFullError", "atomic_write_bytes", "atomic_write_text", "check_writable", "write_atomically"]

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}


class DiskFullError(OSError):
    """The file system of the target ran out of space (``errno`` ENOSPC or EDQUOT).

    ``path``, ``needed`` (bytes the complete file takes, or None if unknown) and ``free``
    (bytes free there) are attributes; the message is one line with all three.
    """

    def __init__(self, path: Path, needed: int | None, free: int) -> None:
        need = f"it needs {_size(needed)}" if needed is not None else "it needs more space"
        super().__init__(
            f"disk full: cannot write {path}: {need} and {_size(free)} are free in {path.parent}; "
            "free some space or write elsewhere"
        )
        self.errno = errno.ENOSPC
        self.path = path
        self.needed = needed
        self.free = free


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit} ({n:,} bytes)"
    return f"{n:,} bytes"


class _ErrorRecorder:
    """A write-only file that remembers the OSError of its underlying file.

    torch.save turns a failed write into ``RuntimeError: [enforce fail ...]``; the recorded error
    tells a full disk from a real bug."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self._file.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        self._file.flush()


class _ByteCounter:
    """A sink that only counts bytes: measures the size of a write that did not fit."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        n = memoryview(data).nbytes
        self.size += n
        return n

    def flush(self) -> None:
        pass


def _not_writable(dest: Path, folder: Path, err: OSError) -> PermissionError:
    why = "a read-only file system" if err.errno == errno.EROFS else "permission denied"
    out = PermissionError(f"cannot write {dest}: the folder {folder} is not writable ({why})")
    out.errno = err.errno
    return out


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Fail early, before long work, if the file ``path`` could not be written.

    Checks the nearest existing folder above ``path`` (where missing parents would be made).
    Returns ``path``; raises ``PermissionError`` naming the folder, as :func:`write_atomically`
    would after the work.
    """
    dest = Path(path)
    folder = dest.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        code = errno.EROFS if _on_read_only_mount(folder) else errno.EACCES
        raise _not_writable(dest, folder, OSError(code, os.strerror(code)))
    return dest


def _on_read_only_mount(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _create_temp(folder: Path, name: str) -> tuple[int, Path]:
    """An exclusive new file beside the target, created with mode 0666 so the umask applies."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    while True:
        tmp = folder / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def _needed_bytes(write: Callable[[BinaryIO], None]) -> int | None:
    counter = _ByteCounter()
    try:
        write(counter)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - the size is only for the message
        return None
    return counter.size


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(
    path: str | os.PathLike[str], write: Callable[[BinaryIO], None], make_parents: bool = True
) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place.

    ``write`` receives a binary file-like object with ``write`` and ``flush``; on a full disk it
    is called once more with a byte-counting sink to measure the size for the message.

    Args:
        path: the target file; an existing file is replaced.
        write: writes the whole content, e.g. ``lambda f: torch.save(obj, f)``.
        make_parents: create missing parent folders (else ``FileNotFoundError``).

    Raises:
        DiskFullError: no space left (the target keeps its old content).
        PermissionError: the folder is read-only or not writable.
        IsADirectoryError: ``path`` is a folder.
    """
    dest = Path(path)
    folder = dest.parent
    if dest.is_dir():
        raise IsADirectoryError(f"cannot write {dest}: it is a folder")
    try:
        if make_parents:
            folder.mkdir(parents=True, exist_ok=True)
        elif not folder.is_dir():
            raise FileNotFoundError(f"output folder does not exist: {folder}")
        fd, tmp = _create_temp(folder, dest.name)
    except OSError as err:
        if err.errno in _NOT_WRITABLE:
            raise _not_writable(dest, folder, err) from None
        if err.errno in _DISK_FULL:
            raise DiskFullError(dest, None, shutil.disk_usage(folder).free) from None
        raise
    recorder = None
    try:
        with os.fdopen(fd, "wb") as f:
            recorder = _ErrorRecorder(f)
            write(recorder)  # type: ignore[arg-type]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        cause = recorder.error if recorder is not None and recorder.error is not None else err
        if isinstance(cause, OSError) and cause.errno in _DISK_FULL:
            raise DiskFullError(dest, _needed_bytes(write), shutil.disk_usage(folder).free) from None
        raise
    _fsync_folder(folder)
    return dest


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parents created) and return the path."""
    return write_atomically(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (parents created) and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))

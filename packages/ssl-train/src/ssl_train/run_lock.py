"""A run folder is used by one run at a time: a lock file with the process id and host."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from types import TracebackType

__all__ = ["RunFolderLocked", "RunLock"]

LOCK_NAME = ".ssl-run.lock"


class RunFolderLocked(RuntimeError):
    """Another live process holds the run folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """``with RunLock(out_dir): ...`` holds ``OUT/.ssl-run.lock`` (``{"pid", "host"}``).

    A lock left by a dead process on this host is taken over with a message on stderr; a lock
    held by a live process, or by a process on another host, raises :class:`RunFolderLocked`.
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.path = Path(out_dir) / LOCK_NAME
        self.held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                try:
                    owner = json.loads(self.path.read_text())
                    pid, host = int(owner["pid"]), str(owner["host"])
                except (OSError, ValueError, KeyError, TypeError):
                    pid, host = -1, me["host"]
                if host != me["host"]:
                    raise RunFolderLocked(f"run folder {self.path.parent} is in use by pid {pid} on host {host} "
                                          f"(remove {self.path} if that run is gone)") from None  # fmt: skip
                if pid > 0 and _alive(pid):
                    raise RunFolderLocked(f"run folder {self.path.parent} is in use by pid {pid} on this host") from None
                print(f"ssl: taking over the stale lock of pid {pid} on {self.path.parent}", file=sys.stderr, flush=True)
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump(me, handle)
            self.held = True
            return
        raise RunFolderLocked(f"could not lock run folder {self.path.parent}")

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

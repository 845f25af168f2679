"""Fetching one file through torchvision's downloader: a progress bar, an MD5 check where the
checksum is published, and a bounded wait on every network operation.

``torchvision.datasets.utils.download_url`` opens its connections without a time-out, so the
call runs with the socket module's default time-out set to ``timeout`` (restored afterwards):
each connection and each read then fails after that many seconds instead of hanging. Used by
:mod:`ssl_data.prep.download` for the datasets whose official files torchvision knows (GTSRB,
SUN397, iNaturalist, PatchCamelyon checksums) and for the other VISSL ``-d`` downloads added
with them; also unpacks the single-file ``.gz`` archives (SmallNORB, PatchCamelyon) and ``.rar``
(UCF-101, through an external ``unrar`` / ``bsdtar`` / ``7z``) that the tar/zip reader does not.
"""

from __future__ import annotations

import gzip
import shutil
import socket
import subprocess
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["ChecksumMismatch", "MD5", "decompress_gz", "extract_rar", "fetch_with_torchvision", "socket_timeout"]

#: official file name -> MD5 published by torchvision's dataset classes (``torchvision.datasets``:
#: GTSRB, SUN397, INaturalist "2018", PCAM); files without an entry are checked for size only by
#: reading their archive to the end.
MD5: dict[str, str] = {
    "GTSRB_Final_Test_Images.zip": "c7e4e6327067d32654124b0fe9e82185",
    "GTSRB_Final_Test_GT.zip": "fe31e9c9270bbcd7b84b7f21a9d9d9e5",
    "SUN397.tar.gz": "8ca2778205c41d23104230ba66911c7a",
    "train_val2018.tar.gz": "b1c6952ce38f31868cc50ea72d066cc3",
    "camelyonpatch_level_2_split_train_x.h5.gz": "1571f514728f59376b705fc836ff4b63",
    "camelyonpatch_level_2_split_train_y.h5.gz": "35c2d7259d906cfc8143347bb8e05be7",
    "camelyonpatch_level_2_split_test_x.h5.gz": "d8c2d60d490dbd479f8199bdfa0cf6ec",
    "camelyonpatch_level_2_split_test_y.h5.gz": "60a7035772fbdb7f34eb86d4420cf66a",
    "camelyonpatch_level_2_split_valid_x.h5.gz": "d5b63470df7cfa627aeec8b9dc0c066e",
    "camelyonpatch_level_2_split_valid_y.h5.gz": "2b85f58b927af9964a4c15b8f7e8f179",
}

_RAR_TOOLS = (("unrar", ("x", "-y", "-idq")), ("bsdtar", ("-xf",)), ("7z", ("x", "-y", "-bd")))


class ChecksumMismatch(ValueError):
    """The downloaded file's MD5 is not the published one (a wrong mirror or a corrupt file)."""


@contextmanager
def socket_timeout(seconds: float) -> Iterator[None]:
    """The socket module's default time-out set to ``seconds`` inside the block (restored after):
    torchvision's downloaders open connections without one, so each connection and read of theirs
    then fails after that long instead of hanging."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def fetch_with_torchvision(url: str, dest: Path, timeout: float, md5: str | None = None) -> Path:
    """Download ``url`` to ``dest`` with ``torchvision.datasets.utils.download_url`` (tqdm
    progress bar on stderr), every connection and read bounded by ``timeout`` seconds.

    Raises the network error (``urllib.error.URLError``, ``TimeoutError``, ``OSError``) for the
    caller to describe, or :class:`ChecksumMismatch` when ``md5`` is given and differs (the file
    is removed). Returns ``dest``.
    """
    from torchvision.datasets.utils import calculate_md5, download_url

    dest = Path(dest)
    with socket_timeout(timeout):
        download_url(url, str(dest.parent), filename=dest.name, md5=None)
    if md5 is not None:
        got = calculate_md5(dest)
        if got != md5:
            dest.unlink(missing_ok=True)
            raise ChecksumMismatch(f"MD5 {got} of {url} is not the published {md5}")
    return dest


def decompress_gz(archive: Path, into: Path) -> Path:
    """``NAME.gz`` (one gzip-compressed file, not a tar) -> ``into/NAME``, read to the end, so a
    truncated stream raises ``EOFError`` / ``zlib.error`` / ``gzip.BadGzipFile``."""
    out = Path(into) / Path(archive).name[: -len(".gz")]
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with gzip.open(archive, "rb") as src, out.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (EOFError, zlib.error, OSError):
        out.unlink(missing_ok=True)
        raise
    return out


def extract_rar(archive: Path, into: Path) -> None:
    """Extract a RAR archive with the first of ``unrar``, ``bsdtar``, ``7z`` found on PATH.
    OSError naming the tools when none is installed or the tool fails (a corrupt archive)."""
    for tool, args in _RAR_TOOLS:
        exe = shutil.which(tool)
        if exe is None:
            continue
        into.mkdir(parents=True, exist_ok=True)
        cmd = [exe, *args, str(archive)] + ([str(into) + "/"] if tool == "unrar" else ["-C", str(into)] if tool == "bsdtar" else [f"-o{into}"])
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no message"]
            raise OSError(f"{tool} could not extract {archive.name} (exit {done.returncode}: {last[0]})")
        return
    raise OSError(f"{archive.name} is a RAR archive: install unrar, bsdtar (libarchive-tools) or 7z (p7zip-full) to extract it")

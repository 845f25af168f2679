"""``-d`` for real, without the internet: a closed local port, an unresolvable ``.invalid`` host
(RFC 6761), a server that never answers, local http.servers that serve truncated or corrupt
archives, and a successful end-to-end download of a tiny Copydays layout."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import socket
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssl_data.prep import DownloadError, download_dataset, download_urls, prepare

ORIGINALS = ("200000", "200100", "200200")  # Copydays originals: numbers divisible by 100
STRONG = ("200001", "200002", "200101")  # their strong attacks


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch) -> None:
    """Talk to 127.0.0.1 directly even where the environment sets a proxy."""
    for var in ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("SSL_DATA_MIRROR", raising=False)
    monkeypatch.delenv("SSL_DATA_DOWNLOAD_TIMEOUT", raising=False)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


class _CutShortHandler(_QuietHandler):
    """Announces a file's full Content-Length, sends half of it, then closes the connection."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        data = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True


@contextlib.contextmanager
def serve(folder: Path, handler: type[http.server.SimpleHTTPRequestHandler] = _QuietHandler) -> Iterator[str]:
    """A local http.server on a free port serving ``folder``; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def _jpeg_bytes(seed: int) -> bytes:
    """A real 16x24 JPEG of random colours."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=(16, 24, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(folder.rglob("*"))}


@pytest.fixture
def existing_input(tmp_path) -> Path:
    """An input folder that already holds something, which a failed download must not touch."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("keep me")
    return tmp_path / "in"


def test_closed_port_fails_fast_with_one_line(tmp_path, existing_input) -> None:
    before = _snapshot(existing_input)
    mirror = f"http://127.0.0.1:{_closed_port()}/vgg"
    with pytest.raises(DownloadError, match=r"download of http://127\.0\.0\.1:\d+/vgg/dtd-r1\.0\.1\.tar\.gz failed: connection refused") as e:
        prepare("dtd", existing_input, tmp_path / "out", download=True, download_mirror=mirror)
    assert "\n" not in str(e.value)
    assert _snapshot(existing_input) == before and not (tmp_path / "out").exists()
    # an input folder that -d had to create is removed again
    with pytest.raises(DownloadError, match="connection refused"):
        download_dataset("dtd", tmp_path / "new" / "dtd", mirror=mirror)
    assert not (tmp_path / "new" / "dtd").exists()


def test_unresolvable_host(tmp_path, existing_input) -> None:
    before = _snapshot(existing_input)
    with pytest.raises(DownloadError, match=r"cannot resolve host ssl-data-test\.invalid"):
        prepare("dtd", existing_input, tmp_path / "out", download=True, download_mirror="http://ssl-data-test.invalid/x")
    assert _snapshot(existing_input) == before and not (tmp_path / "out").exists()


def test_server_that_never_answers_times_out(tmp_path, existing_input) -> None:
    with socket.socket() as listener:  # accepts connections (kernel backlog) but never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        mirror = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(DownloadError, match=r"no answer within 0\.5 s"):
            download_dataset("dtd", existing_input, mirror=mirror, timeout=0.5)
    assert _snapshot(existing_input) == {"notes.txt": b"keep me"}


def test_truncated_and_corrupt_archives_are_refused(tmp_path, existing_input) -> None:
    before = _snapshot(existing_input)
    site = tmp_path / "site"
    good = _tar_gz(site / "dtd-r1.0.1.tar.gz", {f"dtd/images/banded/banded_{i}.jpg": _jpeg_bytes(i) for i in range(4)})
    # 1. the connection drops half-way through (Content-Length says more)
    with serve(site, _CutShortHandler) as url, pytest.raises(DownloadError, match=r"is truncated: got \d+ of \d+ bytes"):
        prepare("dtd", existing_input, tmp_path / "out", download=True, download_mirror=url)
    # 2. the server itself holds a cut-off archive (complete HTTP transfer, broken gzip stream)
    good.write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    with serve(site) as url, pytest.raises(DownloadError, match="truncated or corrupt"):
        prepare("dtd", existing_input, tmp_path / "out", download=True, download_mirror=url)
    # 3. a zip whose member data is damaged (CRC mismatch)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("2750/Forest/Forest_1.jpg", _jpeg_bytes(1))
    raw = bytearray(buf.getvalue())
    raw[100] ^= 0xFF  # inside the stored JPEG bytes
    (site / "EuroSAT.zip").write_bytes(bytes(raw))
    with serve(site) as url, pytest.raises(DownloadError, match="truncated or corrupt"):
        prepare("euro_sat", existing_input, tmp_path / "out", download=True, download_mirror=url)
    assert _snapshot(existing_input) == before and not (tmp_path / "out").exists()


def test_all_files_or_none(tmp_path, existing_input) -> None:
    """oxford_pets needs two archives; the second is missing (HTTP 404): the first, although
    intact, must not be extracted into the input folder."""
    before = _snapshot(existing_input)
    site = tmp_path / "site"
    _tar_gz(site / "images.tar.gz", {"images/Abyssinian_1.jpg": _jpeg_bytes(0)})
    with serve(site) as url, pytest.raises(DownloadError, match=r"annotations\.tar\.gz failed: HTTP 404"):
        prepare("oxford_pets", existing_input, tmp_path / "out", download=True, download_mirror=url)
    assert _snapshot(existing_input) == before


def test_successful_download_end_to_end(tmp_path, monkeypatch) -> None:
    site = tmp_path / "site"
    # the FAIR mirror's two Copydays archives: JPEGs at the top level of each archive
    _tar_gz(site / "copydays_original.tar.gz", {f"{n}.jpg": _jpeg_bytes(i) for i, n in enumerate(ORIGINALS)})
    _tar_gz(site / "copydays_strong.tar.gz", {f"{s}.jpg": _jpeg_bytes(10 + i) for i, s in enumerate(STRONG)})
    with serve(site) as url:
        monkeypatch.setenv("SSL_DATA_MIRROR", url + "/")  # the documented override, via the environment
        assert download_urls("copydays") == [f"{url}/copydays_original.tar.gz", f"{url}/copydays_strong.tar.gz"]
        summary = prepare("copydays", tmp_path / "in", tmp_path / "out", download=True)
    downloaded = sorted(p.name for p in (tmp_path / "in").iterdir())
    assert downloaded == sorted(f"{n}.jpg" for n in (*ORIGINALS, *STRONG))  # no staging folder or archive left
    assert (tmp_path / "in" / "200101.jpg").read_bytes() == _jpeg_bytes(12)
    queries = tmp_path / "out" / "copydays" / "queries"
    assert sorted(p.name for p in queries.iterdir()) == sorted(
        [f"original_{n}.jpg" for n in ORIGINALS] + [f"strong_{s}.jpg" for s in STRONG]
    )
    assert summary["queries"] == {"original": 3, "strong": 3} and summary["database"] == 3


def test_options_and_environment(monkeypatch, tmp_path) -> None:
    assert download_urls("dtd", "http://m.example/") == ["http://m.example/dtd-r1.0.1.tar.gz"]
    assert download_urls("dtd")[0].startswith("https://www.robots.ox.ac.uk/")
    with pytest.raises(ValueError, match="no automatic download for 'coco'"):
        download_urls("coco")
    monkeypatch.setenv("SSL_DATA_DOWNLOAD_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="SSL_DATA_DOWNLOAD_TIMEOUT must be a number"):
        download_dataset("dtd", tmp_path / "in", mirror="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="timeout must be > 0"):
        download_dataset("dtd", tmp_path / "in", mirror="http://127.0.0.1:9", timeout=0)
    with pytest.raises(ValueError, match="expected an http"):
        download_dataset("dtd", tmp_path / "in", mirror="file:///tmp", timeout=1)
    assert not (tmp_path / "in").exists()


def test_cli_prints_one_line_and_exits_non_zero(tmp_path, monkeypatch, capsys) -> None:
    """The real ``ssl`` entry point (in this process): ``ssl data prepare dtd -d`` without a network."""
    cli = pytest.importorskip("ssl_cli.main")
    monkeypatch.setenv("SSL_DATA_MIRROR", f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(SystemExit) as done:
        cli.main(["data", "prepare", "dtd", "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-d"])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert done.value.code not in (0, None)
    assert len(lines) == 1 and lines[0].startswith("ssl: error: download of http://127.0.0.1:"), lines
    assert "connection refused" in lines[0]
    assert not (tmp_path / "in").exists() and not (tmp_path / "out").exists()

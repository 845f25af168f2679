"""The 10 VISSL ``-d`` downloads that go through torchvision's downloader, offline: a local
http.server serving tiny real files under the official names, a server that never answers, a
file whose MD5 is not the published one, and a RAR archive without an extraction tool."""

from __future__ import annotations

import gzip
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from test_prep_download import _snapshot, serve  # the local-server helpers of the -d tests

from ssl_data.prep import DOWNLOADS, DownloadError, download_urls, prepare
from ssl_data.prep.download import TORCHVISION_FETCHED
from ssl_data.prep.torchvision_fetch import MD5

TEN = ("gtsrb", "imagenet_ood", "inaturalist2018", "kitti_dist", "patch_camelyon", "small_norb_azimuth",
       "small_norb_elevation", "stanford_cars", "sun397", "ucf101")  # fmt: skip


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch) -> None:
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "SSL_DATA_MIRROR"):
        monkeypatch.delenv(var, raising=False)


def _norb_matrix(array: np.ndarray) -> bytes:
    """SmallNORB's binary matrix format, written from its published description (magic, ndim,
    max(3, ndim) little-endian int32 dims, data)."""
    magic = {np.dtype(np.uint8): 0x1E3D4C55, np.dtype(np.int32): 0x1E3D4C54}[array.dtype]
    dims = list(array.shape) + [1] * (3 - array.ndim)
    header = np.array([magic, array.ndim, *dims], dtype="<i4").tobytes()
    return header + array.astype(array.dtype.newbyteorder("<")).tobytes()


def test_every_missing_vissl_download_is_declared() -> None:
    assert set(TEN) == set(TORCHVISION_FETCHED)
    for name in TEN:
        urls = download_urls(name)
        assert urls and all(u.startswith(("http://", "https://")) for u in urls), name
    names = {u.rsplit("/", 1)[1] for n in TEN for u in DOWNLOADS[n]}
    assert set(MD5) <= names  # every published checksum belongs to a file that -d fetches
    assert download_urls("sun397", "http://m.test/x") == ["http://m.test/x/SUN397.tar.gz", "http://m.test/x/Partitions.zip"]


def test_small_norb_download_end_to_end_with_progress(tmp_path, capfd) -> None:
    """Six gzip-compressed SmallNORB matrices served locally -> -d -> the elevation disk_folder."""
    rng = np.random.default_rng(0)
    site = tmp_path / "site"
    site.mkdir()
    expected = {}
    for stem, n in (("smallnorb-5x46789x9x18x6x2x96x96-training", 5), ("smallnorb-5x01235x9x18x6x2x96x96-testing", 3)):
        images = rng.integers(0, 256, size=(n, 2, 8, 8), dtype=np.uint8)
        info = np.stack([rng.integers(0, 10, n), rng.integers(0, 9, n), 2 * rng.integers(0, 18, n), rng.integers(0, 6, n)], 1).astype(np.int32)
        for kind, array in (("dat", images), ("cat", rng.integers(0, 5, n).astype(np.int32)), ("info", info)):
            (site / f"{stem}-{kind}.mat.gz").write_bytes(gzip.compress(_norb_matrix(array)))
        expected["train" if "training" in stem else "val"] = sorted(int(e) for e in info[:, 1])
    with serve(site) as url:
        summary = prepare("small_norb_elevation", tmp_path / "in", tmp_path / "out", download=True, download_mirror=url, download_timeout=5)
    err = capfd.readouterr().err
    assert "B/s" in err or "100%" in err  # torchvision's tqdm progress bar
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == sorted(p.name[:-3] for p in site.iterdir())
    for split in ("train", "val"):
        labels = sorted(int(p.parent.name) for p in (tmp_path / "out" / split).rglob("*.png"))
        assert labels == expected[split]
    assert set(summary) == {"train", "val"}


def test_published_checksum_is_enforced(tmp_path) -> None:
    """GTSRB's test archives have torchvision's MD5s: a file with other bytes is refused in one
    line and nothing reaches the input folder."""
    site = tmp_path / "site"
    site.mkdir()
    for name in ("GTSRB_Final_Training_Images.zip", "GTSRB_Final_Test_Images.zip", "GTSRB_Final_Test_GT.zip"):
        (site / name).write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty but valid zip
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "keep.txt").write_text("x")
    before = _snapshot(inp)
    with serve(site) as url, pytest.raises(DownloadError, match=r"GTSRB_Final_Test_Images\.zip failed the checksum: MD5 [0-9a-f]{32} .* is not the published c7e4e6327067d32654124b0fe9e82185") as e:
        prepare("gtsrb", inp, tmp_path / "out", download=True, download_mirror=url, download_timeout=5)
    assert "\n" not in str(e.value)
    assert _snapshot(inp) == before and not (tmp_path / "out").exists()


def test_server_that_never_answers_is_bounded(tmp_path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        mirror = f"http://127.0.0.1:{listener.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(DownloadError, match=r"sid\.erda|127\.0\.0\.1.*no answer within 0\.5 s"):
            prepare("gtsrb", tmp_path / "in", tmp_path / "out", download=True, download_mirror=mirror, download_timeout=0.5)
        assert time.monotonic() - start < 10
    assert not (tmp_path / "in").exists() and not (tmp_path / "out").exists()


def test_rar_without_an_extraction_tool(tmp_path, monkeypatch) -> None:
    """UCF-101's videos come as RAR: with no unrar/bsdtar/7z on PATH, -d says what to install."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "UCF101.rar").write_bytes(b"Rar!\x1a\x07\x00" + bytes(64))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with serve(site) as url, pytest.raises(DownloadError, match=r"UCF101\.rar is a RAR archive: install unrar, bsdtar"):
        prepare("ucf101", tmp_path / "in", tmp_path / "out", download=True, download_mirror=url, download_timeout=5)
    assert not (tmp_path / "in").exists()

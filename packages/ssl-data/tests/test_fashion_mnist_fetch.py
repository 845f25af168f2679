"""Fashion-MNIST found or downloaded: environment variable, cache, a real download from a local
http server through torchvision's downloader with MD5 checks, and an offline machine."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from ssl_data.sources.fashion_mnist import DEFAULT_FASHION_MNIST_ROOT, load_fashion_mnist
from ssl_data.sources.fashion_mnist_fetch import locate_fashion_mnist
from test_prep_download import serve

DEBIAN = Path(DEFAULT_FASHION_MNIST_ROOT)
NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]

needs_debian = pytest.mark.skipif(not DEBIAN.is_dir(), reason="dataset-fashion-mnist is not installed")


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def hidden_debian(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point the Debian location at an empty folder (the files stay where they are)."""
    import ssl_data.sources.fashion_mnist_fetch as fetch

    monkeypatch.setattr(fetch, "DEFAULT_FASHION_MNIST_ROOT", str(tmp_path / "no-debian"))
    monkeypatch.delenv("SSL_FASHION_MNIST", raising=False)


@needs_debian
def test_download_from_a_server_with_checksums(tmp_path: Path, hidden_debian: None) -> None:
    served = tmp_path / "mirror"
    served.mkdir()
    for name in NAMES:
        shutil.copy(DEBIAN / name, served / name)
    resources = [(name, _md5(served / name)) for name in NAMES]
    with serve(served) as url:
        folder = locate_fashion_mnist(cache=tmp_path / "cache", mirrors=[url], resources=resources, timeout=10)
    assert folder == tmp_path / "cache"
    images, labels = load_fashion_mnist("test", folder)
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)
    assert not list(folder.glob(".*.part"))
    # found in the cache next time, without a server
    assert locate_fashion_mnist(cache=tmp_path / "cache", mirrors=["http://127.0.0.1:9/"], resources=resources) == folder


@needs_debian
def test_wrong_checksum_and_offline_leave_nothing(tmp_path: Path, hidden_debian: None, capfd: pytest.CaptureFixture[str]) -> None:
    served = tmp_path / "mirror"
    served.mkdir()
    shutil.copy(DEBIAN / NAMES[0], served / NAMES[0])
    with serve(served) as url:
        assert locate_fashion_mnist(cache=tmp_path / "c1", mirrors=[url], resources=[(NAMES[0], "0" * 32)], timeout=10) is None
    assert "could not download Fashion-MNIST" in capfd.readouterr().err
    assert not any((tmp_path / "c1").iterdir())
    # a port nobody listens on: refused at once, one line, no file
    assert locate_fashion_mnist(cache=tmp_path / "c2", mirrors=["http://127.0.0.1:9/"], timeout=2) is None
    assert not any((tmp_path / "c2").iterdir())
    assert locate_fashion_mnist(cache=tmp_path / "c3", download=False) is None


@needs_debian
def test_environment_variable_first(tmp_path: Path, hidden_debian: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        (tmp_path / "mine").mkdir(exist_ok=True)
        (tmp_path / "mine" / name).symlink_to(DEBIAN / name)
    monkeypatch.setenv("SSL_FASHION_MNIST", str(tmp_path / "mine"))
    assert locate_fashion_mnist(cache=tmp_path / "cache", download=False) == tmp_path / "mine"

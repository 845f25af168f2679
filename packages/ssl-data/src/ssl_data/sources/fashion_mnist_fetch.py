"""Finding Fashion-MNIST on any machine: an environment variable, the Debian package, our cache,
or a download through torchvision's downloader (bounded wait, MD5 check, progress bar)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ssl_data.sources.fashion_mnist import DEFAULT_FASHION_MNIST_ROOT, fashion_mnist_available

__all__ = ["FASHION_MNIST_ENV", "default_cache", "locate_fashion_mnist"]

#: environment variable naming a folder with the four IDX files.
FASHION_MNIST_ENV = "SSL_FASHION_MNIST"


def default_cache() -> Path:
    """``$XDG_CACHE_HOME/ssl/fashion-mnist`` (``~/.cache/ssl/fashion-mnist``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ssl" / "fashion-mnist"


def _torchvision_resources() -> tuple[list[str], list[tuple[str, str]]]:
    from torchvision.datasets import FashionMNIST

    return list(FashionMNIST.mirrors), [(name, md5) for name, md5 in FashionMNIST.resources]


def locate_fashion_mnist(
    download: bool = True,
    timeout: float = 30.0,
    cache: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str] | None = None,
    resources: Sequence[tuple[str, str]] | None = None,
) -> Path | None:
    """The folder holding Fashion-MNIST's IDX files, or None when it cannot be had.

    Looked up in order: ``$SSL_FASHION_MNIST``, the Debian package's folder
    (``/usr/share/datasets/fashion-mnist``), ``cache`` (default :func:`default_cache`); then, when
    ``download`` is true, the four files are fetched into ``cache`` from torchvision's mirrors
    with torchvision's downloader (progress bar, MD5 from ``torchvision.datasets.FashionMNIST``,
    every connection and read bounded by ``timeout`` seconds). A failed download (offline
    machine, checksum mismatch) prints one line on stderr, leaves no partial file and returns None.

    Args:
        mirrors, resources: override torchvision's mirror URLs and ``(file name, md5)`` list (tests
            serve the files from a local server).
    """
    env = os.environ.get(FASHION_MNIST_ENV)
    candidates = [Path(env)] if env else []
    folder = Path(cache) if cache is not None else default_cache()
    candidates += [Path(DEFAULT_FASHION_MNIST_ROOT), folder]
    for candidate in candidates:
        if fashion_mnist_available(candidate):
            return candidate
    if env:
        print(f"ssl: {FASHION_MNIST_ENV}={env} holds no Fashion-MNIST IDX files", file=sys.stderr, flush=True)
    if not download:
        return None
    from ssl_data.prep.torchvision_fetch import fetch_with_torchvision

    default_mirrors, default_resources = _torchvision_resources()
    mirrors = list(mirrors) if mirrors is not None else default_mirrors
    resources = list(resources) if resources is not None else default_resources
    folder.mkdir(parents=True, exist_ok=True)
    for name, md5 in resources:
        target = folder / name
        if target.is_file():
            continue
        errors = []
        for mirror in mirrors:
            partial = folder / f".{name}.part"
            try:
                fetch_with_torchvision(mirror.rstrip("/") + "/" + name, partial, timeout, md5)
                os.replace(partial, target)
                break
            except Exception as exc:  # network errors, time-outs and checksum mismatches alike
                partial.unlink(missing_ok=True)
                errors.append(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        else:
            print(f"ssl: could not download Fashion-MNIST ({name}: {errors[-1] if errors else 'no mirror'})",
                  file=sys.stderr, flush=True)  # fmt: skip
            return None
    return folder if fashion_mnist_available(folder) else None

"""``-d``: fetch a dataset's official files into the input folder, in bounded time, all or nothing.

Every file is streamed into a hidden staging folder inside the input folder, checked (the byte
count against ``Content-Length``; archives are read to the end, so a truncated or corrupt
``.tar.gz``/``.zip`` is refused) and extracted there. Only when every file of the dataset has
arrived intact are the results moved into the input folder; any failure removes the staging
folder and raises :class:`DownloadError` with one line, leaving the input folder as it was.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import sys
import tarfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path

from ssl_data.atomic_files import make_temp_dir
from ssl_data.progress import ProgressFn
from ssl_data.prep.torchvision_fetch import (
    MD5,
    ChecksumMismatch,
    decompress_gz,
    extract_rar,
    fetch_with_torchvision,
    socket_timeout,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "DOWNLOADS",
    "MIRROR_ENV",
    "TIMEOUT_ENV",
    "TORCHVISION_FETCHED",
    "DownloadError",
    "download_dataset",
    "download_torchvision_dataset",
    "download_urls",
]

#: preparer name -> official archive / file URLs (extracted into ``-i``).
DOWNLOADS: dict[str, tuple[str, ...]] = {
    "dtd": ("https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz",),
    "caltech101": ("http://www.vision.caltech.edu/Image_Datasets/Caltech101/101_ObjectCategories.tar.gz",),
    "food101": ("http://data.vision.ee.ethz.ch/cvl/food-101.tar.gz",),
    "oxford_pets": (
        "https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",
        "https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz",
    ),
    "euro_sat": ("https://madm.dfki.de/files/sentinel/EuroSAT.zip",),
    "fgvc_aircraft": ("https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz",),
    "oxford_flowers": (
        "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz",
        "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/imagelabels.mat",
        "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/setid.mat",
    ),
    "clevr_count": ("https://dl.fbaipublicfiles.com/clevr/CLEVR_v1.0.zip",),
    "clevr_dist": ("https://dl.fbaipublicfiles.com/clevr/CLEVR_v1.0.zip",),
    "dsprites_location": ("https://github.com/deepmind/dsprites-dataset/raw/master/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",),
    "dsprites_orientation": ("https://github.com/deepmind/dsprites-dataset/raw/master/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",),
    # VISSL's mirror of INRIA's originals and strong attacks (the crops / JPEG archives are only
    # on INRIA's retired server: fetch copydays_crop.tar.gz and copydays_jpeg.tar.gz by hand)
    "copydays": (
        "https://dl.fbaipublicfiles.com/vissl/datasets/copydays_original.tar.gz",
        "https://dl.fbaipublicfiles.com/vissl/datasets/copydays_strong.tar.gz",
    ),
    # fetched through torchvision's downloader (progress bar, MD5 where published: see
    # ssl_data.prep.torchvision_fetch.MD5)
    "gtsrb": tuple(f"https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/{f}" for f in (
        "GTSRB_Final_Training_Images.zip", "GTSRB_Final_Test_Images.zip", "GTSRB_Final_Test_GT.zip")),
    "imagenet_ood": (
        "https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar",
        "https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar",
    ),
    "inaturalist2018": tuple(f"https://ml-inat-competition-datasets.s3.amazonaws.com/2018/{f}" for f in (
        "train_val2018.tar.gz", "train2018.json.tar.gz", "val2018.json.tar.gz")),
    "kitti_dist": (
        "https://s3.eu-central-1.amazonaws.com/avg-kitti/data_object_image_2.zip",
        "https://s3.eu-central-1.amazonaws.com/avg-kitti/data_object_label_2.zip",
    ),
    "patch_camelyon": tuple(
        f"https://zenodo.org/records/2546921/files/camelyonpatch_level_2_split_{s}_{k}.h5.gz"
        for s in ("train", "valid", "test") for k in ("x", "y")),
    "small_norb_azimuth": tuple(
        f"https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/smallnorb-{s}-{k}.mat.gz"
        for s in ("5x46789x9x18x6x2x96x96-training", "5x01235x9x18x6x2x96x96-testing") for k in ("dat", "cat", "info")),
    # the Stanford host has been offline since 2023: use a mirror (--download-mirror) holding these files
    "stanford_cars": (
        "http://ai.stanford.edu/~jkrause/car196/cars_train.tgz",
        "http://ai.stanford.edu/~jkrause/car196/cars_test.tgz",
        "https://ai.stanford.edu/~jkrause/cars/car_devkit.tgz",
        "http://ai.stanford.edu/~jkrause/car196/cars_test_annos_withlabels.mat",
    ),
    "sun397": (
        "http://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz",
        "https://vision.princeton.edu/projects/2010/SUN/download/Partitions.zip",
    ),
    "ucf101": (
        "https://www.crcv.ucf.edu/data/UCF101/UCF101.rar",
        "https://www.crcv.ucf.edu/data/UCF101/UCF101TrainTestSplits-RecognitionTask.zip",
    ),
}
DOWNLOADS["small_norb_elevation"] = DOWNLOADS["small_norb_azimuth"]

#: the datasets whose files go through torchvision's downloader (the 10 VISSL ``-d`` downloads
#: added last); the others stream with :func:`_fetch`.
TORCHVISION_FETCHED = frozenset({
    "gtsrb", "imagenet_ood", "inaturalist2018", "kitti_dist", "patch_camelyon", "small_norb_azimuth",
    "small_norb_elevation", "stanford_cars", "sun397", "ucf101",
})  # fmt: skip

#: environment variable: a base URL that replaces everything before each file name.
MIRROR_ENV = "SSL_DATA_MIRROR"
#: environment variable: seconds a name lookup, a connection or one read may take.
TIMEOUT_ENV = "SSL_DATA_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT = 15.0
_ARCHIVES = (".tar.gz", ".tgz", ".tar", ".zip", ".gz", ".rar")
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download that could not complete (no network, unknown host, timeout, HTTP error, or a
    truncated / corrupt file); the message is one line naming the URL and what to do."""


def download_urls(name: str, mirror: str | None = None) -> list[str]:
    """The URLs ``-d`` fetches for ``name``; with ``mirror`` (or ``$SSL_DATA_MIRROR``) each becomes
    ``{mirror}/{file name}``. ValueError when ``name`` has no automatic download."""
    if name not in DOWNLOADS:
        raise ValueError(f"no automatic download for {name!r}; put the official files in the input folder (without -d)")
    base = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    if base is None:
        return list(DOWNLOADS[name])
    return [f"{base.rstrip('/')}/{url.rsplit('/', 1)[1]}" for url in DOWNLOADS[name]]


def _timeout(timeout: float | None) -> float:
    if timeout is None:
        raw = os.environ.get(TIMEOUT_ENV, "")
        try:
            timeout = float(raw) if raw else DEFAULT_TIMEOUT
        except ValueError:
            raise ValueError(f"${TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
    if not timeout > 0:
        raise ValueError(f"download timeout must be > 0 seconds, got {timeout}")
    return float(timeout)


def _uses_proxy(url: str, host: str) -> bool:
    scheme = urllib.parse.urlsplit(url).scheme
    return scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(host)


def _resolve(url: str, host: str, port: int, timeout: float) -> None:
    """Name lookup bounded by ``timeout`` (socket timeouts do not cover getaddrinfo): it runs in
    a daemon thread that is abandoned when it does not answer in time."""
    result: list[BaseException | None] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            result.append(None)
        except BaseException as e:  # noqa: BLE001 - reported below
            result.append(e)

    thread = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        raise DownloadError(f"download of {url} failed: cannot resolve host {host}, no answer within {timeout:g} s (no network or DNS?)")
    if result[0] is not None:
        reason = getattr(result[0], "strerror", None) or result[0]
        raise DownloadError(f"download of {url} failed: cannot resolve host {host} ({reason}; no network or DNS?)")


def _describe(e: BaseException, timeout: float) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    reason = e.reason if isinstance(e, urllib.error.URLError) else e
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve host ({reason.strerror})"
    if isinstance(reason, http.client.IncompleteRead):
        return "the server closed the connection before the end of the file (truncated)"
    text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return f"{type(reason).__name__}: {text}" if text != type(reason).__name__ else text


def _fetch(url: str, dest: Path, timeout: float, progress: ProgressFn | None = None) -> None:
    """Stream ``url`` into ``dest`` (fsynced); DownloadError unless every announced byte arrived;
    ``progress(f"download {file name}", bytes received, Content-Length or 0)``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https", "ftp") or not parts.hostname:
        raise ValueError(f"cannot download {url!r}: expected an http(s) or ftp URL")
    if not _uses_proxy(url, parts.hostname):
        _resolve(url, parts.hostname, parts.port or {"http": 80, "https": 443, "ftp": 21}[parts.scheme], timeout)
    request = urllib.request.Request(url, headers={"User-Agent": "ssl-data"})
    received = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, dest.open("wb") as f:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            while chunk := response.read(_CHUNK):
                f.write(chunk)
                received += len(chunk)
                if progress is not None:
                    progress(f"download {dest.name}", received, expected or 0)
            f.flush()
            os.fsync(f.fileno())
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
        raise DownloadError(f"download of {url} failed: {_describe(e, timeout)}") from None
    if expected is not None and received != expected:
        raise DownloadError(f"download of {url} is truncated: got {received} of {expected} bytes")
    if received == 0:
        raise DownloadError(f"download of {url} is empty")


def _fetch_torchvision(url: str, dest: Path, timeout: float) -> None:
    """:func:`fetch_with_torchvision` (progress bar, MD5 from :data:`MD5`), errors as one line."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"cannot download {url!r}: expected an http(s) URL")
    if not _uses_proxy(url, parts.hostname):
        _resolve(url, parts.hostname, parts.port or {"http": 80, "https": 443}[parts.scheme], timeout)
    try:
        fetch_with_torchvision(url, dest, timeout, MD5.get(dest.name))
    except ChecksumMismatch as e:
        raise DownloadError(f"download of {url} failed the checksum: {e}; nothing was written") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, RuntimeError) as e:
        raise DownloadError(f"download of {url} failed: {_describe(e, timeout)}") from None
    if dest.stat().st_size == 0:
        raise DownloadError(f"download of {url} is empty")


def _umask_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """tarfile's "data" filter, and no mode from the archive: files and folders are created with
    the user's umask (0644 / 0755 under umask 022), as ``tar`` does for users other than root."""
    return tarfile.data_filter(member, dest).replace(mode=None, deep=False)


def _extract(archive: Path, into: Path, url: str) -> None:
    """Read the whole archive (CRC / end-of-stream checks) while extracting it into ``into``."""
    if archive.name.endswith(".rar"):
        try:
            extract_rar(archive, into)
        except OSError as e:
            raise DownloadError(f"cannot extract {url}: {e}; nothing was written") from None
        return
    try:
        if archive.name.endswith(".gz") and not archive.name.endswith((".tar.gz", ".tgz")):
            decompress_gz(archive, into)
        elif archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                bad = z.testzip()
                if bad is not None:
                    raise zipfile.BadZipFile(f"bad CRC in {bad}")
                z.extractall(into)
        else:
            with tarfile.open(archive, "r:*") as t:
                if hasattr(tarfile, "data_filter"):
                    t.extractall(into, filter=_umask_filter)
                else:  # Python < 3.10.12: refuse members that would land outside ``into``
                    root = into.resolve()
                    for m in t.getmembers():
                        if not (into / m.name).resolve().is_relative_to(root) or m.issym() or m.islnk():
                            raise tarfile.TarError(f"unsafe member {m.name!r}")
                    t.extractall(into)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as e:
        # EOFError: gzip stream cut short; zlib.error / BadGzipFile (an OSError): damaged data
        raise DownloadError(f"archive from {url} is truncated or corrupt ({type(e).__name__}: {e}); nothing was written") from None


def _merge(src: Path, dst: Path) -> None:
    """Move ``src``'s entries into ``dst`` (renames on one file system; folders are merged)."""
    dst.mkdir(parents=True, exist_ok=True)
    for entry in sorted(src.iterdir()):
        target = dst / entry.name
        if entry.is_dir() and target.is_dir():
            _merge(entry, target)
        else:  # a file replaces a file of that name; a file and a folder replace each other
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif entry.is_dir() and (target.exists() or target.is_symlink()):
                target.unlink()
            os.replace(entry, target)


def download_dataset(name: str, input_path: str | Path, *, mirror: str | None = None, timeout: float | None = None,
                     progress: ProgressFn | None = None) -> list[str]:
    """Download ``name``'s official files and extract them into ``input_path`` (the preparer's
    ``-i``), all or nothing.

    Args:
        name: a preparer name with an entry in :data:`DOWNLOADS`.
        input_path: the folder the archives are extracted into (created when missing).
        mirror: base URL replacing each official URL's folder (``{mirror}/{file name}``); default
            ``$SSL_DATA_MIRROR``, else the official URLs.
        timeout: seconds allowed for the name lookup, the connection and each read (default
            ``$SSL_DATA_DOWNLOAD_TIMEOUT``, else 15); a stalled server fails after this long.
        progress: ``progress(f"download {file name}", bytes, total bytes)`` while a file streams
            (the files torchvision fetches show torchvision's own bar instead).

    Returns:
        the URLs fetched.

    Raises:
        DownloadError: one line (no network, unknown host, refused connection, timeout, HTTP
            error, truncated or corrupt archive); ``input_path`` is left as it was.
        ValueError: ``name`` has no automatic download, or a bad URL / timeout.
    """
    urls = download_urls(name, mirror)
    seconds = _timeout(timeout)
    root = Path(input_path)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"input path for -d is not a folder: {root}")
    created = not root.exists()
    staging = make_temp_dir(root, "download")
    try:
        extracted = staging / "files"
        extracted.mkdir()
        for url in urls:
            file_name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]) or "download"
            part = staging / file_name
            if name in TORCHVISION_FETCHED:
                _fetch_torchvision(url, part, seconds)
            else:
                _fetch(url, part, seconds, progress)
            if file_name.endswith(_ARCHIVES):
                _extract(part, extracted, url)
                part.unlink()
            else:
                os.replace(part, extracted / file_name)
        _merge(extracted, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            shutil.rmtree(root, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return urls


def _torchvision_urls(cls: type, split: str) -> list[str]:
    """The URLs torchvision's ``cls`` downloads ``split`` from (their hosts are looked up first)."""
    if hasattr(cls, "split_list"):  # SVHN: one .mat file per split
        return [cls.split_list[split][0]]
    if hasattr(cls, "mirrors"):  # MNIST: the first mirror is tried first
        return [str(cls.mirrors[0])]
    return [str(cls.url)]


def download_torchvision_dataset(name: str, root: str | Path, splits: tuple[str, ...] = ("train", "test"), *,
                                 timeout: float | None = None) -> list[str]:
    """Fetch ``splits`` of a torchvision data set (cifar10, cifar100, stl10, svhn, mnist,
    fashion_mnist) into ``root`` in the layout :class:`~ssl_data.TorchvisionSource` reads, with
    torchvision's own downloader (tqdm progress bar on stderr, the published MD5 checked), all or
    nothing: the files land in a staging folder inside ``root`` and are moved in only when every
    split arrived and opens.

    Splits already under ``root`` are not fetched again. ``timeout`` (default
    ``$SSL_DATA_DOWNLOAD_TIMEOUT``, else 15 s) bounds the name lookup, each connection and each
    read. Returns the splits fetched.

    Raises:
        DownloadError: one line (no network, timeout, HTTP error, checksum); ``root`` is left as it was.
        ValueError: an unknown data set or split, or a bad timeout.
    """
    from ssl_data.sources.torchvision_local import TORCHVISION_DATASETS, TorchvisionSource

    key = name.lower().replace("-", "_")
    if key not in TORCHVISION_DATASETS:
        raise ValueError(f"no torchvision download for {name!r}; supported: {', '.join(TORCHVISION_DATASETS)}")
    cls, split_arg, known, _ = TORCHVISION_DATASETS[key]
    seconds = _timeout(timeout)
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"download folder is not a folder: {root}")
    missing = []
    for split in splits:
        if split not in known:
            raise ValueError(f"{key} has splits {', '.join(known)}, got {split!r}")
        try:
            TorchvisionSource(key, root, split)
        except FileNotFoundError:
            missing.append(split)
    if not missing:
        return []
    created = root  # the outermost folder this call creates, removed again on failure
    while not created.parent.exists():
        created = created.parent
    created = None if root.exists() else created
    staging = make_temp_dir(root, "download")
    try:
        for split in missing:
            for url in _torchvision_urls(cls, split):
                parts = urllib.parse.urlsplit(url)
                if parts.hostname and not _uses_proxy(url, parts.hostname):
                    _resolve(url, parts.hostname, parts.port or {"http": 80, "https": 443}[parts.scheme], seconds)
            kwargs = {"train": split == "train"} if split_arg == "train" else {"split": split}
            # torchvision prints "Downloading URL to PATH" on stdout, where the CLI writes results
            try:
                with socket_timeout(seconds), contextlib.redirect_stdout(sys.stderr):
                    cls(str(staging), download=True, **kwargs)
            except (urllib.error.URLError, OSError, http.client.HTTPException, RuntimeError) as e:
                reason = " ".join(str(e).split()) if isinstance(e, RuntimeError) else _describe(e, seconds)
                raise DownloadError(f"download of {key} ({split}) failed: {reason}; nothing was written") from None
        _merge(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return missing

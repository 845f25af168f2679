"""Labelled benchmark splits streamed from disk through ssl-data's readers.

``data`` names one of:

* ``fashion-mnist`` (the Debian package's IDX files; digits when absent, and the source says so),
  ``digits``;
* ``cifar10``, ``cifar100``, ``stl10``, ``svhn``, ``mnist``: torchvision's official files, as
  ``NAME:ROOT`` (``ROOT`` holds e.g. ``cifar-10-batches-py/``) or ``NAME`` alone for
  ``$SSL_DATA_ROOT/NAME`` (default ``~/.cache/ssl-data/NAME``); nothing is downloaded unless
  asked for with :func:`download_data` (``--download``);
* ``catalog:NAME``: an ssl-data catalog entry;
* a folder written by a preparer (``ssl data prepare ...``): ``{split}_images.npy`` +
  ``{split}_labels.npy`` (class ids ``[N]`` or a VOC / COCO matrix ``[N, C]``);
* an image folder in ImageFolder layout: ``train/`` + ``val/`` or ``test/``, or one class tree
  whose held-out ``val_fraction`` (stratified, the same for every seed) is the test split.

Images are decoded one batch at a time (memory does not grow with the data set); images already
held in memory as one uint8 tensor (Fashion-MNIST, digits) go through the same transform a whole
batch at a time instead of image by image (the same values, about 20x faster). Class-id
splits go through :class:`ssl_data.SSLDataset`, which replaces unreadable files by valid ones
and counts them; :meth:`BenchmarkSplit.invalid_summary` reports the count and the first names.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from ssl_evaluation.progress import ProgressFn, tracked

__all__ = [
    "BUILTIN_DATA", "CATALOG_PREFIX", "TORCHVISION_DATA", "BenchmarkSplit", "download_data", "feature_batches", "open_split",
]

BUILTIN_DATA = ("fashion-mnist", "digits")
TORCHVISION_DATA = ("cifar10", "cifar100", "stl10", "svhn", "mnist")
CATALOG_PREFIX = "catalog:"
# Split names tried, in order, for a preparer's filelist folder (VOC07 SVMs train on trainval).
_FILELIST_SPLITS = {"train": ("trainval", "train"), "test": ("test", "val")}
#: seed of the held-out part of a single folder tree: fixed, so train and test never overlap
_HELD_OUT_SEED = 7919
_MAX_NAMES = 5


class _InvalidNames(logging.Handler):
    """Collects the paths ssl-data logs for replaced invalid images (in this process)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.names: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.args and isinstance(record.args, tuple) and len(self.names) < _MAX_NAMES:
            self.names.append(str(record.args[0]))


@dataclass
class BenchmarkSplit:
    """One split, not decoded: ``dataset[i] -> (float [3, S, S] normalised, target, i)``.

    Attributes:
        dataset: an :class:`ssl_data.SSLDataset` (class ids) or the source itself (matrices).
        targets: int64 ``[N]`` class ids or ``[N, C]`` (VISSL's 1 / 0 / -1 for VOC).
        source: where the images come from, for results.json.
    """

    dataset: Dataset
    targets: torch.Tensor
    source: str
    classes: list[str] = field(default_factory=list)
    """Class folder names (index = class id) for image folders, else empty."""
    _names: _InvalidNames = field(default_factory=_InvalidNames, repr=False)
    in_memory: torch.Tensor | None = field(default=None, repr=False)
    """The split's uint8 images ``[N, C, H, W]`` when its source holds them in memory (then
    :func:`feature_batches` transforms them a batch at a time), else None."""
    transform: Any = field(default=None, repr=False)
    """The per-image transform ``dataset`` applies (uint8 ``[C, H, W]`` in, ``[3, S, S]`` out)."""

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    @property
    def num_classes(self) -> int:
        """The matrix width, or the largest class id + 1."""
        if self.targets.ndim == 2:
            return int(self.targets.shape[1])
        return int(self.targets.max()) + 1 if len(self) else 0

    def invalid_summary(self) -> dict[str, Any]:
        """``{"count": N, "first": [names]}`` of the unreadable images replaced so far."""
        count = int(getattr(self.dataset, "num_invalid", 0))
        return {"count": count, "first": list(self._names.names)}


def _transform(size: int, normalize: bool) -> Any:
    from ssl_data.transforms import IMAGENET_MEAN, IMAGENET_STD
    from torchvision.transforms import v2

    steps = [v2.ToImage(), v2.RGB(), v2.Resize(size, antialias=True), v2.CenterCrop(size)]
    if normalize:
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    return v2.Compose(steps)


def _targets_of(source: Any) -> torch.Tensor:
    labels = getattr(source, "labels", None)
    if isinstance(labels, torch.Tensor):
        return labels.to(torch.int64)
    if isinstance(labels, np.ndarray) and labels.dtype.kind in "iu":
        return torch.from_numpy(np.asarray(labels, dtype=np.int64))
    return torch.as_tensor(np.asarray(source.targets), dtype=torch.int64)


def _builtin(data: str, split: str) -> tuple[Dataset, str]:
    import ssl_data

    if data == "fashion-mnist":
        try:
            images, labels = ssl_data.load_fashion_mnist(split)
            return ssl_data.TensorImageDataset(images, labels, name=data), data
        except FileNotFoundError:
            pass
    images, labels = ssl_data.load_digits(split)
    name = "digits" if data == "digits" else "digits (fallback: Fashion-MNIST files not found)"
    return ssl_data.TensorImageDataset(images, labels, name="digits"), name


def _torchvision_root(data: str) -> tuple[str, Path]:
    """``NAME[:ROOT]`` -> (name, root folder; ``$SSL_DATA_ROOT/NAME`` by default)."""
    name, _, root = data.partition(":")
    if not root:
        base = os.environ.get("SSL_DATA_ROOT") or str(Path("~/.cache/ssl-data").expanduser())
        root = str(Path(base) / name)
    return name, Path(root).expanduser()


def _torchvision(data: str, split: str) -> tuple[Dataset, str]:
    import ssl_data

    name, root = _torchvision_root(data)
    try:
        return ssl_data.TorchvisionSource(name, root, split), f"{name} ({root}, {split})"
    except FileNotFoundError as exc:
        from ssl_data.sources import TORCHVISION_DATASETS

        layout = TORCHVISION_DATASETS[name][3]
        raise FileNotFoundError(f"{name} is not in {root} (expected {layout}); add --download to fetch it with "
                                f"torchvision (network), or give {name}:FOLDER where it is") from exc


def download_data(data: str, timeout: float | None = None) -> list[str]:
    """Fetch the train and test splits of a torchvision data set named by ``data`` (``NAME`` or
    ``NAME:ROOT``, as :func:`open_split` reads it) when they are missing, with torchvision's
    downloader: progress bar, published MD5, every lookup / connection / read bounded by
    ``timeout`` (default ``$SSL_DATA_DOWNLOAD_TIMEOUT``, else 15 s), all or nothing. Returns the
    splits fetched (empty when both were there).

    Raises:
        ssl_data.prep.DownloadError: one line (no network, timeout, checksum).
        ValueError: ``data`` is not one of :data:`TORCHVISION_DATA`.
    """
    from ssl_data.prep import download_torchvision_dataset

    if data.split(":", 1)[0] not in TORCHVISION_DATA:
        raise ValueError(f"--download fetches {', '.join(TORCHVISION_DATA)} (NAME or NAME:ROOT); {data!r} is not one of them")
    name, root = _torchvision_root(data)
    return download_torchvision_dataset(name, root, ("train", "test"), timeout=timeout)


def _filelist(root: Path, split: str) -> tuple[Dataset, str]:
    import ssl_data

    for name in _FILELIST_SPLITS[split]:
        images_npy = root / f"{name}_images.npy"
        if images_npy.is_file():
            break
    else:
        raise FileNotFoundError(f"{root} has no {' or '.join(f'{n}_images.npy' for n in _FILELIST_SPLITS[split])}")
    labels_npy = root / f"{name}_labels.npy"
    if not labels_npy.is_file():
        raise FileNotFoundError(f"labels file not found: {labels_npy}")
    source = ssl_data.FileListSource(images_npy, labels_npy)
    if source.labels.dtype.kind not in "iu":
        raise ValueError(f"{labels_npy} must hold class ids [N] or an integer [N, C] matrix")
    return source, f"{root} ({name})"


def _catalog(name: str, split: str) -> tuple[Dataset, str]:
    import ssl_data

    entry = ssl_data.catalog_show(name)
    names = [s for s in (("train", "trainval") if split == "train" else ("test", "val")) if s in entry]
    if not names:
        raise ValueError(f"catalog dataset {name!r} has splits {', '.join(entry)}, none usable as {split}")
    return ssl_data.dataset_from_catalog(name, names[0]), f"catalog {name} ({names[0]})"


def _held_out(targets: torch.Tensor, fraction: float) -> np.ndarray:
    """Boolean mask of the stratified held-out part (at least one image per class)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(_HELD_OUT_SEED)
    labels = targets.numpy()
    mask = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        mask[members[: max(1, round(fraction * len(members)))]] = True
    return mask


def _folder(root: Path, split: str, val_fraction: float, held_out: bool = True) -> tuple[Dataset, torch.Tensor, str]:
    import ssl_data

    subdirs = ("train",) if split == "train" else ("val", "test")
    split_dir = next((root / s for s in subdirs if (root / s).is_dir()), None)
    if split_dir is not None:
        source = ssl_data.ImageFolderSource(split_dir)
        targets = _targets_of(source)
        if split == "test" and (root / "train").is_dir():
            reference = sorted(e.name for e in (root / "train").iterdir() if e.is_dir())
            unknown = [c for c in source.classes if c not in reference]
            if unknown:
                raise ValueError(f"class folder(s) {', '.join(unknown)} of {split_dir} have no folder in {root / 'train'}")
            remap = torch.tensor([reference.index(c) for c in source.classes], dtype=torch.int64)
            targets = remap[targets]
            source.samples = [(path, int(remap[label])) for path, label in source.samples]
            source.classes, source.class_to_idx = reference, {c: i for i, c in enumerate(reference)}
        return source, targets, str(split_dir)
    source = ssl_data.ImageFolderSource(root)
    targets = _targets_of(source)
    if not held_out:  # a test-only set: the whole class tree
        return source, targets, f"{root} (all images)"
    mask = _held_out(targets, val_fraction)
    keep = np.flatnonzero(mask if split == "test" else ~mask)
    part = "held-out" if split == "test" else "remaining"
    return Subset(source, keep.tolist()), targets[keep], f"{root} ({split}: {part} {val_fraction:.0%} split)"


def _resolve(data: str, split: str, val_fraction: float, held_out: bool = True) -> tuple[Dataset, torch.Tensor | None, str]:
    """(source, targets where already known, description) of ``data``'s ``split``."""
    if data in BUILTIN_DATA:
        source, name = _builtin(data, split)
    elif data.split(":", 1)[0] in TORCHVISION_DATA:
        source, name = _torchvision(data, split)
    elif data.startswith(CATALOG_PREFIX):
        source, name = _catalog(data[len(CATALOG_PREFIX):], split)
    else:
        root = Path(data).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"data path does not exist: {root}")
        if not root.is_dir():
            raise NotADirectoryError(f"data path is not a folder: {root}")
        if not any(root.glob("*_images.npy")):
            return _folder(root, split, val_fraction, held_out)
        source, name = _filelist(root, split)
    return source, None, name


def open_split(
    data: str,
    split: str,
    image_size: int,
    limit: int = 0,
    seed: int = 0,
    val_fraction: float = 0.2,
    normalize: bool = True,
    held_out: bool = True,
) -> BenchmarkSplit:
    """Split ``"train"`` or ``"test"`` of ``data`` (see the module docstring), images resized and
    centre-cropped to ``image_size`` px, not decoded yet: float ``[3, S, S]`` ImageNet-normalised,
    or uint8 ``[3, S, S]`` with ``normalize=False``.

    ``held_out=False`` reads a single class tree whole instead of holding out ``val_fraction``
    (a test-only set such as ImageNet-v2). ``limit`` keeps that many train images, class-balanced and seeded
    (``ssl_data.sources.data_limit_indices(..., balanced=True)``; 0 keeps all).

    Raises:
        FileNotFoundError / NotADirectoryError / ValueError: with one clear message.
    """
    import ssl_data
    from ssl_data.sources import data_limit_indices

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1, got {image_size}")
    source, targets, name = _resolve(data, split, val_fraction, held_out)
    base = source.dataset if isinstance(source, Subset) else source
    classes = [str(c) for c in getattr(base, "classes", [])] if isinstance(base, ssl_data.ImageFolderSource) else []
    if name == "fashion-mnist":
        classes = list(ssl_data.FASHION_MNIST_CLASSES)
    if targets is None:
        targets = _targets_of(source)
    if len(targets) == 0:
        raise ValueError(f"the {split} split of {data} is empty")
    if 0 < limit < len(targets):
        if targets.ndim != 1:
            raise ValueError(f"a train limit needs class ids, but {name} has a [N, C] label matrix")
        keep = data_limit_indices(targets.numpy(), limit, seed=seed, balanced=True)
        source, targets = Subset(source, keep), targets[keep]
    transform = _transform(image_size, normalize)
    if targets.ndim == 1:
        dataset: Dataset = ssl_data.SSLDataset(source, transform=transform, seed=seed)
    else:  # multi-label rows: SSLDataset's labels are class ids, read the source directly
        dataset = _Transformed(source, transform)
    out = BenchmarkSplit(dataset, targets, name, classes, in_memory=_in_memory_images(source), transform=transform)
    logging.getLogger("ssl_data.invalid_images").addHandler(out._names)
    return out


def _in_memory_images(source: Dataset) -> torch.Tensor | None:
    """uint8 ``[N, C, H, W]`` of a :class:`ssl_data.TensorImageDataset` (or a subset of one)
    without a transform of its own, in the source's order; None for other sources."""
    import ssl_data

    indices = None
    if isinstance(source, Subset):
        source, indices = source.dataset, torch.as_tensor(list(source.indices), dtype=torch.int64)
    if not isinstance(source, ssl_data.TensorImageDataset) or source.transform is not None:
        return None
    return source.images if indices is None else source.images[indices]


class _Transformed(Dataset):
    """``source[i] -> (transform(image), target, i)`` for multi-label sources."""

    def __init__(self, source: Dataset, transform: Any) -> None:
        self.source = source
        self.transform = transform

    def __len__(self) -> int:
        return len(self.source)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, Any, int]:
        image, target, _ = self.source[index]
        return self.transform(image), torch.as_tensor(target), index


def feature_batches(
    split: BenchmarkSplit,
    batch_size: int,
    num_workers: int = 0,
    progress: ProgressFn | None = None,
    stage: str = "images",
    shuffle_seed: int | None = None,
) -> Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Batches ``(images float [B, 3, S, S], targets [B] or [B, C], dataset indices [B])``,
    decoded as they are read: in dataset order, or shuffled with ``shuffle_seed``;
    ``progress(stage, images done, total)``. A split held in memory (``split.in_memory``) is
    transformed a batch at a time in this process (``num_workers`` is not needed): the same
    batches, in the same order, as the per-image path gives."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    generator = None if shuffle_seed is None else torch.Generator().manual_seed(shuffle_seed)
    if split.in_memory is not None:  # the indices the per-image DataLoader below would read
        order = DataLoader(range(len(split)), batch_size=batch_size, shuffle=generator is not None, generator=generator)  # type: ignore[arg-type]
        return _Batches(_InMemoryBatches(split, order), len(split), stage, progress)
    loader = DataLoader(
        split.dataset, batch_size=batch_size, shuffle=generator is not None, generator=generator,
        num_workers=num_workers,
    )  # fmt: skip
    return _Batches(loader, len(split), stage, progress)


class _InMemoryBatches:
    """``split.transform`` applied to whole batches of ``split.in_memory`` (torchvision's v2
    transforms take ``[B, C, H, W]`` and treat every image as the per-image call would)."""

    def __init__(self, split: BenchmarkSplit, order: DataLoader) -> None:
        self.split, self.order = split, order

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        images, targets = self.split.in_memory, self.split.targets
        assert images is not None
        for index in self.order:
            out = self.split.transform(images[index])
            yield out.as_subclass(torch.Tensor), targets[index], index


class _Batches:
    def __init__(self, loader: DataLoader | _InMemoryBatches, total: int, stage: str, progress: ProgressFn | None) -> None:
        self.loader, self.total, self.stage, self.progress = loader, total, stage, progress

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        return tracked(iter(self.loader), self.stage, self.total, self.progress, size_of=lambda b: int(b[0].shape[0]))

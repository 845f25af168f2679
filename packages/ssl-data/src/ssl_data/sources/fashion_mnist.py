"""Fashion-MNIST (and MNIST) from the IDX files on local disk, no download."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["DEFAULT_FASHION_MNIST_ROOT", "FASHION_MNIST_CLASSES", "fashion_mnist_available", "load_fashion_mnist", "read_idx"]

DEFAULT_FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"
#: class names by label id, as the data set's authors publish them (Xiao, Rasul, Vollgraf 2017)
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

_SPLIT_PREFIX = {"train": "train", "test": "t10k", "val": "t10k"}
# IDX type byte -> numpy big-endian dtype (only the types the format defines).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into a numpy array of its declared shape.

    The header is two zero bytes, a type byte, a byte giving the number of dimensions, then one
    big-endian int32 per dimension. Raises FileNotFoundError for a missing file and ValueError for
    a file that is not IDX or whose size does not match its header.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"cannot read IDX file {path}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"not an IDX file (bad magic number): {path}")
    ndim = raw[3]
    header_end = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header_end], dtype=">i4"))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header_end != expected:
        raise ValueError(
            f"IDX file {path} is truncated or corrupt: header says shape {shape} "
            f"({expected} bytes of data), file has {len(raw) - header_end}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header_end).reshape(shape).astype(dtype.newbyteorder("="))


def _idx_path(root: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (root / name).is_file():
            return root / name
    return root / f"{stem}.gz"


def _split_files(split: str, root: str | os.PathLike[str]) -> tuple[Path, Path]:
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be one of 'train', 'test' or 'val' (= test), got {split!r}")
    prefix = _SPLIT_PREFIX[split]
    root = Path(root)
    return _idx_path(root, f"{prefix}-images-idx3-ubyte"), _idx_path(root, f"{prefix}-labels-idx1-ubyte")


def fashion_mnist_available(root: str | os.PathLike[str] = DEFAULT_FASHION_MNIST_ROOT) -> bool:
    """True when the four IDX files (gzip-compressed or not) exist under ``root``."""
    return all(p.is_file() for split in ("train", "test") for p in _split_files(split, root))


def load_fashion_mnist(
    split: str = "train", root: str | os.PathLike[str] = DEFAULT_FASHION_MNIST_ROOT
) -> tuple[Tensor, Tensor]:
    """Load a Fashion-MNIST split from its IDX files (``*-idx3-ubyte[.gz]``).

    Args:
        split: "train" (60,000 images) or "test" (10,000; "val" is an alias).
        root: folder with ``train-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``, ...
            (the Debian package ``dataset-fashion-mnist`` puts them in the default folder).
            The same layout holds MNIST, which this reads as well.

    Returns:
        ``(images, labels)``: uint8 Tensor ``[N, 28, 28]`` and int64 Tensor ``[N]`` (0..9).

    Raises:
        FileNotFoundError: naming the missing file. ValueError: corrupt file or mismatched counts.
    """
    image_path, label_path = _split_files(split, root)
    for p in (image_path, label_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"Fashion-MNIST file not found: {p} (install the Debian package "
                "dataset-fashion-mnist or pass root=)"
            )
    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"Fashion-MNIST files disagree: images {images.shape} in {image_path}, "
            f"labels {labels.shape} in {label_path}"
        )
    return torch.from_numpy(images.astype(np.uint8)), torch.from_numpy(labels.astype(np.int64))

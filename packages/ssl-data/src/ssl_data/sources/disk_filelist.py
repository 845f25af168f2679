"""``disk_filelist``: a .npy (or .txt) list of image paths plus an optional .npy of labels."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from ssl_data.sources.image_file import load_rgb

__all__ = ["FileListSource", "rewrite_path_prefix"]


def rewrite_path_prefix(path: str, remove_prefix: str = "", new_prefix: str = "") -> str:
    """VISSL's ``REMOVE_IMG_PATH_PREFIX`` / ``NEW_IMG_PATH_PREFIX``: when ``path`` starts with
    ``remove_prefix``, that prefix is replaced by ``new_prefix``; other paths are unchanged.
    With an empty ``remove_prefix``, ``new_prefix`` is prepended to every path."""
    if remove_prefix:
        return new_prefix + path[len(remove_prefix):] if path.startswith(remove_prefix) else path
    return new_prefix + path


def _load_array(path: str | os.PathLike[str], what: str, mmap: bool) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} file not found: {p}")
    if p.suffix == ".txt":
        lines = [line.strip() for line in p.read_text().splitlines() if line.strip()]
        return np.asarray(lines)
    if p.suffix != ".npy":
        raise ValueError(f"{what} file must be .npy or .txt, got {p}")
    try:
        array = np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as e:
        raise ValueError(
            f"{what} file {p} cannot be read without pickle ({e}); save paths/labels as a "
            "fixed-width string or integer array (np.save(path, np.array(list_of_str)))"
        ) from e
    if array.ndim != 1:
        raise ValueError(f"{what} file {p} must hold a 1-D array, got shape {array.shape}")
    return array


class FileListSource(Dataset):
    """VISSL's ``disk_filelist`` source: image paths from a 1-D ``.npy`` (or a ``.txt`` with
    one path per line), labels from a 1-D ``.npy`` of ints or strings.

    Images are referenced, not copied. String labels become ints by their sorted order
    (``classes`` holds the names); integer labels are used as they are; without a label file
    every label is 0. With ``mmap`` (VISSL's ``MMAP_MODE``, default) the ``.npy`` files are
    memory-mapped, so a billion-path list costs no RAM up front.

    ``dataset[i]`` returns ``(image, label, index)``: RGB PIL image (or ``transform(image)``).

    Args:
        images: path of the ``.npy``/``.txt`` list, or a sequence of paths.
        labels: path of the labels ``.npy``, a sequence of labels, or None.
        remove_prefix, new_prefix: path rewriting applied when an image is read
            (see ``rewrite_path_prefix``).
    """

    def __init__(
        self,
        images: str | os.PathLike[str] | Sequence[str],
        labels: str | os.PathLike[str] | Sequence[int] | Sequence[str] | None = None,
        transform: Callable[[Image.Image], Any] | None = None,
        mmap: bool = True,
        remove_prefix: str = "",
        new_prefix: str = "",
        loader: Callable[[str], Any] = load_rgb,
    ) -> None:
        if isinstance(images, (str, os.PathLike)):
            paths = _load_array(images, "image list", mmap)
        else:
            paths = np.asarray(list(images))
        if len(paths) == 0:
            raise ValueError(f"image list is empty: {images if isinstance(images, (str, os.PathLike)) else '[]'}")
        if labels is None:
            label_array = np.zeros(len(paths), dtype=np.int64)
        elif isinstance(labels, (str, os.PathLike)):
            label_array = _load_array(labels, "labels", mmap)
        else:
            label_array = np.asarray(list(labels))
        if len(label_array) != len(paths):
            raise ValueError(f"{len(paths)} image paths but {len(label_array)} labels")
        self.classes: list[str] | None = None
        if label_array.dtype.kind in ("U", "S", "O"):
            names = [str(x) for x in np.asarray(label_array)]
            self.classes = sorted(set(names))
            lookup = {name: i for i, name in enumerate(self.classes)}
            label_array = np.asarray([lookup[n] for n in names], dtype=np.int64)
        elif label_array.dtype.kind not in ("i", "u"):
            raise ValueError(f"labels must be integers or strings, got dtype {label_array.dtype}")
        self.paths = paths
        self.labels = label_array
        self.transform = transform
        self.remove_prefix = remove_prefix
        self.new_prefix = new_prefix
        self.loader = loader

    def __len__(self) -> int:
        return len(self.paths)

    def path_of(self, index: int) -> str:
        """The (rewritten) path of image ``index``."""
        return rewrite_path_prefix(str(self.paths[index]), self.remove_prefix, self.new_prefix)

    @property
    def targets(self) -> list[int]:
        return [int(x) for x in self.labels]

    def __getitem__(self, index: int) -> tuple[Any, int, int]:
        index = int(index)
        image = self.loader(self.path_of(index))
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index]), index

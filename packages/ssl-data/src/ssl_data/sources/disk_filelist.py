"""``disk_filelist``: a .npy (or .txt) list of image paths plus an optional .npy of labels
(class ids ``[N]`` or a multi-label matrix ``[N, C]``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
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


def _load_array(path: str | os.PathLike[str], what: str, mmap: bool, max_ndim: int = 1) -> np.ndarray:
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
    if not 1 <= array.ndim <= max_ndim:
        shapes = "a 1-D array" if max_ndim == 1 else "a 1-D [N] or 2-D [N, C] array"
        raise ValueError(f"{what} file {p} must hold {shapes}, got shape {array.shape}")
    return array


def _check_matrix(labels: np.ndarray, what: str) -> np.ndarray:
    """A multi-label ``[N, C]`` matrix: integers (e.g. VOC's 1 / 0 / -1, COCO multi-hot) or floats."""
    if labels.dtype.kind == "b":
        return labels.astype(np.int64)
    if labels.dtype.kind not in ("i", "u", "f"):
        raise ValueError(f"{what}: [N, C] labels must be integers or floats, got dtype {labels.dtype}")
    return labels


class FileListSource(Dataset):
    """VISSL's ``disk_filelist`` source: image paths from a 1-D ``.npy`` (or a ``.txt`` with
    one path per line), labels from a ``.npy`` of class ids ``[N]`` (ints or strings) or of a
    multi-label matrix ``[N, C]`` (what the ``voc07`` / ``voc12`` / ``coco`` preparers write).

    Images are referenced, not copied. String labels become ints by their sorted order
    (``classes`` holds the names); integer labels are used as they are; without a label file
    every label is 0. With ``mmap`` (VISSL's ``MMAP_MODE``, default) the ``.npy`` files are
    memory-mapped, so a billion-path list costs no RAM up front.

    ``dataset[i]`` returns ``(image, label, index)``: RGB PIL image (or ``transform(image)``);
    ``label`` is an int for class ids, and for an ``[N, C]`` matrix row ``i`` as a tensor ``[C]``
    (int64 for integer matrices, e.g. VISSL's VOC 1 present / 0 absent / -1 difficult; float32
    for float matrices), so a DataLoader batches labels to ``[B, C]``. ``multi_label`` says which.

    Args:
        images: path of the ``.npy``/``.txt`` list, or a sequence of paths.
        labels: path of the labels ``.npy`` (``[N]`` or ``[N, C]``), a sequence of labels (or of
            label rows), or None.
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
        what = f"labels file {labels}" if isinstance(labels, (str, os.PathLike)) else "labels"
        if labels is None:
            label_array = np.zeros(len(paths), dtype=np.int64)
        elif isinstance(labels, (str, os.PathLike)):
            label_array = _load_array(labels, "labels", mmap, max_ndim=2)
        else:
            try:
                label_array = np.asarray(list(labels))
            except ValueError as e:  # ragged rows
                raise ValueError(f"labels must be [N] or [N, C] with rows of one length ({e})") from None
            if not 1 <= label_array.ndim <= 2:
                raise ValueError(f"labels must be [N] or [N, C], got shape {label_array.shape}")
        if len(label_array) != len(paths):
            raise ValueError(f"{len(paths)} image paths but {len(label_array)} labels ({what})")
        self.classes: list[str] | None = None
        self.multi_label = label_array.ndim == 2
        if self.multi_label:
            label_array = _check_matrix(label_array, what)
        elif label_array.dtype.kind in ("U", "S", "O"):
            names = [str(x) for x in np.asarray(label_array)]
            self.classes = sorted(set(names))
            lookup = {name: i for i, name in enumerate(self.classes)}
            label_array = np.asarray([lookup[n] for n in names], dtype=np.int64)
        elif label_array.dtype.kind not in ("i", "u"):
            raise ValueError(f"{what}: class ids must be integers or strings, got dtype {label_array.dtype}")
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
    def targets(self) -> list[int] | list[list[int]] | list[list[float]]:
        """Every label: class ids, or the rows of an ``[N, C]`` matrix."""
        if self.multi_label:
            return np.asarray(self.labels).tolist()
        return [int(x) for x in self.labels]

    def label_of(self, index: int) -> int | torch.Tensor:
        """Label of sample ``index``: an int, or row ``index`` of a matrix as a tensor ``[C]``."""
        if not self.multi_label:
            return int(self.labels[index])
        row = np.array(self.labels[index])  # a copy: memory-mapped rows are read-only
        return torch.from_numpy(row.astype(np.float32 if row.dtype.kind == "f" else np.int64))

    def __getitem__(self, index: int) -> tuple[Any, int | torch.Tensor, int]:
        index = int(index)
        image = self.loader(self.path_of(index))
        if self.transform is not None:
            image = self.transform(image)
        return image, self.label_of(index), index

"""``disk_folder``: a folder of class sub-folders of images (torchvision ImageFolder semantics)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from torchvision.datasets import DatasetFolder

from ssl_data.sources.image_file import IMAGE_EXTENSIONS, load_rgb

__all__ = ["ImageFolderSource"]


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


class ImageFolderSource(DatasetFolder):
    """VISSL's ``disk_folder`` source: ``root/<class>/**/<image>`` read with ImageFolder semantics.

    Classes are the sorted names of ``root``'s sub-folders (label = position in that list);
    images are found recursively below each class folder (symbolic links followed), with the
    extensions of ``IMAGE_EXTENSIONS`` (case-insensitive). A folder holding images but no
    sub-folders is read as one class (label 0) when ``allow_flat`` is true, which is convenient
    for unlabelled SSL data.

    ``dataset[i]`` returns ``(image, label, index)``: the RGB PIL image (alpha composited on
    white, see ``load_rgb``) or ``transform(image)``, the int label and ``i``.
    ``samples`` holds ``(path, label)`` pairs, ``classes`` and ``class_to_idx`` as in torchvision.

    Raises:
        FileNotFoundError: ``root`` does not exist, or no image file is found under it.
        NotADirectoryError: ``root`` is a file.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        transform: Callable[[Image.Image], Any] | None = None,
        allow_flat: bool = True,
        loader: Callable[[str], Any] = load_rgb,
    ) -> None:
        root_path = Path(root)
        if not root_path.exists():
            raise FileNotFoundError(f"image folder does not exist: {root_path}")
        if not root_path.is_dir():
            raise NotADirectoryError(f"image folder is not a directory: {root_path}")
        self.allow_flat = allow_flat
        try:
            super().__init__(str(root_path), loader=loader, extensions=IMAGE_EXTENSIONS, transform=transform)
        except FileNotFoundError as e:
            raise FileNotFoundError(
                f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found in class folders under {root_path}"
            ) from e

    def find_classes(self, directory: str | os.PathLike[str]) -> tuple[list[str], dict[str, int]]:
        """Sorted class folder names; ``["."]`` for a flat folder of images (if allowed)."""
        subdirs = sorted(e.name for e in os.scandir(directory) if e.is_dir())
        if not subdirs:
            if self.allow_flat and any(e.is_file() and _is_image(e.name) for e in os.scandir(directory)):
                return ["."], {".": 0}
            raise FileNotFoundError(f"no class folders and no images in {directory}")
        return subdirs, {name: i for i, name in enumerate(subdirs)}

    def __getitem__(self, index: int) -> tuple[Any, int, int]:
        index = int(index)
        path, label = self.samples[index]
        image = self.loader(path)
        if self.transform is not None:
            image = self.transform(image)
        return image, label, index

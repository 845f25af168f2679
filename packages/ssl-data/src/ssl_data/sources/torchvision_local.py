"""``torchvision_dataset``: torchvision's data sets read from local files only (no download)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from torch.utils.data import Dataset
from torchvision import datasets

__all__ = ["TORCHVISION_DATASETS", "TorchvisionSource"]

# name -> (torchvision class, how the split is passed, allowed splits, folder under root it expects)
TORCHVISION_DATASETS: dict[str, tuple[type, str, tuple[str, ...], str]] = {
    "cifar10": (datasets.CIFAR10, "train", ("train", "test"), "cifar-10-batches-py/"),
    "cifar100": (datasets.CIFAR100, "train", ("train", "test"), "cifar-100-python/"),
    "mnist": (datasets.MNIST, "train", ("train", "test"), "MNIST/raw/*-ubyte (decompressed)"),
    "fashion_mnist": (datasets.FashionMNIST, "train", ("train", "test"), "FashionMNIST/raw/*-ubyte (decompressed)"),
    "stl10": (datasets.STL10, "split", ("train", "test", "unlabeled", "train+unlabeled"), "stl10_binary/"),
    "svhn": (datasets.SVHN, "split", ("train", "test", "extra"), "{train,test,extra}_32x32.mat"),
}


class TorchvisionSource(Dataset):
    """VISSL's ``torchvision_dataset`` source: CIFAR-10/100, MNIST, Fashion-MNIST, STL-10, SVHN
    from their official torchvision layouts under ``root`` (``download`` is never attempted).

    ``dataset[i]`` returns ``(RGB PIL image or transform(image), label, i)`` (grey images are
    converted to RGB; STL-10's unlabeled images have label -1, as in torchvision).

    Raises:
        ValueError: unknown name or split. FileNotFoundError: the files are not under ``root``
        (the message names the expected layout).
    """

    def __init__(
        self,
        name: str,
        root: str | os.PathLike[str],
        split: str = "train",
        transform: Callable[[Image.Image], Any] | None = None,
    ) -> None:
        key = name.lower().replace("-", "_")
        if key not in TORCHVISION_DATASETS:
            raise ValueError(f"unknown torchvision dataset {name!r}; supported: {', '.join(TORCHVISION_DATASETS)}")
        cls, split_arg, splits, layout = TORCHVISION_DATASETS[key]
        if split == "val":
            split = "test"
        if split not in splits:
            raise ValueError(f"{key} has splits {', '.join(splits)}, got {split!r}")
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"{key} root folder not found: {root}")
        kwargs: dict[str, Any] = {"train": split == "train"} if split_arg == "train" else {"split": split}
        try:
            self.dataset = cls(str(root), download=False, **kwargs)
        except (RuntimeError, FileNotFoundError, OSError) as e:
            raise FileNotFoundError(f"{key} files not found or corrupt under {root} (expected {layout}): {e}") from e
        self.name = key
        self.split = split
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def targets(self) -> list[int]:
        targets = getattr(self.dataset, "targets", None)
        if targets is None:
            targets = getattr(self.dataset, "labels")
        return [int(t) for t in targets]

    def __getitem__(self, index: int) -> tuple[Any, int, int]:
        index = int(index)
        image, label = self.dataset[index]
        image = image.convert("RGB")
        if self.transform is not None:
            image = self.transform(image)
        return image, int(label), index

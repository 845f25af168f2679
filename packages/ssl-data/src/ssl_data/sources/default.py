"""The data set used when the user names none: Fashion-MNIST if installed, else digits."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from torch import Tensor

from ssl_data.sources.digits import load_digits
from ssl_data.sources.fashion_mnist import DEFAULT_FASHION_MNIST_ROOT, fashion_mnist_available, load_fashion_mnist
from ssl_data.sources.tensor_dataset import TensorImageDataset

__all__ = ["default_dataset"]


def default_dataset(
    split: str = "train",
    transform: Callable[[Tensor], Any] | None = None,
    root: str | os.PathLike[str] = DEFAULT_FASHION_MNIST_ROOT,
) -> TensorImageDataset:
    """Fashion-MNIST (28x28, 60,000/10,000) when its IDX files exist under ``root``, otherwise
    scikit-learn's digits (8x8, 1,437/360). Items are ``(uint8 [3, H, W] or transform(...), label,
    index)``; the chosen data set's name is in the ``name`` attribute."""
    if fashion_mnist_available(root):
        images, labels = load_fashion_mnist(split, root)
        name = "fashion_mnist"
    else:
        images, labels = load_digits(split)
        name = "digits"
    return TensorImageDataset(images, labels, transform=transform, name=name)

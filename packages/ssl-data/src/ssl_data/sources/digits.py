"""scikit-learn's bundled 8x8 digits: the always-present fallback data set."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["load_digits"]


def load_digits(split: str = "train", test_fraction: float = 0.2, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Load scikit-learn's digits (1,797 8x8 grey images, 10 classes), split deterministically.

    The split is stratified by class with ``sklearn.model_selection.train_test_split``
    (``test_size=test_fraction, random_state=seed``): 1,437 train / 360 test by default.
    Pixel values (0..16 in scikit-learn) are scaled to 0..255 (``round(v * 255 / 16)``).

    Args:
        split: "train" or "test" ("val" is an alias of "test").

    Returns:
        ``(images, labels)``: uint8 Tensor ``[N, 8, 8]``, int64 Tensor ``[N]``.
    """
    if split not in ("train", "test", "val"):
        raise ValueError(f"split must be one of 'train', 'test' or 'val' (= test), got {split!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ImportError("the digits data set ships with scikit-learn: pip install 'ssl-data[digits]'") from None

    bunch = _sk_load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    idx_train, idx_test = train_test_split(
        np.arange(len(labels)), test_size=test_fraction, random_state=seed, stratify=labels
    )
    idx = np.sort(idx_train if split == "train" else idx_test)
    return torch.from_numpy(images[idx]), torch.from_numpy(labels[idx])

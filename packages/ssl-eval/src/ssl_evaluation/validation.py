"""Input checks shared by every benchmark: one clear ``ValueError`` naming the argument."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "as_feature_matrix",
    "as_label_vector",
    "check_pair",
    "check_splits",
    "resolve_num_classes",
]


def as_feature_matrix(features: Tensor | np.ndarray, name: str) -> Tensor:
    """Return ``features`` as a float32 CPU tensor ``[N, D]`` (``[N, ...]`` is flattened).

    Raises ``ValueError`` naming ``name`` for an empty array, a 1-D array or non-finite values.
    """
    tensor = torch.as_tensor(features)
    if tensor.ndim < 2:
        raise ValueError(f"{name} must have shape [N, D], got shape {tuple(tensor.shape)}")
    if tensor.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 rows): the split has no samples")
    tensor = tensor.reshape(tensor.shape[0], -1).to(device="cpu", dtype=torch.float32)
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return tensor


def as_label_vector(labels: Tensor | np.ndarray, name: str) -> Tensor:
    """Return ``labels`` as an int64 CPU tensor ``[N]`` of non-negative class ids."""
    tensor = torch.as_tensor(labels)
    if tensor.ndim != 1:
        raise ValueError(f"{name} must have shape [N], got shape {tuple(tensor.shape)}")
    if tensor.is_floating_point() and not bool((tensor == tensor.round()).all()):
        raise ValueError(f"{name} must hold integer class ids")
    tensor = tensor.to(device="cpu", dtype=torch.int64)
    if tensor.numel() and int(tensor.min()) < 0:
        raise ValueError(f"{name} must hold non-negative class ids, found {int(tensor.min())}")
    return tensor


def check_pair(
    features: Tensor | np.ndarray, labels: Tensor | np.ndarray, split: str
) -> tuple[Tensor, Tensor]:
    """Validate one split: ``{split}_features [N, D]`` and ``{split}_labels [N]`` of one length."""
    feats = as_feature_matrix(features, f"{split}_features")
    labs = as_label_vector(labels, f"{split}_labels")
    if feats.shape[0] != labs.shape[0]:
        raise ValueError(
            f"{split}_features has {feats.shape[0]} rows but {split}_labels has "
            f"{labs.shape[0]} entries; they must have the same length"
        )
    return feats, labs


def resolve_num_classes(labels: Sequence[Tensor], num_classes: int | None) -> int:
    """``max(label) + 1`` over the label vectors, or ``num_classes`` when given (checked)."""
    classes = int(max(int(t.max()) for t in labels) + 1)
    if num_classes is None:
        return classes
    if num_classes < classes:
        raise ValueError(f"num_classes={num_classes} but labels go up to {classes - 1}")
    return num_classes


def check_splits(
    train_features: Tensor | np.ndarray,
    train_labels: Tensor | np.ndarray,
    test_features: Tensor | np.ndarray,
    test_labels: Tensor | np.ndarray,
    num_classes: int | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    """Validate a train and a test split of the same width; resolve the class count."""
    train_x, train_y = check_pair(train_features, train_labels, "train")
    test_x, test_y = check_pair(test_features, test_labels, "test")
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(
            f"train_features has {train_x.shape[1]} columns but test_features has "
            f"{test_x.shape[1]}"
        )
    return train_x, train_y, test_x, test_y, resolve_num_classes([train_y, test_y], num_classes)

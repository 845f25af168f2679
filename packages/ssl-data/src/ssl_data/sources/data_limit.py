"""VISSL's DATA_LIMIT: a seeded (optionally class-balanced) subset of a dataset."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch.utils.data import Dataset, Subset

__all__ = ["data_limit_indices", "limit_dataset"]


def data_limit_indices(
    labels: Sequence[int] | np.ndarray,
    limit: int,
    seed: int = 0,
    balanced: bool = False,
    skip_num_samples: int = 0,
) -> list[int]:
    """Indices (sorted) of a seeded subset of ``limit`` samples.

    Unbalanced: a seeded permutation of all indices, positions ``[skip, skip + limit)``.
    Balanced (VISSL's ``IS_BALANCED``): ``limit // num_classes`` samples per class, each class
    permuted with the seed, skipping ``skip_num_samples // num_classes`` first per class (so two
    calls with different skips give disjoint subsets). ``limit < 0`` selects everything.

    Raises ValueError when the data set (or a class, when balanced) is too small.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if limit < 0:
        return list(range(n))
    if skip_num_samples < 0:
        raise ValueError(f"skip_num_samples must be >= 0, got {skip_num_samples}")
    rng = np.random.default_rng(seed)
    if not balanced:
        if skip_num_samples + limit > n:
            raise ValueError(f"data limit {limit} + skip {skip_num_samples} exceeds the {n} samples")
        return sorted(int(i) for i in rng.permutation(n)[skip_num_samples : skip_num_samples + limit])
    if labels.ndim != 1:
        raise ValueError(f"a balanced data limit needs class ids [N], got labels of shape {labels.shape}")
    classes = np.unique(labels)
    per_class, skip = limit // len(classes), skip_num_samples // len(classes)
    if per_class == 0:
        raise ValueError(f"balanced data limit {limit} is smaller than the {len(classes)} classes")
    chosen: list[int] = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        if skip + per_class > len(members):
            raise ValueError(
                f"class {c} has {len(members)} samples, fewer than skip {skip} + {per_class} per class"
            )
        chosen += [int(i) for i in rng.permutation(members)[skip : skip + per_class]]
    return sorted(chosen)


def limit_dataset(
    dataset: Dataset,
    limit: int,
    seed: int = 0,
    balanced: bool = False,
    skip_num_samples: int = 0,
) -> Dataset:
    """``dataset`` itself when ``limit < 0``, else a ``Subset`` chosen by ``data_limit_indices``
    (labels from ``dataset.targets``, or ``dataset.samples``; needed only when balanced)."""
    if limit < 0:
        return dataset
    targets = getattr(dataset, "targets", None)
    if targets is None and getattr(dataset, "samples", None) is not None:
        targets = [label for _, label in dataset.samples]  # type: ignore[attr-defined]
    if targets is None:
        if balanced:
            raise ValueError(f"{type(dataset).__name__} has no targets/samples: cannot balance classes")
        targets = np.zeros(len(dataset), dtype=np.int64)  # type: ignore[arg-type]
    return Subset(dataset, data_limit_indices(targets, limit, seed, balanced, skip_num_samples))

"""VISSL's DATA_LIMIT: a seeded (optionally class-balanced) subset of a dataset.

The one subset rule of the project: ssl-train's ``data.limit`` and kNN-monitor sets, and
ssl-evaluation's benchmark ``limit``, low-shot ``data_limit`` and semi-supervised ``fraction`` all
draw their indices here.
"""

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
    """Indices (sorted) of a seeded subset of ``limit`` of the ``N`` samples labelled ``labels [N]``.

    - ``limit < 0`` selects everything (VISSL's ``DATA_LIMIT: -1``).
    - Unbalanced: a seeded permutation of all indices, positions ``[skip, skip + limit)``.
    - Balanced (VISSL's ``DATA_LIMIT_SAMPLING.IS_BALANCED``): the ``C`` classes, in sorted order,
      get ``limit // C`` samples each and the first ``limit % C`` of them one more (sizes differ by
      at most one, as in VISSL), each class drawn from its own seeded permutation; the skip is
      split the same way, so a call with ``skip_num_samples`` equal to an earlier call's ``limit``
      gives a disjoint subset.

    A class (balanced) or the data set (unbalanced) with fewer samples than asked gives all it has
    after the skip, so the subset can be smaller than ``limit``: ``len()`` of the result is the
    size to report. (VISSL's own sampler raises there instead; taking what exists keeps a benchmark
    on an unevenly filled folder running, with every class as full as it can be.)

    Raises:
        ValueError: ``limit`` 0, a negative skip, no samples, or, balanced, labels that are not
            class ids ``[N]`` or fewer than one sample per class (``limit < C``).
    """
    labels = np.asarray(labels)
    n = len(labels)
    if limit < 0:
        return list(range(n))
    if limit == 0:
        raise ValueError("a data limit of 0 keeps no sample: give a positive limit, or -1 for every sample")
    if skip_num_samples < 0:
        raise ValueError(f"skip_num_samples must be >= 0, got {skip_num_samples}")
    if n == 0:
        raise ValueError("a data limit needs samples, but there are no labels")
    rng = np.random.default_rng(seed)
    if not balanced:
        return sorted(int(i) for i in rng.permutation(n)[skip_num_samples : skip_num_samples + limit])
    if labels.ndim != 1:
        raise ValueError(f"a balanced data limit needs class ids [N], got labels of shape {labels.shape}")
    classes = np.unique(labels)
    if limit < len(classes):
        raise ValueError(f"balanced data limit {limit} is smaller than the {len(classes)} classes")
    per_class, extra = divmod(limit, len(classes))
    skip_per_class, skip_extra = divmod(skip_num_samples, len(classes))
    chosen: list[int] = []
    for i, c in enumerate(classes):
        start = skip_per_class + (i < skip_extra)
        members = rng.permutation(np.flatnonzero(labels == c))
        chosen += [int(j) for j in members[start : start + per_class + (i < extra)]]
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

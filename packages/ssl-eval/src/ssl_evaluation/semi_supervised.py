"""Semi-supervised evaluation: fine-tune on a seeded, class-balanced 1% or 10% labelled subset
(VISSL's ``benchmark/semi_supervised``, the SimCLR ImageNet subsets' protocol)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.utils.data import Dataset

from ssl_data.sources import data_limit_indices

from ssl_evaluation.finetune import FinetuneResult, finetune_on_subset

__all__ = ["semi_supervised_finetune"]


def semi_supervised_finetune(
    trunk: torch.nn.Module,
    train_dataset: Dataset,
    train_labels: torch.Tensor,
    test_loader: Iterable[Any],
    num_classes: int,
    *,
    fraction: float = 0.01,
    seed: int = 0,
    batch_size: int = 256,
    num_workers: int = 0,
    **finetune_kwargs: Any,
) -> FinetuneResult:
    """Fine-tune (see :func:`ssl_evaluation.finetune.finetune`) on a class-balanced ``fraction`` of
    ``train_dataset``; ``train_labels[i]`` is the label of ``train_dataset[i]``.

    The subset has ``round(fraction * N)`` images (at least one per class), the same number from
    every class (sizes differ by at most one; a class with fewer gives all it has), drawn with the
    ``seed`` by :func:`ssl_data.sources.data_limit_indices` (``balanced=True``). For ImageNet, 1 %
    and 10 % give about 12.8 and 128 images per class, like the SimCLR subsets VISSL uses (those
    are fixed file lists; this draws an equivalent subset)."""
    if len(train_labels) != len(train_dataset):  # type: ignore[arg-type]
        raise ValueError(f"train_labels has {len(train_labels)} entries but train_dataset has {len(train_dataset)}")  # type: ignore[arg-type]
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    labels = torch.as_tensor(train_labels).cpu().numpy()
    limit = max(len(set(labels.tolist())), int(round(fraction * len(labels))))
    idx = torch.as_tensor(data_limit_indices(labels, limit, seed, balanced=True), dtype=torch.int64)
    result = finetune_on_subset(
        trunk, train_dataset, idx, test_loader, num_classes, seed=seed, batch_size=batch_size,
        num_workers=num_workers, **finetune_kwargs,
    )
    result.protocol.update({"fraction": fraction, "seed": seed, "subset_size": len(idx), "class_balanced": True})
    return result

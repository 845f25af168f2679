"""Semi-supervised evaluation: fine-tune on a seeded, class-balanced 1% or 10% labelled subset
(VISSL's ``benchmark/semi_supervised``, the SimCLR ImageNet subsets' protocol)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.utils.data import Dataset

from ssl_evaluation.finetune import FinetuneResult, finetune_on_subset

__all__ = ["class_balanced_subset", "semi_supervised_finetune"]


def class_balanced_subset(labels: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """Indices (sorted, int64) of ``max(1, round(fraction * n_c))`` samples of every class ``c``
    (``n_c`` samples in ``labels``), drawn without replacement by a ``seed``-ed generator.

    For ImageNet, 1% gives about 12.8 and 10% about 128 images per class, like the SimCLR
    subsets VISSL uses (those are fixed file lists; this draws an equivalent subset)."""
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or labels.numel() == 0:
        raise ValueError(f"labels must be a non-empty 1-D tensor, got shape {tuple(labels.shape)}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    gen = torch.Generator().manual_seed(seed)
    picked = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        k = max(1, int(round(fraction * len(members))))
        picked.append(members[torch.randperm(len(members), generator=gen)[:k]])
    return torch.sort(torch.cat(picked)).values


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
    """Fine-tune (see :func:`ssl_evaluation.finetune.finetune`) on the class-balanced ``fraction`` of
    ``train_dataset``; ``train_labels[i]`` is the label of ``train_dataset[i]``."""
    if len(train_labels) != len(train_dataset):  # type: ignore[arg-type]
        raise ValueError(f"train_labels has {len(train_labels)} entries but train_dataset has {len(train_dataset)}")  # type: ignore[arg-type]
    idx = class_balanced_subset(train_labels, fraction, seed)
    result = finetune_on_subset(
        trunk, train_dataset, idx, test_loader, num_classes, seed=seed, batch_size=batch_size,
        num_workers=num_workers, **finetune_kwargs,
    )
    result.protocol.update({"fraction": fraction, "seed": seed, "subset_size": len(idx), "class_balanced": True})
    return result

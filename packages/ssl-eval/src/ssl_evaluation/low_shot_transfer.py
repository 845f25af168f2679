"""VTAB-style low-shot transfer: fine-tune on ``DATA_LIMIT`` (default 1000) training images of
each of VISSL's 16 tasks (``benchmark/low_shot_transfer``), accuracy on the task's test split."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset

from ssl_data.sources import data_limit_indices

from ssl_evaluation.finetune import FinetuneResult, finetune_on_subset

__all__ = ["LowShotTask", "LOW_SHOT_TASKS", "low_shot_transfer"]


@dataclass(frozen=True)
class LowShotTask:
    """One transfer task: VISSL config folder, classes, splits, and what a label means."""

    name: str
    vissl_dir: str
    num_classes: int
    train_split: str
    test_split: str
    target: str


def _t(name: str, vissl_dir: str, num_classes: int, target: str, test_split: str = "test") -> LowShotTask:
    return LowShotTask(name, vissl_dir, num_classes, "train", test_split, target)


#: The 16 tasks of VISSL's low-shot transfer benchmark. Training uses at most DATA_LIMIT images of
#: the train split; ``test_split`` is the split scored (CLEVR's test labels are unreleased, so
#: its validation split is the test split, as in VTAB).
LOW_SHOT_TASKS: dict[str, LowShotTask] = {
    t.name: t
    for t in (
        _t("caltech101", "caltech101", 102, "object category (101 + background)"),
        _t("cifar100", "cifar100", 100, "object category"),
        _t("clevr_count", "clevr_count", 8, "number of objects (3..10)", "val"),
        _t("clevr_dist", "clevr_dist", 6, "distance of the closest object (binned)", "val"),
        _t("dsprites_loc", "dsprites", 16, "x position of the sprite (16 bins)"),
        _t("dsprites_orient", "dsprites", 16, "orientation of the sprite (16 bins)"),
        _t("dtd", "dtd", 47, "texture category"),
        _t("euro_sat", "euro_sat", 10, "land-use category (satellite)"),
        _t("kitti_dist", "kitti", 4, "distance of the closest vehicle (binned)"),
        _t("oxford_flowers", "oxford_flowers", 102, "flower species"),
        _t("oxford_pets", "oxford_pets", 37, "cat or dog breed"),
        _t("pcam", "pcam", 2, "metastatic tissue present (histopathology patch)"),
        _t("small_norb_azimuth", "snorb_azimuth", 18, "object azimuth (18 bins)"),
        _t("small_norb_elevation", "snorb_elevation", 9, "object elevation (9 bins)"),
        _t("sun397", "sun397", 397, "scene category"),
        _t("svhn", "svhn", 10, "house-number digit"),
    )
}


def low_shot_transfer(
    trunk: torch.nn.Module,
    train_dataset: Dataset,
    train_labels: torch.Tensor,
    test_loader: Iterable[Any],
    num_classes: int,
    *,
    data_limit: int = 1000,
    seed: int = 0,
    balanced: bool = False,
    batch_size: int = 256,
    num_workers: int = 0,
    task: str | None = None,
    **finetune_kwargs: Any,
) -> FinetuneResult:
    """Fine-tune (:func:`ssl_evaluation.finetune.finetune`) on ``data_limit`` images of ``train_dataset``
    (``train_labels[i]`` labels item ``i``), VISSL's ``DATA_LIMIT``: drawn with the ``seed`` by
    :func:`ssl_data.sources.data_limit_indices`, uniformly or, ``balanced``, ``data_limit // C``
    per class (the first ``data_limit % C`` classes one more); ``-1`` or more than there are keeps
    all, and a short class gives all it has (``subset_size`` in the protocol is what was used).
    ``task`` (a :data:`LOW_SHOT_TASKS` key) checks ``num_classes`` against the table and is
    recorded in the protocol."""
    if task is not None:
        if task not in LOW_SHOT_TASKS:
            raise ValueError(f"unknown task {task!r}; known: {sorted(LOW_SHOT_TASKS)}")
        if LOW_SHOT_TASKS[task].num_classes != num_classes:
            raise ValueError(f"task {task!r} has {LOW_SHOT_TASKS[task].num_classes} classes, got num_classes={num_classes}")
    if len(train_labels) != len(train_dataset):  # type: ignore[arg-type]
        raise ValueError(f"train_labels has {len(train_labels)} entries but train_dataset has {len(train_dataset)}")  # type: ignore[arg-type]
    labels = torch.as_tensor(train_labels).cpu().numpy()
    idx = torch.as_tensor(data_limit_indices(labels, data_limit, seed, balanced), dtype=torch.int64)
    result = finetune_on_subset(
        trunk, train_dataset, idx, test_loader, num_classes, seed=seed, batch_size=batch_size,
        num_workers=num_workers, **finetune_kwargs,
    )
    result.protocol.update({"task": task, "data_limit": data_limit, "seed": seed, "balanced": balanced, "subset_size": len(idx)})
    return result

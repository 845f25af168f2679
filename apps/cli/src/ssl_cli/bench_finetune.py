"""Benchmarks that train the whole trunk: full fine-tuning, semi-supervised (1 % / 10 % labels)
and VTAB-style low-shot transfer (VISSL's DATA_LIMIT)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from ssl_cli.bench_data import LabelledImages, data_summary, load_train_test
from ssl_cli.bench_options import parse_list
from ssl_cli.errors import UsageError

__all__ = ["NormalizedImages", "run_finetune", "run_low_shot_transfer", "run_semi_supervised"]


class NormalizedImages(Dataset):
    """Items ``(float [3, S, S] ImageNet-normalised, int label)`` of an in-memory split."""

    def __init__(self, split: LabelledImages) -> None:
        if split.targets.ndim != 1:
            raise UsageError(f"fine-tuning needs class ids, but {split.source} has a [N, C] label matrix")
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from ssl_cli.bench_data import normalize_images

        return normalize_images(self.split.images[i : i + 1])[0], int(self.split.targets[i])


def _finetune_kwargs(epochs: int, lr: float, head_lr: float, weight_decay: float, schedule: str,
                     milestones: str) -> dict[str, Any]:
    if schedule not in ("cosine", "step", "constant"):
        raise UsageError(f"--schedule must be cosine, step or constant, got {schedule!r}")
    return {"epochs": epochs, "lr": lr, "head_lr": head_lr if head_lr > 0 else None, "weight_decay": weight_decay,
            "schedule": schedule, "milestones": parse_list(milestones, int, "--milestones", allow_empty=True)}


def _save(result: Any, save: Path | None) -> str | None:
    """Write the fine-tuned trunk + its linear classifier as an ssl checkpoint (an ``mlp`` head)."""
    if save is None:
        return None
    import ssl_models
    from ssl_models import checkpoint as ckpt_format

    trunk, linear = result.model[0], result.model[1]
    head = ssl_models.MLPHead([linear.in_features, linear.out_features])
    head.clf[0].load_state_dict(linear.state_dict())
    return str(ckpt_format.save_checkpoint(ckpt_format.model_payload(trunk, heads=[head]), save))


def _report(name: str, checkpoint: Path, data: str, size: int, train: LabelledImages, test: LabelledImages,
            result: Any, save: Path | None) -> dict[str, Any]:
    metrics = {k: v for k, v in result.as_dict().items() if k != "protocol"}
    saved = _save(result, save)
    if saved is not None:
        metrics["saved_checkpoint"] = saved
    return {
        "checkpoint": str(checkpoint),
        "data": data_summary(data, size, ("train", train), ("test", test)),
        "benchmarks": {name: metrics},
        "protocol": {name: {**result.protocol, "augmentation": "none (resize + center crop)",
                            "head": "new Linear(D, classes), N(0, 0.01) init", "optimizer": "SGD momentum 0.9"}},
    }


def _loaders(train: LabelledImages, test: LabelledImages, batch_size: int, seed: int) -> tuple[DataLoader, DataLoader]:
    gen = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(NormalizedImages(train), batch_size=batch_size, shuffle=True, generator=gen)
    return train_loader, DataLoader(NormalizedImages(test), batch_size=batch_size)


# fit(trunk, train split, train loader, test loader, num_classes) -> ssl_evaluation.FinetuneResult
Fit = Callable[[torch.nn.Module, LabelledImages, DataLoader, DataLoader, int], Any]


def _run(name: str, checkpoint: Path, data: str, image_size: int, limit: int, batch_size: int, seed: int,
         save: Path | None, fit: Fit) -> dict[str, Any]:
    """Load the trunk and splits, build the loaders, seed, call ``fit``, report (and save)."""
    trunk, size, train, test = load_train_test(checkpoint, data, image_size, limit, seed)
    train_loader, test_loader = _loaders(train, test, batch_size, seed)
    torch.manual_seed(seed)
    result = fit(trunk, train, train_loader, test_loader, max(train.num_classes, test.num_classes))
    return _report(name, checkpoint, data, size, train, test, result, save)


def run_finetune(
    checkpoint: Path,
    data: str = "fashion-mnist",
    *,
    image_size: int = 0,
    limit: int = 0,
    epochs: int = 10,
    lr: float = 0.01,
    head_lr: float = 0.0,
    weight_decay: float = 1e-4,
    schedule: str = "cosine",
    milestones: str = "",
    batch_size: int = 256,
    seed: int = 0,
    save: Path | None = None,
) -> dict[str, Any]:
    """Full fine-tuning (VISSL's fulltune): every trunk weight and a new linear head train with SGD;
    top-1/top-5 on the test split. ``save`` writes the fine-tuned classifier as a checkpoint
    (usable by ``ssl benchmark robustness`` when it has 1000 classes)."""
    import ssl_evaluation

    kwargs = _finetune_kwargs(epochs, lr, head_lr, weight_decay, schedule, milestones)
    return _run("finetune", checkpoint, data, image_size, limit, batch_size, seed, save,
                lambda trunk, _, train_loader, test_loader, classes: ssl_evaluation.finetune(
                    trunk, train_loader, test_loader, classes, **kwargs))


def run_semi_supervised(
    checkpoint: Path,
    data: str = "fashion-mnist",
    *,
    image_size: int = 0,
    fraction: float = 0.01,
    epochs: int = 10,
    lr: float = 0.01,
    head_lr: float = 0.0,
    weight_decay: float = 1e-4,
    schedule: str = "cosine",
    milestones: str = "",
    batch_size: int = 256,
    seed: int = 0,
    save: Path | None = None,
) -> dict[str, Any]:
    """Semi-supervised evaluation: fine-tune on a seeded class-balanced ``fraction`` of the train
    labels (1 % or 10 %, SimCLR's subsets), top-1/top-5 on the full test split."""
    import ssl_evaluation

    kwargs = _finetune_kwargs(epochs, lr, head_lr, weight_decay, schedule, milestones)
    return _run("semi-supervised", checkpoint, data, image_size, 0, batch_size, seed, save,
                lambda trunk, train, _, test_loader, classes: ssl_evaluation.semi_supervised_finetune(
                    trunk, NormalizedImages(train), train.targets, test_loader, classes, fraction=fraction,
                    seed=seed, batch_size=batch_size, **kwargs))


def run_low_shot_transfer(
    checkpoint: Path,
    data: str = "fashion-mnist",
    *,
    image_size: int = 0,
    data_limit: int = 1000,
    balanced: bool = False,
    task: str = "",
    epochs: int = 10,
    lr: float = 0.01,
    head_lr: float = 0.0,
    weight_decay: float = 1e-4,
    schedule: str = "cosine",
    milestones: str = "",
    batch_size: int = 256,
    seed: int = 0,
    save: Path | None = None,
) -> dict[str, Any]:
    """VTAB-style low-shot transfer: fine-tune on ``data_limit`` train images (VISSL's DATA_LIMIT,
    -1 = all; ``balanced`` = DATA_LIMIT_SAMPLING.IS_BALANCED). ``task`` (one of the 16 VTAB task
    names) checks the class count and is recorded."""
    import ssl_evaluation

    kwargs = _finetune_kwargs(epochs, lr, head_lr, weight_decay, schedule, milestones)
    return _run("low-shot-transfer", checkpoint, data, image_size, 0, batch_size, seed, save,
                lambda trunk, train, _, test_loader, classes: ssl_evaluation.low_shot_transfer(
                    trunk, NormalizedImages(train), train.targets, test_loader, classes, data_limit=data_limit,
                    seed=seed, balanced=balanced, batch_size=batch_size, task=task or None, **kwargs))

"""Benchmarks that train the whole trunk: full fine-tuning, semi-supervised (1 % / 10 % labels)
and VTAB-style low-shot transfer (VISSL's ``DATA_LIMIT``)."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from ssl_evaluation.suites.benchmark_data import BenchmarkSplit
from ssl_evaluation.suites.image_splits import (
    ImageData,
    checked_trunk,
    class_ids_only,
    data_summary,
    open_train_test,
    suite_result,
)
from ssl_evaluation.progress import ProgressFn

__all__ = [
    "FinetuneProtocol",
    "FinetuneSchedule",
    "LowShotTransferProtocol",
    "SemiSupervisedProtocol",
    "run_finetune",
    "run_low_shot_transfer",
    "run_semi_supervised",
]


class FinetuneSchedule(str, enum.Enum):
    """Learning-rate schedule over epochs: cosine, step (x0.1 at ``milestones``) or constant."""

    cosine = "cosine"
    step = "step"
    constant = "constant"


@dataclass
class FinetuneProtocol(ImageData):
    """Every trunk weight plus a new linear head (``N(0, 0.01)`` init) train with SGD (momentum
    0.9); top-1/top-5 on the test split; no augmentation (resize + centre crop).

    Defaults: VISSL's ``eval_resnet_8gpu_transfer_in1k_fulltune`` optimiser (SGD, momentum 0.9,
    weight decay 1e-4, lr 0.01 for the trunk), shortened to 10 cosine epochs for CPU-sized data
    (VISSL's ImageNet runs use more epochs with step decay: set ``schedule=step milestones=[...]``).
    ``head_lr`` 0 uses ``lr``. ``save``: a path that receives the fine-tuned trunk + linear head as
    an ssl checkpoint (``""``: not saved; not a protocol constant).
    """

    epochs: int = 10
    lr: float = 0.01
    head_lr: float = 0.0
    weight_decay: float = 1e-4
    schedule: FinetuneSchedule = FinetuneSchedule.cosine
    milestones: list[int] = field(default_factory=list)
    save: str = ""


@dataclass
class SemiSupervisedProtocol(FinetuneProtocol):
    """Fine-tuning on a seeded class-balanced ``fraction`` of the train labels: SimCLR's 1 % and
    10 % ImageNet subsets (VISSL's ``semi_supervised`` benchmark, ``simclr_in1k_per01|per10``)."""

    fraction: float = 0.01


@dataclass
class LowShotTransferProtocol(FinetuneProtocol):
    """VTAB-style low-shot transfer: fine-tune on ``data_limit`` train images (VISSL's
    ``DATA.TRAIN.DATA_LIMIT: 1000``, -1 = all; ``balanced`` = ``DATA_LIMIT_SAMPLING.IS_BALANCED``,
    off in VISSL's configs). ``task`` (a VTAB task name) checks the class count."""

    data_limit: int = 1000
    balanced: bool = False
    task: str = ""


def _finetune_kwargs(p: FinetuneProtocol, progress: ProgressFn | None) -> dict[str, Any]:
    return {"epochs": p.epochs, "lr": p.lr, "head_lr": p.head_lr if p.head_lr > 0 else None,
            "weight_decay": p.weight_decay, "schedule": p.schedule.value, "milestones": list(p.milestones),
            "progress": progress}


def _save(result: Any, save: str) -> str | None:
    """Write the fine-tuned trunk + its linear classifier as an ssl checkpoint (an ``mlp`` head)."""
    if not save:
        return None
    import ssl_models
    from ssl_models import checkpoint as ckpt_format

    trunk, linear = result.model[0], result.model[1]
    head = ssl_models.MLPHead([linear.in_features, linear.out_features])
    head.clf[0].load_state_dict(linear.state_dict())
    return str(ckpt_format.save_checkpoint(ckpt_format.model_payload(trunk, heads=[head]), Path(save).expanduser()))


# fit(trunk, train split, train loader, test loader, num_classes) -> ssl_evaluation.FinetuneResult
Fit = Callable[[nn.Module, BenchmarkSplit, DataLoader, DataLoader, int], Any]


def _run(name: str, checkpoint: str | Path | nn.Module, data: str, p: FinetuneProtocol, limit: int, fit: Fit) -> dict[str, Any]:
    """Load the trunk and splits (decoded batch by batch), seed, call ``fit``, report (and save)."""
    started = time.perf_counter()
    if p.save and Path(p.save).expanduser().is_dir():
        raise IsADirectoryError(f"save path is a folder: {p.save}")
    trunk, size = checked_trunk(checkpoint, p.image_size)
    train, test = open_train_test(data, size, p, limit=limit)
    class_ids_only("fine-tuning", train, test)
    gen = torch.Generator().manual_seed(p.seed)
    train_loader = DataLoader(train.dataset, batch_size=p.batch_size, shuffle=True, generator=gen)
    test_loader = DataLoader(test.dataset, batch_size=p.batch_size)
    torch.manual_seed(p.seed)
    result = fit(trunk, train, train_loader, test_loader, max(train.num_classes, test.num_classes))
    metrics = {k: v for k, v in result.as_dict().items() if k != "protocol"}
    saved = _save(result, p.save)
    if saved is not None:
        metrics["saved_checkpoint"] = saved
    return suite_result(name, metrics, p, data_summary(data, size, train=train, test=test), checkpoint, started,
                        result.protocol, augmentation="none (resize + center crop)",
                        head="new Linear(D, classes), N(0, 0.01) init", optimizer="SGD momentum 0.9")


def run_finetune(checkpoint: str | Path | nn.Module, data: str, protocol: FinetuneProtocol | None = None,
                 progress: ProgressFn | None = None) -> dict[str, Any]:
    """Full fine-tuning (VISSL's fulltune), ``{metrics: {"finetune": {"top1", "top5", ...}}, ...}``."""
    import ssl_evaluation

    p = protocol or FinetuneProtocol()
    return _run("finetune", checkpoint, data, p, p.limit,
                lambda trunk, _, train_loader, test_loader, classes: ssl_evaluation.finetune(
                    trunk, train_loader, test_loader, classes, **_finetune_kwargs(p, progress)))


def run_semi_supervised(checkpoint: str | Path | nn.Module, data: str, protocol: SemiSupervisedProtocol | None = None,
                        progress: ProgressFn | None = None) -> dict[str, Any]:
    """Semi-supervised evaluation on ``fraction`` of the labels, top-1/top-5 on the full test split."""
    import ssl_evaluation

    p = protocol or SemiSupervisedProtocol()
    return _run("semi-supervised", checkpoint, data, p, 0,
                lambda trunk, train, _, test_loader, classes: ssl_evaluation.semi_supervised_finetune(
                    trunk, train.dataset, train.targets, test_loader, classes, fraction=p.fraction, seed=p.seed,
                    batch_size=p.batch_size, **_finetune_kwargs(p, progress)))


def run_low_shot_transfer(checkpoint: str | Path | nn.Module, data: str, protocol: LowShotTransferProtocol | None = None,
                          progress: ProgressFn | None = None) -> dict[str, Any]:
    """VTAB-style low-shot transfer on ``data_limit`` train images, top-1/top-5 on the test split."""
    import ssl_evaluation

    p = protocol or LowShotTransferProtocol()
    return _run("low-shot-transfer", checkpoint, data, p, 0,
                lambda trunk, train, _, test_loader, classes: ssl_evaluation.low_shot_transfer(
                    trunk, train.dataset, train.targets, test_loader, classes, data_limit=p.data_limit, seed=p.seed,
                    balanced=p.balanced, batch_size=p.batch_size, task=p.task or None, **_finetune_kwargs(p, progress)))

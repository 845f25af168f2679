"""Full fine-tuning: a trunk plus a new linear classifier, all weights trained with SGD
(VISSL's ``benchmark/fulltune``), top-1/top-5 accuracy on a test loader."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from ssl_evaluation.accuracy import topk_accuracy
from ssl_evaluation.progress import ProgressFn, Ticker

__all__ = ["FinetuneResult", "Schedule", "finetune", "finetune_on_subset"]

Schedule = Literal["cosine", "step", "constant"]


@dataclass
class FinetuneResult:
    """Accuracy in percent of the fine-tuned ``model`` (``nn.Sequential(trunk, head)``)."""

    model: nn.Module
    top1: float
    top5: float
    loss_history: list[float]
    num_train: int
    protocol: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready results (everything except the model)."""
        return {"top1": self.top1, "top5": self.top5, "num_train": self.num_train,
                "final_loss": self.loss_history[-1] if self.loss_history else None, "protocol": self.protocol}


def _split(batch: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise ValueError("loaders must yield (images, labels) or (images, labels, indices)")
    return batch[0], torch.as_tensor(batch[1])


def _lr_factor(schedule: Schedule, epoch: int, epochs: int, milestones: Sequence[int], gamma: float) -> float:
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
    if schedule == "step":
        return gamma ** sum(1 for m in milestones if epoch >= m)
    return 1.0


def _length(items: Iterable[Any], attribute: str | None = None) -> int:
    """``len(items)`` (or of ``items.<attribute>``), 0 when it has none."""
    target = getattr(items, attribute, None) if attribute else items
    try:
        return len(target)  # type: ignore[arg-type]
    except TypeError:
        return 0


@torch.no_grad()
def _accuracy(model: nn.Module, loader: Iterable[Any], device: torch.device,
              progress: ProgressFn | None = None) -> dict[str, float]:
    model.eval()
    logits, labels = [], []
    ticker = Ticker(progress, "fine-tuning (test)", _length(loader, "dataset"))
    for batch in loader:
        images, y = _split(batch)
        logits.append(model(images.to(device)).float().cpu())
        labels.append(y)
        ticker.advance(len(y))
    if not labels or sum(len(y) for y in labels) == 0:
        raise ValueError("the test loader is empty")
    return topk_accuracy(torch.cat(logits), torch.cat(labels))


def finetune(
    trunk: nn.Module,
    train_loader: Iterable[Any],
    test_loader: Iterable[Any],
    num_classes: int,
    *,
    epochs: int = 10,
    lr: float = 0.01,
    head_lr: float | None = None,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 1e-4,
    schedule: Schedule = "cosine",
    milestones: Sequence[int] = (),
    gamma: float = 0.1,
    label_smoothing: float = 0.0,
    device: str | torch.device = "cpu",
    autocast_dtype: torch.dtype | None = None,
    progress: ProgressFn | None = None,
) -> FinetuneResult:
    """Fine-tune ``trunk`` (``[B, 3, H, W]`` -> ``[B, D]``) with a new ``nn.Linear(D, num_classes)``.

    Every weight trains with SGD (``lr`` for the trunk, ``head_lr`` (default ``lr``) for the head:
    VISSL's semi-supervised recipes give the head a larger rate), weight decay, and a per-epoch
    schedule (``cosine`` to 0, ``step`` at ``milestones`` by ``gamma``, or ``constant``). Loaders
    yield ``(images, int64 labels)`` (a third item, e.g. indices, is ignored). The test loader is
    scored once at the end (top-1 and top-5 in percent, torchmetrics).
    ``progress("fine-tuning", iterations done, epochs * len(train_loader))`` after every step and
    ``progress("fine-tuning (test)", images done, test images)`` while scoring.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if schedule not in ("cosine", "step", "constant"):
        raise ValueError(f"schedule must be 'cosine', 'step' or 'constant', got {schedule!r}")
    dev = torch.device(device)
    trunk.to(dev)
    first = next(iter(train_loader), None)
    if first is None:
        raise ValueError("the training loader is empty")
    images, _ = _split(first)
    trunk.eval()
    with torch.no_grad():
        probe = trunk(images[:1].to(dev))
    if probe.ndim != 2:
        raise ValueError(f"the trunk must return pooled features [B, D], got shape {tuple(probe.shape)}")
    head = nn.Linear(probe.shape[1], num_classes).to(dev)
    nn.init.normal_(head.weight, std=0.01)
    nn.init.zeros_(head.bias)
    model = nn.Sequential(trunk, head)
    opt = torch.optim.SGD(
        [{"params": [p for p in trunk.parameters() if p.requires_grad], "lr": lr},
         {"params": head.parameters(), "lr": head_lr if head_lr is not None else lr}],
        momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
    )
    base = [g["lr"] for g in opt.param_groups]
    loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    history: list[float] = []
    num_train = 0
    ticker = Ticker(progress, "fine-tuning", epochs * _length(train_loader))
    for epoch in range(epochs):
        factor = _lr_factor(schedule, epoch, epochs, milestones, gamma)
        for g, b in zip(opt.param_groups, base):
            g["lr"] = b * factor
        model.train()
        for batch in train_loader:
            x, y = _split(batch)
            if epoch == 0:
                num_train += len(y)
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
                raise ValueError(f"labels must lie in [0, {num_classes}), got {int(y.min())}..{int(y.max())}")
            with torch.autocast(dev.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                loss = loss_fn(model(x.to(dev)).float(), y.to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            history.append(float(loss.detach()))
            ticker.advance()
    acc = _accuracy(model, test_loader, dev, progress)
    return FinetuneResult(
        model=model, top1=acc["top1"], top5=acc["top5"], loss_history=history, num_train=num_train,
        protocol={"epochs": epochs, "lr": lr, "head_lr": head_lr if head_lr is not None else lr,
                  "momentum": momentum, "nesterov": nesterov, "weight_decay": weight_decay,
                  "schedule": schedule, "milestones": list(milestones), "gamma": gamma},
    )


def finetune_on_subset(
    trunk: nn.Module,
    train_dataset: Dataset,
    indices: torch.Tensor,
    test_loader: Iterable[Any],
    num_classes: int,
    *,
    seed: int = 0,
    batch_size: int = 256,
    num_workers: int = 0,
    **finetune_kwargs: Any,
) -> FinetuneResult:
    """:func:`finetune` on ``Subset(train_dataset, indices)``, shuffled by a ``seed``-ed generator."""
    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(Subset(train_dataset, indices.tolist()), batch_size=batch_size, shuffle=True,
                        generator=gen, num_workers=num_workers)
    return finetune(trunk, loader, test_loader, num_classes, **finetune_kwargs)

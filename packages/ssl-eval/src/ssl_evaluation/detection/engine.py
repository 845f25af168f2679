"""Train a torchvision detector (detectron2-style warmup + multi-step SGD) and evaluate it with
COCO-style AP (torchmetrics ``MeanAveragePrecision``, pycocotools backend)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from ssl_evaluation.progress import ProgressFn

__all__ = ["detection_collate", "train_detector", "evaluate_detector"]


def detection_collate(batch: Sequence[tuple[torch.Tensor, dict[str, torch.Tensor]]]) -> tuple[list, list]:
    """``DataLoader`` collate for detection: lists of images and targets (sizes differ)."""
    images, targets = zip(*batch)
    return list(images), list(targets)


def _lr_factor(it: int, warmup_iters: int, warmup_factor: float, steps: Sequence[int], gamma: float) -> float:
    factor = gamma ** sum(1 for s in steps if it >= s)
    if it < warmup_iters:
        alpha = it / warmup_iters
        factor *= warmup_factor * (1 - alpha) + alpha
    return factor


def train_detector(
    model: nn.Module,
    loader: Iterable[tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]],
    *,
    max_iter: int,
    base_lr: float = 0.02,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    warmup_iters: int = 100,
    warmup_factor: float = 0.001,
    steps: Sequence[int] = (),
    gamma: float = 0.1,
    device: str | torch.device = "cpu",
    progress: ProgressFn | None = None,
) -> list[float]:
    """SGD for ``max_iter`` iterations, cycling over ``loader`` (yielding lists of images and
    targets, see :func:`detection_collate`); learning rate is detectron2's WarmupMultiStepLR
    (linear warmup from ``warmup_factor * base_lr``, times ``gamma`` at each of ``steps``).
    ``progress("detection (train)", iterations done, max_iter)`` after each iteration.
    Returns the total loss per iteration."""
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    opt = torch.optim.SGD(params, lr=base_lr, momentum=momentum, weight_decay=weight_decay)
    history: list[float] = []
    it = 0
    while it < max_iter:
        seen = 0
        for images, targets in loader:
            seen += 1
            for g in opt.param_groups:
                g["lr"] = base_lr * _lr_factor(it, warmup_iters, warmup_factor, steps, gamma)
            images = [im.to(device) for im in images]
            targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
            losses = model(images, targets)
            loss = sum(losses.values())
            if not math.isfinite(float(loss.detach())):
                raise FloatingPointError(f"detection loss is {float(loss.detach())} at iteration {it}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            history.append(float(loss.detach()))
            it += 1
            if progress is not None:
                progress("detection (train)", it, max_iter)
            if it >= max_iter:
                break
        if seen == 0:
            raise ValueError("the training loader is empty")
    return history


_KEYS = {"map": "AP", "map_50": "AP50", "map_75": "AP75", "map_small": "APs", "map_medium": "APm", "map_large": "APl"}


@torch.no_grad()
def evaluate_detector(
    model: nn.Module,
    loader: Iterable[tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]],
    *,
    iou_types: Sequence[str] = ("bbox",),
    mask_threshold: float = 0.5,
    device: str | torch.device = "cpu",
    progress: ProgressFn | None = None,
) -> dict[str, dict[str, float]]:
    """COCO-style AP in percent: ``{"bbox": {"AP", "AP50", "AP75", "APs", "APm", "APl"}, "segm": ...}``.

    Targets with ``iscrowd`` 1 (VOC "difficult" through :class:`VOCDetection`) are ignored as in
    COCO's evaluation; AP of a size range without objects is reported as -1 (COCO's convention).
    ``progress("detection (test)", images done, total or 0)`` after each batch.
    """
    from torchmetrics.detection import MeanAveragePrecision

    bad = [t for t in iou_types if t not in ("bbox", "segm")]
    if bad or not iou_types:
        raise ValueError(f"iou_types must be a non-empty subset of ('bbox', 'segm'), got {list(iou_types)}")
    metric = MeanAveragePrecision(iou_type=tuple(iou_types), backend="pycocotools")
    model.to(device).eval()
    seen = 0
    for images, targets in loader:
        outputs = model([im.to(device) for im in images])
        preds, gts = [], []
        for out, tgt in zip(outputs, targets):
            p = {"boxes": out["boxes"].cpu(), "scores": out["scores"].cpu(), "labels": out["labels"].cpu()}
            g = {"boxes": tgt["boxes"], "labels": tgt["labels"], "iscrowd": tgt.get("iscrowd", torch.zeros_like(tgt["labels"]))}
            if "segm" in iou_types:
                if "masks" not in out or "masks" not in tgt:
                    raise ValueError("iou_types includes 'segm' but the model or the targets have no masks")
                p["masks"] = out["masks"].cpu()[:, 0] > mask_threshold if out["masks"].ndim == 4 else out["masks"].cpu().bool()
                g["masks"] = tgt["masks"].bool()
            preds.append(p)
            gts.append(g)
        metric.update(preds, gts)
        seen += len(images)
        if progress is not None:
            progress("detection (test)", seen, len(getattr(loader, "dataset", ())) or seen)
    if seen == 0:
        raise ValueError("the evaluation loader is empty")
    res: dict[str, Any] = metric.compute()
    out: dict[str, dict[str, float]] = {}
    for t in iou_types:
        prefix = f"{t}_" if len(iou_types) > 1 else ""
        out[t] = {
            name: (100.0 * float(res[prefix + key]) if float(res[prefix + key]) >= 0 else -1.0)
            for key, name in _KEYS.items()
        }
    return out

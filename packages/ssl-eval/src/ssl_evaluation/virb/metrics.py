"""Pixelwise end-task metrics: mIoU from a confusion matrix, depth RMSE / abs-rel / delta < 1.25.

Both metrics accumulate over batches (``update``) and are read once at the end (``compute``), so
the numbers are **pooled over every valid pixel of the split** (not averaged per image).

Segmentation (Cityscapes / EgoHands style): pixels whose target is ``ignore_index`` (255) are left
out; the confusion matrix ``[C, C]`` (rows: true class, columns: predicted class) comes from
torchmetrics. ``IoU_c = TP_c / (TP_c + FP_c + FN_c)``; a class that appears neither in the
targets nor in the predictions of valid pixels has no IoU (``None``) and is left out of the
mean, while a class that is predicted but never present gets IoU 0.

Depth: pixels with ``target <= min_depth`` (default 0: missing depth) or a non-finite target are
invalid and left out. ``rmse = sqrt(mean((p - t)^2))``, ``mae = mean(|p - t|)`` (ViRB's L1
error), ``abs_rel = mean(|p - t| / t)``, ``delta1 = % of pixels with max(p / t, t / p) < 1.25``
(a prediction ``<= 0`` never counts as within the threshold).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "IGNORE_INDEX",
    "DepthMeter",
    "SegmentationMeter",
    "depth_metrics",
    "mean_iou",
]

#: Target value of pixels left out of segmentation training and scoring (Cityscapes' 255).
IGNORE_INDEX = 255


def _as_prediction(pred: Tensor, target: Tensor, name: str) -> Tensor:
    """Class ids ``[B, H, W]`` from ids of that shape or from logits ``[B, C, H, W]``."""
    if pred.ndim == target.ndim + 1:
        pred = pred.argmax(dim=1)
    if pred.shape != target.shape:
        raise ValueError(
            f"{name} has shape {tuple(pred.shape)} but target has {tuple(target.shape)}; give "
            "class ids of the target's shape or logits [B, C, H, W]"
        )
    return pred


class SegmentationMeter:
    """Confusion matrix over batches; ``compute()`` gives mIoU and pixel accuracy in percent."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if 0 <= ignore_index < num_classes:
            raise ValueError(
                f"ignore_index={ignore_index} is a class id (num_classes={num_classes})"
            )
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add a batch: ``pred`` class ids ``[B, H, W]`` or logits ``[B, C, H, W]``, ``target``
        int ``[B, H, W]`` with values in ``[0, C)`` or ``ignore_index``."""
        # Imported here: importing torchmetrics costs seconds.
        from torchmetrics.functional.classification import multiclass_confusion_matrix

        pred = _as_prediction(pred, target, "pred").detach().cpu().long()
        target = target.detach().cpu().long()
        valid = target != self.ignore_index
        bad = valid & ((target < 0) | (target >= self.num_classes))
        if bool(bad.any()):
            raise ValueError(
                f"target holds {int(target[bad][0])}, outside [0, {self.num_classes}) and not "
                f"ignore_index={self.ignore_index}"
            )
        if bool(((pred < 0) | (pred >= self.num_classes))[valid].any()):
            raise ValueError(f"pred holds class ids outside [0, {self.num_classes})")
        # torchmetrics checks every prediction, including those of ignored pixels.
        pred = torch.where(valid, pred, torch.zeros_like(pred))
        self.confusion += multiclass_confusion_matrix(
            pred.reshape(-1), target.reshape(-1), self.num_classes, ignore_index=self.ignore_index
        )

    def compute(self) -> dict[str, object]:
        """``{"miou": %, "per_class_iou": [% or None], "pixel_accuracy": %, "num_pixels"}``."""
        conf = self.confusion.double()
        tp = conf.diag()
        union = conf.sum(0) + conf.sum(1) - tp
        per_class = [100.0 * float(t / u) if u > 0 else None for t, u in zip(tp, union)]
        present = [v for v in per_class if v is not None]
        total = float(conf.sum())
        return {
            "miou": sum(present) / len(present) if present else math.nan,
            "per_class_iou": per_class,
            "pixel_accuracy": 100.0 * float(tp.sum()) / total if total else math.nan,
            "num_pixels": int(total),
        }


def mean_iou(
    pred: Tensor, target: Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> dict[str, object]:
    """mIoU of one batch of predictions (see ``SegmentationMeter``)."""
    meter = SegmentationMeter(num_classes, ignore_index)
    meter.update(pred, target)
    return meter.compute()


class DepthMeter:
    """Sums of depth errors over valid pixels; ``compute()`` gives RMSE, MAE, abs-rel, delta1."""

    def __init__(self, min_depth: float = 0.0) -> None:
        self.min_depth = min_depth
        # count, squared error, absolute error, relative error, pixels with delta < 1.25
        self.sums = torch.zeros(5, dtype=torch.float64)

    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add a batch: ``pred`` and ``target`` of one shape (``[B, H, W]`` or ``[B, 1, H, W]``)."""
        if pred.shape != target.shape:
            raise ValueError(
                f"pred has shape {tuple(pred.shape)} but target has {tuple(target.shape)}"
            )
        pred = pred.detach().cpu().double()
        target = target.detach().cpu().double()
        valid = torch.isfinite(target) & (target > self.min_depth)
        p, t = pred[valid], target[valid]
        if not bool(torch.isfinite(p).all()):
            raise ValueError("pred holds NaN or infinite values at valid pixels")
        err = (p - t).abs()
        ratio = torch.maximum(p / t, t / p.clamp_min(1e-12))
        within = (ratio < 1.25) & (p > 0)
        batch = torch.stack(
            [torch.tensor(float(t.numel()), dtype=torch.float64), err.square().sum(), err.sum(),
             (err / t).sum(), within.sum().double()]
        )
        self.sums += batch

    def compute(self) -> dict[str, float]:
        """``{"rmse", "mae", "abs_rel", "delta1": %, "num_pixels"}`` (NaN without valid pixels)."""
        count, sq, ab, rel, within = (float(v) for v in self.sums)
        if count == 0:
            return {"rmse": math.nan, "mae": math.nan, "abs_rel": math.nan, "delta1": math.nan,
                    "num_pixels": 0}
        return {
            "rmse": math.sqrt(sq / count),
            "mae": ab / count,
            "abs_rel": rel / count,
            "delta1": 100.0 * within / count,
            "num_pixels": int(count),
        }


def depth_metrics(pred: Tensor, target: Tensor, min_depth: float = 0.0) -> dict[str, float]:
    """Depth errors of one batch (see ``DepthMeter``)."""
    meter = DepthMeter(min_depth)
    meter.update(pred, target)
    return meter.compute()

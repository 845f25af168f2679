"""Shared test settings: tiny tensors run fastest (and steadiest on a busy 2-core box) on one
thread.

Also the NumPy per-pixel references for the ViRB pixelwise metrics (fixtures ``iou_loop`` and
``depth_loop``), written from the definitions, shared by the metric and the end-to-end tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _iou_loop(pred: np.ndarray, target: np.ndarray, num_classes: int, ignore: int = 255):
    """Per-pixel loop: TP / FP / FN per class over non-ignored pixels; IoU None when TP+FP+FN=0."""
    tp = [0] * num_classes
    fp = [0] * num_classes
    fn = [0] * num_classes
    for p, t in zip(pred.ravel().tolist(), target.ravel().tolist()):
        if t == ignore:
            continue
        if p == t:
            tp[t] += 1
        else:
            fp[p] += 1
            fn[t] += 1
    ious = [
        100.0 * tp[c] / (tp[c] + fp[c] + fn[c]) if tp[c] + fp[c] + fn[c] else None
        for c in range(num_classes)
    ]
    present = [v for v in ious if v is not None]
    valid = sum(1 for t in target.ravel().tolist() if t != ignore)
    return sum(present) / len(present), ious, 100.0 * sum(tp) / valid


def _depth_loop(pred: np.ndarray, target: np.ndarray):
    """Per-pixel loop over pixels with a finite target > 0."""
    sq = ab = rel = within = count = 0.0
    for p, t in zip(pred.ravel().tolist(), target.ravel().tolist()):
        if not (math.isfinite(t) and t > 0):
            continue
        count += 1
        sq += (p - t) ** 2
        ab += abs(p - t)
        rel += abs(p - t) / t
        if p > 0 and max(p / t, t / p) < 1.25:
            within += 1
    return {"rmse": math.sqrt(sq / count), "mae": ab / count, "abs_rel": rel / count,
            "delta1": 100.0 * within / count}


@pytest.fixture
def iou_loop() -> Callable[..., tuple[float, list[float | None], float]]:
    """``(pred, target, num_classes, ignore=255) -> (mIoU %, per-class IoU %, pixel acc. %)``."""
    return _iou_loop


@pytest.fixture
def depth_loop() -> Callable[[np.ndarray, np.ndarray], dict[str, float]]:
    """``(pred, target) -> {"rmse", "mae", "abs_rel", "delta1"}`` over targets > 0."""
    return _depth_loop

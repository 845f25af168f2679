"""mIoU and depth metrics against hand-worked values and a NumPy per-pixel loop (definitions)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ssl_evaluation.virb import DepthMeter, SegmentationMeter, depth_metrics, mean_iou


def test_miou_hand_case_with_ignored_pixel_and_absent_class():
    target = torch.tensor([[[0, 0, 1], [1, 2, 255]]])
    pred = torch.tensor([[[0, 1, 1], [1, 0, 2]]])
    res = mean_iou(pred, target, num_classes=4)
    # class 0: TP 1, FP 1 (the 2 predicted as 0), FN 1 -> 1/3; class 1: TP 2, FP 1 -> 2/3;
    # class 2: TP 0, FN 1 (its only prediction sits on the ignored pixel) -> 0; class 3 absent.
    assert res["per_class_iou"][0] == pytest.approx(100 / 3)
    assert res["per_class_iou"][1] == pytest.approx(200 / 3)
    assert res["per_class_iou"][2] == 0.0
    assert res["per_class_iou"][3] is None
    assert res["miou"] == pytest.approx(100 / 3)
    assert res["pixel_accuracy"] == pytest.approx(60.0)
    assert res["num_pixels"] == 5


def test_miou_matches_numpy_loop_on_random_batches(iou_loop):
    gen = torch.Generator().manual_seed(0)
    classes = 6
    meter = SegmentationMeter(classes)
    preds, targets = [], []
    for _ in range(3):
        target = torch.randint(0, classes - 1, (2, 7, 5), generator=gen)  # class 5 never true
        target[torch.rand(target.shape, generator=gen) < 0.2] = 255
        logits = torch.randn(2, classes, 7, 5, generator=gen)
        logits[:, 4] -= 100.0  # class 4 never predicted, still present in the targets
        meter.update(logits, target)
        preds.append(logits.argmax(1).numpy())
        targets.append(target.numpy())
    res = meter.compute()
    miou, ious, acc = iou_loop(np.concatenate(preds), np.concatenate(targets), classes)
    assert res["miou"] == pytest.approx(miou)
    assert res["pixel_accuracy"] == pytest.approx(acc)
    for got, want in zip(res["per_class_iou"], ious):
        assert (got is None and want is None) or got == pytest.approx(want)
    assert res["per_class_iou"][4] == 0.0


def test_miou_rejects_bad_input():
    with pytest.raises(ValueError, match="outside"):
        mean_iou(torch.zeros(1, 2, 2, dtype=torch.long), torch.full((1, 2, 2), 3), 3)
    with pytest.raises(ValueError, match="shape"):
        mean_iou(torch.zeros(1, 2, 3, dtype=torch.long), torch.zeros(1, 2, 2, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="ignore_index"):
        SegmentationMeter(3, ignore_index=1)


def test_depth_hand_case():
    target = torch.tensor([2.0, 4.0, 0.0, -1.0, 1.0, float("nan")])
    pred = torch.tensor([1.0, 4.0, 3.0, 3.0, 1.5, 7.0])
    res = depth_metrics(pred, target)
    # valid pixels 0, 1, 4: errors 1, 0, 0.5
    assert res["num_pixels"] == 3
    assert res["rmse"] == pytest.approx(math.sqrt(1.25 / 3))
    assert res["mae"] == pytest.approx(0.5)
    assert res["abs_rel"] == pytest.approx((0.5 + 0 + 0.5) / 3)
    assert res["delta1"] == pytest.approx(100 / 3)  # ratios 2, 1, 1.5


def test_depth_matches_numpy_loop_with_invalid_and_nonpositive_predictions(depth_loop):
    gen = torch.Generator().manual_seed(1)
    meter = DepthMeter()
    preds, targets = [], []
    for _ in range(3):
        target = torch.rand(2, 6, 5, generator=gen) * 5.0 + 0.1
        target[torch.rand(target.shape, generator=gen) < 0.25] = 0.0  # missing depth
        pred = target * (0.7 + 0.6 * torch.rand(target.shape, generator=gen))
        pred[0, 0, :3] = torch.tensor([-1.0, 0.0, 1e-3])
        meter.update(pred, target)
        preds.append(pred.numpy())
        targets.append(target.numpy())
    res = meter.compute()
    want = depth_loop(np.concatenate(preds).astype(np.float64),
                      np.concatenate(targets).astype(np.float64))
    for key, value in want.items():
        assert res[key] == pytest.approx(value, rel=1e-6)


def test_depth_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        depth_metrics(torch.ones(2, 3), torch.ones(3, 2))

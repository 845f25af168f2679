"""Per-class weights (against scikit-learn's balanced weights), encoder fine-tuning, and
reusing a trained image head on a test-only set (against a NumPy forward pass)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import copy

import numpy as np
import pytest
import torch

_spec = importlib.util.spec_from_file_location("virb_pixel_helpers", Path(__file__).with_name("test_virb_pixel_tasks.py"))
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
PyramidTrunk, block_images = _helpers.PyramidTrunk, _helpers.block_images  # the suite's tiny 16 px trunk and images

from ssl_evaluation.virb import evaluate_image_head, pixel_finetune_task, segmentation_class_weights, train_image_head


def test_class_weights_are_sklearns_balanced_weights() -> None:
    utils = pytest.importorskip("sklearn.utils")
    masks = torch.tensor(np.random.default_rng(0).choice([0, 0, 0, 0, 1, 255], size=(3, 5, 7)))
    got = segmentation_class_weights(masks, 2)
    labelled = masks[masks != 255].numpy()
    want = utils.compute_class_weight("balanced", classes=np.array([0, 1]), y=labelled)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    with pytest.raises(ValueError, match="outside"):
        segmentation_class_weights(torch.tensor([[3]]), 2)


def _binary(n: int, seed: int):
    images = block_images(n, seed)
    masks = (images[:, 0] > 0.85).long()  # a rare foreground (~15 % of pixels)
    return images, masks


def test_finetune_trains_the_trunk_and_weights_raise_foreground_recall() -> None:
    tx, ty = _binary(16, 0)
    vx, vy = _binary(8, 1)
    trunk = PyramidTrunk()
    before = copy.deepcopy(trunk.state_dict())
    weights = segmentation_class_weights(ty, 2)
    tuned = pixel_finetune_task(trunk, tx, ty, vx, vy, "segmentation", num_classes=2, finetune=True,
                                class_weights=weights, epochs=4, batch_size=8, lr=3e-3, width=16)
    assert any(not torch.equal(before[k], v) for k, v in trunk.state_dict().items() if v.is_floating_point())
    assert tuned["protocol"]["finetune"] and tuned["protocol"]["class_weights"][1] > 1.0
    frozen_trunk = PyramidTrunk()
    frozen_before = copy.deepcopy(frozen_trunk.state_dict())
    plain = pixel_finetune_task(frozen_trunk, tx, ty, vx, vy, "segmentation", num_classes=2, finetune=False,
                                epochs=4, batch_size=8, lr=3e-3, width=16)
    weighted = pixel_finetune_task(PyramidTrunk(), tx, ty, vx, vy, "segmentation", num_classes=2, finetune=False,
                                   class_weights=weights, epochs=4, batch_size=8, lr=3e-3, width=16)
    assert all(torch.equal(frozen_before[k], v) for k, v in frozen_trunk.state_dict().items())
    # the weighted loss finds at least as much of the rare class (IoU of class 1)
    assert weighted["per_class_iou"][1] >= plain["per_class_iou"][1] - 1e-6
    with pytest.raises(ValueError, match="class_weights must be 2"):
        pixel_finetune_task(PyramidTrunk(), tx, ty, vx, vy, "segmentation", num_classes=2, class_weights=[1.0])


def test_head_reused_on_a_test_only_set() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 3
    y = np.arange(60) % 3
    x = centres[y] + rng.normal(size=(60, 8))
    head = train_image_head(torch.tensor(x, dtype=torch.float32), torch.tensor(y), epochs=50, batch_size=16)
    # "ImageNet-v2": another sample, with its own label numbering (folder names) mapped back
    y2 = np.arange(30) % 3
    x2 = centres[y2] + 1.5 * rng.normal(size=(30, 8))
    renumber = {0: 10, 1: 11, 2: 12}
    out = evaluate_image_head(head, torch.tensor(x2, dtype=torch.float32), torch.tensor([renumber[v] for v in y2]),
                              label_map={v: k for k, v in renumber.items()})
    w, b = head.weight[0].double().numpy(), head.bias[0].double().numpy()
    z = (x2 - head.mean.double().numpy()) / head.std.double().numpy()
    want = 100.0 * np.mean((z @ w.T + b).argmax(axis=1) == y2)
    assert out["top1"] == pytest.approx(want, abs=1e-4) and out["num_samples"] == 30
    with pytest.raises(ValueError, match="no entry for test label"):
        evaluate_image_head(head, torch.tensor(x2, dtype=torch.float32), torch.tensor(y2 + 5), label_map=renumber)

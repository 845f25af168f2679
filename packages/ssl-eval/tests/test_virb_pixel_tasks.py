"""Pixelwise ViRB tasks end to end on generated 16x16 images with a tiny frozen multi-scale trunk.

Masks and depth are simple functions of the image (4x4 blocks of one colour), so a decoder can
learn them; each test asserts that it beats the best constant prediction, scored by a NumPy
per-pixel loop written from the metric definitions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_evaluation.virb import (
    PixelDecoder,
    depth_task,
    encode_maps,
    evaluate_depth,
    evaluate_segmentation,
    predict_pixels,
    segmentation_task,
    train_pixel_decoder,
)

LAYERS = ("conv1", "res2", "res3", "res4", "res5")


class PyramidTrunk(nn.Module):
    """16 px: conv1 [B,8,8,8], res2 [B,8,8,8], res3 [B,16,4,4], res4 [B,16,2,2], res5 [B,16,1,1]"""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.res2 = nn.Conv2d(8, 8, 3, padding=1)
        self.res3 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.res4 = nn.Conv2d(16, 16, 3, stride=2, padding=1)
        self.res5 = nn.Conv2d(16, 16, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(8)

    def feature_names(self) -> list[str]:
        return [*LAYERS, "res5avg"]

    def forward_features(self, x: Tensor, names: Sequence[str]) -> dict[str, Tensor]:
        # leaky: a random ReLU stem would zero most of its (few) channels on these images
        maps = {"conv1": F.leaky_relu(self.bn(self.conv1(x)), 0.2)}
        for prev, name in zip(LAYERS[:-1], LAYERS[1:]):
            maps[name] = F.leaky_relu(getattr(self, name)(maps[prev]), 0.2)
        maps["res5avg"] = maps["res5"].mean(dim=(2, 3))
        return {name: maps[name] for name in names}


def block_images(n: int, seed: int) -> Tensor:
    """[n, 3, 16, 16]: 4x4 blocks of one random colour each."""
    gen = torch.Generator().manual_seed(seed)
    colours = torch.rand(n, 3, 4, 4, generator=gen)
    return colours.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)


def segmentation_data(n: int, seed: int) -> tuple[Tensor, Tensor]:
    images = block_images(n, seed)
    masks = images.argmax(dim=1)  # class = the dominant colour channel
    gen = torch.Generator().manual_seed(seed + 100)
    masks[torch.rand(masks.shape, generator=gen) < 0.1] = 255
    return images, masks


def depth_data(n: int, seed: int) -> tuple[Tensor, Tensor]:
    images = block_images(n, seed)
    depth = 1.0 + 4.0 * images[:, 0] + 2.0 * images[:, 2]
    gen = torch.Generator().manual_seed(seed + 100)
    depth[torch.rand(depth.shape, generator=gen) < 0.1] = 0.0  # missing depth
    return images, depth


FAST = {"layers": ("conv1", "res2", "res3"), "epochs": 40, "batch_size": 8, "lr": 1e-2, "width": 16}


def test_segmentation_decoder_beats_constant_baseline_miou_checked_by_numpy(iou_loop):
    train_x, train_y = segmentation_data(48, 0)
    test_x, test_y = segmentation_data(16, 1)
    trunk = PyramidTrunk()
    before = {k: v.clone() for k, v in trunk.state_dict().items()}
    decoder, history = train_pixel_decoder(trunk, train_x, train_y, "segmentation", 3,
                                           scheduler="poly", **FAST)
    res = evaluate_segmentation(decoder, trunk, test_x, test_y, 3, FAST["layers"])
    pred = predict_pixels(decoder, trunk, test_x, FAST["layers"]).argmax(dim=1)
    assert res["miou"] == pytest.approx(iou_loop(pred.numpy(), test_y.numpy(), 3)[0], rel=1e-9)
    # the best constant prediction: the most frequent train class everywhere
    majority = int(np.bincount(train_y[train_y != 255].numpy()).argmax())
    baseline = iou_loop(np.full(test_y.shape, majority), test_y.numpy(), 3)[0]
    assert res["miou"] > baseline + 40.0
    assert history[-1] < 0.5 * history[0]
    # the trunk stayed frozen and in its mode
    assert all(torch.equal(before[k], v) for k, v in trunk.state_dict().items())
    assert trunk.training


def test_depth_decoder_beats_constant_baseline_checked_by_numpy(depth_loop):
    train_x, train_y = depth_data(48, 2)
    test_x, test_y = depth_data(16, 3)
    trunk = PyramidTrunk()
    decoder, _ = train_pixel_decoder(trunk, train_x, train_y, "depth", 1, **FAST)
    res = evaluate_depth(decoder, trunk, test_x, test_y, FAST["layers"])
    pred = predict_pixels(decoder, trunk, test_x, FAST["layers"])[:, 0]
    want = depth_loop(pred.double().numpy(), test_y.double().numpy())
    assert res["rmse"] == pytest.approx(want["rmse"], rel=1e-5)
    assert res["delta1"] == pytest.approx(want["delta1"])
    const = float(train_y[train_y > 0].median())  # the best constant under L1
    base = depth_loop(np.full(test_y.shape, const), test_y.double().numpy())
    assert res["rmse"] < 0.5 * base["rmse"]
    assert res["delta1"] > base["delta1"] + 20.0


def test_task_functions_are_train_then_evaluate_with_protocol():
    x, y = segmentation_data(8, 5)
    dx, dy = depth_data(8, 6)
    short = {**FAST, "epochs": 2}
    trunk = PyramidTrunk()
    seg = segmentation_task(trunk, x, y, x, y, num_classes=3, **short)
    decoder, history = train_pixel_decoder(trunk, x, y, "segmentation", 3, scheduler="poly",
                                           **short)
    assert seg["miou"] == evaluate_segmentation(decoder, trunk, x, y, 3, short["layers"])["miou"]
    assert seg["train_loss"] == history
    assert seg["protocol"]["ignore_index"] == 255 and seg["protocol"]["scheduler"] == "poly"
    assert seg["protocol"]["poly_power"] == 0.9 and seg["protocol"]["optimizer"] == "adam"
    dep = depth_task(trunk, dx, dy, dx, dy, **short)
    decoder, _ = train_pixel_decoder(trunk, dx, dy, "depth", 1, **short)
    assert dep["rmse"] == evaluate_depth(decoder, trunk, dx, dy, short["layers"])["rmse"]
    assert dep["protocol"]["loss"].startswith("l1") and dep["protocol"]["scheduler"] == "constant"


def test_cached_and_uncached_trunk_give_the_same_decoder():
    train_x, train_y = depth_data(12, 4)
    trunk = PyramidTrunk()
    kwargs = {**FAST, "epochs": 2}
    cached, h1 = train_pixel_decoder(trunk, train_x, train_y, "depth", 1, **kwargs)
    live, h2 = train_pixel_decoder(trunk, train_x, train_y, "depth", 1, cache_features=False,
                                   **kwargs)
    assert h1 == pytest.approx(h2, rel=1e-5)
    for a, b in zip(cached.parameters(), live.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_encode_maps_shapes_and_decoder_output_size():
    maps = encode_maps(PyramidTrunk(), block_images(5, 0), LAYERS, batch_size=2)
    assert {k: tuple(v.shape) for k, v in maps.items()} == {
        "conv1": (5, 8, 8, 8), "res2": (5, 8, 8, 8), "res3": (5, 16, 4, 4),
        "res4": (5, 16, 2, 2), "res5": (5, 16, 1, 1),
    }
    decoder = PixelDecoder({k: v.shape[1] for k, v in maps.items()}, out_channels=4, width=8)
    assert tuple(decoder(maps, (16, 16)).shape) == (5, 4, 16, 16)
    assert tuple(decoder(maps, (13, 11)).shape) == (5, 4, 13, 11)


def test_pixel_tasks_reject_bad_input():
    trunk = PyramidTrunk()
    x, y = segmentation_data(4, 0)
    with pytest.raises(ValueError, match="unknown layer"):
        segmentation_task(trunk, x, y, x, y, 3, layers=("conv1", "layer9"), epochs=1)
    with pytest.raises(ValueError, match="to match the images"):
        segmentation_task(trunk, x, y[:, :8], x, y, 3, layers=LAYERS, epochs=1)
    with pytest.raises(ValueError, match="empty"):
        segmentation_task(trunk, x[:0], y[:0], x, y, 3, layers=LAYERS, epochs=1)
    with pytest.raises(ValueError, match="integer class ids"):
        segmentation_task(trunk, x, y.float(), x, y, 3, layers=LAYERS, epochs=1)
    with pytest.raises(ValueError, match="outside"):
        segmentation_task(trunk, x, y, x, torch.full_like(y, 7), 3, layers=LAYERS, epochs=1)
    with pytest.raises(ValueError, match="class id 7"):
        segmentation_task(trunk, x, torch.full_like(y, 7), x, y, 3, layers=LAYERS, epochs=1)
    with pytest.raises(ValueError, match="forward_features"):
        encode_maps(nn.Conv2d(3, 3, 1), x, ["conv1"])
    with pytest.raises(ValueError, match="spatial maps"):
        encode_maps(trunk, x, ["res5avg"])

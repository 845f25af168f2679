"""ViRB's Kinetics LSTM task and KITTI optical-flow task on tiny tensors; metrics checked against
per-sample NumPy computations and hand-worked values."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

_spec = importlib.util.spec_from_file_location("virb_pixel_helpers", Path(__file__).with_name("test_virb_pixel_tasks.py"))
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)
PyramidTrunk, block_images = _helpers.PyramidTrunk, _helpers.block_images  # the suite's tiny 16 px trunk and images

from ssl_evaluation.virb import encode_clips, flow_metrics, flow_task, video_task


def test_encode_clips_matches_a_per_frame_loop() -> None:
    trunk = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    clips = torch.rand(3, 5, 3, 8, 8)
    got = encode_clips(trunk, clips, batch_size=4)
    with torch.no_grad():
        want = torch.stack([torch.stack([trunk(clips[n, t : t + 1]).mean(dim=(2, 3))[0] for t in range(5)]) for n in range(3)])
    torch.testing.assert_close(got, want)


def _order_clips(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 1 clips rise over time, class 0 clips fall: the frame *set* is the same, only the
    order tells the classes apart (a mean over frames cannot)."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 1, 4, generator=gen)
    ramp = torch.linspace(0, 1, 6).view(1, 6, 1)
    labels = torch.arange(n) % 2
    x = torch.where(labels.view(n, 1, 1) == 1, base + ramp, base + ramp.flip(1))
    return x, labels


def test_video_task_lstm_reads_frame_order() -> None:
    train_x, train_y = _order_clips(64, 0)
    test_x, test_y = _order_clips(32, 1)
    out = video_task(train_x, train_y, test_x, test_y, hidden=16, epochs=25, batch_size=16, lr=2e-2, return_predictions=True)
    pred = out["predictions"].numpy()
    assert out["top1"] == pytest.approx(100.0 * float(np.mean(pred == test_y.numpy())))
    assert out["top1"] == 100.0 and out["protocol"]["frames"] == 6
    assert out["train_loss"][-1] < out["train_loss"][0]
    with pytest.raises(ValueError, match=r"\[N, T, D\]"):
        video_task(train_x[:, 0], train_y, test_x, test_y)


def test_flow_metrics_hand_worked() -> None:
    gt = torch.zeros(1, 2, 3, 2)  # [N, H, W, 2]; column 2 stays (0, 0) = exact
    gt[0, 0, 0] = torch.tensor([3.0, 4.0])  # |gt| = 5
    gt[0, 0, 1] = torch.tensor([100.0, 0.0])
    gt[0, 1, 0] = torch.tensor([0.0, 0.0])
    gt[0, 1, 1] = float("nan")  # invalid
    pred = gt.clone().nan_to_num()
    pred[0, 0, 0] = torch.tensor([0.0, 0.0])  # epe 5 > 3 and > 0.25 -> outlier
    pred[0, 0, 1] = torch.tensor([104.0, 0.0])  # epe 4 > 3 but < 5 (5 % of 100) -> inlier
    pred[0, 1, 0] = torch.tensor([1.0, 0.0])  # epe 1
    m = flow_metrics(pred, gt)
    assert m["num_pixels"] == 5
    assert m["epe"] == pytest.approx((5 + 4 + 1 + 0 + 0) / 5)
    assert m["fl_all"] == pytest.approx(100 / 5)


def test_flow_task_learns_a_known_shift() -> None:
    """Second frame = first frame shifted by (dx, 0) with dx in {-2, 2}: the decoder must beat
    the zero-flow prediction on held-out pairs."""
    def pairs(n: int, seed: int):
        first = block_images(n, seed)
        dx = torch.where(torch.arange(n) % 2 == 0, 2, -2)
        second = torch.stack([torch.roll(f, shifts=int(d), dims=2) for f, d in zip(first, dx)])
        flow = torch.zeros(n, 16, 16, 2)
        flow[..., 0] = dx.view(n, 1, 1).float()
        return first, second, flow

    tf, ts, tflow = pairs(32, 0)
    vf, vs, vflow = pairs(8, 1)
    out = flow_task(PyramidTrunk(), tf, ts, tflow, vf, vs, vflow, epochs=30, batch_size=8, lr=3e-3, width=16)
    zero = flow_metrics(torch.zeros_like(vflow), vflow)["epe"]  # = 2.0
    assert zero == pytest.approx(2.0)
    assert out["epe"] < 0.75 * zero, out["epe"]
    assert out["protocol"]["task"] == "optical_flow"

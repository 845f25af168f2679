"""VISSL multi-layer eval: heads trained together equal heads trained one at a time."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ssl_evaluation.multi_layer_probe import multi_layer_linear_eval


def _data(seed: int):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (300,), generator=g)
    centres = torch.randn(4, 2, 3, 3, generator=g) * 1.5
    informative = (centres[y] + torch.randn(300, 2, 3, 3, generator=g)).flatten(1)  # [N, 18]
    noise = torch.randn(300, 5, generator=g)  # carries no label information
    return {"res4": informative, "res5avg": noise}, y


def one_head_alone(x, y, xt, yt, channels, index, epochs, batch):
    """Plain PyTorch: BatchNorm2d on [B, C, L, 1] + Linear, its own optimizer, same batch order."""
    norm = nn.BatchNorm2d(channels)
    linear = nn.Linear(x.shape[1], 4)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(linear.weight.shape, generator=torch.Generator().manual_seed(index)) * 0.01)
        linear.bias.zero_()
    # VISSL: regularize_bias True (Linear bias decayed), regularize_bn False (BatchNorm not decayed)
    groups = [{"params": list(linear.parameters()), "weight_decay": 5e-4},
              {"params": list(norm.parameters()), "weight_decay": 0.0}]
    opt = torch.optim.SGD(groups, lr=0.05, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [3, 5], 0.1)
    forward = lambda v: linear(norm(v.reshape(len(v), channels, -1, 1)).flatten(1))  # noqa: E731
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), batch):
            rows = order[start : start + batch]
            if len(rows) < 2:
                continue
            opt.zero_grad()
            F.cross_entropy(forward(x[rows]), y[rows]).backward()
            opt.step()
        sched.step()
    norm.eval()
    with torch.no_grad():
        return 100.0 * float((forward(xt).argmax(1) == yt).float().mean())


def test_joint_training_equals_separate_heads() -> None:
    feats, y = _data(0)
    train = {k: v[:200] for k, v in feats.items()}
    test = {k: v[200:] for k, v in feats.items()}
    res = multi_layer_linear_eval(
        train, y[:200], test, y[200:], channels={"res4": 2}, epochs=6, lr=0.05,
        milestones=(3, 5), batch_size=32,
    )
    assert list(res) == ["res4", "res5avg"]
    for i, (name, channels) in enumerate((("res4", 2), ("res5avg", 5))):
        ref = one_head_alone(train[name], y[:200], test[name], y[200:], channels, i, 6, 32)
        assert res[name]["top1"] == pytest.approx(ref, abs=1.0 + 1e-6)  # at most one test row
    assert res["res4"]["top1"] > 85.0
    assert res["res5avg"]["top1"] < 45.0


def test_errors() -> None:
    feats, y = _data(1)
    with pytest.raises(ValueError, match="lacks layer"):
        multi_layer_linear_eval(feats, y, {"res4": feats["res4"]}, y)
    with pytest.raises(ValueError, match="not a multiple of channels=4"):
        multi_layer_linear_eval({"res4": feats["res4"]}, y, {"res4": feats["res4"]}, y,
                                channels={"res4": 4}, epochs=1)
    with pytest.raises(ValueError, match=r"train\[res4\]_features has 300 rows"):
        multi_layer_linear_eval(feats, y[:10], feats, y, epochs=1)

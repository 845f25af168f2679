"""Batched heads against PyTorch's own optimizers and schedulers, one head at a time."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler

from ssl_evaluation import HeadConfig, train_linear_heads
from ssl_evaluation.linear_grid import linear_grid_search, virb_grid
from ssl_evaluation.linear_heads import head_schedule

EPOCHS, BATCH, SEED = 4, 16, 3


def torch_reference(x: torch.Tensor, y: torch.Tensor, cfg: HeadConfig, classes: int):
    """One nn.Linear, torch.optim.SGD/Adam and torch.optim.lr_scheduler, same batch order."""
    mean = x.double().mean(0)
    std = x.double().std(0, unbiased=False)
    xs = ((x.double() - mean) / std).float()
    layer = torch.nn.Linear(x.shape[1], classes)
    torch.nn.init.zeros_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(
            layer.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )
    else:
        opt = torch.optim.Adam(
            layer.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
            weight_decay=cfg.weight_decay,
        )
    steps = math.ceil(len(y) / BATCH)
    total = EPOCHS * steps
    per_step = {
        "constant": None,
        "cosine": lambda: lr_scheduler.CosineAnnealingLR(opt, T_max=total),
        "onecycle": lambda: lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total),
        "poly": lambda: lr_scheduler.PolynomialLR(opt, total_iters=total, power=cfg.poly_power),
    }
    per_epoch = {
        "step": lambda: lr_scheduler.StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma),
        "multistep": lambda: lr_scheduler.MultiStepLR(opt, list(cfg.milestones), cfg.gamma),
    }
    step_sched = per_step[cfg.scheduler]() if per_step.get(cfg.scheduler) else None
    epoch_sched = per_epoch[cfg.scheduler]() if cfg.scheduler in per_epoch else None
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(EPOCHS):
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), BATCH):
            rows = order[start : start + BATCH]
            opt.zero_grad()
            F.cross_entropy(layer(xs[rows]), y[rows]).backward()
            opt.step()
            if step_sched is not None:
                step_sched.step()
        if epoch_sched is not None:
            epoch_sched.step()
    return layer.weight.detach(), layer.bias.detach()


CONFIGS = [  # Adam and SGD interleaved: the trainer groups them internally
    HeadConfig("adam", 1e-2, "constant", weight_decay=1e-3),
    HeadConfig("sgd", 0.05, "constant", momentum=0.0),
    HeadConfig("sgd", 0.05, "cosine", weight_decay=1e-3),
    HeadConfig("sgd", 0.05, "step", step_size=2, gamma=0.5, nesterov=True),
    HeadConfig("sgd", 0.05, "multistep", milestones=(1, 3), gamma=0.3),
    HeadConfig("sgd", 0.2, "onecycle"),
    HeadConfig("sgd", 0.05, "poly", poly_power=0.9),
    HeadConfig("adam", 1e-2, "onecycle"),
    HeadConfig("adam", 3e-3, "poly", poly_power=2.0),
]


def test_batched_heads_match_pytorch_one_by_one() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(90, 7, generator=g) * 3 + 1
    y = torch.randint(0, 4, (90,), generator=g)
    heads = train_linear_heads(x, y, CONFIGS, 4, EPOCHS, BATCH, seed=SEED)
    for i, cfg in enumerate(CONFIGS):
        ref_w, ref_b = torch_reference(x, y, cfg, 4)
        assert ref_w.abs().max() > 1e-3, cfg  # the head did learn something
        torch.testing.assert_close(heads.weight[i], ref_w, atol=2e-4, rtol=2e-3, msg=cfg.name)
        torch.testing.assert_close(heads.bias[i], ref_b, atol=2e-4, rtol=2e-3, msg=cfg.name)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.name)
def test_schedule_matches_pytorch_scheduler(cfg: HeadConfig) -> None:
    epochs, steps = 5, 7
    lr, mom = head_schedule(cfg, epochs, steps)
    opt_cls = torch.optim.SGD if cfg.optimizer == "sgd" else torch.optim.Adam
    kwargs = {"momentum": 0.9} if cfg.optimizer == "sgd" else {}
    opt = opt_cls([torch.zeros(1, requires_grad=True)], lr=cfg.lr, **kwargs)
    total = epochs * steps
    sched = {
        "constant": lambda: None,
        "cosine": lambda: lr_scheduler.CosineAnnealingLR(opt, T_max=total),
        "onecycle": lambda: lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total),
        "poly": lambda: lr_scheduler.PolynomialLR(opt, total_iters=total, power=cfg.poly_power),
        "step": lambda: lr_scheduler.StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma),
        "multistep": lambda: lr_scheduler.MultiStepLR(opt, list(cfg.milestones), cfg.gamma),
    }[cfg.scheduler]()
    for t in range(total):
        group = opt.param_groups[0]
        assert lr[t].item() == pytest.approx(group["lr"], rel=1e-6, abs=1e-12), t
        if mom is not None:
            expected = group["momentum"] if cfg.optimizer == "sgd" else group["betas"][0]
            assert mom[t].item() == pytest.approx(expected, rel=1e-6)
        opt.step()
        if sched is not None and (cfg.scheduler not in ("step", "multistep") or t % steps == steps - 1):
            sched.step()


def test_grid_search_picks_by_validation() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 10)) * 1.5
    y = rng.integers(0, 5, 800)
    x = torch.from_numpy((centres[y] + rng.normal(size=(800, 10))).astype(np.float32))
    y = torch.from_numpy(y)
    grid = virb_grid(epochs=6)
    assert len(grid) >= 8
    assert {c.optimizer for c in grid} == {"adam", "sgd"}
    assert {"step", "onecycle", "poly"} <= {c.scheduler for c in grid}
    res = linear_grid_search(x[:600], y[:600], x[600:], y[600:], grid, epochs=6, batch_size=64)
    table = res["configs"]
    assert len(table) == len(grid)
    best = res["best"]
    assert best["val_top1"] == max(row["val_top1"] for row in table.values())
    assert best["top1"] == table[best["config"]]["top1"]
    assert best["top1"] > 70.0
    # A tiny Adam learning rate for 6 epochs is clearly worse than the best config.
    assert table["adam-lr0.0001-constant"]["top1"] < best["top1"]


def test_grid_errors() -> None:
    x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    with pytest.raises(ValueError, match="val_features and val_labels"):
        linear_grid_search(x, y, x, y, val_features=x)
    with pytest.raises(ValueError, match="configs must differ"):
        linear_grid_search(x, y, x, y, [HeadConfig(), HeadConfig()], epochs=1)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        HeadConfig(optimizer="rmsprop")

"""VISSL's schedulers against torch.optim.lr_scheduler where torch implements the same curve, and
against the ClassyVision/VISSL formulas written out in NumPy elsewhere."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ssl_train import ConfigError
from ssl_train.config import ScheduleConfig
from ssl_train.lr_schedule import auto_scale_factor, build_lr_schedule
from ssl_train.schedules import (
    Composite, Constant, Cosine, CosineWarmRestart, InverseSqrt, Linear, MultiStep, Step, StepWithFixedGamma, value_at_step,
)  # fmt: skip

TOTAL = 120  # steps


def torch_curve(make, total: int = TOTAL, base: float = 1.0) -> np.ndarray:
    """Learning rates a torch scheduler gives at steps 0..total-1."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    sched = make(opt)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


def ours(schedule, total: int = TOTAL, per_epoch: int = 0) -> np.ndarray:
    return np.array([value_at_step(schedule, s, total, per_epoch) for s in range(total)])


def test_cosine_equals_torch_cosine_annealing() -> None:
    ref = torch_curve(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=TOTAL, eta_min=0.05))
    np.testing.assert_allclose(ours(Cosine(1.0, 0.05)), ref, rtol=1e-12, atol=1e-12)


def test_multistep_equals_torch_multistep() -> None:
    # 10 epochs of 12 steps; VISSL gives absolute values, torch a gamma.
    ref = torch_curve(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[36, 84], gamma=0.1))
    np.testing.assert_allclose(ours(MultiStep((1.0, 0.1, 0.01), (3, 7), 10)), ref, rtol=1e-12)


def test_step_with_fixed_gamma_equals_torch_step_lr() -> None:
    ref = torch_curve(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=40, gamma=0.5))
    np.testing.assert_allclose(ours(StepWithFixedGamma(1.0, 0.5, 2)), ref, rtol=1e-12)


def test_linear_warmup_then_cosine_equals_torch_sequential() -> None:
    warm = 24
    ref = torch_curve(lambda o: torch.optim.lr_scheduler.SequentialLR(
        o,
        [torch.optim.lr_scheduler.LinearLR(o, start_factor=1e-9, end_factor=1.0, total_iters=warm),
         torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=TOTAL - warm, eta_min=0.0)],
        milestones=[warm],
    ))  # fmt: skip
    composite = Composite((Linear(0.0, 1.0), Cosine(1.0, 0.0)), (warm / TOTAL, 1 - warm / TOTAL), ("rescaled", "rescaled"))
    np.testing.assert_allclose(ours(composite), ref, rtol=1e-7, atol=1e-8)


def test_formulas_of_the_others() -> None:
    where = np.linspace(0, 0.999, 200)
    np.testing.assert_allclose([Constant(0.3)(w) for w in where], 0.3)
    np.testing.assert_allclose([Linear(0.1, 0.5)(w) for w in where], 0.1 + 0.4 * where)
    np.testing.assert_allclose([Step((3.0, 2.0, 1.0))(w) for w in where], np.array([3.0, 2.0, 1.0])[(where * 3).astype(int)])
    half = [CosineWarmRestart(1.0, 0.0, 0.25, "half")(w) for w in where]
    np.testing.assert_allclose(half, 0.5 * (1 + np.cos(np.pi * np.mod(where, 0.25) / 0.25)), atol=1e-12)
    full = [CosineWarmRestart(1.0, 0.0, 0.5, "full")(w) for w in where]
    np.testing.assert_allclose(full, 0.5 * (1 + np.cos(2 * np.pi * np.mod(where, 0.5) / 0.5)), atol=1e-12)
    inv = [InverseSqrt(4.8, 0.1)(w) for w in where]
    np.testing.assert_allclose(inv, np.where(where < 0.1, 4.8, 4.8 * np.sqrt(0.1 / np.maximum(where, 1e-12))), rtol=1e-12)
    fixed = Composite((Constant(1.0), Cosine(1.0, 0.0)), (0.5, 0.5), ("rescaled", "fixed"))
    np.testing.assert_allclose([fixed(w) for w in where], np.where(where < 0.5, 1.0, 0.5 * (1 + np.cos(np.pi * where))), atol=1e-12)


def test_epoch_update_interval_holds_values_for_an_epoch() -> None:
    values = ours(Cosine(1.0, 0.0), total=40, per_epoch=10)
    assert len(set(values[:10])) == 1 and values[10] < values[9]
    assert values[10] == pytest.approx(Cosine(1.0, 0.0)(0.25))


@pytest.mark.parametrize("mode,expected", [("linear", 4.0), ("sqrt", 2.0), ("none", 1.0)])
def test_auto_scaling_by_global_batch(mode: str, expected: float) -> None:
    assert auto_scale_factor(mode, 1024, 256) == expected


def test_run_schedule_from_config() -> None:
    cfg = ScheduleConfig(name="cosine", warmup_epochs=2, warmup_start_fraction=0.0, final_fraction=0.1)
    sched = build_lr_schedule(cfg, epochs=10, peak=0.6)
    assert sched(0.0) == pytest.approx(0.0) and sched(0.2) == pytest.approx(0.6)
    assert sched(0.6) == pytest.approx(0.06 + 0.27 * (1 + math.cos(math.pi * 0.5)))
    multi = build_lr_schedule(ScheduleConfig(name="multistep", warmup_epochs=0, milestones=[3, 6], values=[1, 0.1, 0.01]), 10, 0.5)
    assert [multi(w) for w in (0.0, 0.35, 0.65)] == pytest.approx([0.5, 0.05, 0.005])


@pytest.mark.parametrize(
    "cfg,match",
    [(ScheduleConfig(name="cosine_annealing"), "not a scheduler"), (ScheduleConfig(warmup_epochs=20), "warmup_epochs"),
     (ScheduleConfig(name="multistep", warmup_epochs=0, milestones=[3], values=[1.0]), "one value more"),
     (ScheduleConfig(update_interval="iteration"), "update_interval")],
)  # fmt: skip
def test_bad_schedules_are_one_line_errors(cfg: ScheduleConfig, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_lr_schedule(cfg, epochs=10, peak=0.1)

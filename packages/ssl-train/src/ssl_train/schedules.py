"""VISSL's parameter schedulers as pure functions.

Every schedule maps ``where``, the fraction of training done (``step / total_steps``, in [0, 1]),
to a value; :func:`value_at_step` turns that into a pure function of the global step. The names
and formulas are ClassyVision's/VISSL's (``param_scheduler``):

- ``Constant(value)``
- ``Cosine(start, end)``: ``end + (start - end) * (1 + cos(pi * where)) / 2``
- ``CosineWarmRestart(start, end, restart_interval_length, wave_type)``: the cosine restarted every
  ``restart_interval_length``; ``half`` waves go start -> end in each interval, ``full`` waves
  start -> end -> start (``cos(2 pi t)``)
- ``Linear(start, end)``: ``start + (end - start) * where``
- ``MultiStep(values, milestones, num_epochs)``: ``values[i]`` from epoch ``milestones[i-1]`` on
- ``Step(values)``: ``values[floor(where * len(values))]``
- ``StepWithFixedGamma(base, gamma, num_decays)``: ``Step([base * gamma**i for i in 0..num_decays])``
- ``InverseSqrt(start, warmup_interval_length)``: ``start`` while ``where < w``, then
  ``start * sqrt(w / where)``
- ``Composite(schedules, lengths, interval_scaling)``: piece ``i`` covers ``lengths[i]`` of
  training; ``rescaled`` pieces see ``where`` rescaled to [0, 1) inside the piece, ``fixed`` ones
  the global ``where``
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "SCHEDULE_NAMES",
    "Composite",
    "Constant",
    "Cosine",
    "CosineWarmRestart",
    "InverseSqrt",
    "Linear",
    "MultiStep",
    "Schedule",
    "Step",
    "StepWithFixedGamma",
    "value_at_step",
]

SCHEDULE_NAMES = (
    "constant", "cosine", "cosine_warm_restart", "linear", "multistep", "step", "step_with_fixed_gamma", "inverse_sqrt",
)


class Schedule(Protocol):
    """A value as a function of the fraction of training done."""

    def __call__(self, where: float) -> float: ...


@dataclass(frozen=True)
class Constant:
    value: float

    def __call__(self, where: float) -> float:
        return float(self.value)


@dataclass(frozen=True)
class Cosine:
    start_value: float
    end_value: float

    def __call__(self, where: float) -> float:
        return self.end_value + 0.5 * (self.start_value - self.end_value) * (1.0 + math.cos(math.pi * where))


@dataclass(frozen=True)
class CosineWarmRestart:
    start_value: float
    end_value: float
    restart_interval_length: float = 0.5
    wave_type: str = "half"

    def __post_init__(self) -> None:
        if not 0.0 < self.restart_interval_length <= 1.0:
            raise ValueError(f"restart_interval_length must be in (0, 1], got {self.restart_interval_length}")
        if self.wave_type not in ("half", "full"):
            raise ValueError(f"wave_type must be 'half' or 'full', got {self.wave_type!r}")

    def __call__(self, where: float) -> float:
        t = (where % self.restart_interval_length) / self.restart_interval_length
        angle = math.pi * t if self.wave_type == "half" else 2.0 * math.pi * t
        return self.end_value + 0.5 * (self.start_value - self.end_value) * (1.0 + math.cos(angle))


@dataclass(frozen=True)
class Linear:
    start_value: float
    end_value: float

    def __call__(self, where: float) -> float:
        return self.start_value + (self.end_value - self.start_value) * where


@dataclass(frozen=True)
class MultiStep:
    values: tuple[float, ...]
    milestones: tuple[float, ...]
    num_epochs: int

    def __post_init__(self) -> None:
        if len(self.values) != len(self.milestones) + 1:
            raise ValueError(f"multistep needs one value more than milestones, got {len(self.values)} and {len(self.milestones)}")
        if list(self.milestones) != sorted(self.milestones) or any(m <= 0 for m in self.milestones):
            raise ValueError(f"milestones must be increasing positive epochs, got {list(self.milestones)}")

    def __call__(self, where: float) -> float:
        return float(self.values[bisect.bisect_right(self.milestones, where * self.num_epochs)])


@dataclass(frozen=True)
class Step:
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("step needs at least one value")

    def __call__(self, where: float) -> float:
        return float(self.values[min(int(where * len(self.values)), len(self.values) - 1)])


@dataclass(frozen=True)
class StepWithFixedGamma:
    base_value: float
    gamma: float
    num_decays: int

    def __post_init__(self) -> None:
        if self.num_decays < 0 or self.gamma <= 0:
            raise ValueError(f"num_decays must be >= 0 and gamma > 0, got {self.num_decays} and {self.gamma}")

    def __call__(self, where: float) -> float:
        return Step(tuple(self.base_value * self.gamma**i for i in range(self.num_decays + 1)))(where)


@dataclass(frozen=True)
class InverseSqrt:
    start_value: float
    warmup_interval_length: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 < self.warmup_interval_length <= 1.0:
            raise ValueError(f"warmup_interval_length must be in (0, 1], got {self.warmup_interval_length}")

    def __call__(self, where: float) -> float:
        return self.start_value * math.sqrt(self.warmup_interval_length / max(where, self.warmup_interval_length))


@dataclass(frozen=True)
class Composite:
    schedules: tuple[Schedule, ...]
    lengths: tuple[float, ...]
    interval_scaling: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.schedules)
        if n == 0 or len(self.lengths) != n or len(self.interval_scaling) != n:
            raise ValueError("composite needs as many lengths and interval_scaling entries as schedules")
        if abs(sum(self.lengths) - 1.0) > 1e-3 or any(v < 0 for v in self.lengths):
            raise ValueError(f"composite lengths must be >= 0 and sum to 1, got {list(self.lengths)}")
        if any(s not in ("rescaled", "fixed") for s in self.interval_scaling):
            raise ValueError(f"interval_scaling entries must be 'rescaled' or 'fixed', got {list(self.interval_scaling)}")

    def __call__(self, where: float) -> float:
        start = 0.0
        for i, (schedule, length) in enumerate(zip(self.schedules, self.lengths)):
            last = i == len(self.schedules) - 1
            if where < start + length or last:
                if self.interval_scaling[i] == "fixed":
                    return schedule(where)
                inner = (where - start) / length if length > 0 else 0.0
                return schedule(min(max(inner, 0.0), 1.0))
            start += length
        raise AssertionError("unreachable")


def value_at_step(schedule: Schedule, step: int, total_steps: int, steps_per_epoch: int = 0) -> float:
    """``schedule(step / total_steps)``; with ``steps_per_epoch`` > 0 the value changes once per
    epoch only (VISSL's ``update_interval: epoch``)."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if steps_per_epoch > 0:
        step = step - step % steps_per_epoch
    return float(schedule(min(step, total_steps) / total_steps))

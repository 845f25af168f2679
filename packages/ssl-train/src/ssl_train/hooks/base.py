"""Hook interface: things that happen around the loop (logging, monitoring), never method logic."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssl_train.state import TrainState

__all__ = ["Hook", "RunInfo"]


@dataclass
class RunInfo:
    """What hooks may read about the run (hooks run on rank 0 only)."""

    state: TrainState
    recipe_name: str
    config: dict[str, Any]
    out_dir: Path
    steps_per_epoch: int
    total_steps: int
    epochs: int
    global_batch: int
    data_description: str = ""
    precision: str = "fp32"
    device: str = "cpu"
    values: dict[str, float] = field(default_factory=dict)
    """The schedules' values at the last step (``lr``, ``weight_decay``, method schedules)."""
    images_per_second: float = 0.0
    """Training throughput over the last ``log_every_steps`` steps (all ranks)."""


class Hook:
    """Base class with no-op callbacks; override the ones you need."""

    def on_start(self, run: RunInfo) -> None:
        """Before the first step (also after a resume)."""

    def on_step_end(self, run: RunInfo, metrics: dict[str, float]) -> None:
        """After every optimizer step; ``metrics`` are plain floats."""

    def on_epoch_end(self, run: RunInfo) -> None:
        """After the last step of every epoch (``run.state.epoch`` already counts it), before
        the epoch's checkpoint is written."""

    def on_end(self, run: RunInfo, completed: bool) -> None:
        """When the loop stops; ``completed`` is False when it stopped on an error or a signal."""

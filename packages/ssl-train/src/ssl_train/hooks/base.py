"""Hook interface: things that happen around the loop (logging, checkpoints), never method logic."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssl_train.state import TrainState

__all__ = ["Hook", "RunInfo"]


@dataclass
class RunInfo:
    """What hooks may read about the run."""

    state: TrainState
    recipe_name: str
    config: dict[str, Any]
    out_dir: Path
    steps_per_epoch: int
    total_steps: int
    epochs: int
    lr: float = 0.0


class Hook:
    """Base class with no-op callbacks; override the ones you need."""

    def on_start(self, run: RunInfo) -> None:
        """Before the first step (also after a resume)."""

    def on_step_end(self, run: RunInfo, metrics: dict[str, float]) -> None:
        """After every optimizer step; ``metrics`` are plain floats."""

    def on_epoch_end(self, run: RunInfo) -> None:
        """After the last step of every epoch (``run.state.epoch`` already counts it)."""

    def on_end(self, run: RunInfo, completed: bool) -> None:
        """When the loop stops; ``completed`` is False when it stopped on an error."""

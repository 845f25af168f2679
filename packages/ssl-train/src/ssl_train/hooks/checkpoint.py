"""Checkpoint hook: the full resume state every N steps and every epoch; the model at the end."""

from __future__ import annotations

from ssl_train.checkpointing import FINAL_NAME, LAST_NAME, save_train_checkpoint
from ssl_train.hooks.base import Hook, RunInfo

__all__ = ["CheckpointHook"]


class CheckpointHook(Hook):
    """Write ``OUT/checkpoints/last.pt`` (resume state) and, at the end, ``final.pt`` (model only).

    Args:
        every_steps: also checkpoint every N optimizer steps (0: epochs only).
    """

    def __init__(self, every_steps: int = 0) -> None:
        self.every_steps = every_steps

    def _save(self, run: RunInfo) -> None:
        save_train_checkpoint(run.state, run.recipe_name, run.config, run.out_dir / "checkpoints" / LAST_NAME)

    def on_step_end(self, run: RunInfo, metrics: dict[str, float]) -> None:
        if self.every_steps and run.state.step % self.every_steps == 0 and run.state.batch_in_epoch:
            self._save(run)

    def on_epoch_end(self, run: RunInfo) -> None:
        self._save(run)

    def on_end(self, run: RunInfo, completed: bool) -> None:
        if completed:
            save_train_checkpoint(
                run.state, run.recipe_name, run.config, run.out_dir / "checkpoints" / FINAL_NAME, with_train_state=False
            )

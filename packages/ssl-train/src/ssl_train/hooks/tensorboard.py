"""TensorBoard hook: loss and learning rate under OUT/tensorboard."""

from __future__ import annotations

from ssl_train.hooks.base import Hook, RunInfo

__all__ = ["TensorboardHook"]


class TensorboardHook(Hook):
    """Write every metric and the learning rate every ``every_steps`` steps."""

    def __init__(self, every_steps: int = 10) -> None:
        self.every_steps = max(1, every_steps)
        self._writer = None

    def on_start(self, run: RunInfo) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(run.out_dir / "tensorboard"), purge_step=run.state.step)

    def on_step_end(self, run: RunInfo, metrics: dict[str, float]) -> None:
        if self._writer is None or run.state.step % self.every_steps:
            return
        for key, value in metrics.items():
            self._writer.add_scalar(f"train/{key}", value, run.state.step)
        self._writer.add_scalar("train/lr", run.lr, run.state.step)

    def on_end(self, run: RunInfo, completed: bool) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

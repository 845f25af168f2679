"""Progress hook: a rich progress bar with ETA and the running loss, plus one log line per epoch."""

from __future__ import annotations

import sys
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ssl_train.hooks.base import Hook, RunInfo

__all__ = ["ProgressHook"]


class ProgressHook(Hook):
    """Show progress on stderr; ``log`` receives one line per epoch (default: print to stderr)."""

    def __init__(self, enabled: bool = True, log: Callable[[str], None] | None = None) -> None:
        self.enabled = enabled
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._progress: Progress | None = None
        self._task = None
        self._epoch_losses: list[float] = []

    def on_start(self, run: RunInfo) -> None:
        head = (
            f"pretrain {run.recipe_name}: {run.epochs} epochs x {run.steps_per_epoch} steps, global batch "
            f"{run.global_batch}, {run.precision} on {run.device}; data: {run.data_description}"
        )
        self.log(f"{head} (resuming at step {run.state.step})" if run.state.step else head)
        if not self.enabled:
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=Console(stderr=True),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            "pretrain", total=run.total_steps, completed=run.state.step, status=""
        )

    def on_step_end(self, run: RunInfo, metrics: dict[str, float]) -> None:
        self._epoch_losses.append(metrics["loss"])
        if self._progress is not None:
            status = (
                f"epoch {run.state.epoch + 1}/{run.epochs} loss {metrics['loss']:.4f} "
                f"lr {run.values.get('lr', 0.0):.4g} {run.images_per_second:,.0f} img/s"
            )
            self._progress.update(self._task, completed=run.state.step, status=status)

    def on_epoch_end(self, run: RunInfo) -> None:
        mean = sum(self._epoch_losses) / max(1, len(self._epoch_losses))
        self._epoch_losses = []
        message = (
            f"epoch {run.state.epoch}/{run.epochs}: mean loss {mean:.4f}, "
            f"{run.state.elapsed_seconds / 60:.1f} min elapsed"
        )
        last = run.state.monitor_history[-1] if run.state.monitor_history else None
        if last is not None and int(last["epoch"]) == run.state.epoch:
            message += f", online kNN top-1 {last['knn_top1']:.2f} %"
        if self._progress is not None:
            self._progress.console.print(message)
        else:
            self.log(message)

    def on_end(self, run: RunInfo, completed: bool) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

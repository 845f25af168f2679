"""TensorBoard hook: loss, schedules, throughput, memory and the online kNN under OUT/tensorboard."""

from __future__ import annotations

import resource
import sys

import torch

from ssl_train.hooks.base import Hook, RunInfo

__all__ = ["TensorboardHook"]


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


class TensorboardHook(Hook):
    """Every ``every_steps`` steps: every metric (``train/``), every schedule value (``schedule/``:
    lr, weight decay, momentum, teacher temperature, ...), images/s and memory (``system/``:
    peak RSS in MiB, peak CUDA memory in MiB); at each monitored epoch the kNN top-1 (``monitor/``)."""

    def __init__(self, every_steps: int = 10) -> None:
        self.every_steps = max(1, every_steps)
        self._writer = None

    def on_start(self, run: RunInfo) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ImportError("TensorBoard logs need the tensorboard package: pip install 'ssl-train[tensorboard]' "
                              "(or set train.tensorboard=false)") from None  # fmt: skip
        self._writer = SummaryWriter(log_dir=str(run.out_dir / "tensorboard"), purge_step=run.state.step)

    def on_step_end(self, run: RunInfo, metrics: dict[str, float]) -> None:
        if self._writer is None or run.state.step % self.every_steps:
            return
        step = run.state.step
        for key, value in metrics.items():
            self._writer.add_scalar(f"train/{key}", value, step)
        for key, value in run.values.items():
            self._writer.add_scalar(f"schedule/{key}", value, step)
        self._writer.add_scalar("system/images_per_second", run.images_per_second, step)
        self._writer.add_scalar("system/peak_rss_mib", _peak_rss_mib(), step)
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            self._writer.add_scalar("system/cuda_peak_mib", torch.cuda.max_memory_allocated() / 2**20, step)

    def on_epoch_end(self, run: RunInfo) -> None:
        last = run.state.monitor_history[-1] if run.state.monitor_history else None
        if self._writer is not None and last is not None and int(last["epoch"]) == run.state.epoch:
            self._writer.add_scalar("monitor/knn_top1", last["knn_top1"], run.state.step)

    def on_end(self, run: RunInfo, completed: bool) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

"""Loop hooks: progress, checkpoints, TensorBoard."""

from ssl_train.hooks.base import Hook, RunInfo
from ssl_train.hooks.checkpoint import CheckpointHook
from ssl_train.hooks.progress import ProgressHook
from ssl_train.hooks.tensorboard import TensorboardHook

__all__ = ["CheckpointHook", "Hook", "ProgressHook", "RunInfo", "TensorboardHook"]

"""Loop hooks: progress, TensorBoard, the online kNN monitor."""

from ssl_train.hooks.base import Hook, RunInfo
from ssl_train.hooks.knn_monitor import KNNMonitorHook, weighted_knn_top1
from ssl_train.hooks.progress import ProgressHook
from ssl_train.hooks.tensorboard import TensorboardHook

__all__ = ["Hook", "KNNMonitorHook", "ProgressHook", "RunInfo", "TensorboardHook", "weighted_knn_top1"]

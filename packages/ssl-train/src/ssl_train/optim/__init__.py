"""Optimizers: LARS and a builder that keeps biases and norms out of weight decay."""

from ssl_train.optim.build import OPTIMIZERS, build_optimizer, split_decay_groups
from ssl_train.optim.lars import LARS

__all__ = ["LARS", "OPTIMIZERS", "build_optimizer", "split_decay_groups"]

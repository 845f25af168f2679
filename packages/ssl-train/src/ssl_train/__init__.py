"""Typed recipes, the training loop, optimizers, schedules, checkpoints and distributed training for self-supervised learning."""

from ssl_train.__about__ import __version__

__all__ = ["__version__"]

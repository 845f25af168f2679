"""Pretraining data held in memory, and its resumable batch order."""

from ssl_train.data.batches import EpochBatches
from ssl_train.data.sources import ImageSplit, balanced_subset, load_split

__all__ = ["EpochBatches", "ImageSplit", "balanced_subset", "load_split"]

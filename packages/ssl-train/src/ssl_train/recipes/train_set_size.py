"""How many training images a recipe's data section yields, before the loop builds its loader.

Memory banks (NPID, PIRL), cluster tables (DeepClusterV2, ClusterFit) are sized by the dataset
and must exist when the method is built (a resumed run loads them into the built method), but the
loop builds the method before its data. This reads the same source the loop will read.
"""

from __future__ import annotations

from ssl_train.config import DataConfig
from ssl_train.training_data import build_training_data
from ssl_train.views import CropSpec, ViewPlan

__all__ = ["train_set_size"]


def train_set_size(data: DataConfig, seed: int) -> int:
    """Number of training images (all ranks) of ``data`` with ``data.limit`` applied; dataset
    indices of the loop's batches lie in ``[0, train_set_size)``.

    Raises:
        ConfigError: a missing folder or a folder without images (one line).
    """
    plan = ViewPlan((CropSpec(data.image_size),))
    found = build_training_data(data.source, plan, image_size=data.image_size, batch_size=1, seed=seed,
                                limit=data.limit, num_workers=0, announce_fallback=False)  # fmt: skip
    return found.num_images

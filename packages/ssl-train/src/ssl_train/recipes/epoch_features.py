"""Features of the whole training set at an epoch start, kept per rank, and k-means of them
(DeepClusterV2's memory initialisation, ClusterFit's stage 1).

``EpochContext.features`` returns the features of every rank's shard gathered on every rank; the
k-means of ``ssl_losses.DeepClusterV2Loss`` is collective over ranks' own memories, so each rank
keeps the rows of its own shard (dataset index ``i`` belongs to rank ``i % world_size``, the
shard ``TrainingData.ordered`` reads).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

import ssl_losses
from ssl_train.recipes.base import EpochContext

__all__ = ["ModelOutput", "own_rows", "spherical_kmeans_labels"]


class ModelOutput(nn.Module):
    """``images -> output`` of one head chain of a model (for ``EpochContext.features``):
    ``pick(model(batch(images)))``; ``batch`` builds the model's input from the images (default:
    the images themselves; a multi-input model gets a dict).

    Not a child of the method: it holds the model only for the duration of a features pass."""

    def __init__(self, model: nn.Module, pick: Callable[[list[Tensor]], Tensor] = lambda outs: outs[0],
                 batch: Callable[[Tensor], Any] = lambda images: images) -> None:  # fmt: skip
        super().__init__()
        self.model = model
        self.pick = pick
        self.batch = batch

    def forward(self, x: Tensor) -> Tensor:
        return self.pick(self.model(self.batch(x)))


def own_rows(features: Tensor, indices: Tensor, ctx: EpochContext) -> tuple[Tensor, Tensor]:
    """The rows of ``features [N, D]`` / ``indices [N]`` that belong to this rank's shard."""
    mine = (indices % ctx.world_size) == ctx.rank
    return features[mine.to(features.device)], indices[mine].to(features.device)


def spherical_kmeans_labels(features: Tensor, indices: Tensor, num_train_samples: int, num_clusters: tuple[int, ...],
                            iters: int, seed: int, ctx: EpochContext) -> Tensor:  # fmt: skip
    """Cluster ids int64 ``[len(num_clusters), num_train_samples]`` (-100 for samples not given):
    one spherical k-means per entry of ``num_clusters`` (seeds ``seed``, ``seed + 1``, ...) of the
    L2-normalised ``features [n, D]`` of this rank's ``indices [n]`` together with every other
    rank's (``ssl_losses.DeepClusterV2Loss``'s distributed k-means; collective)."""
    kmeans = ssl_losses.DeepClusterV2Loss(
        num_train_samples, num_crops=1, num_clusters=num_clusters, kmeans_iters=iters,
        embedding_dim=int(features.shape[1]), memory_size=max(1, int(features.shape[0])),
    ).to(features.device)  # fmt: skip
    kmeans.update_memory(features, indices)
    kmeans.cluster_memory(seed=seed)
    return kmeans.assignments.clone()

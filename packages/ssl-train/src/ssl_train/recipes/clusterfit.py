"""ClusterFit (Yan et al., 2020): cluster a pretrained model's features, then train a fresh model
to classify the clusters.

One command runs both stages::

    ssl pretrain clusterfit --out runs/clusterfit clusterfit.checkpoint=runs/rotnet/checkpoints/final.pt

Stage 1 (``on_epoch_start`` of the first epoch): the trunk of ``clusterfit.checkpoint`` (any ssl
checkpoint: ``ssl pretrain``'s ``final.pt``, or one converted with ``ssl convert``) embeds every
training image (pooled features, no augmentation, ``EpochContext.features``) and spherical k-means
(``ssl_losses.DeepClusterV2Loss``'s distributed k-means on L2-normalised features) turns them into
``clusterfit.num_clusters`` pseudo-labels. They are a buffer of the method, so a resumed run keeps
them. Stage 2: a fresh trunk + linear classifier learns the pseudo-labels with cross entropy
(``ssl_losses.CrossEntropyMultipleOutputSingleTarget``), supervised-style augmentation.

VISSL: stage 1 ``pretrain/clusterfit/cluster_features_resnet_8gpu_rotation_in1k`` (RotNet ResNet-50
res5 features, faiss k-means, 16,000 clusters, 50 iterations) writes a label file; stage 2
``pretrain/clusterfit/clusterfit_resnet_8gpu_imagenet`` trains a ResNet-50 on it (head ``mlp
[2048, 16000]``). Small-data defaults: 100 clusters of Fashion-MNIST's 60,000 images, ResNet-18 at
width 0.25, 28 px crops (0.2-1), cosine lr 0.1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

import ssl_losses
import ssl_models
from ssl_models.checkpoint import CheckpointError, load_checkpoint, trunk_from_checkpoint
from ssl_train.config import ConfigError, DataConfig, MonitorConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.recipes.base import Batch, EpochContext, Method, Recipe, StepContext
from ssl_train.recipes.epoch_features import own_rows, spherical_kmeans_labels
from ssl_train.recipes.train_set_size import train_set_size
from ssl_train.recipes.trunk_options import build_recipe_trunk
from ssl_train.views import CropSpec, ViewPlan

__all__ = ["CLUSTERFIT", "ClusterFit", "ClusterFitConfig"]

UNLABELLED = -100


@dataclass
class ClusterFitStageOneConfig:
    checkpoint: str = ""
    """The ssl checkpoint whose trunk's features are clustered (required)."""
    num_clusters: int = 100
    """VISSL: 16,000 for ImageNet."""
    kmeans_iters: int = 50
    seed: int = 0


@dataclass
class ClusterFitModelConfig:
    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False


@dataclass
class ClusterFitViewsConfig:
    crop_scale_min: float = 0.2
    crop_scale_max: float = 1.0
    jitter_strength: float = 0.5
    p_jitter: float = 0.8
    p_gray: float = 0.2
    p_flip: float = 0.5


@dataclass
class ClusterFitConfig:
    """The whole ClusterFit recipe (both stages)."""

    clusterfit: ClusterFitStageOneConfig = field(default_factory=ClusterFitStageOneConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ClusterFitModelConfig = field(default_factory=ClusterFitModelConfig)
    views: ClusterFitViewsConfig = field(default_factory=ClusterFitViewsConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.1))
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


class ClusterFit(Method):
    """Online model = fresh trunk + linear classifier over the clusters; ``pseudo_labels`` [N]."""

    pseudo_labels: Tensor

    def __init__(self, cfg: ClusterFitConfig) -> None:
        super().__init__()
        c, m, v = cfg.clusterfit, cfg.model, cfg.views
        if not c.checkpoint:
            raise ConfigError("clusterfit.checkpoint is required: the ssl checkpoint whose features stage 1 clusters "
                              "(e.g. clusterfit.checkpoint=runs/rotnet/checkpoints/final.pt)")  # fmt: skip
        try:
            self._stage_one = [trunk_from_checkpoint(load_checkpoint(c.checkpoint))]  # a list: not part of the state
        except (CheckpointError, ValueError, RuntimeError, TypeError) as exc:
            raise ConfigError(f"clusterfit.checkpoint: {str(exc).splitlines()[0]}") from None
        num_train_samples = train_set_size(cfg.data, cfg.train.seed)
        if not 1 <= c.num_clusters <= num_train_samples:
            raise ConfigError(f"clusterfit.num_clusters must be in [1, {num_train_samples}] (the training images), got {c.num_clusters}")
        trunk = build_recipe_trunk(m.trunk, m.width_multiplier, m.small_input)
        self.model = ssl_models.SSLModel(trunk, [ssl_models.MLPHead([trunk.num_features, c.num_clusters])])
        self.plan = ViewPlan((CropSpec(cfg.data.image_size, 1, (v.crop_scale_min, v.crop_scale_max), v.jitter_strength,
                                       v.p_jitter, v.p_gray, v.p_flip),))  # fmt: skip
        self.register_buffer("pseudo_labels", torch.full((num_train_samples,), UNLABELLED, dtype=torch.int64))
        self.stage_one = c
        self.loss = ssl_losses.CrossEntropyMultipleOutputSingleTarget(ignore_index=UNLABELLED)

    def views(self) -> ViewPlan:
        return self.plan

    def on_epoch_start(self, ctx: EpochContext) -> None:
        """Stage 1, once (the labels are part of the train state): features of the checkpoint's
        trunk, k-means, pseudo-labels."""
        if bool((self.pseudo_labels != UNLABELLED).any()) or not self._stage_one:
            return
        trunk = self._stage_one.pop().to(ctx.device)
        feats, idx = own_rows(*ctx.features(trunk), ctx)
        labels = spherical_kmeans_labels(ssl_losses.full_precision(feats), idx, self.pseudo_labels.numel(), self.stage_one.num_clusters,
                                         self.stage_one.kmeans_iters, self.stage_one.seed, ctx)  # fmt: skip
        self.pseudo_labels.copy_(labels.to(self.pseudo_labels.device))

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """Classify each image's pseudo-label; reports the accuracy too."""
        targets = self.pseudo_labels[batch.indices]
        with ctx.autocast():
            (logits,) = ctx.model(batch.crops)
        accuracy = (logits.detach().argmax(1) == targets).float().mean()
        return {"loss": self.loss(ssl_losses.full_precision(logits), targets), "accuracy": accuracy}


CLUSTERFIT = Recipe(
    name="clusterfit",
    summary="ClusterFit: k-means of a given checkpoint's features as pseudo-labels, then a fresh trunk learns them (cross entropy)",
    paper="Yan, Misra, Gupta, Ghadiyaram, Mahajan (2020). ClusterFit: Improving Generalization of Visual Representations",
    config_class=ClusterFitConfig,
    build=ClusterFit,
)

"""DeepClusterV2 (Caron et al., 2020, the SwAV paper): predict the k-means cluster of one's
previous embedding.

Every crop's 128-d embedding (trunk + ``mlp``), L2-normalised, is scored against fixed centroids
(a cosine classifier with temperature 0.1) and trained with cross entropy to predict the cluster
its image was assigned to. The embeddings of ``loss.crops_for_mb`` are stored in a memory during
the epoch; at the start of every epoch (``on_epoch_start``) the memory is clustered with spherical
k-means, once per clustering head, into new centroids and assignments. Before the first epoch the
memory is filled with one pass over the training set (``EpochContext.features``), as VISSL does.
The memory, k-means (distributed over ranks) and assignments live in
``ssl_losses.DeepClusterV2Loss``.

VISSL ``pretrain/deepcluster_v2/deepclusterv2_2crops_resnet``: ResNet-50, head ``mlp [2048, 2048,
128]`` (ReLU), 2 crops of 224 px (0.08-1), colour distortion 1.0, blur 0.5, 3 clusterings of 3,000
centroids, 10 k-means iterations, temperature 0.1, crops_for_mb [0, 1], LARC SGD lr 4.8 at batch
4096 (0.3 x batch/256), weight decay 1e-6, cosine, 400+ epochs, SyncBN, AMP. Small-data defaults:
ResNet-18 at width 0.25, 28 px crops (0.35-1), head 512-128, 3 clusterings of 300 centroids
(60,000 images), jitter strength 0.5, no blur, plain SGD.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

import ssl_losses
import ssl_models
from ssl_train.config import ConfigError, DataConfig, MonitorConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.recipes.base import Batch, EpochContext, Method, Recipe, StepContext
from ssl_train.recipes.epoch_features import ModelOutput, own_rows
from ssl_train.recipes.train_set_size import train_set_size
from ssl_train.recipes.trunk_options import build_recipe_trunk
from ssl_train.views import CropSpec, ViewPlan

__all__ = ["DEEPCLUSTERV2", "DeepClusterV2", "DeepClusterV2Config"]


@dataclass
class DeepClusterV2ModelConfig:
    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False
    head_hidden_dim: int = 512
    """VISSL: 2048."""
    projection_dim: int = 128


@dataclass
class DeepClusterV2ViewsConfig:
    crop_scale_min: float = 0.35
    """VISSL: 0.08."""
    crop_scale_max: float = 1.0
    jitter_strength: float = 0.5
    """VISSL: 1.0."""
    p_jitter: float = 0.8
    p_gray: float = 0.2
    p_flip: float = 0.5
    p_blur: float = 0.0
    """VISSL: 0.5 at 224 px."""


@dataclass
class DeepClusterV2LossConfig:
    """``ssl_losses.DeepClusterV2Loss`` (VISSL ``deepclusterv2_loss``)."""

    temperature: float = 0.1
    num_clusters: list[int] = field(default_factory=lambda: [300, 300, 300])
    """VISSL: [3000, 3000, 3000] for ImageNet's 1.28 M images."""
    kmeans_iters: int = 10
    crops_for_mb: list[int] = field(default_factory=lambda: [0, 1])


@dataclass
class DeepClusterV2Config:
    """The whole DeepClusterV2 recipe."""

    data: DataConfig = field(default_factory=DataConfig)
    model: DeepClusterV2ModelConfig = field(default_factory=DeepClusterV2ModelConfig)
    views: DeepClusterV2ViewsConfig = field(default_factory=DeepClusterV2ViewsConfig)
    loss: DeepClusterV2LossConfig = field(default_factory=DeepClusterV2LossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.3, weight_decay=1e-6))
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


class DeepClusterV2(Method):
    """Online model = trunk + MLP; memory, centroids and assignments live in the loss."""

    def __init__(self, cfg: DeepClusterV2Config) -> None:
        super().__init__()
        m, v, lc = cfg.model, cfg.views, cfg.loss
        trunk = build_recipe_trunk(m.trunk, m.width_multiplier, m.small_input)
        head = ssl_models.MLPHead([trunk.num_features, m.head_hidden_dim, m.projection_dim])
        self.model = ssl_models.SSLModel(trunk, [head])
        self.plan = ViewPlan((CropSpec(cfg.data.image_size, 2, (v.crop_scale_min, v.crop_scale_max), v.jitter_strength,
                                       v.p_jitter, v.p_gray, v.p_flip, v.p_blur),))  # fmt: skip
        num_train_samples = train_set_size(cfg.data, cfg.train.seed)
        if max(lc.num_clusters, default=0) > num_train_samples:
            raise ConfigError(f"loss.num_clusters {list(lc.num_clusters)} exceeds the {num_train_samples} training images")
        try:
            self.loss = ssl_losses.DeepClusterV2Loss(
                num_train_samples, num_crops=self.plan.num_crops, temperature=lc.temperature,
                num_clusters=tuple(lc.num_clusters), kmeans_iters=lc.kmeans_iters, crops_for_mb=tuple(lc.crops_for_mb),
                embedding_dim=m.projection_dim,
            )  # fmt: skip
        except ValueError as exc:
            raise ConfigError(f"loss: {exc}") from None

    def views(self) -> ViewPlan:
        return self.plan

    def on_epoch_start(self, ctx: EpochContext) -> None:
        """Epoch 0: fill the memory with one pass over the data. Every epoch: k-means of the
        memory into centroids and assignments (seeded by the epoch; collective over ranks)."""
        if ctx.epoch == 0 and int(self.loss.memory_position) == 0:
            feats, idx = own_rows(*ctx.features(ModelOutput(self.model)), ctx)
            self.loss.update_memory(feats.repeat(self.plan.num_crops, 1), idx)
        self.loss.cluster_memory(seed=ctx.epoch)

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """All crops embedded; cross entropy of their centroid scores against their image's cluster."""
        with ctx.autocast():
            (embeddings,) = ctx.model(batch.crops)
        return {"loss": self.loss(ssl_losses.full_precision(embeddings), batch.indices)}


DEEPCLUSTERV2 = Recipe(
    name="deepclusterv2",
    summary="DeepClusterV2: predict last epoch's k-means cluster with the centroids as classifier (VISSL deepclusterv2_loss)",
    paper="Caron, Misra, Mairal, Goyal, Bojanowski, Joulin (2020). Unsupervised Learning of Visual Features by Contrasting Cluster Assignments",
    config_class=DeepClusterV2Config,
    build=DeepClusterV2,
)

"""MoCo (He et al., 2020; v2: Chen et al., 2020): a query matches its key from a momentum encoder
against a queue of past keys (InfoNCE).

Read top to bottom: the config, the method (online encoder = trunk + projection head, key encoder =
its EMA copy, ``MoCoLoss`` with its queue), the two views, the step (queries from view 0, keys
from view 1) and the key-encoder update after each optimizer step.

Versions (``model.version``): 2 (default, MoCo v2) has an MLP head ``C -> C -> 128`` with ReLU
and blur in the augmentation; 1 (MoCo v1, VISSL's variant) has a linear head ``C -> 128`` and no
blur. VISSL keeps the loss settings for both (temperature 0.2; the v1 paper used 0.07).

Published / VISSL defaults (``moco_1node_resnet``, ResNet-50, 200 epochs): SGD lr 0.03 at batch
256, momentum 0.9, weight decay 1e-4, multistep x0.1 at epochs 120 and 160 (v2: cosine), queue
65536, key-encoder momentum 0.999, temperature 0.2, 224 px crops of scale 0.2-1 (v2) with colour
distortion 0.5 and blur p=0.5. Our Fashion-MNIST defaults (ResNet-18 at width 0.25, 28 px, batch
256, 8 epochs of 234 steps): queue 4096 (7 % of the 60,000 images, as 65536 is 5 % of
ImageNet), key momentum 0.99 (0.999 barely moves a key encoder in 1,900 steps), lr 0.06 with a
cosine schedule, crops of scale 0.35-1 and no blur (a blur at 28 px erases the image).
Shuffle-BN across GPUs (MoCo's guard against BN leaking batch statistics) is not done: with one
process it does not apply, with several use ``train.sync_bn`` or keep per-rank BN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

import ssl_losses
import ssl_models
from ssl_losses.distributed import world_size
from ssl_train.config import ConfigError, DataConfig, MonitorConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.recipes.base import Batch, Method, Recipe, StepContext
from ssl_train.recipes.trunk_options import build_recipe_trunk
from ssl_train.schedules import Constant, Schedule
from ssl_train.views import CropSpec, ViewPlan

__all__ = ["MOCO", "MoCo", "MoCoConfig"]


@dataclass
class MoCoModelConfig:
    version: int = 2
    """2: MLP head and blur (MoCo v2); 1: linear head, no blur (MoCo v1)."""
    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False
    head_hidden_dim: int = 0
    """v2's hidden width; 0 = the trunk's feature width (VISSL: 2048 for a ResNet-50)."""
    projection_dim: int = 128


@dataclass
class MoCoViewsConfig:
    crop_scale_min: float = 0.35
    """MoCo v2: 0.2 (at 224 px)."""
    crop_scale_max: float = 1.0
    jitter_strength: float = 0.5
    p_jitter: float = 0.8
    p_gray: float = 0.2
    p_flip: float = 0.5
    p_blur: float = 0.0
    """MoCo v2: 0.5 at 224 px; a blur at 28 px erases the image. MoCo v1 has none."""


@dataclass
class MoCoLossConfig:
    temperature: float = 0.2
    queue_size: int = 4096
    """VISSL 65536. Rounded down to a multiple of the global batch."""
    momentum: float = 0.99
    """Key-encoder EMA momentum, constant (VISSL 0.999)."""


@dataclass
class MoCoConfig:
    """The whole MoCo recipe."""

    data: DataConfig = field(default_factory=DataConfig)
    model: MoCoModelConfig = field(default_factory=MoCoModelConfig)
    views: MoCoViewsConfig = field(default_factory=MoCoViewsConfig)
    loss: MoCoLossConfig = field(default_factory=MoCoLossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.06, weight_decay=1e-4))
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(warmup_epochs=0.0))
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


class MoCo(Method):
    """Encoder (``self.model``), key encoder (``self.key_encoder``) and the loss with its queue."""

    def __init__(self, cfg: MoCoConfig) -> None:
        super().__init__()
        m, v, lc = cfg.model, cfg.views, cfg.loss
        if m.version not in (1, 2):
            raise ConfigError(f"model.version must be 1 (MoCo v1) or 2 (MoCo v2), got {m.version}")
        if m.version == 1 and v.p_blur > 0:
            raise ConfigError("model.version=1 (MoCo v1) has no blur; set views.p_blur=0")
        trunk = build_recipe_trunk(m.trunk, m.width_multiplier, m.small_input)
        c = trunk.num_features
        if m.version == 1:
            head = ssl_models.MLPHead([c, m.projection_dim])
        else:
            head = ssl_models.MLPHead([c, m.head_hidden_dim or c, m.projection_dim], use_relu=True)
        self.model = ssl_models.SSLModel(trunk, [head])
        self.key_encoder = ssl_models.MomentumEncoder(self.model)
        spec = CropSpec(cfg.data.image_size, 2, (v.crop_scale_min, v.crop_scale_max), v.jitter_strength,
                        v.p_jitter, v.p_gray, v.p_flip, v.p_blur)  # fmt: skip
        self.plan = ViewPlan((spec,))
        global_batch = cfg.data.batch_size * world_size()
        queue = lc.queue_size - lc.queue_size % global_batch
        if queue < global_batch:
            raise ConfigError(f"loss.queue_size={lc.queue_size} is smaller than the global batch {global_batch}")
        self.loss = ssl_losses.MoCoLoss(embedding_dim=m.projection_dim, queue_size=queue,
                                        momentum=lc.momentum, temperature=lc.temperature)  # fmt: skip

    def views(self) -> ViewPlan:
        return self.plan

    def schedules(self) -> dict[str, Schedule]:
        return {"momentum": Constant(self.loss.momentum)}

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """Queries: view 0 through the encoder; keys: view 1 through the key encoder (no
        gradient); the loss contrasts each query with its key and the queue, then enqueues the
        keys of every rank."""
        with ctx.autocast():
            (query,) = ctx.model(batch.crops[0])
            with torch.no_grad():
                (key,) = self.key_encoder(batch.crops[1])
        return {"loss": self.loss(ssl_losses.full_precision(query), ssl_losses.full_precision(key)), "batch_nce": self._batch_nce(query, key)}

    @torch.no_grad()
    def _batch_nce(self, query: Tensor, key: Tensor) -> Tensor:
        """InfoNCE of the queries against this batch's keys only (a monitor, no gradient): it does
        not depend on how full the queue is. MoCo's own loss rises at first, while the queue's
        random initial keys are replaced by real, harder ones."""
        q = F.normalize(ssl_losses.full_precision(query.detach()), dim=1)
        k = F.normalize(ssl_losses.full_precision(key), dim=1)
        return F.cross_entropy(q @ k.t() / self.loss.temperature, torch.arange(q.shape[0], device=q.device))

    def after_optimizer_step(self, ctx: StepContext) -> None:
        self.key_encoder.update(self.model, ctx.values["momentum"])


MOCO = Recipe(
    name="moco",
    summary="MoCo v2 (model.version=1: v1): query vs momentum-encoder key and a queue of past keys (VISSL moco_loss)",
    paper="He, Fan, Wu, Xie, Girshick (2020). Momentum Contrast for Unsupervised Visual Representation Learning; "
    "Chen, Fan, Girshick, He (2020). Improved Baselines with Momentum Contrastive Learning",
    config_class=MoCoConfig,
    build=MoCo,
)

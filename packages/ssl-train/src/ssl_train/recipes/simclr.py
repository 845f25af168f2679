"""SimCLR (Chen et al., 2020): views of one image attract, every other image repels (InfoNCE).

Two views by default; VISSL's multi-crop SimCLR with ``views.local_crops > 0`` (the loss then
contrasts every crop with every other crop of the same image, VISSL's
``multicrop_simclr_info_nce_loss``). Defaults are sized for Fashion-MNIST on a CPU: a ResNet-18
at width 0.25, 28 px, batch 256, temperature 0.2 (VISSL: ResNet-50, 224 px, batch 4096, LARC,
temperature 0.1, lr 0.3 x batch/256 with 10 warm-up epochs of 100 or more).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

import ssl_losses
import ssl_models
from ssl_train.config import DataConfig, MonitorConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.recipes.base import Batch, Method, Recipe, StepContext
from ssl_train.recipes.trunk_options import build_recipe_trunk
from ssl_train.views import CropSpec, ViewPlan

__all__ = ["SIMCLR", "SimCLR", "SimCLRConfig"]


@dataclass
class SimCLRModelConfig:
    """Trunk and projection head (VISSL: mlp 2048-2048 relu, 2048-128)."""

    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False
    head_hidden_dim: int = 512
    projection_dim: int = 128
    head_use_bn: bool = True


@dataclass
class SimCLRViewsConfig:
    """Two global crops (``data.image_size``) and optional local crops (multi-crop)."""

    crop_scale_min: float = 0.35
    crop_scale_max: float = 1.0
    jitter_strength: float = 0.5
    p_jitter: float = 0.8
    p_gray: float = 0.2
    p_flip: float = 0.5
    p_blur: float = 0.0
    """SimCLR's ImageNet setting blurs with p=0.5; at 28 px blur erases what little there is."""
    local_crops: int = 0
    """Multi-crop: this many extra small crops (VISSL multicrop_2x160_4x96: 4)."""
    local_size: int = 12
    local_scale_min: float = 0.05
    local_scale_max: float = 0.14


@dataclass
class SimCLRLossConfig:
    temperature: float = 0.2
    """VISSL's default is 0.1 (batch 4096); 0.2 suits batches of 256."""


@dataclass
class SimCLRConfig:
    """The whole SimCLR recipe."""

    data: DataConfig = field(default_factory=DataConfig)
    model: SimCLRModelConfig = field(default_factory=SimCLRModelConfig)
    views: SimCLRViewsConfig = field(default_factory=SimCLRViewsConfig)
    loss: SimCLRLossConfig = field(default_factory=SimCLRLossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


class SimCLR(Method):
    """Online model = trunk + MLP projection head; InfoNCE over all crops of the global batch."""

    def __init__(self, cfg: SimCLRConfig) -> None:
        super().__init__()
        m, v = cfg.model, cfg.views
        trunk = build_recipe_trunk(m.trunk, m.width_multiplier, m.small_input)
        head = ssl_models.MLPHead([trunk.num_features, m.head_hidden_dim, m.projection_dim], use_bn=m.head_use_bn)
        self.model = ssl_models.SSLModel(trunk, [head])
        crops = [CropSpec(cfg.data.image_size, 2, (v.crop_scale_min, v.crop_scale_max), v.jitter_strength,
                          v.p_jitter, v.p_gray, v.p_flip, v.p_blur)]  # fmt: skip
        if v.local_crops > 0:
            crops.append(CropSpec(v.local_size, v.local_crops, (v.local_scale_min, v.local_scale_max), v.jitter_strength,
                                  v.p_jitter, v.p_gray, v.p_flip, v.p_blur))  # fmt: skip
        self.plan = ViewPlan(tuple(crops))
        self.loss = ssl_losses.SimCLRLoss(temperature=cfg.loss.temperature, num_crops=self.plan.num_crops)

    def views(self) -> ViewPlan:
        return self.plan

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """All crops through the model (same-size crops share a pass), embeddings crop-major
        ``[num_crops * B, D]``, InfoNCE in fp32 (fp64 runs: fp64)."""
        with ctx.autocast():
            (embeddings,) = ctx.model(batch.crops)
        return {"loss": self.loss(ssl_losses.full_precision(embeddings))}


SIMCLR = Recipe(
    name="simclr",
    summary="SimCLR: two views (or multi-crop), InfoNCE over the global batch (VISSL simclr_info_nce_loss)",
    paper="Chen, Kornblith, Norouzi, Hinton (2020). A Simple Framework for Contrastive Learning of Visual Representations",
    config_class=SimCLRConfig,
    build=SimCLR,
)

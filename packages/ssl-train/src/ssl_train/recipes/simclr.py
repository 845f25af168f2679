"""SimCLR (Chen et al., 2020): two augmented views, InfoNCE over the global batch.

Read top to bottom: the config (defaults tuned so that the default run on Fashion-MNIST fits in
minutes on a 2-core CPU and clearly beats a random trunk), the parts, the step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

import ssl_data
import ssl_losses
import ssl_models
from ssl_train.config import BenchmarkConfig, DataConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.recipes.base import IMAGENET_MEAN, IMAGENET_STD, Batch, MethodParts, Recipe, StepContext

__all__ = ["SIMCLR", "SimCLRConfig", "build", "step"]


@dataclass
class SimCLRModelConfig:
    """Trunk and projection head."""

    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False
    head_hidden_dim: int = 512
    projection_dim: int = 128
    head_use_bn: bool = True


@dataclass
class SimCLRAugmentConfig:
    """Batched per-sample augmentation (ssl_data.BatchedSimCLRAugment)."""

    crop_scale_min: float = 0.35
    crop_scale_max: float = 1.0
    jitter_strength: float = 0.5
    p_jitter: float = 0.8
    p_gray: float = 0.2
    p_flip: float = 0.5
    blur: bool = False


@dataclass
class SimCLRLossConfig:
    """VISSL's simclr_info_nce_loss; temperature 0.1 is VISSL's default, 0.2 suits small batches."""

    temperature: float = 0.2


@dataclass
class SimCLRConfig:
    """The whole SimCLR recipe."""

    data: DataConfig = field(default_factory=DataConfig)
    model: SimCLRModelConfig = field(default_factory=SimCLRModelConfig)
    augment: SimCLRAugmentConfig = field(default_factory=SimCLRAugmentConfig)
    loss: SimCLRLossConfig = field(default_factory=SimCLRLossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)


def build(cfg: SimCLRConfig) -> MethodParts:
    """Trunk, MLP projection head, InfoNCE loss and the batched two-view augmentation."""
    trunk = ssl_models.build_trunk(
        cfg.model.trunk, width_multiplier=cfg.model.width_multiplier, small_input=cfg.model.small_input
    )
    head = ssl_models.MLPHead(
        [trunk.num_features, cfg.model.head_hidden_dim, cfg.model.projection_dim], use_bn=cfg.model.head_use_bn
    )
    augment = ssl_data.BatchedSimCLRAugment(
        cfg.data.image_size,
        crop_scale=(cfg.augment.crop_scale_min, cfg.augment.crop_scale_max),
        jitter_strength=cfg.augment.jitter_strength,
        p_jitter=cfg.augment.p_jitter,
        p_gray=cfg.augment.p_gray,
        p_flip=cfg.augment.p_flip,
        blur=cfg.augment.blur,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    )
    loss = ssl_losses.SimCLRLoss(temperature=cfg.loss.temperature)
    return MethodParts(trunk=trunk, heads=[head], loss=loss, augment=augment)


def step(batch: Batch, parts: MethodParts, ctx: StepContext) -> dict[str, torch.Tensor]:
    """Two views per image, embeddings crop-major ``[2B, D]``, InfoNCE in fp32."""
    views = torch.cat([parts.augment(batch.images, generator=ctx.generator) for _ in range(2)])
    with ctx.autocast():
        embeddings = parts.heads[0](parts.trunk(views))
    return {"loss": parts.loss(embeddings.float())}


SIMCLR = Recipe(
    name="simclr",
    summary="SimCLR: two views, InfoNCE over the global batch (VISSL simclr_info_nce_loss)",
    config_class=SimCLRConfig,
    build=build,
    step=step,
)

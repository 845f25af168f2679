"""Barlow Twins (Zbontar et al., 2021): the cross-correlation of two views' embeddings is pushed
towards the identity (invariance on the diagonal, redundancy reduction off it).

Read top to bottom: the config, the method (trunk + expander, ``BarlowTwinsLoss`` over the
global batch), the two views and the step.

Published / VISSL defaults (``barlow_twins_4node_resnet``, ResNet-50, batch 2048, 1000 epochs):
LARS, lr 0.2 (weights) and 0.0048 (biases, BN), weight decay 1.5e-6, 10 warm-up epochs then
cosine, expander 8192-8192-8192 (Linear-BN-ReLU twice, then Linear), ``lambda_`` 0.0051,
``scale_loss`` 0.024, 224 px crops with asymmetric blur (1.0 / 0.1) and solarize (0 / 0.2).
``loss.convention`` picks the cross-correlation: ``paper`` (default; each view standardised on
its own) or ``vissl`` (VISSL 0.1.6 exactly: both views standardised jointly). Our Fashion-MNIST
defaults (ResNet-18 at width 0.25, 28 px, batch 256, 8 epochs): expander 1024-1024-1024,
``scale_loss`` 0.1 (as for CIFAR in solo-learn-style setups; 0.024 was tuned for D=8192), SGD lr
0.1 with a 1-epoch warm-up, weight decay 1e-5, crops of scale 0.35-1, no blur (28 px).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

import ssl_losses
import ssl_models
from ssl_losses.barlow_twins import CONVENTIONS
from ssl_train.config import ConfigError, DataConfig, MonitorConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.recipes.asymmetric_views import AsymmetricViewsConfig, asymmetric_views
from ssl_train.recipes.base import Batch, Method, Recipe, StepContext
from ssl_train.recipes.trunk_options import build_recipe_trunk
from ssl_train.views import ViewPlan

__all__ = ["BARLOW_TWINS", "BarlowTwins", "BarlowTwinsConfig"]


@dataclass
class BarlowTwinsModelConfig:
    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False
    expander_dims: list[int] = field(default_factory=lambda: [1024, 1024, 1024])
    """Expander widths after the trunk (Barlow Twins: 8192, 8192, 8192)."""


@dataclass
class BarlowTwinsLossConfig:
    lambda_: float = 0.0051
    scale_loss: float = 0.1
    """VISSL 0.024 (with an 8192-wide expander)."""
    convention: str = "paper"
    """``paper`` (per-view standardisation) or ``vissl`` (VISSL 0.1.6: both views jointly)."""


@dataclass
class BarlowTwinsConfig:
    """The whole Barlow Twins recipe."""

    data: DataConfig = field(default_factory=DataConfig)
    model: BarlowTwinsModelConfig = field(default_factory=BarlowTwinsModelConfig)
    views: AsymmetricViewsConfig = field(default_factory=AsymmetricViewsConfig)
    loss: BarlowTwinsLossConfig = field(default_factory=BarlowTwinsLossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.1, weight_decay=1e-5))
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(warmup_epochs=1.0))
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


class BarlowTwins(Method):
    """Trunk + expander (``self.model``) and the loss."""

    def __init__(self, cfg: BarlowTwinsConfig) -> None:
        super().__init__()
        m, v, lc = cfg.model, cfg.views, cfg.loss
        if lc.convention not in CONVENTIONS:
            raise ConfigError(f"loss.convention must be one of {', '.join(CONVENTIONS)}, got {lc.convention!r}")
        trunk = build_recipe_trunk(m.trunk, m.width_multiplier, m.small_input)
        self.model = ssl_models.SSLModel(trunk, [ssl_models.ExpanderHead([trunk.num_features, *m.expander_dims])])
        self.plan = asymmetric_views(v, cfg.data.image_size)
        self.loss = ssl_losses.BarlowTwinsLoss(lambda_=lc.lambda_, scale_loss=lc.scale_loss, convention=lc.convention)

    def views(self) -> ViewPlan:
        return self.plan

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """Both views through the model, embeddings crop-major ``[2B, D]``, the loss in fp32 (fp64 runs: fp64)."""
        with ctx.autocast():
            (embeddings,) = ctx.model(batch.crops)
        return {"loss": self.loss(ssl_losses.full_precision(embeddings))}


BARLOW_TWINS = Recipe(
    name="barlow_twins",
    summary="Barlow Twins: cross-correlation of two views towards the identity (VISSL barlow_twins_loss)",
    paper="Zbontar, Jing, Misra, LeCun, Deny (2021). Barlow Twins: Self-Supervised Learning via Redundancy Reduction",
    config_class=BarlowTwinsConfig,
    build=BarlowTwins,
)

"""BYOL (Grill et al., 2020): an online network predicts a momentum target network's projection
of another view; no negatives.

Read top to bottom: the config, the method (online = trunk + projector + predictor in one head
chain; target = EMA copy of the online model, of which only the trunk and projector run), the two
views, the momentum schedule (cosine from ``loss.momentum_start`` to 1), the step (symmetrised:
each view's prediction matches the target's projection of the other) and the target update after
each optimizer step.

Published defaults (ResNet-50, batch 4096, 300-1000 epochs): LARS, lr 0.2 x batch/256 with 10
warm-up epochs then cosine, weight decay 1.5e-6 (not on biases and BN), projector 4096-256 and
predictor 4096-256 (Linear-BN-ReLU-Linear), target momentum 0.996 -> 1 (cosine), 224 px crops
with asymmetric blur (1.0 / 0.1) and solarize (0 / 0.2). Our Fashion-MNIST defaults (ResNet-18 at
width 0.25, 28 px, batch 256, 8 epochs): projector 512-128 and predictor 512-128, SGD lr 0.1
(momentum 0.9, weight decay 1e-5) with a 1-epoch warm-up, momentum 0.99 -> 1 (0.996 barely moves
the target in 1,900 steps), crops of scale 0.35-1, no blur (28 px), solarize 0 / 0.2.
``BYOLLoss`` averages the two directions (half the paper's sum), so the lr is not doubled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

import ssl_losses
import ssl_models
from ssl_train.config import DataConfig, MonitorConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.recipes.asymmetric_views import AsymmetricViewsConfig, asymmetric_views
from ssl_train.recipes.base import Batch, Method, Recipe, StepContext
from ssl_train.recipes.trunk_options import build_recipe_trunk
from ssl_train.schedules import Cosine, Schedule
from ssl_train.views import ViewPlan

__all__ = ["BYOL", "BYOLConfig", "BYOLMethod"]


@dataclass
class BYOLModelConfig:
    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False
    projector_hidden_dim: int = 512
    """BYOL: 4096."""
    projection_dim: int = 128
    """BYOL: 256."""
    predictor_hidden_dim: int = 512
    """BYOL: 4096."""


@dataclass
class BYOLLossConfig:
    momentum_start: float = 0.99
    """Target EMA momentum at the start, cosine to 1.0 (BYOL: 0.996)."""


@dataclass
class BYOLConfig:
    """The whole BYOL recipe."""

    data: DataConfig = field(default_factory=DataConfig)
    model: BYOLModelConfig = field(default_factory=BYOLModelConfig)
    views: AsymmetricViewsConfig = field(default_factory=AsymmetricViewsConfig)
    loss: BYOLLossConfig = field(default_factory=BYOLLossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.1, weight_decay=1e-5))
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(warmup_epochs=1.0))
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


class BYOLMethod(Method):
    """Online model (``self.model``: trunk, projector, predictor), target (``self.target``)."""

    def __init__(self, cfg: BYOLConfig) -> None:
        super().__init__()
        m, v = cfg.model, cfg.views
        trunk = build_recipe_trunk(m.trunk, m.width_multiplier, m.small_input)
        projector = ssl_models.PredictorHead([trunk.num_features, m.projector_hidden_dim, m.projection_dim])
        predictor = ssl_models.PredictorHead([m.projection_dim, m.predictor_hidden_dim, m.projection_dim])
        self.model = ssl_models.SSLModel(trunk, [[projector, predictor]])
        self.target = ssl_models.MomentumEncoder(self.model)
        self.plan = asymmetric_views(v, cfg.data.image_size)
        self.loss = ssl_losses.BYOLLoss(num_crops=2)
        self.momentum_start = cfg.loss.momentum_start

    def views(self) -> ViewPlan:
        return self.plan

    def schedules(self) -> dict[str, Schedule]:
        return {"momentum": Cosine(self.momentum_start, 1.0)}

    def _target_projections(self, crops: list[Tensor]) -> Tensor:
        """The target's trunk and projector (not its predictor) on both views, crop-major."""
        target = self.target.module
        feature = target.trunk.pooled_feature
        pooled = target.trunk_features(crops, [feature])[feature]
        return target.heads[0][0](pooled)

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """Predictions of both views (online), projections of both views (target, no gradient);
        BYOLLoss pairs view 0's prediction with view 1's projection and the reverse."""
        with ctx.autocast():
            (predictions,) = ctx.model(batch.crops)
            with torch.no_grad():
                targets = self._target_projections(batch.crops)
        return {"loss": self.loss(ssl_losses.full_precision(predictions), ssl_losses.full_precision(targets))}

    def after_optimizer_step(self, ctx: StepContext) -> None:
        self.target.update(self.model, ctx.values["momentum"])


BYOL = Recipe(
    name="byol",
    summary="BYOL: online predictor regresses a momentum target's projection of the other view, no negatives",
    paper="Grill, Strub, Altche, Tallec, Richemond, Buchatskaya, Doersch, Avila Pires, Guo, Gheshlaghi Azar, Piot, "
    "Kavukcuoglu, Munos, Valko (2020). Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning",
    config_class=BYOLConfig,
    build=BYOLMethod,
)

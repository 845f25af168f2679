"""VICReg (Bardes, Ponce and LeCun, 2022): invariance between two views' embeddings, with a
variance term that keeps every feature alive and a covariance term that decorrelates them.

Read top to bottom: the config, the method (trunk + expander, ``VICRegLoss`` over the global
batch), the two views and the step.

Published defaults (ResNet-50, batch 2048, 1000 epochs): LARS, lr 0.2 x batch/256 (base 0.3 in
the official code's ``base_lr``), weight decay 1e-6, 10 warm-up epochs then cosine, expander
8192-8192-8192 (Linear-BN-ReLU twice, then Linear), coefficients 25 / 25 / 1, 224 px crops with
asymmetric blur (1.0 / 0.1) and solarize (0 / 0.2). Our Fashion-MNIST defaults (ResNet-18 at
width 0.25, 28 px, batch 256, 8 epochs): expander 1024-1024-1024, SGD lr 0.03 (0.1 diverged to NaN at step 27 of a 1-epoch run) with a 1-epoch
warm-up, weight decay 1e-5, crops of scale 0.35-1, no blur (28 px).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

import ssl_losses
import ssl_models
from ssl_train.config import DataConfig, MonitorConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.recipes.asymmetric_views import AsymmetricViewsConfig, asymmetric_views
from ssl_train.recipes.base import Batch, Method, Recipe, StepContext
from ssl_train.recipes.trunk_options import build_recipe_trunk
from ssl_train.views import ViewPlan

__all__ = ["VICREG", "VICReg", "VICRegConfig"]


@dataclass
class VICRegModelConfig:
    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False
    expander_dims: list[int] = field(default_factory=lambda: [1024, 1024, 1024])
    """Expander widths after the trunk (VICReg: 8192, 8192, 8192)."""


@dataclass
class VICRegLossConfig:
    sim_coeff: float = 25.0
    std_coeff: float = 25.0
    cov_coeff: float = 1.0


@dataclass
class VICRegConfig:
    """The whole VICReg recipe."""

    data: DataConfig = field(default_factory=DataConfig)
    model: VICRegModelConfig = field(default_factory=VICRegModelConfig)
    views: AsymmetricViewsConfig = field(default_factory=AsymmetricViewsConfig)
    loss: VICRegLossConfig = field(default_factory=VICRegLossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.03, weight_decay=1e-5))
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(warmup_epochs=1.0))
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


class VICReg(Method):
    """Trunk + expander (``self.model``) and the loss."""

    def __init__(self, cfg: VICRegConfig) -> None:
        super().__init__()
        m, v, lc = cfg.model, cfg.views, cfg.loss
        trunk = build_recipe_trunk(m.trunk, m.width_multiplier, m.small_input)
        self.model = ssl_models.SSLModel(trunk, [ssl_models.ExpanderHead([trunk.num_features, *m.expander_dims])])
        self.plan = asymmetric_views(v, cfg.data.image_size)
        self.loss = ssl_losses.VICRegLoss(sim_coeff=lc.sim_coeff, std_coeff=lc.std_coeff, cov_coeff=lc.cov_coeff)

    def views(self) -> ViewPlan:
        return self.plan

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """Both views through the model, embeddings crop-major ``[2B, D]``, the loss in fp32 (fp64 runs: fp64)."""
        with ctx.autocast():
            (embeddings,) = ctx.model(batch.crops)
        return {"loss": self.loss(ssl_losses.full_precision(embeddings))}


VICREG = Recipe(
    name="vicreg",
    summary="VICReg: invariance + variance + covariance regularisation of two views' embeddings",
    paper="Bardes, Ponce, LeCun (2022). VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised Learning",
    config_class=VICRegConfig,
    build=VICReg,
)

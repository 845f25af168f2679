"""SimSiam (Chen and He, 2021): a predictor maps one view's projection onto the other's, with a
stop-gradient on the target side; no negatives, no momentum encoder.

Read top to bottom: the config, the method (trunk + projector + predictor in one head chain; the
projections are read on the way through the chain), the two views, the parameter groups (the
predictor's learning rate is held at its peak value, ``ParamGroup(fixed_lr=True)``, as in the
paper) and the step.

Published defaults (ResNet-50, batch 512, 100 epochs): SGD lr 0.05 x batch/256, momentum 0.9,
weight decay 1e-4, cosine, no warm-up, predictor lr fixed; projector 2048-2048-2048 with BN after
every layer (the last without ReLU), predictor 2048 -> 512 -> 2048 (Linear-BN-ReLU-Linear); 224 px
crops of scale 0.2-1, blur p=0.5. CIFAR variant: 2-layer projector. Our Fashion-MNIST defaults
(ResNet-18 at width 0.25, 28 px, batch 256, 8 epochs): the 2-layer projector at 512-512,
predictor 512 -> 128 -> 512, crops of scale 0.6-1, no blur (28 px), lr 0.1 and weight decay 5e-4
(the paper's CIFAR value) with a cosine schedule.

Why lr 0.1, weight decay 5e-4 and crops of 0.6-1 (chosen on held-out TRAINING images, 10,000 as
kNN memory and 5,000 as queries, 300 steps; ``benchmarks/results/recipe_validation_simsiam.json``):
the published lr 0.05 / weight decay 1e-4 with crops of 0.35-1 reach 55.14 % kNN, below the
random-init trunk (67.04 %); weight decay 5e-4 gives 59.74 %, with lr 0.1 63.30 %, crops of 0.6-1
alone 58.42 %, and the three together **69.08 %**, the only SimSiam setting found that beats the
random trunk in a short run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

import ssl_losses
import ssl_models
from ssl_train.config import ConfigError, DataConfig, MonitorConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.optim.param_groups import ParamGroup, module_param_groups
from ssl_train.recipes.base import Batch, Method, Recipe, StepContext
from ssl_train.recipes.trunk_options import build_recipe_trunk
from ssl_train.views import CropSpec, ViewPlan

__all__ = ["SIMSIAM", "SimSiam", "SimSiamConfig"]


@dataclass
class SimSiamModelConfig:
    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False
    projection_dim: int = 512
    """Projector width, hidden and output (SimSiam: 2048)."""
    projector_layers: int = 2
    """Linear layers of the projector (SimSiam: 3 on ImageNet, 2 on CIFAR)."""
    predictor_hidden_dim: int = 128
    """SimSiam: 512 (a bottleneck of a quarter of the projection)."""


@dataclass
class SimSiamViewsConfig:
    crop_scale_min: float = 0.6
    """SimSiam: 0.2 (at 224 px); 0.6 learns faster at 28 px (module docstring)."""
    crop_scale_max: float = 1.0
    jitter_strength: float = 0.5
    p_gray: float = 0.2
    p_blur: float = 0.0
    """SimSiam: 0.5 at 224 px; a blur at 28 px erases the image."""


@dataclass
class SimSiamLossConfig:
    fixed_predictor_lr: bool = True
    """Hold the predictor's learning rate at its peak value (the paper's choice)."""


@dataclass
class SimSiamConfig:
    """The whole SimSiam recipe."""

    data: DataConfig = field(default_factory=DataConfig)
    model: SimSiamModelConfig = field(default_factory=SimSiamModelConfig)
    views: SimSiamViewsConfig = field(default_factory=SimSiamViewsConfig)
    loss: SimSiamLossConfig = field(default_factory=SimSiamLossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.1, weight_decay=5e-4))
    """SimSiam: lr 0.05 x batch / 256, weight decay 1e-4 (ImageNet); see the module docstring."""
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(warmup_epochs=0.0))
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


def _projector(in_dim: int, dim: int, layers: int) -> list[ssl_models.MLPHead]:
    """SimSiam's projector as a chain of VISSL ``mlp`` heads: (Linear-BN-ReLU) x (layers - 1),
    then Linear-BN (BN on the output, no ReLU)."""
    hidden = ssl_models.MLPHead([in_dim] + [dim] * (layers - 1), use_bn=True, skip_last_layer_relu_bn=False)
    last = ssl_models.MLPHead([dim, dim], use_bn=True, use_relu=False, skip_last_layer_relu_bn=False)
    return [hidden, last]


class SimSiam(Method):
    """Trunk + projector + predictor (``self.model``, one head chain)."""

    def __init__(self, cfg: SimSiamConfig) -> None:
        super().__init__()
        m, v = cfg.model, cfg.views
        if m.projector_layers < 2:
            raise ConfigError(f"model.projector_layers must be >= 2, got {m.projector_layers}")
        trunk = build_recipe_trunk(m.trunk, m.width_multiplier, m.small_input)
        projector = _projector(trunk.num_features, m.projection_dim, m.projector_layers)
        predictor = ssl_models.PredictorHead([m.projection_dim, m.predictor_hidden_dim, m.projection_dim])
        self.model = ssl_models.SSLModel(trunk, [[*projector, predictor]])
        spec = CropSpec(cfg.data.image_size, 2, (v.crop_scale_min, v.crop_scale_max), v.jitter_strength, 0.8,
                        v.p_gray, 0.5, v.p_blur)  # fmt: skip
        self.plan = ViewPlan((spec,))
        self.loss = ssl_losses.SimSiamLoss(num_crops=2)
        self.fixed_predictor_lr = cfg.loss.fixed_predictor_lr

    def views(self) -> ViewPlan:
        return self.plan

    @property
    def predictor(self) -> nn.Module:
        """The last head of the chain."""
        return self.model.heads[0][-1]

    def param_groups(self, optim: OptimConfig) -> list[ParamGroup]:
        """Trunk and projector as usual (VISSL's groups); the predictor in its own groups, its
        learning rate held at the peak value (``fixed_lr``)."""
        seen: set[int] = set()
        head_wd = None if optim.head_weight_decay < 0 else optim.head_weight_decay

        def groups(module: nn.Module, name: str, **kwargs: object) -> list[ParamGroup]:
            return module_param_groups(module, name, regularize_bn=optim.regularize_bn, regularize_bias=optim.regularize_bias,
                                       non_regularized=list(optim.non_regularized_params), exclude=seen, **kwargs)  # type: ignore[arg-type]  # fmt: skip

        predictor = groups(self.predictor, "predictor", lr_scale=optim.head_lr_scale, weight_decay=head_wd)
        for g in predictor:
            g.fixed_lr = self.fixed_predictor_lr
        trunk = groups(self.model.trunk, "trunk")
        projector = groups(self.model.heads, "heads", lr_scale=optim.head_lr_scale, weight_decay=head_wd)
        return trunk + projector + predictor

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """Both views through trunk, projector and predictor in one pass; the projections ``z``
        are read at the predictor's input. SimSiamLoss pairs each view's prediction with the
        other view's (detached) projection."""
        seen: list[Tensor] = []

        def keep_input(module: nn.Module, args: tuple[Tensor, ...]) -> None:
            seen.append(args[0])

        handle = self.predictor.register_forward_pre_hook(keep_input)
        try:
            with ctx.autocast():
                (predictions,) = ctx.model(batch.crops)
        finally:
            handle.remove()
        (projections,) = seen
        return {"loss": self.loss(ssl_losses.full_precision(predictions), ssl_losses.full_precision(projections))}


SIMSIAM = Recipe(
    name="simsiam",
    summary="SimSiam: predictor maps one view's projection to the other's (stop-gradient), predictor lr fixed",
    paper="Chen, He (2021). Exploring Simple Siamese Representation Learning",
    config_class=SimSiamConfig,
    build=SimSiam,
)

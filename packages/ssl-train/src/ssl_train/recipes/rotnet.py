"""RotNet (Gidaris, Singh, Komodakis, 2018): predict which of 4 rotations was applied.

Each image is rotated by 0, 90, 180 or 270 degrees (counter-clockwise) and a linear head on the
trunk's pooled features classifies the rotation with cross entropy
(``ssl_losses.CrossEntropyMultipleOutputSingleTarget``, VISSL's
``cross_entropy_multiple_output_single_target``). The rotation is drawn inside the step from
``ssl_data.per_sample_uniforms`` (one per image, as VISSL's ``ImgRotatePil``); with
``loss.all_rotations`` every image is seen in all 4 rotations in the same batch (the paper's own
training, 4x the compute per image).

VISSL ``pretrain/rotnet/rotnet_8gpu_resnet``: ResNet-50, head ``mlp [2048, 4]``, random-resized
crop 224 and flip (no colour augmentation), SGD lr 0.1 at batch 256, momentum 0.9, weight decay
1e-4, 105 epochs, multistep 0.1/0.01/0.001/1e-4/1e-5 at epochs 30/60/90/100. Small-data defaults:
ResNet-18 at width 0.25, 28 px, batch 256, cosine schedule, crops 0.35-1 of the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

import ssl_data
import ssl_losses
import ssl_models
from ssl_train.config import ConfigError, DataConfig, MonitorConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.recipes.base import Batch, Method, Recipe, StepContext
from ssl_train.recipes.trunk_options import build_recipe_trunk
from ssl_train.views import CropSpec, ViewPlan

__all__ = ["ROTNET", "RotNet", "RotNetConfig", "rotate_batch"]


@dataclass
class RotNetModelConfig:
    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False


@dataclass
class RotNetViewsConfig:
    crop_scale_min: float = 0.35
    """VISSL: RandomResizedCrop 224 (0.08-1)."""
    crop_scale_max: float = 1.0
    p_flip: float = 0.5


@dataclass
class RotNetLossConfig:
    num_angles: int = 4
    all_rotations: bool = False
    """False: one random rotation per image (VISSL); True: all ``num_angles`` of every image."""


@dataclass
class RotNetConfig:
    """The whole RotNet recipe."""

    data: DataConfig = field(default_factory=DataConfig)
    model: RotNetModelConfig = field(default_factory=RotNetModelConfig)
    views: RotNetViewsConfig = field(default_factory=RotNetViewsConfig)
    loss: RotNetLossConfig = field(default_factory=RotNetLossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.1))
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


def rotate_batch(images: Tensor, labels: Tensor, num_angles: int) -> Tensor:
    """Rotate each image of ``images [B, C, S, S]`` counter-clockwise by ``labels[i] * 360 /
    num_angles`` degrees (``num_angles`` 4: exact 90-degree turns; 2: 0/180). Returns ``[B, C, S, S]``."""
    if num_angles not in (1, 2, 4):
        raise ValueError(f"num_angles must be 1, 2 or 4 (exact square rotations), got {num_angles}")
    out = images.clone()
    turns = labels * (4 // num_angles)
    for k in range(1, 4):
        chosen = turns == k
        if bool(chosen.any()):
            out[chosen] = torch.rot90(images[chosen], k, dims=(2, 3))
    return out


class RotNet(Method):
    """Online model = trunk + linear rotation classifier."""

    def __init__(self, cfg: RotNetConfig) -> None:
        super().__init__()
        m, v, lc = cfg.model, cfg.views, cfg.loss
        if lc.num_angles not in (2, 4):
            raise ConfigError(f"loss.num_angles must be 2 or 4 (exact square rotations), got {lc.num_angles}")
        trunk = build_recipe_trunk(m.trunk, m.width_multiplier, m.small_input)
        self.model = ssl_models.SSLModel(trunk, [ssl_models.MLPHead([trunk.num_features, lc.num_angles])])
        self.plan = ViewPlan((CropSpec(cfg.data.image_size, 1, (v.crop_scale_min, v.crop_scale_max), 0.0, 0.0, 0.0, v.p_flip),))
        self.loss = ssl_losses.CrossEntropyMultipleOutputSingleTarget()
        self.num_angles = lc.num_angles
        self.all_rotations = lc.all_rotations

    def views(self) -> ViewPlan:
        return self.plan

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """Rotate, classify the rotation; reports the rotation accuracy too."""
        (x,) = batch.crops
        if self.all_rotations:
            labels = torch.arange(self.num_angles, device=x.device).repeat_interleave(x.shape[0])
            x = x.repeat(self.num_angles, 1, 1, 1)
        else:
            u = ssl_data.per_sample_uniforms(ctx.seed, ctx.epoch, batch.indices, self.plan.num_crops, 1)[:, 0]
            labels = torch.floor(u * self.num_angles).clamp(max=self.num_angles - 1).to(torch.int64).to(x.device)
        x = rotate_batch(x, labels, self.num_angles)
        with ctx.autocast():
            (logits,) = ctx.model(x)
        loss = self.loss(ssl_losses.full_precision(logits), labels)
        accuracy = (logits.detach().argmax(1) == labels).float().mean()
        return {"loss": loss, "accuracy": accuracy}


ROTNET = Recipe(
    name="rotnet",
    summary="RotNet: predict the rotation (0/90/180/270) of each image, cross entropy (VISSL cross_entropy_multiple_output_single_target)",
    paper="Gidaris, Singh, Komodakis (2018). Unsupervised Representation Learning by Predicting Image Rotations",
    config_class=RotNetConfig,
    build=RotNet,
)

"""Supervised training (cross entropy on the class labels): the baseline every self-supervised
table compares against, with VISSL's MixUp / CutMix / label smoothing as options.

Read top to bottom: the config, the method (trunk + linear classifier, cross entropy with soft
targets), the single view (random resized crop and flip), the batch mixing and the step.

MixUp / CutMix: VISSL applies them in its ``cutmixup_collator`` (timm's ``Mixup``) with the
collator's own random state. Here they are applied to the batch inside the step, with every
sample's draws (whether it is mixed, MixUp or CutMix, its ``lambda ~ Beta(alpha, alpha)``, its box)
coming from ``ssl_data.per_sample_uniforms(seed, epoch, index, view)``: timm's ``elem`` mode.
Each image is mixed with its mirror in the batch (row ``i`` with row ``B - 1 - i``, timm's pairing);
the soft target is ``lambda * onehot(y_i) + (1 - lambda) * onehot(y_partner)``, with ``lambda``
corrected to the box's true area for CutMix (``correct_lam``), then label smoothing.

VISSL's defaults: ResNet-50 supervised (``supervised_1gpu_resnet``-style): SGD lr 0.1 at batch 256,
momentum 0.9, weight decay 1e-4, 105 epochs with x0.1 steps at 30 / 60 / 90, random resized crop 224
and flip; DeiT-style runs add ``cutmixup_collator`` (mixup_alpha 0.8-1.0, cutmix_alpha 1.0, prob
1.0, switch_prob 0.5, label_smoothing 0.1). Our Fashion-MNIST defaults (ResNet-18 at width 0.25,
28 px, batch 256, 8 epochs): SGD lr 0.1 with cosine, crops of scale 0.35-1 and flip, no mixing
(MixUp and CutMix are off by default: ``loss.mixup_alpha`` / ``loss.cutmix_alpha`` turn them on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

import ssl_data
import ssl_losses
import ssl_models
from ssl_train.config import ConfigError, DataConfig, MonitorConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.recipes.base import Batch, Method, Recipe, StepContext
from ssl_train.recipes.trunk_options import build_recipe_trunk
from ssl_train.views import CropSpec, ViewPlan

__all__ = ["SUPERVISED", "MixSettings", "Supervised", "SupervisedConfig", "mix_batch"]


@dataclass
class SupervisedModelConfig:
    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False
    num_classes: int = 10


@dataclass
class SupervisedViewsConfig:
    crop_scale_min: float = 0.35
    """ImageNet: 0.08 (at 224 px)."""
    crop_scale_max: float = 1.0
    p_flip: float = 0.5


@dataclass
class SupervisedLossConfig:
    label_smoothing: float = 0.0
    """VISSL's cutmixup runs: 0.1."""
    mixup_alpha: float = 0.0
    """MixUp's Beta(alpha, alpha) (0: off; DeiT 0.8, VISSL's example 1.0)."""
    cutmix_alpha: float = 0.0
    """CutMix's Beta(alpha, alpha) (0: off; DeiT and VISSL 1.0)."""
    mix_prob: float = 1.0
    """Probability that a sample is mixed at all (timm ``prob``)."""
    switch_prob: float = 0.5
    """With both on: probability of CutMix rather than MixUp (timm ``switch_prob``)."""
    correct_lam: bool = True
    """CutMix: lambda from the box's area after clipping at the border."""


@dataclass
class SupervisedConfig:
    """The whole supervised recipe."""

    data: DataConfig = field(default_factory=DataConfig)
    model: SupervisedModelConfig = field(default_factory=SupervisedModelConfig)
    views: SupervisedViewsConfig = field(default_factory=SupervisedViewsConfig)
    loss: SupervisedLossConfig = field(default_factory=SupervisedLossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.1, weight_decay=1e-4))
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(warmup_epochs=0.0))
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


@dataclass(frozen=True)
class MixSettings:
    """MixUp / CutMix settings (see :class:`SupervisedLossConfig`)."""

    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mix_prob: float = 1.0
    switch_prob: float = 0.5
    correct_lam: bool = True

    @property
    def enabled(self) -> bool:
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0


def _beta(uniform: float, alpha: float) -> float:
    """One ``Beta(alpha, alpha)`` draw from NumPy's sampler seeded by a per-sample uniform."""
    return float(np.random.default_rng(int(uniform * (1 << 53))).beta(alpha, alpha))


def mix_batch(images: Tensor, labels: Tensor, uniforms: Tensor, num_classes: int, mix: MixSettings) -> tuple[Tensor, Tensor]:
    """MixUp / CutMix a batch, every sample with its own draws (timm's ``elem`` mode).

    Args:
        images: ``[B, C, H, W]`` float.
        labels: int64 ``[B]`` class ids in ``[0, num_classes)``.
        uniforms: ``[B, 5]`` numbers in [0, 1) per sample (from ``ssl_data.per_sample_uniforms``):
            column 0 decides whether the sample is mixed (``< mix_prob``), 1 CutMix or MixUp
            (``< switch_prob`` picks CutMix when both are on), 2 seeds lambda, 3 and 4 place the box.
        mix: the settings.

    Returns:
        ``(mixed images [B, C, H, W], soft targets [B, num_classes])``; sample ``i`` is mixed with
        sample ``B - 1 - i``.
    """
    b, _, h, w = images.shape
    u = uniforms.to(torch.float64).cpu()
    partner = images.flip(0)
    onehot = F.one_hot(labels, num_classes).to(images.dtype)
    mixed_labels = onehot.flip(0)
    lam = torch.ones(b, dtype=torch.float64)
    use_cutmix = torch.zeros(b, dtype=torch.bool)
    box_mask = torch.zeros(b, 1, h, w, dtype=torch.bool)
    rows, cols = torch.arange(h)[:, None], torch.arange(w)[None, :]
    for i in range(b):
        if u[i, 0] >= mix.mix_prob:
            continue
        cutmix = mix.cutmix_alpha > 0 and (mix.mixup_alpha <= 0 or u[i, 1] < mix.switch_prob)
        draw = _beta(float(u[i, 2]), mix.cutmix_alpha if cutmix else mix.mixup_alpha)
        if not cutmix:
            lam[i] = draw
            continue
        use_cutmix[i] = True
        cut = (1.0 - draw) ** 0.5
        cut_h, cut_w = int(h * cut), int(w * cut)
        cy, cx = int(u[i, 3] * h), int(u[i, 4] * w)
        y1, y2 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
        x1, x2 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
        box_mask[i, 0] = (rows >= y1) & (rows < y2) & (cols >= x1) & (cols < x2)
        lam[i] = 1.0 - (y2 - y1) * (x2 - x1) / (h * w) if mix.correct_lam else draw
    lam_img = lam.to(images.dtype).to(images.device).view(b, 1, 1, 1)
    blended = lam_img * images + (1.0 - lam_img) * partner
    out = torch.where(use_cutmix.to(images.device).view(b, 1, 1, 1), torch.where(box_mask.to(images.device), partner, images), blended)
    lam_t = lam.to(images.dtype).to(labels.device).view(b, 1)
    targets = lam_t * onehot + (1.0 - lam_t) * mixed_labels
    return out, targets


class Supervised(Method):
    """Trunk + linear classifier (``self.model``) and the cross entropy."""

    def __init__(self, cfg: SupervisedConfig) -> None:
        super().__init__()
        m, v, lc = cfg.model, cfg.views, cfg.loss
        if m.num_classes < 2:
            raise ConfigError(f"model.num_classes must be >= 2, got {m.num_classes}")
        for key in ("label_smoothing", "mix_prob", "switch_prob"):
            if not 0.0 <= getattr(lc, key) <= 1.0:
                raise ConfigError(f"loss.{key} must be in [0, 1], got {getattr(lc, key)}")
        if lc.mixup_alpha < 0 or lc.cutmix_alpha < 0:
            raise ConfigError("loss.mixup_alpha and loss.cutmix_alpha must be >= 0 (0: off)")
        trunk = build_recipe_trunk(m.trunk, m.width_multiplier, m.small_input)
        self.model = ssl_models.SSLModel(trunk, [ssl_models.MLPHead([trunk.num_features, m.num_classes])])
        crop = CropSpec(cfg.data.image_size, 1, (v.crop_scale_min, v.crop_scale_max), 0.0, 0.0, 0.0, v.p_flip)
        self.plan = ViewPlan((crop,))
        self.loss = ssl_losses.CrossEntropyMultipleOutputSingleTarget(label_smoothing=lc.label_smoothing)
        self.num_classes = m.num_classes
        self.mix = MixSettings(lc.mixup_alpha, lc.cutmix_alpha, lc.mix_prob, lc.switch_prob, lc.correct_lam)

    def views(self) -> ViewPlan:
        return self.plan

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """Classify the crop; with MixUp / CutMix on, the batch is mixed first (per-sample draws
        from view number ``num_crops``, above the plan's crops) and the targets are soft."""
        labels = batch.labels
        if int(labels.max()) >= self.num_classes or int(labels.min()) < 0:
            raise ConfigError(f"labels must lie in 0..{self.num_classes - 1}; set model.num_classes (got a label {int(labels.max())})")
        images = batch.crops[0]
        target: Tensor = labels
        if self.mix.enabled:
            u = ssl_data.per_sample_uniforms(ctx.seed, ctx.epoch, batch.indices, self.plan.num_crops, 5)
            images, target = mix_batch(images, labels, u, self.num_classes, self.mix)
        with ctx.autocast():
            (logits,) = ctx.model([images])
        accuracy = (logits.detach().argmax(1) == labels).float().mean()
        return {"loss": self.loss(ssl_losses.full_precision(logits), target), "train_top1": accuracy}


SUPERVISED = Recipe(
    name="supervised",
    summary="Supervised baseline: cross entropy on the labels, MixUp/CutMix/label smoothing as options",
    paper="He, Zhang, Ren, Sun (2016). Deep Residual Learning for Image Recognition; mixing: Zhang et al. (2018) "
    "mixup; Yun et al. (2019) CutMix",
    config_class=SupervisedConfig,
    build=Supervised,
)

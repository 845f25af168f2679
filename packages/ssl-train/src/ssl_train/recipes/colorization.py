"""Colorization (Zhang, Isola, Efros, 2016; the FAIR self-supervision benchmark, Goyal et al.,
2019): from an image's lightness, predict its colours as quantised ``ab`` bins.

Each crop is converted to CIE Lab (``ssl_data.transforms.rgb_to_lab``). The trunk sees the
lightness ``L`` only (``L / 100`` on all three input channels, normalised like the evaluation
images), and a 1x1 convolution on the trunk's last feature map (``res5``) classifies, at every
position, the colour bin of the crop's ``ab`` values averaged over that position's cell, with
cross entropy (``ssl_losses.CrossEntropyMultipleOutputSingleTarget``). The bins are the FAIR
benchmark's: the non-empty cells of a 10-unit grid over ``[-110, 110]^2`` (313 of them on
ImageNet), from ``ssl data prepare color_bins`` (``loss.bins_file``) or, when no file is given,
computed with the same code (``ssl_data.prep.colorization_bins``) from ``loss.bins_images``
seeded training images. Crops are not colour-jittered: the colours are the targets.

It needs colour images: the default ``data.source`` is the ``openclipart-png`` package's folder
(8,121 PNGs in 22 categories); tensor sources (Fashion-MNIST, digits) are grey and refused.

FAIR benchmark: AlexNet / ResNet-50 on ImageNet or YFCC, input L at 224 px (conv1 with one
channel), 313 bins, soft-encoded targets (5 nearest bins) with class rebalancing, 28 epochs. Here:
ResNet-18 at width 0.25, 64 px crops (``res5`` is 2x2), hard nearest-bin targets, no rebalancing,
batch 128, cosine lr 0.1; any trunk of ``list_trunks()`` whose last feature is a map works.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import ssl_data
import ssl_losses
import ssl_models
from ssl_data.prep import colorization_bins
from ssl_data.transforms import rgb_to_lab
from ssl_train.config import ConfigError, DataConfig, MonitorConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.recipes.base import Batch, Method, Recipe, StepContext
from ssl_train.recipes.trunk_options import build_recipe_trunk
from ssl_train.views import CropSpec, ViewPlan

__all__ = ["COLORIZATION", "Colorization", "ColorizationConfig", "PixelClassifierHead", "nearest_bins"]

OPENCLIPART = "/usr/share/openclipart/png"


@dataclass
class ColorizationModelConfig:
    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False
    feature: str = ""
    """Trunk feature map the bins are predicted from (empty: the last map before pooling)."""


@dataclass
class ColorizationViewsConfig:
    crop_scale_min: float = 0.35
    crop_scale_max: float = 1.0
    p_flip: float = 0.5


@dataclass
class ColorizationLossConfig:
    bins_file: str = ""
    """``color_bins.npy`` (float [K, 2] ab centres) from ``ssl data prepare color_bins``; empty:
    compute the bins from ``bins_images`` training images."""
    bins_images: int = 200
    grid_size: float = 10.0
    ab_max: float = 110.0


@dataclass
class ColorizationConfig:
    """The whole Colorization recipe."""

    data: DataConfig = field(default_factory=lambda: DataConfig(source=OPENCLIPART, image_size=64, batch_size=128))
    model: ColorizationModelConfig = field(default_factory=ColorizationModelConfig)
    views: ColorizationViewsConfig = field(default_factory=ColorizationViewsConfig)
    loss: ColorizationLossConfig = field(default_factory=ColorizationLossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.1))
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


class PixelClassifierHead(ssl_models.Head):
    """A 1x1 convolution: feature map ``[B, C, h, w] -> [B, num_classes, h, w]`` (per-position logits)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__("pixel_classifier", {"in_channels": int(in_channels), "num_classes": int(num_classes)})
        self.conv = nn.Conv2d(in_channels, num_classes, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4:
            raise ValueError(f"pixel_classifier needs a feature map [B, C, h, w], got shape {tuple(x.shape)}")
        return self.conv(x)


def nearest_bins(ab: Tensor, bins: Tensor) -> Tensor:
    """Index of the nearest bin centre for ``ab [B, 2, h, w]`` against ``bins [K, 2]``: int64 ``[B, h, w]``."""
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    return torch.cdist(flat, bins).argmin(1).view(ab.shape[0], ab.shape[2], ab.shape[3])


def _colour_bins(cfg: ColorizationConfig) -> np.ndarray:
    lc = cfg.loss
    if lc.bins_file:
        path = Path(lc.bins_file)
        try:
            bins = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"loss.bins_file {str(path)!r}: {str(exc).splitlines()[0]}") from None
        if bins.ndim != 2 or bins.shape[1] != 2 or len(bins) < 2:
            raise ConfigError(f"loss.bins_file {str(path)!r} must hold float [K >= 2, 2] ab centres, got shape {bins.shape}")
        return bins.astype(np.float32)
    if cfg.data.source in ("fashion-mnist", "digits"):
        raise ConfigError(f"colorization needs colour images; data.source={cfg.data.source} is grey (use a folder, e.g. {OPENCLIPART})")
    root = Path(cfg.data.source).expanduser()
    root = root / "train" if (root / "train").is_dir() else root
    try:
        paths = [p for p, _ in ssl_data.ImageFolderSource(root).samples]
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise ConfigError(f"data.source {cfg.data.source!r}: {str(exc).splitlines()[0]}") from None
    rng = np.random.default_rng(cfg.train.seed)
    chosen = sorted(rng.choice(len(paths), min(lc.bins_images, len(paths)), replace=False))
    bins, _ = colorization_bins([paths[i] for i in chosen], lc.grid_size, lc.ab_max)
    if len(bins) < 2:
        raise ConfigError(f"the images of data.source {cfg.data.source!r} hold fewer than 2 colour bins: colorization needs colour images")
    return bins


class Colorization(Method):
    """Online model = trunk + 1x1 conv over the bins on a feature map; ``bins`` [K, 2] ab centres."""

    bins: Tensor

    def __init__(self, cfg: ColorizationConfig) -> None:
        super().__init__()
        m, v = cfg.model, cfg.views
        trunk = build_recipe_trunk(m.trunk, m.width_multiplier, m.small_input)
        names = trunk.feature_names()
        feature = m.feature or _last_map(trunk, cfg.data.image_size)
        if feature not in names:
            raise ConfigError(f"model.feature {feature!r} is not a feature of trunk {m.trunk!r} ({', '.join(names)})")
        channels = trunk.feature_shapes((1, 3, cfg.data.image_size, cfg.data.image_size))[feature][1]
        _freeze_unreached(trunk, feature, cfg.data.image_size)
        self.register_buffer("bins", torch.as_tensor(_colour_bins(cfg)))
        head = PixelClassifierHead(channels, int(self.bins.shape[0]))
        self.model = ssl_models.SSLModel(trunk, [head], head_features=[feature])
        self.plan = ViewPlan((CropSpec(cfg.data.image_size, 1, (v.crop_scale_min, v.crop_scale_max), 0.0, 0.0, 0.0, v.p_flip),))
        self.loss = ssl_losses.CrossEntropyMultipleOutputSingleTarget()

    def views(self) -> ViewPlan:
        return self.plan

    def lightness_and_targets(self, crop: Tensor) -> tuple[Tensor, Tensor]:
        """A normalised crop ``[B, 3, S, S]`` -> (trunk input ``[B, 3, S, S]``: L / 100 on every
        channel, normalised with the plan's mean/std; ab ``[B, 2, S, S]``)."""
        mean = torch.tensor(self.plan.mean, device=crop.device).view(1, 3, 1, 1)
        std = torch.tensor(self.plan.std, device=crop.device).view(1, 3, 1, 1)
        rgb = (ssl_losses.full_precision(crop) * std + mean).clamp(0.0, 1.0)
        lab = rgb_to_lab(rgb.cpu()).to(crop.device)  # rgb_to_lab builds its constants on the CPU
        lightness = (lab[:, :1] / 100.0).expand(-1, 3, -1, -1)
        return (lightness - mean) / std, lab[:, 1:]

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """Lightness in, per-position colour-bin logits out, cross entropy against the nearest
        bin of the cell-averaged ab; reports the per-position accuracy too."""
        x, ab = self.lightness_and_targets(batch.crops[0])
        with ctx.autocast():
            (logits,) = ctx.model(x)
        targets = nearest_bins(F.adaptive_avg_pool2d(ab, logits.shape[-2:]), self.bins)
        flat_logits = ssl_losses.full_precision(logits).permute(0, 2, 3, 1).reshape(-1, logits.shape[1])
        flat_targets = targets.reshape(-1)
        accuracy = (flat_logits.detach().argmax(1) == flat_targets).float().mean()
        return {"loss": self.loss(flat_logits, flat_targets), "accuracy": accuracy}


def _freeze_unreached(trunk: ssl_models.Trunk, feature: str, size: int) -> None:
    """Freeze the parameters of the trunk stages after ``feature``: the trunk stops at
    ``feature`` (``forward_features``), so they never get a gradient (at 32 px the last map is
    ``layer3`` and ``layer4`` is never run). Frozen, DDP does not wait for their gradients; the
    run is the same, since the optimizer skips parameters without a gradient anyway. Found with
    one backward pass in eval mode (running statistics untouched)."""
    was_training = trunk.training
    trunk.eval()
    trunk.forward_features(torch.zeros(1, 3, size, size), [feature])[feature].sum().backward()
    for p in trunk.parameters():
        if p.grad is None:
            p.requires_grad_(False)
        p.grad = None
    trunk.train(was_training)


def _last_map(trunk: ssl_models.Trunk, size: int) -> str:
    """The deepest feature of ``trunk`` that is still a map ``[B, C, h, w]`` at ``size`` px."""
    shapes = trunk.feature_shapes((1, 3, size, size))
    maps = [name for name in trunk.feature_names() if len(shapes[name]) == 4 and name != trunk.pooled_feature
            and shapes[name][2] * shapes[name][3] > 1]  # fmt: skip
    if not maps:
        raise ConfigError(f"trunk {trunk.name!r} has no feature map at {size} px for per-position colour prediction")
    return maps[-1]


COLORIZATION = Recipe(
    name="colorization",
    summary="Colorization: predict quantised ab colour bins from the lightness (FAIR benchmark's, Lab input, cross entropy)",
    paper="Zhang, Isola, Efros (2016). Colorful Image Colorization; Goyal, Mahajan, Gupta, Misra (2019). Scaling and Benchmarking Self-Supervised Visual Representation Learning",
    config_class=ColorizationConfig,
    build=Colorization,
)

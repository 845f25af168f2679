"""Jigsaw (Noroozi and Favaro, 2016; Goyal et al., 2019): put 9 shuffled tiles back in order.

A crop is cut into a 3x3 grid, one jittered tile per cell; the tiles are shuffled by one
permutation of a fixed set (maximal Hamming distance, ``ssl data prepare jigsaw_permutations``)
and every tile goes through the trunk (a siamese tower per tile). Each tile's pooled feature goes
through ``mlp`` (with BatchNorm and ReLU), the 9 results are concatenated
(``siamese_concat_view``) and a linear layer classifies which permutation was applied, with
cross entropy (``ssl_losses.CrossEntropyMultipleOutputSingleTarget``). The tile offsets and the
permutation are drawn inside the step from ``ssl_data.per_sample_uniforms``.

VISSL ``pretrain/jigsaw/jigsaw_8gpu_resnet``: ResNet-50, 2,000 permutations (variants 100 and
10,000), resize 256, random crop 255 (grid cells 85 px, tiles 64 px: jitter 21), flip, grayscale
p=0.66, head ``mlp [2048, 1000] (bn, relu) -> siamese_concat_view 9 -> mlp [9000, 2000]``, 105
epochs. Small-data defaults: ResNet-18 at width 0.25, 30 px crops of the 28 px images (the
images' own scale; cells 10 px, tiles 8 px: jitter 2), 100 permutations, tile embedding 128,
cosine schedule. The crop was chosen on held-out training images
(``benchmarks/results/recipe_validation_jigsaw.json``: 64.88 % kNN at 150 steps against 56.48 %
with the earlier 42 px crops and 46.44 % with 63 px). The pretext task specialises the last stage,
so the methods table probes ``res2`` (``JIGSAW.probe_layer``, chosen there with ``--layers``).

``loss.permutations_file`` reads a permutation ``.npy`` (int ``[N, 9]``, 0- or 1-based); empty
generates ``loss.num_permutations`` of them with the same code as the preparer
(``ssl_data.prep.generate_jigsaw_permutations``, seed ``loss.permutations_seed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

import ssl_data
import ssl_losses
import ssl_models
from ssl_data.prep import generate_jigsaw_permutations
from ssl_data.transforms import load_permutations
from ssl_train.config import ConfigError, DataConfig, MonitorConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.recipes.base import Batch, Method, Recipe, StepContext
from ssl_train.recipes.patch_grid import cut_grid_patches
from ssl_train.recipes.trunk_options import build_recipe_trunk
from ssl_train.views import CropSpec, ViewPlan

__all__ = ["JIGSAW", "Jigsaw", "JigsawConfig", "jigsaw_permutation_set"]

GRID = 3


@dataclass
class JigsawModelConfig:
    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False
    tile_dim: int = 128
    """Per-tile embedding before the concatenation (VISSL: 1000)."""


@dataclass
class JigsawViewsConfig:
    crop_size: int = 30
    """Side of the crop cut into the 3x3 grid (VISSL: 255)."""
    patch_jitter: int = 2
    """Tile side = crop_size // 3 - patch_jitter (VISSL: 85 - 21 = 64)."""
    crop_scale_min: float = 0.5
    crop_scale_max: float = 1.0
    p_gray: float = 0.66
    p_flip: float = 0.5


@dataclass
class JigsawLossConfig:
    permutations_file: str = ""
    """A permutation .npy (``ssl data prepare jigsaw_permutations``); empty: generate them."""
    num_permutations: int = 100
    """Generated permutations when no file is given (VISSL: 2,000)."""
    permutations_seed: int = 0


@dataclass
class JigsawConfig:
    """The whole Jigsaw recipe."""

    data: DataConfig = field(default_factory=DataConfig)
    model: JigsawModelConfig = field(default_factory=JigsawModelConfig)
    views: JigsawViewsConfig = field(default_factory=JigsawViewsConfig)
    loss: JigsawLossConfig = field(default_factory=JigsawLossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.1))
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


def jigsaw_permutation_set(lc: JigsawLossConfig) -> Tensor:
    """int64 ``[N, 9]`` 0-based permutations: read from ``lc.permutations_file`` or generated.

    Raises:
        ConfigError: a missing or malformed file, or permutations not of 9 tiles (one line).
    """
    if lc.permutations_file:
        try:
            perms = load_permutations(lc.permutations_file)
        except (FileNotFoundError, ValueError) as exc:
            raise ConfigError(f"loss.permutations_file: {str(exc).splitlines()[0]}") from None
    else:
        try:
            perms = generate_jigsaw_permutations(lc.num_permutations, GRID * GRID, lc.permutations_seed)
        except ValueError as exc:
            raise ConfigError(f"loss.num_permutations: {exc}") from None
    if perms.shape[1] != GRID * GRID:
        raise ConfigError(f"loss.permutations_file holds permutations of {perms.shape[1]} tiles; Jigsaw uses {GRID * GRID}")
    return torch.as_tensor(perms, dtype=torch.int64)


class Jigsaw(Method):
    """Online model = trunk + (tile mlp -> concatenation of 9 tiles -> permutation classifier)."""

    permutations: Tensor

    def __init__(self, cfg: JigsawConfig) -> None:
        super().__init__()
        m, v = cfg.model, cfg.views
        self.register_buffer("permutations", jigsaw_permutation_set(cfg.loss))
        trunk = build_recipe_trunk(m.trunk, m.width_multiplier, m.small_input)
        chain = [
            ssl_models.MLPHead([trunk.num_features, m.tile_dim], use_bn=True, use_relu=True, skip_last_layer_relu_bn=False),
            ssl_models.SiameseConcatView(GRID * GRID),
            ssl_models.MLPHead([GRID * GRID * m.tile_dim, int(self.permutations.shape[0])]),
        ]
        self.model = ssl_models.SSLModel(trunk, [chain])
        if v.crop_size // GRID - v.patch_jitter < 1:
            raise ConfigError(f"views.crop_size={v.crop_size} leaves no tile after views.patch_jitter={v.patch_jitter}")
        self.plan = ViewPlan((CropSpec(v.crop_size, 1, (v.crop_scale_min, v.crop_scale_max), 0.0, 0.0, v.p_gray, v.p_flip),))
        self.jitter = v.patch_jitter
        self.loss = ssl_losses.CrossEntropyMultipleOutputSingleTarget()

    def views(self) -> ViewPlan:
        return self.plan

    def shuffled_tiles(self, batch: Batch, ctx: StepContext) -> tuple[Tensor, Tensor]:
        """``([B * 9, C, p, p] tiles, sample-major, shuffled; int64 [B] permutation labels)``:
        output tile ``k`` of sample ``b`` is grid cell ``permutations[label_b][k]``."""
        (x,) = batch.crops
        n = GRID * GRID
        u = ssl_data.per_sample_uniforms(ctx.seed, ctx.epoch, batch.indices, self.plan.num_crops, 2 * n + 1)
        tiles = cut_grid_patches(x, GRID, self.jitter, u[:, : 2 * n])  # [B, 9, C, p, p]
        num = self.permutations.shape[0]
        labels = torch.floor(u[:, 2 * n] * num).clamp(max=num - 1).to(torch.int64).to(x.device)
        order = self.permutations[labels]  # [B, 9]
        shuffled = tiles[torch.arange(x.shape[0], device=x.device)[:, None], order]
        return shuffled.flatten(0, 1), labels

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """Tiles through the trunk, permutation classified; reports the accuracy too."""
        tiles, labels = self.shuffled_tiles(batch, ctx)
        with ctx.autocast():
            (logits,) = ctx.model(tiles)
        accuracy = (logits.detach().argmax(1) == labels).float().mean()
        return {"loss": self.loss(ssl_losses.full_precision(logits), labels), "accuracy": accuracy}


JIGSAW = Recipe(
    name="jigsaw",
    summary="Jigsaw: classify which permutation shuffled 9 tiles (siamese trunk, VISSL cross_entropy_multiple_output_single_target)",
    paper="Noroozi, Favaro (2016). Unsupervised Learning of Visual Representations by Solving Jigsaw Puzzles",
    config_class=JigsawConfig,
    build=Jigsaw,
    probe_layer="res2",
)

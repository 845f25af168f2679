"""PIRL (Misra and van der Maaten, 2020): an image and its shuffled jigsaw tiles share one
representation, learnt against a memory bank.

Two inputs go through the same trunk: the image (a random-resized crop) and 9 tiles cut from a
second crop of the same image, in random order. The image's pooled feature is projected to 128-d
(``mlp``); each tile's pooled feature too, then the 9 are concatenated
(``siamese_concat_view``) and projected to 128-d. Both embeddings are scored against the memory
bank row of their image (InfoNCE with random negatives, ``ssl_losses.NCEMemoryLoss`` with
``loss_weights (0.5, 0.5)``); only the image embedding updates the bank
(``update_mem_with_emb_index 1``). The model is one ``SSLModel`` with two inputs
(``head_inputs ["patches", "images"]``, VISSL's MULTI_INPUT_HEAD_MAPPING). The tiles are cut inside
the step; their offsets, their order and the negatives come from ``ssl_data.per_sample_uniforms``.

VISSL ``pretrain/pirl/pirl_jigsaw_4node_resnet50``: ResNet-50, 32,000 negatives, temperature
0.07, momentum 0.5, image crop 224 (0.08-1), tile region 255 (0.6-1) cut into 64 px tiles (jitter
21), colour jitter (0.4, 0.4, 0.4, 0.2), grayscale 0.2, flip, 800 epochs, cosine lr 0.03 x
batch/256 (0.12 at their batch of 1,024), weight decay 1e-4. Small-data defaults:
ResNet-18 at width 0.25, 28 px images (0.2-1), 42 px tile regions (0.6-1, tiles of 12 px), 2,048
negatives, cosine lr 0.03. VISSL jitters each tile's colours separately; here the region is
jittered once before it is cut.

Short runs: nine tiles per image make PIRL the slowest recipe (0.63 epochs in the methods table's
4 minutes), so a bank of random rows is never refreshed and every positive is a random vector.
Default chosen for short runs, ``loss.memory_init=features`` (PIRL's and VISSL's is ``random``):
NPID's :func:`~ssl_train.recipes.npid.fill_memory` fills the bank with the initial network's
image embeddings before the first step. On held-out training images
(``benchmarks/recipe_validation.py pirl --steps N``, kNN k=200 T=0.1, never the test split;
``benchmarks/results/recipe_validation_pirl.json``), against 67.04 % for the same trunk at random
init: after 300 steps (1.3 epochs) 71.96 % with ``features`` and 66.00 % with ``random``; after 30
steps 60.04 % and 66.40 % (the filled bank needs NPID's few hundred steps to pay off).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

import ssl_data
import ssl_losses
import ssl_models
from ssl_train.config import ConfigError, DataConfig, MonitorConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.recipes.base import Batch, EpochContext, Method, Recipe, StepContext
from ssl_train.recipes.epoch_features import ModelOutput
from ssl_train.recipes.npid import checked_memory_init, draw_negatives, fill_memory
from ssl_train.recipes.patch_grid import cut_grid_patches, permutation_from_uniforms
from ssl_train.recipes.train_set_size import train_set_size
from ssl_train.recipes.trunk_options import build_recipe_trunk
from ssl_train.views import CropSpec, ViewPlan

__all__ = ["PIRL", "PIRLConfig", "PIRLMethod"]

GRID = 3


@dataclass
class PIRLModelConfig:
    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False
    projection_dim: int = 128


@dataclass
class PIRLViewsConfig:
    crop_scale_min: float = 0.2
    crop_scale_max: float = 1.0
    patch_crop_size: int = 42
    """Side of the region cut into 3x3 tiles (VISSL: 255)."""
    patch_jitter: int = 2
    """Tile side = patch_crop_size // 3 - patch_jitter (VISSL: 85 - 21 = 64)."""
    patch_scale_min: float = 0.6
    patch_scale_max: float = 1.0
    jitter_strength: float = 0.5
    p_jitter: float = 0.8
    p_gray: float = 0.2
    p_flip: float = 0.5


@dataclass
class PIRLLossConfig:
    num_negatives: int = 2048
    """VISSL: 32,000."""
    temperature: float = 0.07
    momentum: float = 0.5
    loss_type: str = "cross_entropy"
    patch_weight: float = 0.5
    image_weight: float = 0.5
    memory_init: str = "features"
    """``features`` (the default here, see the module docstring): before the first step, every row
    is replaced by its image's embedding by the initial network (one pass over the data); or
    ``random`` (PIRL / VISSL: random unit rows)."""


@dataclass
class PIRLConfig:
    """The whole PIRL recipe."""

    data: DataConfig = field(default_factory=DataConfig)
    model: PIRLModelConfig = field(default_factory=PIRLModelConfig)
    views: PIRLViewsConfig = field(default_factory=PIRLViewsConfig)
    loss: PIRLLossConfig = field(default_factory=PIRLLossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.03))
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


class PIRLMethod(Method):
    """One trunk, two inputs (tiles, image), two projection chains; the bank lives in the loss."""

    def __init__(self, cfg: PIRLConfig) -> None:
        super().__init__()
        m, v, lc = cfg.model, cfg.views, cfg.loss
        if v.patch_crop_size // GRID - v.patch_jitter < 1:
            raise ConfigError(f"views.patch_crop_size={v.patch_crop_size} leaves no tile after views.patch_jitter={v.patch_jitter}")
        trunk = build_recipe_trunk(m.trunk, m.width_multiplier, m.small_input)
        f, d = trunk.num_features, m.projection_dim
        patches_chain = [ssl_models.MLPHead([f, d]), ssl_models.SiameseConcatView(GRID * GRID), ssl_models.MLPHead([GRID * GRID * d, d])]
        self.model = ssl_models.SSLModel(trunk, [patches_chain, ssl_models.MLPHead([f, d])], head_inputs=["patches", "images"])
        colour = (v.jitter_strength, v.p_jitter, v.p_gray, v.p_flip)
        self.plan = ViewPlan((
            CropSpec(cfg.data.image_size, 1, (v.crop_scale_min, v.crop_scale_max), *colour),
            CropSpec(v.patch_crop_size, 1, (v.patch_scale_min, v.patch_scale_max), *colour),
        ))  # fmt: skip
        self.jitter = v.patch_jitter
        self.tile_size = v.patch_crop_size // GRID - v.patch_jitter
        self.num_train_samples = train_set_size(cfg.data, cfg.train.seed)
        self.memory_init = checked_memory_init(lc.memory_init)
        try:
            self.loss = ssl_losses.NCEMemoryLoss(
                self.num_train_samples, embedding_dim=d, num_negatives=lc.num_negatives, temperature=lc.temperature,
                momentum=lc.momentum, loss_type=lc.loss_type,  # type: ignore[arg-type]
                loss_weights=(lc.patch_weight, lc.image_weight), update_mem_on_forward=False, update_mem_with_emb_index=1,
                seed=cfg.train.seed,
            )  # fmt: skip
        except ValueError as exc:
            raise ConfigError(f"loss: {exc}") from None

    def views(self) -> ViewPlan:
        return self.plan

    def on_epoch_start(self, ctx: EpochContext) -> None:
        """Before the first step (epoch 0; a resumed run is past it), with ``loss.memory_init=features``:
        the bank holds the initial network's image embeddings instead of random rows."""
        if ctx.epoch == 0 and self.memory_init == "features":
            size = self.tile_size

            def with_blank_tiles(images: Tensor) -> dict[str, Tensor]:
                """The root model's input (FSDP runs the root before any child): nine blank tiles
                for the patch chain, whose output is dropped."""
                return {"patches": images.new_zeros(GRID * GRID, images.shape[1], size, size), "images": images}

            fill_memory(self.loss, ModelOutput(self.model, pick=lambda outs: outs[1], batch=with_blank_tiles), ctx)

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """Cut and shuffle the tiles, embed tiles and image, score both against the image's row."""
        image, region = batch.crops
        n = GRID * GRID
        view = self.plan.num_crops
        u = ssl_data.per_sample_uniforms(ctx.seed, ctx.epoch, batch.indices, view, 3 * n)
        tiles = cut_grid_patches(region, GRID, self.jitter, u[:, : 2 * n])  # [B, 9, C, p, p]
        order = permutation_from_uniforms(u[:, 2 * n :]).to(region.device)
        tiles = tiles[torch.arange(region.shape[0], device=region.device)[:, None], order].flatten(0, 1)
        negatives = draw_negatives(ctx, batch.indices, view + 1, self.loss.num_negatives, self.num_train_samples)
        with ctx.autocast():
            patch_emb, image_emb = ctx.model({"patches": tiles, "images": image})
        loss = self.loss([ssl_losses.full_precision(patch_emb), ssl_losses.full_precision(image_emb)], batch.indices, negatives=negatives)
        return {"loss": loss}


PIRL = Recipe(
    name="pirl",
    summary="PIRL: an image and its shuffled jigsaw tiles match one memory-bank row, InfoNCE (VISSL nce_loss_with_memory)",
    paper="Misra, van der Maaten (2020). Self-Supervised Learning of Pretext-Invariant Representations",
    config_class=PIRLConfig,
    build=PIRLMethod,
)

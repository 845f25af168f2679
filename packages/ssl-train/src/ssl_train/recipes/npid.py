"""NPID (Wu et al., 2018) and NPID++ (Misra and van der Maaten, 2020): instance discrimination
against a memory bank of every training image.

Each image is its own class. A linear projection of the trunk's pooled features (128-d, L2
normalised) is scored against its own row of a memory bank (one row per dataset index, momentum
0.5) and against randomly drawn rows (negatives); after the step the image's row moves towards
its new embedding. The bank, its normalising constant and the negatives live in
``ssl_losses.NCEMemoryLoss`` (gathered across ranks, so the bank is the same on every rank).

- NPID (VISSL ``pretrain/npid/npid_8gpu_resnet``): NCE loss, 4,096 negatives, temperature 0.07,
  momentum 0.5, ResNet-50, head ``mlp [2048, 128]``, 200 epochs, SGD lr 0.03 at batch 256, weight
  decay 1e-4, multistep 0.03/0.003/0.0003 at epochs 120/160; colour jitter 0.4, random-resized
  crop 224, flip.
- NPID++ (VISSL ``pretrain/npid/npid++_4nodes_resnet``, the PIRL paper's baseline): 32,000
  negatives, 800 epochs, InfoNCE (``loss_type=cross_entropy``) in VISSL's config.

Small-data defaults (Fashion-MNIST 28 px, 2-core CPU): ResNet-18 at width 0.25, batch 256, 1,024
negatives for NPID and 2,048 for NPID++ (each step reads ``batch x negatives x 128`` floats of
the bank), cosine schedule. Negatives are drawn from ``ssl_data.per_sample_uniforms`` so a
sample's negatives depend on (seed, epoch, index) only: resumed and multi-process runs draw the
same ones.

Default chosen for short runs, ``loss.memory_init=features`` (NPID's and VISSL's is ``random``):
a bank of random unit rows is refreshed once per epoch, so in the first epoch every positive is a
random vector that NCE pulls the embedding towards. With ``features`` the bank holds the initial
network's embedding of every image before the first step (one pass over the data,
:func:`fill_memory`). Chosen on held-out training images (``benchmarks/recipe_validation.py npid
--steps 300``, kNN k=200 T=0.1, 10,000 memory / 5,000 query training images, never the test split;
``benchmarks/results/recipe_validation_npid.json``): after 300 steps 75.56 % with ``features``
against 51.24 % with ``random``, and 67.04 % for the same trunk at random init. NPID++ keeps
``random`` (not measured with the fill).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import ssl_data
import ssl_losses
import ssl_models
from ssl_train.config import ConfigError, DataConfig, MonitorConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.recipes.base import Batch, EpochContext, Method, Recipe, StepContext
from ssl_train.recipes.epoch_features import ModelOutput
from ssl_train.recipes.train_set_size import train_set_size
from ssl_train.recipes.trunk_options import build_recipe_trunk
from ssl_train.views import CropSpec, ViewPlan

__all__ = [
    "MEMORY_INITS", "NPID", "NPIDConfig", "NPIDMethod", "NPIDPP", "NPIDPlusPlusConfig", "checked_memory_init", "draw_negatives",
    "fill_memory",
]  # fmt: skip

#: values of ``loss.memory_init``
MEMORY_INITS = ("random", "features")


@dataclass
class NPIDModelConfig:
    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False
    projection_dim: int = 128
    """VISSL: ``mlp [2048, 128]``, a linear projection."""


@dataclass
class NPIDViewsConfig:
    crop_scale_min: float = 0.2
    """NPID: random-resized crop 0.2-1 (VISSL's config: 0.08-1)."""
    crop_scale_max: float = 1.0
    jitter_strength: float = 0.5
    """Brightness/contrast/saturation 0.4, hue 0.1 (NPID's 0.4 jitter)."""
    p_jitter: float = 1.0
    p_gray: float = 0.2
    p_flip: float = 0.5


@dataclass
class NPIDLossConfig:
    """``ssl_losses.NCEMemoryLoss`` (VISSL ``nce_loss_with_memory``)."""

    loss_type: str = "nce"
    """``nce`` (NPID) or ``cross_entropy`` (InfoNCE: NPID++, PIRL)."""
    num_negatives: int = 1024
    """NPID: 4,096; NPID++: 32,000."""
    temperature: float = 0.07
    momentum: float = 0.5
    """Memory-bank momentum."""
    norm_constant: float = -1.0
    """NCE's Z; negative estimates it at the first step."""
    memory_init: str = "features"
    """``features`` (ours, see the module docstring): before the first step, every row is replaced
    by its image's embedding by the initial network (one pass over the data); ``random`` (NPID /
    VISSL): random unit rows."""


@dataclass
class NPIDConfig:
    """The whole NPID recipe."""

    data: DataConfig = field(default_factory=DataConfig)
    model: NPIDModelConfig = field(default_factory=NPIDModelConfig)
    views: NPIDViewsConfig = field(default_factory=NPIDViewsConfig)
    loss: NPIDLossConfig = field(default_factory=NPIDLossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.03))
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


@dataclass
class NPIDPlusPlusConfig(NPIDConfig):
    """NPID++: InfoNCE and more negatives (VISSL: 32,000)."""

    loss: NPIDLossConfig = field(
        default_factory=lambda: NPIDLossConfig(loss_type="cross_entropy", num_negatives=2048, memory_init="random")
    )
    """``memory_init`` stays ``random`` here: NPID++ beats random init with it, the fill is not measured for it."""


def draw_negatives(ctx: StepContext, indices: Tensor, view: int, count: int, num_samples: int) -> Tensor:
    """int64 ``[B, count]`` dataset indices in ``[0, num_samples)``, uniform, drawn per sample from
    ``ssl_data.per_sample_uniforms(ctx.seed, ctx.epoch, indices, view, count)`` (``view`` above
    the plan's crops), on the device of ``indices``."""
    u = ssl_data.per_sample_uniforms(ctx.seed, ctx.epoch, indices, view, count)
    return torch.floor(u * num_samples).clamp(max=num_samples - 1).to(torch.int64).to(indices.device)


def checked_memory_init(value: str) -> str:
    """``loss.memory_init`` if it is one of :data:`MEMORY_INITS`; ``ConfigError`` otherwise."""
    if value not in MEMORY_INITS:
        raise ConfigError(f"loss.memory_init must be one of {', '.join(MEMORY_INITS)}, got {value!r}")
    return value


def fill_memory(loss: ssl_losses.NCEMemoryLoss, embed: nn.Module, ctx: EpochContext) -> None:
    """Replace every row of ``loss.memory`` ``[N, D]`` by the L2-normalised embedding ``[D]`` of its
    image by ``embed`` (``images [B, 3, S, S] -> [B, D]``), one pass over the training set
    (``ctx.features``: eval mode, no augmentation, gathered from every rank, so every rank writes
    the same bank)."""
    feats, idx = ctx.features(embed)
    memory = loss.memory
    loss.memory.index_copy_(0, idx.to(memory.device), F.normalize(feats.to(memory.device, memory.dtype), dim=1))


class NPIDMethod(Method):
    """Online model = trunk + linear projection; the memory bank lives in the loss."""

    def __init__(self, cfg: NPIDConfig) -> None:
        super().__init__()
        m, v, lc = cfg.model, cfg.views, cfg.loss
        trunk = build_recipe_trunk(m.trunk, m.width_multiplier, m.small_input)
        head = ssl_models.MLPHead([trunk.num_features, m.projection_dim])
        self.model = ssl_models.SSLModel(trunk, [head])
        self.plan = ViewPlan((CropSpec(cfg.data.image_size, 1, (v.crop_scale_min, v.crop_scale_max), v.jitter_strength,
                                       v.p_jitter, v.p_gray, v.p_flip),))  # fmt: skip
        self.num_train_samples = train_set_size(cfg.data, cfg.train.seed)
        self.memory_init = checked_memory_init(lc.memory_init)
        try:
            self.loss = ssl_losses.NCEMemoryLoss(
                self.num_train_samples, embedding_dim=m.projection_dim, num_negatives=lc.num_negatives,
                temperature=lc.temperature, momentum=lc.momentum, loss_type=lc.loss_type,  # type: ignore[arg-type]
                norm_constant=lc.norm_constant, seed=cfg.train.seed,
            )  # fmt: skip
        except ValueError as exc:
            raise ConfigError(f"loss: {exc}") from None

    def views(self) -> ViewPlan:
        return self.plan

    def on_epoch_start(self, ctx: EpochContext) -> None:
        """Before the first step (epoch 0; a resumed run is past it), with ``loss.memory_init=features``:
        the bank holds the initial network's embeddings instead of random rows."""
        if ctx.epoch == 0 and self.memory_init == "features":
            fill_memory(self.loss, ModelOutput(self.model), ctx)  # the root model: FSDP runs it first

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """Embed the crop, score it against the bank (positive = its own row), update the bank."""
        negatives = draw_negatives(ctx, batch.indices, self.plan.num_crops, self.loss.num_negatives, self.num_train_samples)
        with ctx.autocast():
            (embeddings,) = ctx.model(batch.crops)
        return {"loss": self.loss(ssl_losses.full_precision(embeddings), batch.indices, negatives=negatives)}


NPID = Recipe(
    name="npid",
    summary="NPID: instance discrimination against a memory bank, NCE with random negatives (VISSL nce_loss_with_memory)",
    paper="Wu, Xiong, Yu, Lin (2018). Unsupervised Feature Learning via Non-Parametric Instance Discrimination",
    config_class=NPIDConfig,
    build=NPIDMethod,
)

NPIDPP = Recipe(
    name="npid++",
    summary="NPID++: NPID with InfoNCE and more negatives, the PIRL paper's baseline (VISSL nce_loss_with_memory)",
    paper="Misra, van der Maaten (2020). Self-Supervised Learning of Pretext-Invariant Representations (NPID++ baseline)",
    config_class=NPIDPlusPlusConfig,
    build=NPIDMethod,
)

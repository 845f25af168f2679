"""SwAV (Caron et al., 2020): crops of one image predict each other's cluster codes, codes from
Sinkhorn-Knopp over the batch (and a queue), prototypes learnt with the network.

Read top to bottom: the config, the method (trunk + ``SwAVHead``: projection, L2 normalisation,
prototypes; ``SwAVLoss`` with its Sinkhorn and queue), the multi-crop views, the step, and the
callbacks: the prototypes get no update during the first ``loss.freeze_prototypes_iters``
iterations (``SSLModel.frozen_params_for_iters`` / ``drop_frozen_grads`` after backward), and
the prototype rows are L2-normalised after every optimizer step (and once at construction), as
SwAV and VISSL do before each forward.

The queue: ``loss.queue_length > 0`` keeps that many past embeddings of the assignment crops
(rounded down to a multiple of the global batch, split over ranks) and adds them to the Sinkhorn
input from epoch ``loss.queue_start_epoch`` on (SwAV's ``epoch_queue_starts``; VISSL counts it
in iterations, ``queue.start_iter``).

Published / VISSL defaults (``swav_8node_resnet``, ResNet-50, batch 4096, 400+ epochs): LARC
SGD, lr 4.8 (0.3 x batch/256) with linear warm-up then cosine to 0.0048, weight decay 1e-6,
head 2048-2048-128 with BN, 3000 prototypes, temperature 0.1, epsilon 0.05, 3 Sinkhorn
iterations, codes of crops 0 and 1, 2x224 px (scale 0.14-1) + 6x96 px (scale 0.05-0.14) crops,
prototypes frozen for the first 313 iterations (one epoch), no queue at that batch (the paper
uses 3840 below batch 256, from epoch 15). Our Fashion-MNIST defaults (ResNet-18 at width 0.25,
batch 256, 8 epochs of 234 steps): head 512-128, 100 prototypes (10 classes), 2x28 px crops of
scale 0.6-1 and no local crops (``views.local_crops=4`` gives the multi-crop 2x28 + 4x12 px), SGD lr 0.3 with a 1-epoch warm-up, weight decay 1e-6, prototypes frozen for 234 steps,
no queue (with 100 prototypes and 256 images the batch alone fills every prototype; see below).

Short runs (``train.max_steps``): the freeze and the queue start stay counted in iterations and
epochs, not scaled to the run's length. On held-out training images at the methods table's 327
steps (``benchmarks/recipe_validation.py``), the defaults (prototypes frozen for 234 steps, 72 % of
the run) reach 66.70 % kNN, a freeze and a warm-up of 41 steps each (the 8-epoch proportions)
62.32 % (``benchmarks/results/recipe_validation_swav.json``).

Why two crops of 0.6-1 and no local crops (same file, same 327 steps): the multi-crop defaults
(global crops 0.25-1, 4 local 12 px crops) reach 66.70 %, under the random-init trunk (67.04 %);
two global crops of 0.6-1 alone reach **72.90 %** and run twice as many images per second (762
against about 380). At 28 px a 12 px local crop is a 3x3 map after the stem; the SimCLR screening
found the same (``benchmarks/results/simclr_screening.json``: multi-crop 75.12 % vs 77.04 % with
two crops, crops of 0.6-1 learning faster than 0.35-1).

Why no queue (same file, held-out images, 1,697 steps = 7.25 epochs, the 4-minute table's run on
an AMX Xeon): with a queue of 2560 from epoch 2 (the earlier default) the trunk falls to 62.52 %
kNN, below the random-init trunk (67.04 %); with ``loss.queue_length=0`` it reaches **77.50 %**.
SwAV adds the queue for batches far smaller than its 3000 prototypes; ours is 2.5x the 100
prototypes. ``loss.queue_length`` / ``loss.queue_start_epoch`` still turn it on (VISSL configs
that set ``queue.local_queue_length`` do).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributed.tensor import DTensor

import ssl_losses
import ssl_models
from ssl_losses.distributed import world_size
from ssl_train.config import DataConfig, MonitorConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.recipes.base import Batch, Method, Recipe, StepContext
from ssl_train.recipes.trunk_options import build_recipe_trunk
from ssl_train.views import CropSpec, ViewPlan

__all__ = ["SWAV", "SwAV", "SwAVConfig"]

PROTOTYPES = "heads.0.0.prototypes0"
"""The prototype layer's parameter prefix in the SSLModel (one head chain, one prototype layer)."""


@dataclass
class SwAVModelConfig:
    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False
    head_hidden_dim: int = 512
    """VISSL: 2048."""
    projection_dim: int = 128
    num_prototypes: int = 100
    """VISSL/SwAV: 3000 (ImageNet's 1000 classes)."""
    head_use_bn: bool = True


@dataclass
class SwAVViewsConfig:
    global_scale_min: float = 0.6
    """SwAV: 0.14 (module docstring: why 0.6 at 28 px)."""
    global_scale_max: float = 1.0
    local_crops: int = 0
    """SwAV: 6 (VISSL's documented block: 4) at 96 px; 0 here (module docstring)."""
    local_size: int = 12
    local_scale_min: float = 0.05
    local_scale_max: float = 0.25
    """SwAV: 0.14 (at 96 px of 224)."""
    jitter_strength: float = 0.5
    """SwAV: 1.0 (colour distortion strength)."""
    p_gray: float = 0.2
    p_blur: float = 0.0
    """SwAV: 0.5 at 224 px; a blur at 28 px erases the image."""


@dataclass
class SwAVLossConfig:
    temperature: float = 0.1
    epsilon: float = 0.05
    sinkhorn_iterations: int = 3
    crops_for_assign: list[int] = field(default_factory=lambda: [0, 1])
    use_double_precision: bool = False
    queue_length: int = 0
    """Global queue length (0: no queue, the default; SwAV: 3840 at batch 256). Rounded down to a
    multiple of the global batch."""
    queue_start_epoch: int = 2
    """The queue joins the Sinkhorn input from this epoch (0-based; SwAV: 15 of 200)."""
    freeze_prototypes_iters: int = 234
    """No prototype update before this iteration (VISSL TEMP_FROZEN_PARAMS_ITER_MAP 313 = 1 epoch)."""


@dataclass
class SwAVConfig:
    """The whole SwAV recipe."""

    data: DataConfig = field(default_factory=DataConfig)
    model: SwAVModelConfig = field(default_factory=SwAVModelConfig)
    views: SwAVViewsConfig = field(default_factory=SwAVViewsConfig)
    loss: SwAVLossConfig = field(default_factory=SwAVLossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.3, weight_decay=1e-6))
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(warmup_epochs=1.0, final_fraction=1e-3))
    train: TrainConfig = field(default_factory=TrainConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


class SwAV(Method):
    """Trunk + SwAV head (``self.model``) and the loss with its queue."""

    def __init__(self, cfg: SwAVConfig) -> None:
        super().__init__()
        m, v, lc = cfg.model, cfg.views, cfg.loss
        trunk = build_recipe_trunk(m.trunk, m.width_multiplier, m.small_input)
        head = ssl_models.SwAVHead([trunk.num_features, m.head_hidden_dim, m.projection_dim], use_bn=m.head_use_bn,
                                   num_clusters=[m.num_prototypes])  # fmt: skip
        self.model = ssl_models.SSLModel(trunk, [head], frozen_params_for_iters={PROTOTYPES: lc.freeze_prototypes_iters})
        g = (v.global_scale_min, v.global_scale_max)
        crops = [CropSpec(cfg.data.image_size, 2, g, v.jitter_strength, 0.8, v.p_gray, 0.5, v.p_blur)]
        if v.local_crops > 0:
            crops.append(CropSpec(v.local_size, v.local_crops, (v.local_scale_min, v.local_scale_max),
                                  v.jitter_strength, 0.8, v.p_gray, 0.5, v.p_blur))  # fmt: skip
        self.plan = ViewPlan(tuple(crops))
        global_batch = cfg.data.batch_size * world_size()
        self.loss = ssl_losses.SwAVLoss(
            temperature=lc.temperature, use_double_precision=lc.use_double_precision, num_iters=lc.sinkhorn_iterations,
            epsilon=lc.epsilon, crops_for_assign=lc.crops_for_assign, embedding_dim=m.projection_dim,
            num_crops=self.plan.num_crops, num_prototypes=[m.num_prototypes],
            queue_length=lc.queue_length - lc.queue_length % global_batch,
        )  # fmt: skip
        self.queue_start_epoch = lc.queue_start_epoch
        self._normalize_prototypes()

    @torch.no_grad()
    def _normalize_prototypes(self) -> None:
        w = self._prototypes().weight
        w.copy_(F.normalize(w, dim=1, p=2))

    def _prototypes(self) -> torch.nn.Linear:
        return self.model.get_submodule(PROTOTYPES)  # type: ignore[return-value]

    def views(self) -> ViewPlan:
        return self.plan

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """All crops through the model: normalised embeddings and prototype scores, crop-major;
        SwAVLoss computes the codes of the assignment crops (with the queue once it is active)
        and the swapped predictions."""
        # The queue's first iteration depends on the epoch length, known only now (the loss
        # compares its own iteration counter with start_iter).
        self.loss.start_iter = self.queue_start_epoch * ctx.steps_per_epoch
        with ctx.autocast():
            ((embedding, scores),) = ctx.model(batch.crops)
        prototypes = self._prototypes().weight.detach()
        if isinstance(prototypes, DTensor):  # FSDP: the queue is scored against every prototype
            prototypes = prototypes.full_tensor()
        return {"loss": self.loss(ssl_losses.full_precision(scores), ssl_losses.full_precision(embedding), prototypes)}

    def after_backward(self, ctx: StepContext) -> None:
        """No prototype gradient during the first ``freeze_prototypes_iters`` iterations."""
        self.model.drop_frozen_grads(ctx.step)

    def after_optimizer_step(self, ctx: StepContext) -> None:
        self._normalize_prototypes()


SWAV = Recipe(
    name="swav",
    summary="SwAV: swapped prediction of Sinkhorn codes across multi-crops, prototypes, queue (VISSL swav_loss)",
    paper="Caron, Misra, Mairal, Goyal, Bojanowski, Joulin (2020). Unsupervised Learning of Visual Features by "
    "Contrasting Cluster Assignments",
    config_class=SwAVConfig,
    build=SwAV,
)

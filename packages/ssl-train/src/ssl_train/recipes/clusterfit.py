"""ClusterFit (Yan et al., 2020): cluster a pretrained model's features, then train a fresh model
to classify the clusters.

One command runs both stages::

    ssl pretrain clusterfit --out runs/clusterfit                  # stage 1 clusters hand-made features
    ssl pretrain clusterfit --out runs/clusterfit clusterfit.checkpoint=runs/rotnet/checkpoints/final.pt

Stage 1 (``on_epoch_start`` of the first epoch): the trunk of ``clusterfit.checkpoint`` (any ssl
checkpoint: ``ssl pretrain``'s ``final.pt``, or one converted with ``ssl convert``) embeds every
training image (pooled features, no augmentation, ``EpochContext.features``); without a checkpoint
(the default) the features are hand-made ones (``clusterfit.features``): by default histograms of
oriented gradients of the grey image, orientations interpolated between bins, beside its pixels
(``ssl_train.recipes.gradient_histograms``, ``pixel_features``), standardised and PCA-reduced to
``clusterfit.pixels_pca_dim`` dimensions; no label and no model is involved. Spherical k-means
(``ssl_losses.DeepClusterV2Loss``'s distributed k-means on L2-normalised features) turns them into
``clusterfit.num_clusters`` pseudo-labels. They are a buffer of the method, so a resumed run keeps
them. Stage 2: a fresh trunk + linear classifier learns the pseudo-labels with cross entropy
(``ssl_losses.CrossEntropyMultipleOutputSingleTarget``), supervised-style augmentation.

VISSL: stage 1 ``pretrain/clusterfit/cluster_features_resnet_8gpu_rotation_in1k`` (RotNet ResNet-50
res5 features, faiss k-means, 16,000 clusters, 50 iterations) writes a label file; stage 2
``pretrain/clusterfit/clusterfit_resnet_8gpu_imagenet`` trains a ResNet-50 on it (head ``mlp
[2048, 16000]``, 80 images per cluster). Small-data defaults: one cluster per 60 training images
(1,000 for Fashion-MNIST's 60,000), clustered from gradient histograms and pixels, ResNet-18 at width 0.25,
28 px crops of 90-100 % of the image, label smoothing 0.1, 14 epochs, cosine lr 0.1,
channels-last. This is the recipe of a plain ``ssl run``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.distributed.tensor import DTensor, distribute_tensor

import ssl_losses
import ssl_models
from ssl_models.checkpoint import CheckpointError, load_checkpoint, trunk_from_checkpoint
from ssl_train.config import ConfigError, DataConfig, MonitorConfig, OptimConfig, ScheduleConfig, TrainConfig
from ssl_train.recipes.base import Batch, EpochContext, Method, Recipe, StepContext
from ssl_train.recipes.epoch_features import own_rows, spherical_kmeans_labels
from ssl_train.recipes.gradient_histograms import GradientHistograms
from ssl_train.recipes.pixel_features import Pixels, standardised_pca
from ssl_train.recipes.train_set_size import train_set_size
from ssl_train.recipes.trunk_options import build_recipe_trunk
from ssl_train.views import CropSpec, ViewPlan

__all__ = ["CLUSTERFIT", "HAND_MADE_FEATURES", "IMAGES_PER_CLUSTER", "ClusterFit", "ClusterFitConfig"]

UNLABELLED = -100
#: ``num_clusters=0``: Fashion-MNIST's 60,000 images give 1,000 clusters (held-out training images
#: after 4 epochs: 80.86 % kNN with 1,000 clusters, 80.48 % with 100; 3,000 learned more slowly;
#: VISSL's ImageNet setting is 1,281,167 / 16,000 = 80 images per cluster).
IMAGES_PER_CLUSTER = 60


@dataclass
class ClusterFitStageOneConfig:
    checkpoint: str = ""
    """The ssl checkpoint whose trunk's features are clustered; empty: the images' standardised
    pixels (no pretrained model needed)."""
    num_clusters: int = 0
    """0: one per ``IMAGES_PER_CLUSTER`` training images (at least 2). VISSL: 16,000 for ImageNet."""
    features: str = "hog+pixels"
    """Stage-1 features without a checkpoint: ``pixels`` (standardised pixels), ``hog``
    (histograms of oriented gradients, ``gradient_histograms.GradientHistograms``) or
    ``hog+pixels`` (both, of the grey image, concatenated before the standardisation). Ignored
    with a checkpoint. Held-out Fashion-MNIST training images, 14 epochs, fp32 on one machine:
    ``hog+pixels`` 86.70 % kNN against 85.40 % with ``pixels`` (85.94 % when the pixels kept the
    three equal channels of the grey images: ``benchmarks/results/clusterfit_screening.json``),
    87.12 % with ``interpolate_orientation``. The features alone, same images: pixels 81.24 %,
    histograms and pixels 84.38 %, 85.30 % interpolated (256 components)."""
    interpolate_orientation: bool = True
    """The gradient histograms split each pixel's magnitude between its two nearest orientation
    bins (Dalal and Triggs) rather than adding it to one (scikit-image's ``hog``):
    ``GradientHistograms(interpolate=...)``. Held-out Fashion-MNIST training images, 14 epochs,
    fp32, ``hog+pixels``: 87.12 % kNN against 86.70 % with one bin per pixel (epochs 9-14: 87.04
    to 87.26 against 86.22 to 86.96); with 2,000 clusters 87.00 %
    (``benchmarks/results/clusterfit_screening.json``, fourth block)."""
    pixels_pca_dim: int = 256
    """Features without a checkpoint: principal components kept before k-means."""
    num_clusterings: int = 1
    """Independent k-means runs of the same features (seeds ``seed``, ``seed + 1``, ...), each with
    its own linear classifier; the loss is their mean (DeepClusterV2's several prototype heads).
    Held-out Fashion-MNIST training images, 14 epochs, bf16: 3 clusterings 85.00 % kNN against
    85.10 % with 1 (``benchmarks/results/clusterfit_screening.json``), so 1 stays the default."""
    kmeans_iters: int = 50
    seed: int = 0
    recluster_every: int = 0
    """0: the stage-1 pseudo-labels are kept for the whole run (ClusterFit). ``n > 0``: at the start
    of epochs ``n, 2n, ...`` the pseudo-labels are replaced by k-means of the online trunk's own
    features (the same features pass and k-means as stage 1) and the classifiers are
    re-initialised (DeepCluster's alternation of clustering and learning; the optimizer's momentum
    is kept). Held-out Fashion-MNIST training images, 14 epochs, bf16: every 5 epochs 84.48 % kNN
    against 85.10 % without (``benchmarks/results/clusterfit_screening.json``)."""


@dataclass
class ClusterFitModelConfig:
    trunk: str = "resnet18"
    width_multiplier: float = 0.25
    small_input: bool = False


@dataclass
class ClusterFitViewsConfig:
    crop_scale_min: float = 0.9
    """VISSL (torchvision's RandomResizedCrop): 0.08. Pixel clusters are about layout, so small
    crops contradict their labels: on held-out Fashion-MNIST training images, 14 epochs, 84.54 % kNN
    at 0.9 against 84.04 % at 1.0; 6 epochs: 0.9 83.66, 0.8 83.60, 1.0 83.94, 0.6 82.80
    (``benchmarks/results/clusterfit_screening.json``)."""
    crop_scale_max: float = 1.0
    jitter_strength: float = 0.5
    p_jitter: float = 0.8
    p_gray: float = 0.2
    p_flip: float = 0.5


@dataclass
class ClusterFitLossConfig:
    cosine_temperature: float = 0.0
    """0: a linear classifier over the trunk's features. ``t > 0``: a cosine classifier (unit-norm
    features against unit-norm class weights, scores divided by ``t``), the geometry the cosine
    kNN benchmark reads. Held-out Fashion-MNIST training images, 14 epochs, bf16: ``t = 0.1``
    85.10 % kNN, the same as the linear classifier."""
    label_smoothing: float = 0.1
    """Cross entropy against ``1 - label_smoothing`` on the pseudo-label (VISSL's
    ``cross_entropy_multiple_output_single_target.label_smoothing``, 0 there). Pseudo-labels are
    noisy: held-out kNN after 14 epochs 85.48 % at 0.1 against 84.54 % at 0 (ahead from epoch 2 on)."""


@dataclass
class ClusterFitConfig:
    """The whole ClusterFit recipe (both stages)."""

    clusterfit: ClusterFitStageOneConfig = field(default_factory=ClusterFitStageOneConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ClusterFitModelConfig = field(default_factory=ClusterFitModelConfig)
    views: ClusterFitViewsConfig = field(default_factory=ClusterFitViewsConfig)
    loss: ClusterFitLossConfig = field(default_factory=ClusterFitLossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.1))
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=14, channels_last=True))
    monitor: MonitorConfig = field(default_factory=MonitorConfig)


class ClusterFit(Method):
    """Online model = fresh trunk + one linear classifier over the clusters per clustering;
    ``pseudo_labels`` [num_clusterings, N]."""

    pseudo_labels: Tensor

    def __init__(self, cfg: ClusterFitConfig) -> None:
        super().__init__()
        c, m, v = cfg.clusterfit, cfg.model, cfg.views
        self._stage_one: list[nn.Module] = []  # a list: not part of the state
        if c.checkpoint:
            try:
                self._stage_one.append(trunk_from_checkpoint(load_checkpoint(c.checkpoint)))
            except (CheckpointError, ValueError, RuntimeError, TypeError) as exc:
                raise ConfigError(f"clusterfit.checkpoint: {str(exc).splitlines()[0]}") from None
        elif c.pixels_pca_dim < 1:
            raise ConfigError(f"clusterfit.pixels_pca_dim must be at least 1, got {c.pixels_pca_dim}")
        elif c.features not in HAND_MADE_FEATURES:
            raise ConfigError(f"clusterfit.features must be one of {', '.join(HAND_MADE_FEATURES)}, got {c.features!r}")
        num_train_samples = train_set_size(cfg.data, cfg.train.seed)
        self.num_clusters = c.num_clusters or max(2, num_train_samples // IMAGES_PER_CLUSTER)
        if not 1 <= self.num_clusters <= num_train_samples:
            raise ConfigError(f"clusterfit.num_clusters must be 0 (automatic) or in [1, {num_train_samples}] (the training images), "
                              f"got {c.num_clusters}")  # fmt: skip
        if c.num_clusterings < 1:
            raise ConfigError(f"clusterfit.num_clusterings must be at least 1, got {c.num_clusterings}")
        trunk = build_recipe_trunk(m.trunk, m.width_multiplier, m.small_input)
        if cfg.loss.cosine_temperature < 0:
            raise ConfigError(f"loss.cosine_temperature must be 0 (linear classifier) or positive, got {cfg.loss.cosine_temperature}")
        self.cosine_temperature = cfg.loss.cosine_temperature
        self.sizes = (self.num_clusters,) * c.num_clusterings
        self.model = ssl_models.SSLModel(trunk, self._classifiers(trunk.num_features))
        self.plan = ViewPlan((CropSpec(cfg.data.image_size, 1, (v.crop_scale_min, v.crop_scale_max), v.jitter_strength,
                                       v.p_jitter, v.p_gray, v.p_flip),))  # fmt: skip
        self.register_buffer("pseudo_labels", torch.full((len(self.sizes), num_train_samples), UNLABELLED, dtype=torch.int64))
        if c.recluster_every < 0:
            raise ConfigError(f"clusterfit.recluster_every must be 0 (never) or a number of epochs, got {c.recluster_every}")
        self.stage_one = c
        if not 0.0 <= cfg.loss.label_smoothing < 1.0:
            raise ConfigError(f"loss.label_smoothing must be in [0, 1), got {cfg.loss.label_smoothing}")
        self.loss = ssl_losses.CrossEntropyMultipleOutputSingleTarget(ignore_index=UNLABELLED, label_smoothing=cfg.loss.label_smoothing)

    def _classifiers(self, num_features: int) -> list[nn.Module]:
        """One fresh classifier ``[B, num_features] -> [B, k]`` per clustering: linear, or cosine
        (unit-norm prototypes, scores divided by the temperature in :meth:`step`)."""
        if self.cosine_temperature > 0:
            return [ssl_models.SwAVHead([num_features], num_clusters=[k], return_embeddings=False, use_weight_norm_prototypes=True)
                    for k in self.sizes]  # fmt: skip
        return [ssl_models.MLPHead([num_features, k]) for k in self.sizes]

    def views(self) -> ViewPlan:
        return self.plan

    def on_epoch_start(self, ctx: EpochContext) -> None:
        """Stage 1, once (the labels are part of the train state): features of the checkpoint's
        trunk or standardised, PCA-reduced pixels; k-means; pseudo-labels. With
        ``recluster_every``: new pseudo-labels from the online trunk at those epochs."""
        every = self.stage_one.recluster_every
        if bool((self.pseudo_labels != UNLABELLED).any()):
            if every and ctx.epoch % every == 0:
                feats, idx = ctx.features(self.model.trunk)
                self._cluster(feats, idx, f"epoch {ctx.epoch + 1}", f"the online trunk ({feats.shape[1]} features)", ctx)
                with torch.random.fork_rng(devices=[]):  # the same fresh classifiers on every rank
                    torch.manual_seed(self.stage_one.seed + ctx.epoch)
                    fresh = self._classifiers(self.model.trunk.num_features)
                for chain, new in zip(self.model.heads, fresh):
                    _copy_parameters(new, chain[0])
            return
        if self._stage_one:
            feats, idx = ctx.features(self._stage_one.pop().to(ctx.device))
            source = f"the trunk of {self.stage_one.checkpoint} ({feats.shape[1]} features)"
        else:
            kind = self.stage_one.features
            raw, idx = ctx.features(HAND_MADE_FEATURES[kind](self.stage_one.interpolate_orientation))
            feats = standardised_pca(ssl_losses.full_precision(raw), self.stage_one.pixels_pca_dim)
            binning = ", interpolated orientations" if self.stage_one.interpolate_orientation and kind != "pixels" else ""
            source = f"standardised {kind} ({raw.shape[1]} values{binning}, {feats.shape[1]} principal components)"
        self._cluster(feats, idx, "stage 1", source, ctx)

    def _cluster(self, feats: Tensor, idx: Tensor, when: str, source: str, ctx: EpochContext) -> None:
        """k-means of ``feats [N, D]`` (rows of dataset ``idx [N]``, every rank's) into ``pseudo_labels``."""
        if ctx.rank == 0:
            print(f"clusterfit {when}: k-means of {source} of {feats.shape[0]:,} images into {self.num_clusters:,} clusters",
                  file=sys.stderr, flush=True)  # fmt: skip
        feats, idx = own_rows(feats, idx, ctx)
        labels = spherical_kmeans_labels(ssl_losses.full_precision(feats), idx, self.pseudo_labels.shape[1],
                                         self.sizes, self.stage_one.kmeans_iters,
                                         self.stage_one.seed + ctx.epoch, ctx)  # fmt: skip
        self.pseudo_labels.copy_(labels.to(self.pseudo_labels.device))

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """Classify each image's pseudo-label of every clustering (mean loss); reports the first
        clustering's accuracy too."""
        targets = self.pseudo_labels[:, batch.indices]
        with ctx.autocast():
            outputs = ctx.model(batch.crops)
        if self.cosine_temperature > 0:
            outputs = [scores[0] / self.cosine_temperature for scores in outputs]
        losses = [self.loss(ssl_losses.full_precision(logits), target) for logits, target in zip(outputs, targets)]
        accuracy = (outputs[0].detach().argmax(1) == targets[0]).float().mean()
        return {"loss": torch.stack(losses).mean(), "accuracy": accuracy}


#: ``clusterfit.features`` -> a fresh extractor ``images [B, C, H, W] -> [B, D]`` of stage 1, from
#: ``clusterfit.interpolate_orientation`` (the histograms' binning; the pixels ignore it)
HAND_MADE_FEATURES: dict[str, Callable[[bool], nn.Module]] = {
    "pixels": lambda interpolate: Pixels(),
    "hog": lambda interpolate: GradientHistograms(interpolate=interpolate),
    "hog+pixels": lambda interpolate: _Concatenated([GradientHistograms(interpolate=interpolate), _Grey(Pixels())]),
}


class _Grey(nn.Module):
    """``extractor`` applied to the channel mean ``[B, 1, H, W]`` (the histograms' grey image; a grey
    data set's three equal channels would otherwise count its pixels three times)."""

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor

    def forward(self, images: Tensor) -> Tensor:
        return self.extractor(images.mean(dim=1, keepdim=True))


class _Concatenated(nn.ModuleList):
    """``images [B, C, H, W] -> [B, sum of D_i]``: every extractor's output, side by side."""

    def forward(self, images: Tensor) -> Tensor:
        return torch.cat([part(images) for part in self], dim=1)


def _copy_parameters(source: nn.Module, target: nn.Module) -> None:
    """``target``'s parameters (plain, or FSDP's DTensor shards) set to ``source``'s full values."""
    with torch.no_grad():
        for value, param in zip(source.parameters(), target.parameters(), strict=True):
            if isinstance(param, DTensor):
                value = distribute_tensor(value.to(param.device, param.dtype), param.device_mesh, param.placements)
            param.copy_(value)


CLUSTERFIT = Recipe(
    name="clusterfit",
    summary="ClusterFit: k-means of standardised pixels or of a given checkpoint's features as pseudo-labels, then a fresh trunk learns them (cross entropy)",
    paper="Yan, Misra, Gupta, Ghadiyaram, Mahajan (2020). ClusterFit: Improving Generalization of Visual Representations",
    config_class=ClusterFitConfig,
    build=ClusterFit,
)

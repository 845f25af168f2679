"""The recipe contract: what a method declares, and what the loop hands it.

A recipe is a typed config plus ``build(config) -> Method``. A :class:`Method` is an
``nn.Module`` that owns everything the method trains or keeps (its ``state_dict`` is the method's
part of the train state): the online ``SSLModel`` (the one module DDP wraps), teachers
(``MomentumEncoder``) and the loss with its buffers (queues, centers, banks). It declares its
views, its parameter groups and its schedules (pure functions of the fraction of training), and
implements ``step``; optional callbacks run after backward, after the optimizer step and at the
start of each epoch. The loop knows nothing about methods.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

import ssl_models
from ssl_train.optim.param_groups import ParamGroup, default_param_groups
from ssl_train.schedules import Schedule
from ssl_train.views import ViewPlan

__all__ = ["Batch", "EpochContext", "Method", "Recipe", "StepContext", "load_recipe_path"]


@dataclass
class Batch:
    """One training batch on the training device.

    Attributes:
        crops: one float tensor ``[B, 3, h_c, w_c]`` per crop, normalised, crop-major order of the
            method's :class:`ViewPlan`.
        labels: int64 ``[B]`` (class labels where the data has them, else 0).
        indices: int64 ``[B]`` dataset indices (memory banks, per-sample state).
    """

    crops: list[Tensor]
    labels: Tensor
    indices: Tensor

    @property
    def size(self) -> int:
        return int(self.indices.shape[0])


@dataclass
class StepContext:
    """What a step and its callbacks may read.

    Attributes:
        model: the online model to call for the forward pass: the method's ``SSLModel`` wrapped
            for the run (DDP, ``torch.compile``) or the model itself.
        step: global step (0-based) of the update being computed.
        epoch, steps_per_epoch, total_steps: where the run is.
        values: the schedules' values at this step (``lr``, ``weight_decay`` and the method's own,
            e.g. ``momentum``, ``teacher_temp``).
        autocast: context-manager factory for the run's mixed precision.
        device, rank, world_size: where the step runs.
        seed: the run's seed. Randomness a step draws itself (rotations, permutations, mixup)
            must come from ``ssl_data.per_sample_uniforms(seed, epoch, batch.indices, view, n)``
            (use a ``view`` number above the plan's crops) so that it depends on the sample, not
            on the batch, the rank or a resume.
    """

    model: nn.Module
    step: int
    epoch: int
    steps_per_epoch: int
    total_steps: int
    values: dict[str, float]
    autocast: Callable[[], AbstractContextManager[Any]]
    device: torch.device
    rank: int = 0
    world_size: int = 1
    seed: int = 0


@dataclass
class EpochContext:
    """What ``on_epoch_start`` may read: the epoch, the device and a way to see the data.

    ``features(module)`` runs ``module`` (in eval mode, without gradients) over the whole training
    set of this rank in a fixed order and returns ``(features [N, D], dataset indices [N])``
    gathered from every rank (DeepClusterV2 / ClusterFit clustering).
    """

    epoch: int
    device: torch.device
    features: Callable[[nn.Module], tuple[Tensor, Tensor]]
    rank: int = 0
    world_size: int = 1


class Method(nn.Module):
    """Base class of a method's trainable and kept state (see the module docstring).

    Subclasses set ``self.model`` (an ``ssl_models.SSLModel``) in ``__init__`` and implement
    :meth:`views` and :meth:`step`.
    """

    model: ssl_models.SSLModel
    #: the run's length in epochs (``total steps / steps per epoch``; fractional with
    #: ``train.max_steps``), set by the loop before it calls :meth:`schedules`.
    train_epochs: float = 1.0

    def views(self) -> ViewPlan:
        """The crops each training sample yields."""
        raise NotImplementedError

    def param_groups(self, optim: Any) -> list[ParamGroup]:
        """Optimizer groups; the default is VISSL's (trunk and heads, biases and norms without
        weight decay as configured in ``optim`` (the recipe's ``OptimConfig``))."""
        return default_param_groups(
            self.model, regularize_bn=optim.regularize_bn, regularize_bias=optim.regularize_bias,
            non_regularized=list(optim.non_regularized_params), head_lr_scale=optim.head_lr_scale,
            head_weight_decay=None if optim.head_weight_decay < 0 else optim.head_weight_decay,
        )  # fmt: skip

    def schedules(self) -> dict[str, Schedule]:
        """The method's own schedules by name (fraction of training -> value; warm-ups given in
        epochs divide by :attr:`train_epochs`). A ``weight_decay``
        entry replaces the constant ``optim.weight_decay``; every value reaches
        :attr:`StepContext.values` and the logs."""
        return {}

    def step(self, batch: Batch, ctx: StepContext) -> dict[str, Tensor]:
        """Forward and loss: ``metrics["loss"]`` is the scalar to minimise (others are logged)."""
        raise NotImplementedError

    def after_backward(self, ctx: StepContext) -> None:
        """Gradients are unscaled and complete: cancel, clip or drop some (before global clipping)."""

    def after_optimizer_step(self, ctx: StepContext) -> None:
        """Parameters were updated: EMA teachers follow here."""

    def on_epoch_start(self, ctx: EpochContext) -> None:
        """Before the first step of every epoch (not again when resuming inside it)."""

    @property
    def export_model(self) -> ssl_models.SSLModel:
        """The model a run exports (``final.pt``, the benchmarks, the online kNN monitor): the
        online model by default; methods whose published evaluation uses the teacher (DINO)
        return their EMA teacher's model."""
        return self.model

    @property
    def trunk(self) -> ssl_models.Trunk:
        """The trunk benchmarks evaluate (``export_model.trunk``)."""
        return self.export_model.trunk


@dataclass(frozen=True)
class Recipe:
    """A method as data.

    Attributes:
        name: the recipe's name on the command line.
        summary: one line for ``ssl recipes list``.
        paper: the method's paper (authors, year, title).
        config_class: dataclass with the method's defaults.
        build: ``config -> Method``.
        probe_layer: the trunk layer whose globally pooled features the methods table probes
            (``ssl_evaluation.suites.PooledLayer``, against the random-init trunk's same layer);
            empty: the trunk's pooled output. For a pretext task that specialises the last stage
            (Jigsaw), chosen on held-out training images (``benchmarks/recipe_validation.py --layers``).
    """

    name: str
    summary: str
    paper: str
    config_class: type
    build: Callable[[Any], Method]
    notes: dict[str, str] = field(default_factory=dict)
    probe_layer: str = ""


def load_recipe_path(path: str) -> Recipe:
    """``"package.module:ATTR"`` -> the :class:`Recipe` held in that attribute (explicit import, no
    registration by side effect). ``ValueError`` with one line when it cannot be loaded."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ValueError(f"recipe path {path!r} must look like package.module:ATTR")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import recipe module {module_name!r}: {exc}") from None
    recipe = getattr(module, attr, None)
    if not isinstance(recipe, Recipe):
        raise ValueError(f"{path!r} is not an ssl_train.Recipe (got {type(recipe).__name__})")
    return recipe

"""Typed recipes, the training loop, optimizers, schedules and checkpoints for self-supervised learning."""

import os as _os

# Waiting OpenMP threads sleep instead of spinning (read once, when torch first loads): on a
# machine shared with other processes, spinning threads made a training step 9.5x slower. Takes
# effect only when ssl_train is imported before torch; set the variable yourself to choose.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ssl_train.__about__ import __version__
from ssl_train.config import ConfigError, config_to_dict, config_to_yaml, load_config
from ssl_train.loop import PretrainResult, TrainingDivergedError, TrainingInterrupted, pretrain
from ssl_train.optim import LARC, LARS, ParamGroup, build_optimizer, default_param_groups
from ssl_train.recipes import RECIPES, Batch, EpochContext, Method, Recipe, StepContext, get_recipe, list_recipes
from ssl_train.run_lock import RunFolderLocked
from ssl_train.runtime import resolve_device, resolve_precision
from ssl_train.sharded_checkpoint import consolidate_dcp
from ssl_train.views import CropSpec, ViewPlan

__all__ = [
    "LARC",
    "LARS",
    "RECIPES",
    "Batch",
    "ConfigError",
    "CropSpec",
    "EpochContext",
    "Method",
    "ParamGroup",
    "PretrainResult",
    "Recipe",
    "RunFolderLocked",
    "StepContext",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "ViewPlan",
    "__version__",
    "build_optimizer",
    "config_to_dict",
    "config_to_yaml",
    "consolidate_dcp",
    "default_param_groups",
    "get_recipe",
    "list_recipes",
    "load_config",
    "pretrain",
    "resolve_device",
    "resolve_precision",
]

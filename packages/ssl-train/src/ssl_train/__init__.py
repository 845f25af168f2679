"""Typed recipes, the training loop, optimizers, schedules and checkpoints for self-supervised learning."""

from ssl_train.__about__ import __version__
from ssl_train.config import ConfigError, config_to_dict, config_to_yaml, load_config
from ssl_train.data import EpochBatches, ImageSplit, load_split
from ssl_train.loop import PretrainResult, TrainingDivergedError, pretrain, resolve_device
from ssl_train.optim import LARS, build_optimizer
from ssl_train.recipes import RECIPES, Recipe, get_recipe, list_recipes, normalize_images
from ssl_train.schedules import cosine_with_warmup

__all__ = [
    "LARS",
    "RECIPES",
    "ConfigError",
    "EpochBatches",
    "ImageSplit",
    "PretrainResult",
    "Recipe",
    "TrainingDivergedError",
    "__version__",
    "build_optimizer",
    "config_to_dict",
    "config_to_yaml",
    "cosine_with_warmup",
    "get_recipe",
    "list_recipes",
    "load_config",
    "load_split",
    "normalize_images",
    "pretrain",
    "resolve_device",
]

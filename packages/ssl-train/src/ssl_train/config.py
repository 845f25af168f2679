"""Typed recipe configs: OmegaConf structured configs over dataclasses.

A recipe's config is a dataclass tree. `load_config` merges, in order, the recipe's defaults, an
optional YAML file and dotted ``key=value`` overrides; unknown keys and values of the wrong type are
rejected with a one-line :class:`ConfigError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

__all__ = [
    "BenchmarkConfig",
    "ConfigError",
    "DataConfig",
    "OptimConfig",
    "ScheduleConfig",
    "TrainConfig",
    "config_to_dict",
    "config_to_yaml",
    "load_config",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A recipe config could not be built: unknown key, wrong type or bad value."""


@dataclass
class DataConfig:
    """Where pretraining images come from and how they are batched.

    ``source`` is ``"fashion-mnist"`` (the Debian package's IDX files; scikit-learn's digits when
    they are absent), ``"digits"``, or a folder of class sub-folders (ImageFolder layout, optionally
    with ``train/`` and ``val/`` sub-folders).
    """

    source: str = "fashion-mnist"
    image_size: int = 28
    batch_size: int = 256
    limit: int = 0
    """Use at most this many training images (class-balanced, seeded); 0 uses all."""
    val_fraction: float = 0.2
    """Held-out fraction for a single class-per-folder tree without train/ and val/ sub-folders."""
    num_workers: int = 2


@dataclass
class OptimConfig:
    """Optimizer. ``lr`` is the learning rate at batch size 256 (scaled linearly with the batch)."""

    name: str = "sgd"
    lr: float = 0.3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    nesterov: bool = False
    exclude_bias_and_norm: bool = True
    """No weight decay (and no LARS adaptation) for biases and normalisation parameters."""
    lars_eta: float = 0.001


@dataclass
class ScheduleConfig:
    """Cosine learning-rate schedule with linear warmup, evaluated per step."""

    warmup_epochs: float = 1.0
    final_lr_fraction: float = 0.0


@dataclass
class TrainConfig:
    """The loop's settings, shared by every recipe."""

    epochs: int = 8
    seed: int = 0
    precision: str = "fp32"
    """``"fp32"`` or ``"bf16"`` (autocast). On CPUs without native bf16 (AVX2 only, like the
    project's CI machines) bf16 convolutions run about 10x slower than fp32: keep fp32 there."""
    device: str = "auto"
    checkpoint_every_steps: int = 0
    """Also checkpoint every N steps (0: only at the end of each epoch)."""
    log_every_steps: int = 10
    threads: int = 0
    """torch intra-op threads (0 keeps torch's default)."""
    tensorboard: bool = True
    channels_last: bool = False
    """channels-last memory format (faster on GPUs and on CPUs with native bf16)."""


@dataclass
class BenchmarkConfig:
    """Protocol of the benchmarks that ``ssl run`` performs after pretraining."""

    knn_k: int = 200
    knn_temperature: float = 0.1
    linear_epochs: int = 30
    linear_lr: float = 0.1
    linear_batch_size: int = 1024
    random_init_baseline: bool = True
    batch_size: int = 512
    clusters: int = 0
    """k-means clusters of the clustering benchmark (0: as many as classes)."""


def _flatten_keys(node: Any, prefix: str = "") -> list[str]:
    keys: list[str] = []
    if OmegaConf.is_dict(node):
        for key in node:
            path = f"{prefix}{key}"
            child = node[key]
            keys.extend(_flatten_keys(child, path + ".") if OmegaConf.is_dict(child) else [path])
    return keys


def load_config(
    defaults: T, overrides: Sequence[str] = (), config_file: str | Path | None = None
) -> T:
    """Merge ``defaults`` (a dataclass instance), a YAML file and dotted overrides.

    Args:
        defaults: the recipe's default config (dataclass instance).
        overrides: ``"key.sub=value"`` strings, e.g. ``["optim.lr=0.1", "train.epochs=2"]``.
        config_file: optional YAML file with a subset of the recipe's keys.

    Returns:
        A new dataclass instance of the same type as ``defaults``.

    Raises:
        ConfigError: an override without ``=``, an unknown key, or a value of the wrong type.
    """
    base = OmegaConf.structured(defaults)
    layers = []
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            layers.append(OmegaConf.load(path))
        except Exception as exc:  # yaml errors carry multi-line text
            raise ConfigError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key = item.split("=", 1)[0].strip()
        if key not in _flatten_keys(base):
            raise ConfigError(
                f"unknown key {key!r} for recipe config {type(defaults).__name__}; "
                f"see `ssl recipes show` for the valid keys"
            )
    try:
        if overrides:
            layers.append(OmegaConf.from_dotlist(list(overrides)))
        merged = OmegaConf.merge(base, *layers)
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        msg = str(exc).splitlines()[0]
        key = getattr(exc, "full_key", None)
        where = f" for key {key!r}" if key else ""
        raise ConfigError(f"invalid recipe config{where}: {msg}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as plain nested dicts (what checkpoints and results.json store)."""
    return OmegaConf.to_container(OmegaConf.structured(config), resolve=True)  # type: ignore[return-value]


def config_to_yaml(config: Any) -> str:
    """A dataclass config as YAML text (what ``OUT/config.yaml`` holds)."""
    return OmegaConf.to_yaml(OmegaConf.structured(config))


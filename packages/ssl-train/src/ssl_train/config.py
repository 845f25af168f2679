"""Typed recipe configs: OmegaConf structured configs over dataclasses.

A recipe's config is a dataclass tree: the shared sections below (``data``, ``optim``,
``schedule``, ``train``, ``monitor``) plus the method's own (``model``, ``loss``, ``views``...).
`load_config` merges, in order, the recipe's defaults, an optional YAML file and dotted
``key=value`` overrides; unknown keys and values of the wrong type are rejected with a one-line
:class:`ConfigError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

__all__ = [
    "RESUME_SAFE_KEYS",
    "ConfigError",
    "DataConfig",
    "MonitorConfig",
    "OptimConfig",
    "ScheduleConfig",
    "TrainConfig",
    "config_differences",
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

    ``source``: ``"fashion-mnist"`` (the Debian package's IDX files; scikit-learn's digits when they
    are absent), ``"digits"``, or a folder of images (class sub-folders or flat; a ``train/``
    sub-folder is used when present). Tensor data sets are held in memory and augmented in
    batches on the training device; folders stream from disk through DataLoader workers.
    """

    source: str = "fashion-mnist"
    image_size: int = 28
    """Side of the global crops: the resolution the trunk is trained and evaluated at."""
    batch_size: int = 256
    """Images per rank and step (VISSL's BATCHSIZE_PER_REPLICA); the global batch is this times
    the world size."""
    limit: int = 0
    """Use at most this many training images (class-balanced, seeded); 0 uses all."""
    num_workers: int = 2
    """DataLoader workers for folder sources (tensor sources read in the main process)."""
    invalid_max_fraction: float = 0.01
    """Undecodable images are replaced (VISSL's way) and counted; the run stops past this fraction."""


@dataclass
class OptimConfig:
    """Optimizer, parameter groups and gradient handling (VISSL's OPTIMIZER block).

    ``lr`` is the peak learning rate at ``reference_batch_size``; with ``auto_scale`` linear or
    sqrt it is multiplied by ``(global batch / reference_batch_size)`` or its square root.
    """

    name: str = "sgd"
    """``sgd``, ``lars`` (You et al. 2017) or ``adamw``."""
    lr: float = 0.3
    reference_batch_size: int = 256
    auto_scale: str = "linear"
    """``linear``, ``sqrt`` or ``none``: LR auto-scaling by the GLOBAL batch (VISSL auto_lr_scaling)."""
    momentum: float = 0.9
    """SGD/LARS momentum; AdamW's beta1."""
    beta2: float = 0.999
    weight_decay: float = 1e-4
    nesterov: bool = False
    regularize_bn: bool = False
    """Weight decay on normalisation parameters (VISSL regularize_bn, default False)."""
    regularize_bias: bool = False
    """Weight decay on biases (VISSL regularize_bias; VISSL's default is True, ours False)."""
    non_regularized_params: list[str] = field(default_factory=list)
    """Name substrings of further parameters without weight decay (VISSL non_regularized_parameters);
    the trunk's own ``no_weight_decay()`` (position embeddings, class tokens) is always included."""
    head_lr_scale: float = 1.0
    """Learning rate of the heads relative to the trunk (VISSL head_optimizer_params)."""
    head_weight_decay: float = -1.0
    """Weight decay of the heads; negative uses ``weight_decay`` (VISSL use_different_wd)."""
    use_larc: bool = False
    """Wrap SGD in LARC (NVIDIA apex / VISSL semantics): per-parameter adaptive learning rate."""
    larc_clip: bool = False
    larc_trust_coefficient: float = 0.001
    larc_eps: float = 1e-8
    lars_eta: float = 0.001
    clip_grad_norm: float = 0.0
    """Clip the global gradient norm to this value (0: off)."""
    clip_grad_value: float = 0.0
    """Clip every gradient element to [-v, v] (0: off)."""


@dataclass
class ScheduleConfig:
    """Learning-rate schedule: a linear warm-up, then one of VISSL's schedulers.

    Values are fractions of the peak ``optim.lr``. ``name`` is ``constant``, ``cosine``,
    ``cosine_warm_restart``, ``linear``, ``multistep``, ``step``, ``step_with_fixed_gamma`` or
    ``inverse_sqrt`` (``ssl_train.schedules`` documents each formula).
    """

    name: str = "cosine"
    warmup_epochs: float = 1.0
    warmup_start_fraction: float = 0.0
    final_fraction: float = 0.0
    """cosine / cosine_warm_restart / linear: the value at the end, as a fraction of the peak."""
    update_interval: str = "step"
    """``step`` or ``epoch`` (the value is held for a whole epoch)."""
    milestones: list[float] = field(default_factory=lambda: [30.0, 60.0])
    """multistep: epochs at which the next value starts."""
    values: list[float] = field(default_factory=lambda: [1.0, 0.1, 0.01])
    """multistep / step: fractions of the peak, one per interval."""
    gamma: float = 0.1
    num_decays: int = 2
    """step_with_fixed_gamma: ``num_decays`` equal intervals after the first, each times ``gamma``."""
    restart_interval_length: float = 0.5
    wave_type: str = "half"
    """cosine_warm_restart: restart every this fraction of training; ``half`` or ``full`` waves."""
    inverse_sqrt_warmup_length: float = 0.1
    """inverse_sqrt: held at the peak for this fraction of training, then ``~ 1 / sqrt(where)``."""


@dataclass
class TrainConfig:
    """The loop's settings, shared by every recipe."""

    epochs: int = 8
    max_steps: int = 0
    """Train for exactly this many steps instead (0: ``epochs`` epochs); schedules span these
    steps. Budgeting by steps gives a small data set as many updates as a large one."""
    seed: int = 0
    precision: str = "auto"
    """``auto``, ``fp32``, ``bf16``, ``fp16`` (fp16 with a gradient scaler) or ``fp64``. ``auto``: bf16
    on GPUs that support it (else fp16), bf16 on CPUs with AVX512-BF16 or AMX, fp32 on other CPUs
    (where bf16 convolutions are slower than fp32). ``fp64``: model, buffers, batches and losses in
    float64 (several times slower; for checking numerics, e.g. that 2 processes equal 1)."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``."""
    checkpoint_every_steps: int = 0
    """Also checkpoint every N steps (0: at the end of each epoch only)."""
    log_every_steps: int = 10
    threads: int = 0
    """torch intra-op threads (0: torch's default less the cores other work keeps busy at start-up,
    or the host's cores divided among its ranks; a resumed run keeps the count it started with)."""
    tensorboard: bool = True
    channels_last: bool | str = False
    """Train in the channels-last memory format: ``true``, ``false`` or ``auto`` (time a few
    forward + backward passes of the trunk in both formats at start-up and keep the faster; the
    choice, ``true`` or ``false``, is what the run's saved config records, so a resume keeps it)."""
    overlap_augmentation: bool = True
    """In-memory data: compute the next batch's views on a side thread while the current step
    runs. The views are the same bits either way (so it is resume-safe); only the speed differs."""
    compile: bool = False
    """``torch.compile`` the online model."""
    sync_bn: bool = False
    """SyncBatchNorm across ranks (ssl-models' CPU implementation under gloo, torch's on CUDA)."""
    activation_checkpointing: bool = False
    parallel: str = "auto"
    """``auto`` (DDP when launched with several processes), ``ddp``, ``fsdp`` (FSDP2, sharded
    checkpoints in ``checkpoints/last.dcp/``) or ``none``."""
    zero: bool = False
    """Shard the optimizer's state across ranks (``ZeroRedundancyOptimizer``; with DDP, not FSDP)."""


@dataclass
class MonitorConfig:
    """Online kNN monitor: top-1 of a kNN classifier on held-out labelled images during training."""

    knn_every_epochs: int = 1
    """Evaluate every N epochs (0: off)."""
    train_samples: int = 5000
    """Labelled training images that form the kNN memory (class-balanced, seeded)."""
    test_samples: int = 2000
    """Other training images, disjoint from the memory, that are classified (class-balanced,
    seeded): the monitor never reads a test split."""
    k: int = 20
    temperature: float = 0.07


#: keys a resumed run may change: they do not alter what has been trained so far.
RESUME_SAFE_KEYS: tuple[str, ...] = (
    "train.epochs",
    "train.checkpoint_every_steps",
    "train.log_every_steps",
    "train.tensorboard",
    "train.threads",
    "train.device",
    "train.compile",
    "train.overlap_augmentation",
    "data.num_workers",
    "monitor.",
)


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}


def _flatten_keys(node: Any, prefix: str = "") -> list[str]:
    keys: list[str] = []
    if OmegaConf.is_dict(node):
        for key in node:
            path = f"{prefix}{key}"
            child = node[key]
            keys.extend(_flatten_keys(child, path + ".") if OmegaConf.is_dict(child) else [path])
    return keys


def load_config(defaults: T, overrides: Sequence[str] = (), config_file: str | Path | None = None) -> T:
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
    known = set(_flatten_keys(base))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key = item.split("=", 1)[0].strip()
        if key not in known:
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


def config_differences(saved: dict[str, Any], current: dict[str, Any], safe: Sequence[str] = RESUME_SAFE_KEYS) -> list[str]:
    """Dotted keys whose values differ between two config dicts, minus the ``safe`` ones.

    A ``safe`` entry ending in ``.`` covers a whole section. Keys present in only one of the two
    count as differences.
    """
    a, b = _flatten(saved), _flatten(current)
    differ = sorted(k for k in set(a) | set(b) if a.get(k, "<missing>") != b.get(k, "<missing>"))
    return [k for k in differ if not any(k == s or (s.endswith(".") and k.startswith(s)) for s in safe)]

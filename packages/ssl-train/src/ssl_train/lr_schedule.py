"""The learning-rate schedule of a run from its ``schedule`` config section."""

from __future__ import annotations

import math

from ssl_train.config import ConfigError, ScheduleConfig
from ssl_train.schedules import (
    SCHEDULE_NAMES,
    Composite,
    Constant,
    Cosine,
    CosineWarmRestart,
    InverseSqrt,
    Linear,
    MultiStep,
    Schedule,
    Step,
    StepWithFixedGamma,
)

__all__ = ["auto_scale_factor", "build_lr_schedule"]


def auto_scale_factor(mode: str, global_batch: int, reference_batch: int) -> float:
    """VISSL's LR auto-scaling: ``global / reference`` (linear), its square root (sqrt) or 1."""
    if reference_batch <= 0:
        raise ConfigError(f"optim.reference_batch_size must be positive, got {reference_batch}")
    if mode == "linear":
        return global_batch / reference_batch
    if mode == "sqrt":
        return math.sqrt(global_batch / reference_batch)
    if mode == "none":
        return 1.0
    raise ConfigError(f"optim.auto_scale={mode!r} is not one of linear, sqrt, none")


def build_lr_schedule(cfg: ScheduleConfig, epochs: int, peak: float) -> Schedule:
    """``peak`` times the configured shape: a linear warm-up over ``warmup_epochs`` from
    ``warmup_start_fraction``, then the named scheduler over the rest of training (rescaled)."""
    if cfg.name not in SCHEDULE_NAMES:
        raise ConfigError(f"schedule.name={cfg.name!r} is not a scheduler; choose one of {', '.join(SCHEDULE_NAMES)}")
    if cfg.update_interval not in ("step", "epoch"):
        raise ConfigError(f"schedule.update_interval={cfg.update_interval!r} is not step or epoch")
    if not 0 <= cfg.warmup_epochs <= epochs:
        raise ConfigError(f"schedule.warmup_epochs={cfg.warmup_epochs} must be in [0, train.epochs={epochs}]")
    warm = cfg.warmup_epochs / epochs
    main_epochs = max(epochs - cfg.warmup_epochs, 1e-9)
    try:
        main: Schedule
        if cfg.name == "constant":
            main = Constant(peak)
        elif cfg.name == "cosine":
            main = Cosine(peak, peak * cfg.final_fraction)
        elif cfg.name == "cosine_warm_restart":
            main = CosineWarmRestart(peak, peak * cfg.final_fraction, cfg.restart_interval_length, cfg.wave_type)
        elif cfg.name == "linear":
            main = Linear(peak, peak * cfg.final_fraction)
        elif cfg.name == "multistep":
            main = MultiStep(tuple(peak * v for v in cfg.values), tuple(m - cfg.warmup_epochs for m in cfg.milestones), main_epochs)  # type: ignore[arg-type]
        elif cfg.name == "step":
            main = Step(tuple(peak * v for v in cfg.values))
        elif cfg.name == "step_with_fixed_gamma":
            main = StepWithFixedGamma(peak, cfg.gamma, cfg.num_decays)
        else:
            main = InverseSqrt(peak, cfg.inverse_sqrt_warmup_length)
    except ValueError as exc:
        raise ConfigError(f"schedule {cfg.name}: {exc}") from None
    if warm <= 0:
        return main
    if warm >= 1:
        return Linear(peak * cfg.warmup_start_fraction, peak)
    return Composite((Linear(peak * cfg.warmup_start_fraction, peak), main), (warm, 1.0 - warm), ("rescaled", "rescaled"))

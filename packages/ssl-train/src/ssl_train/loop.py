"""The method-agnostic training loop."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ssl_train.atomic_text import write_text_atomic
from ssl_train.checkpointing import FINAL_NAME, LAST_NAME, load_train_checkpoint
from ssl_train.config import config_to_dict, config_to_yaml
from ssl_train.data import EpochBatches, ImageSplit, load_split
from ssl_train.hooks import CheckpointHook, Hook, ProgressHook, RunInfo, TensorboardHook
from ssl_train.optim import build_optimizer
from ssl_train.recipes import Batch, get_recipe
from ssl_train.recipes.base import StepContext
from ssl_train.schedules import cosine_with_warmup
from ssl_train.state import TrainState

__all__ = ["PretrainResult", "TrainingDivergedError", "pretrain", "resolve_device"]


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class PretrainResult:
    """What a finished pretraining run hands to benchmarks and reports."""

    trunk: torch.nn.Module
    loss_history: list[float]
    epochs: int
    steps: int
    minutes: float
    final_loss: float
    checkpoint: Path
    train_images: int


def resolve_device(name: str) -> torch.device:
    """``"auto"`` picks CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}") from None


def _autocast_factory(device: torch.device, precision: str) -> Callable[[], Any]:
    if precision == "fp32":
        return contextlib.nullcontext
    if precision == "bf16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    raise ValueError(f"train.precision must be 'bf16' or 'fp32', got {precision!r}")


def pretrain(
    recipe_name: str,
    config: Any,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    train_split: ImageSplit | None = None,
    hooks: Sequence[Hook] = (),
) -> PretrainResult:
    """Pretrain with a recipe and write checkpoints, TensorBoard logs and the resolved config.

    Args:
        recipe_name: a name from ``ssl_train.list_recipes()``.
        config: the recipe's config dataclass (see ``ssl_train.load_config``).
        out_dir: run folder; ``checkpoints/``, ``tensorboard/`` and ``config.yaml`` go there.
        resume: continue from ``OUT/checkpoints/last.pt`` when it exists.
        progress: show a progress bar with ETA on stderr.
        train_split: images to train on; loaded from ``config.data`` when omitted.
        hooks: further hooks, called after the built-in ones.

    Returns:
        A :class:`PretrainResult` with the trained trunk (in eval mode, on the CPU).
    """
    recipe = get_recipe(recipe_name)
    cfg = config
    out = Path(out_dir)
    device = resolve_device(cfg.train.device)
    autocast = _autocast_factory(device, cfg.train.precision)
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    if cfg.train.epochs <= 0:
        raise ValueError(f"train.epochs must be positive, got {cfg.train.epochs}")

    if train_split is None:
        train_split = load_split(
            cfg.data.source, "train", cfg.data.image_size, cfg.data.limit, cfg.data.val_fraction,
            cfg.train.seed, cfg.data.num_workers,
        )
    batches = EpochBatches(len(train_split), cfg.data.batch_size, seed=cfg.train.seed)

    torch.manual_seed(cfg.train.seed)
    parts = recipe.build(cfg).to(device)
    memory_format = torch.channels_last if cfg.train.channels_last else torch.contiguous_format
    for module in parts.trained_modules():
        module.to(memory_format=memory_format)
    lr_peak = cfg.optim.lr * cfg.data.batch_size / 256
    optimizer = build_optimizer(
        cfg.optim.name, parts.trained_modules(), lr=lr_peak, momentum=cfg.optim.momentum,
        weight_decay=cfg.optim.weight_decay, nesterov=cfg.optim.nesterov,
        exclude_bias_and_norm=cfg.optim.exclude_bias_and_norm, lars_eta=cfg.optim.lars_eta,
    )
    generator = torch.Generator(device=device).manual_seed(cfg.train.seed + 1)
    state = TrainState(parts=parts, optimizer=optimizer, generator=generator)
    last = out / "checkpoints" / LAST_NAME
    if resume and last.is_file():
        load_train_checkpoint(last, state, recipe_name)

    config_dict = config_to_dict(cfg)
    write_text_atomic(out / "config.yaml", config_to_yaml(cfg))
    total_steps = cfg.train.epochs * len(batches)
    warmup_steps = min(total_steps, round(cfg.schedule.warmup_epochs * len(batches)))
    run = RunInfo(state, recipe_name, config_dict, out, len(batches), total_steps, cfg.train.epochs)
    all_hooks: list[Hook] = [ProgressHook(enabled=progress), CheckpointHook(cfg.train.checkpoint_every_steps)]
    if cfg.train.tensorboard:
        all_hooks.append(TensorboardHook(cfg.train.log_every_steps))
    all_hooks.extend(hooks)

    images_all = train_split.images
    for hook in all_hooks:
        hook.on_start(run)
    completed = False
    started = time.perf_counter() - state.elapsed_seconds
    try:
        for module in parts.trained_modules():
            module.train()
        while state.epoch < cfg.train.epochs:
            for idx in batches.epoch(state.epoch, start=state.batch_in_epoch):
                run.lr = cosine_with_warmup(
                    state.step, total_steps, warmup_steps, lr_peak, lr_peak * cfg.schedule.final_lr_fraction
                )
                for group in optimizer.param_groups:
                    group["lr"] = run.lr
                batch = Batch(
                    images_all[idx].to(device, non_blocking=True).contiguous(memory_format=memory_format),
                    train_split.labels[idx].to(device),
                    idx.to(device),
                )
                ctx = StepContext(generator, state.step, state.epoch, total_steps, autocast)
                metrics = recipe.step(batch, parts, ctx)
                loss = metrics["loss"]
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise TrainingDivergedError(
                        f"loss is {loss_value} at step {state.step} (epoch {state.epoch + 1}); "
                        "lower optim.lr or use train.precision=fp32"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                state.step += 1
                state.batch_in_epoch += 1
                state.loss_history.append(loss_value)
                state.elapsed_seconds = time.perf_counter() - started
                floats = {k: float(v.detach()) for k, v in metrics.items()}
                for hook in all_hooks:
                    hook.on_step_end(run, floats)
            state.epoch += 1
            state.batch_in_epoch = 0
            state.elapsed_seconds = time.perf_counter() - started
            for hook in all_hooks:
                hook.on_epoch_end(run)
        completed = True
    finally:
        for hook in all_hooks:
            hook.on_end(run, completed)

    trunk = parts.trunk.to("cpu", memory_format=torch.contiguous_format).eval()
    history = state.loss_history
    tail = history[-len(batches):] if history else [float("nan")]
    return PretrainResult(
        trunk=trunk,
        loss_history=history,
        epochs=state.epoch,
        steps=state.step,
        minutes=state.elapsed_seconds / 60,
        final_loss=sum(tail) / len(tail),
        checkpoint=out / "checkpoints" / FINAL_NAME,
        train_images=len(train_split),
    )

"""The method-agnostic training loop."""

from __future__ import annotations

import copy
import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

import ssl_models
from ssl_models.atomic_files import atomic_write_text
from ssl_train.batch_stream import BatchStream
from ssl_train.checkpointing import FINAL_NAME, LAST_NAME, check_resume_config, load_train_checkpoint, read_checkpoint, save_train_checkpoint
from ssl_train.config import ConfigError, config_to_dict, config_to_yaml
from ssl_train.distributed import DistInfo, all_gather_objects, init_distributed, mean_over_ranks, shutdown_distributed, wrap_model
from ssl_train.hooks import Hook, KNNMonitorHook, ProgressHook, RunInfo, TensorboardHook
from ssl_train.lr_schedule import auto_scale_factor, build_lr_schedule
from ssl_train.memory_format import time_memory_formats
from ssl_train.optim import build_optimizer
from ssl_train.recipes import get_recipe
from ssl_train.recipes.base import EpochContext, Method, Recipe, StepContext
from ssl_train.run_lock import RunLock
from ssl_train.runtime import (
    RuntimeChoices, autocast_factory, precision_default_dtype, precision_reason, resolve_channels_last, resolve_device,
    resolve_precision, resolve_threads,
)  # fmt: skip
from ssl_train.sharded_checkpoint import DCP_SUFFIX, load_sharded, save_sharded, unshard_into
from ssl_train.schedules import Constant, Schedule, value_at_step
from ssl_train.state import TrainState
from ssl_train.training_data import TrainingData, build_training_data
from ssl_train.zero_optimizer import zero_redundancy

__all__ = ["PretrainResult", "TrainingDivergedError", "TrainingInterrupted", "pretrain"]


#: steps a run that fell back from Fashion-MNIST to digits takes at least (measured on the monitor:
#: 40 steps lost to the random-init trunk; 300 steps reached 87.7 % online kNN, 90.7 % at lr 0.1).
FALLBACK_MIN_STEPS = 300


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


class TrainingInterrupted(RuntimeError):
    """SIGINT or SIGTERM stopped the run at a safe point after saving a checkpoint.

    ``exit_code`` is 130 (SIGINT) or 143 (SIGTERM); the message says where the checkpoint is.
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


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
    data_description: str = ""
    precision: str = "fp32"
    images_per_second: float = 0.0
    monitor_history: list[dict[str, float]] | None = None
    epoch_log: list[dict[str, float]] | None = None
    """Per epoch: mean loss and the schedules' values (lr, weight decay, ...) at its end."""
    invalid_images: int = 0
    threads: int = 0
    """torch intra-op threads the run trained with (``pretrain`` gives the caller's count back on
    return; ``ssl run`` benchmarks with this one)."""


def _check_config(cfg: Any) -> None:
    if cfg.train.epochs <= 0:
        raise ConfigError(f"train.epochs must be positive, got {cfg.train.epochs}")
    if cfg.data.batch_size < 2:
        raise ConfigError(f"data.batch_size must be >= 2 (contrastive and batch-normalised methods need pairs), got {cfg.data.batch_size}")
    if not math.isfinite(cfg.optim.lr) or cfg.optim.lr <= 0:
        raise ConfigError(f"optim.lr must be a positive finite number, got {cfg.optim.lr}")
    if not math.isfinite(cfg.optim.weight_decay) or cfg.optim.weight_decay < 0:
        raise ConfigError(f"optim.weight_decay must be >= 0, got {cfg.optim.weight_decay}")
    for key in ("checkpoint_every_steps", "log_every_steps", "threads"):
        if getattr(cfg.train, key) < 0:
            raise ConfigError(f"train.{key} must be >= 0, got {getattr(cfg.train, key)}")
    if cfg.optim.clip_grad_norm < 0 or cfg.optim.clip_grad_value < 0:
        raise ConfigError("optim.clip_grad_norm and optim.clip_grad_value must be >= 0")
    resolve_channels_last(cfg.train.channels_last)


def _check_crops(method: Method, device: torch.device) -> None:
    """Every crop size goes through the trunk once (eval mode, no gradients): a trunk that cannot
    take the recipe's crops fails here with one line, not at the first step."""
    trunk = method.model.trunk
    was_training = trunk.training
    trunk.eval()
    try:
        with torch.no_grad():
            for size in sorted({c.size for c in method.views().crops}):
                try:
                    trunk(torch.zeros(1, 3, size, size, device=device))
                except Exception as exc:  # any failure of the trunk on that size is the same user error
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise ConfigError(f"trunk {trunk.name!r} cannot take {size}x{size} crops: {first}") from None
    finally:
        trunk.train(was_training)


class _StopSignal:
    """SIGINT/SIGTERM set a flag; the loop stops at the next safe point (after a step)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignal:
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:  # a second signal: stop at once
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _features_for(data: TrainingData, info: DistInfo, device: torch.device, batch_size: int):
    def features(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        images, indices = data.ordered(info.rank, info.world_size, batch_size)
        was = module.training
        module.eval()
        parts = []
        with torch.no_grad():
            for x, _ in images.batches():
                parts.append(module(x.to(device)).float())
        module.train(was)
        feats = torch.cat(parts) if parts else torch.zeros(0)
        if info.world_size > 1:
            gathered = all_gather_objects((feats.cpu(), indices), info)
            feats = torch.cat([f for f, _ in gathered]).to(device)
            indices = torch.cat([i for _, i in gathered])
        return feats, indices

    return features


def pretrain(
    recipe: str | Recipe,
    config: Any,
    out_dir: str | Path,
    resume: bool | str = False,
    progress: bool = True,
    hooks: Sequence[Hook] = (),
) -> PretrainResult:
    """Pretrain with a recipe; write checkpoints, TensorBoard logs and the resolved config.

    Args:
        recipe: a name from ``ssl_train.list_recipes()``, ``"package.module:ATTR"``, or a Recipe.
        config: the recipe's config dataclass (see ``ssl_train.load_config``).
        out_dir: run folder; ``checkpoints/``, ``tensorboard/`` and ``config.yaml`` go there.
        resume: continue from ``OUT/checkpoints/last.pt`` (which must exist, written with the
            same config except resume-safe keys); ``"auto"``: resume when it exists, else start
            (what restarted ranks of the elastic launcher and requeued SLURM jobs use).
        progress: show a progress bar with ETA and images/s on stderr.
        hooks: further hooks (rank 0), called after the built-in ones.

    Returns:
        A :class:`PretrainResult` with the trained trunk (eval mode, on the CPU). torch's thread
        count is the caller's again (the run sets its own, ``train.threads``).

    Raises:
        ConfigError: bad values, unknown device, a trunk that cannot take the recipe's crops or
            arguments, a resume with a changed config or without a checkpoint.
        TrainingDivergedError: the loss became NaN/Inf.
        TrainingInterrupted: SIGINT/SIGTERM (a checkpoint was saved first).
        RunFolderLocked: another live run uses ``out_dir``.
    """
    spec = recipe if isinstance(recipe, Recipe) else get_recipe(recipe)
    cfg = config
    out = Path(out_dir)
    _check_config(cfg)
    last = out / "checkpoints" / LAST_NAME
    if resume == "auto":
        resume = last.is_file()
    if resume and not last.is_file():
        raise ConfigError(f"--resume: no checkpoint to resume in {last}")
    device_type = "cuda" if cfg.train.device.startswith("cuda") or (cfg.train.device == "auto" and torch.cuda.is_available()) else "cpu"
    info = init_distributed(cfg.train.parallel, device_type)
    # the run sets torch's process-wide thread count; the next run in this process (a notebook, a
    # benchmark looping over recipes) must start from the caller's count, not from this run's choice
    threads_before = torch.get_num_threads()
    try:
        with precision_default_dtype(cfg.train.precision):  # fp64: tensors made without a dtype are float64
            return _run(spec, cfg, out, resume, progress, hooks, info)
    finally:
        shutdown_distributed(info)
        torch.set_num_threads(threads_before)


def _run(spec: Recipe, cfg: Any, out: Path, resume: bool | str, progress: bool, hooks: Sequence[Hook], info: DistInfo) -> PretrainResult:
    device = resolve_device(cfg.train.device, info.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    precision = resolve_precision(cfg.train.precision, device)
    autocast = autocast_factory(device, precision)
    threads, threads_how = resolve_threads(cfg.train.threads, info.local_world_size)
    torch.set_num_threads(threads)
    last = out / "checkpoints" / LAST_NAME
    payload = read_checkpoint(last, spec.name) if resume else None

    torch.manual_seed(cfg.train.seed)
    method = spec.build(cfg)
    dtype = torch.float64 if precision == "fp64" else torch.float32
    if precision == "fp64":  # buffers a recipe made float32 on purpose (class weights, colour bins) too
        method.to(dtype=dtype)
    if cfg.train.sync_bn and info.world_size > 1:  # the whole method: teachers normalise over the global batch too
        ssl_models.convert_sync_batchnorm(method, group_size=0, implementation="torch" if device.type == "cuda" else "cpu")
    if cfg.train.activation_checkpointing:
        method.model.trunk.set_activation_checkpointing(True)
    method.to(device)
    sharded = cfg.train.parallel == "fsdp" and info.distributed
    _check_crops(method, device)
    plan = method.views()
    data = build_training_data(
        cfg.data.source, plan, image_size=cfg.data.image_size, batch_size=cfg.data.batch_size, seed=cfg.train.seed,
        limit=cfg.data.limit, num_workers=cfg.data.num_workers, invalid_max_fraction=cfg.data.invalid_max_fraction,
        rank=info.rank, world_size=info.world_size, dtype=dtype,
    )  # fmt: skip
    channels_last, channels_last_how = _choose_channels_last(cfg, payload, method, data, info, device, autocast, sharded)
    if channels_last:
        method.to(memory_format=torch.channels_last)
    if resolve_channels_last(cfg.train.channels_last) is None:
        cfg = copy.deepcopy(cfg)  # the saved config records the choice: a resume computes the same way
        cfg.train.channels_last = channels_last
    config_dict = config_to_dict(cfg)
    if sharded:  # FSDP2 replaces the parameters by DTensors: shard before the optimizer takes them
        wrap_model(method.model, "fsdp", info, device)
    steps_per_epoch = len(data.loader)
    total_steps = cfg.train.max_steps if cfg.train.max_steps > 0 else cfg.train.epochs * steps_per_epoch
    if data.fell_back and cfg.train.max_steps == 0 and total_steps < FALLBACK_MIN_STEPS:
        # the recipe's epochs were sized for 60,000 images; 1,437 need more passes to learn anything
        total_steps = FALLBACK_MIN_STEPS
        if info.is_main:
            print(f"ssl: digits holds {data.num_images:,} images: training {total_steps} steps instead of "
                  f"{cfg.train.epochs} epochs (set train.max_steps to choose)", file=sys.stderr, flush=True)  # fmt: skip
    epochs = math.ceil(total_steps / steps_per_epoch)
    global_batch = cfg.data.batch_size * info.world_size
    peak_lr = cfg.optim.lr * auto_scale_factor(cfg.optim.auto_scale, global_batch, cfg.optim.reference_batch_size)
    schedules: dict[str, Schedule] = {"lr": build_lr_schedule(cfg.schedule, epochs, peak_lr)}
    method.train_epochs = total_steps / steps_per_epoch
    method_schedules = method.schedules()
    if "lr" in method_schedules:
        raise ConfigError(f"recipe {spec.name} declares an 'lr' schedule; the learning rate belongs to the schedule section")
    schedules.setdefault("weight_decay", Constant(cfg.optim.weight_decay))
    schedules.update(method_schedules)
    per_epoch = steps_per_epoch if cfg.schedule.update_interval == "epoch" else 0

    optimizer = build_optimizer(
        cfg.optim.name, method.param_groups(cfg.optim), lr=peak_lr, weight_decay=cfg.optim.weight_decay,
        momentum=cfg.optim.momentum, beta2=cfg.optim.beta2, nesterov=cfg.optim.nesterov, lars_eta=cfg.optim.lars_eta,
        use_larc=cfg.optim.use_larc, larc_clip=cfg.optim.larc_clip,
        larc_trust_coefficient=cfg.optim.larc_trust_coefficient, larc_eps=cfg.optim.larc_eps,
    )  # fmt: skip
    if cfg.train.zero:
        optimizer = zero_redundancy(optimizer, info, cfg.train.parallel)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    stream = BatchStream(data, device, overlap=cfg.train.overlap_augmentation)
    state = TrainState(method, optimizer, stream, scaler, world_size=info.world_size, threads=threads, sharded=sharded)

    lock = RunLock(out) if info.is_main else None
    if lock is not None:
        lock.acquire()
        # temporary files of checkpoint writes a killed run left behind (we hold the lock: nobody
        # else is writing them)
        for stale in (out / "checkpoints").glob(".*.tmp"):
            stale.unlink(missing_ok=True)
    try:
        if payload is not None:
            check_resume_config(payload, config_dict, last)
            load_train_checkpoint(payload, state, rank=info.rank)
            payload = None
            if sharded:
                folder = out / "checkpoints" / (Path(LAST_NAME).stem + DCP_SUFFIX)
                load_sharded(method.model, optimizer, folder, state.step)
            if cfg.train.threads == 0 and state.threads > 0:  # the count the run started with: same numerics
                torch.set_num_threads(state.threads)
                threads_how = "the count the run started with"
            state.threads = torch.get_num_threads()
        if info.is_main:
            atomic_write_text(out / "config.yaml", config_to_yaml(cfg))
        choices = RuntimeChoices(precision, precision_reason(cfg.train.precision, precision, device), torch.get_num_threads(),
                                 threads_how, channels_last, channels_last_how)  # fmt: skip
        return _train(spec, cfg, out, progress, hooks, info, device, choices, autocast, method, data, stream, state,
                      schedules, peak_lr, per_epoch, steps_per_epoch, total_steps, epochs, global_batch, config_dict)  # fmt: skip
    finally:
        if lock is not None:
            lock.release()


def _choose_channels_last(
    cfg: Any, payload: dict[str, Any] | None, method: Method, data: TrainingData, info: DistInfo, device: torch.device,
    autocast: Any, sharded: bool,
) -> tuple[bool, str]:  # fmt: skip
    """``train.channels_last`` resolved, and how: as set, the checkpoint's choice (a resumed
    ``auto`` run), or measured (every rank times, the summed times decide, so all ranks agree)."""
    wanted = resolve_channels_last(cfg.train.channels_last)
    if sharded:
        if wanted and info.is_main:  # DINO's default: a note, not a failure
            print("ssl: train.channels_last is off under train.parallel=fsdp (FSDP2 shards contiguous parameters only)",
                  file=sys.stderr, flush=True)  # fmt: skip
        return False, "off under train.parallel=fsdp"
    if wanted is not None:
        return wanted, "set"
    saved = (((payload or {}).get("recipe") or {}).get("config") or {}).get("train", {}).get("channels_last")
    if isinstance(saved, bool):
        return saved, "auto: the choice the run started with"
    crops = [c.to(device) for c in data.example_crops(info.rank, info.world_size, cfg.data.batch_size)]
    timing = time_memory_formats(method.model.trunk, crops, autocast, device)
    timings = all_gather_objects((timing.contiguous, timing.channels_last), info)
    contiguous, channels_last = sum(t[0] for t in timings), sum(t[1] for t in timings)
    return channels_last < contiguous, f"auto: {timing.describe()} per forward+backward"


def _train(
    spec: Recipe, cfg: Any, out: Path, progress: bool, hooks: Sequence[Hook], info: DistInfo, device: torch.device,
    choices: RuntimeChoices, autocast: Any, method: Method, data: TrainingData, stream: BatchStream, state: TrainState,
    schedules: dict[str, Schedule], peak_lr: float, per_epoch: int, steps_per_epoch: int, total_steps: int, epochs: int,
    global_batch: int, config_dict: dict[str, Any],
) -> PretrainResult:  # fmt: skip
    precision = choices.precision
    optimizer, scaler = state.optimizer, state.scaler
    model: nn.Module = method.model
    model = wrap_model(model, cfg.train.parallel, info, device)
    if cfg.train.compile:
        model = torch.compile(model)  # type: ignore[assignment]

    run = RunInfo(state, spec.name, config_dict, out, steps_per_epoch, total_steps, epochs, global_batch,
                  data.description, choices.precision_text(), choices.compute_text(device))  # fmt: skip
    all_hooks: list[Hook] = []
    if info.is_main:
        if cfg.monitor.knn_every_epochs > 0:
            sets = data.monitor_sets(cfg.monitor.train_samples, cfg.monitor.test_samples, 512, cfg.train.seed)
            if sets is not None:
                all_hooks.append(KNNMonitorHook(method.trunk, sets[0], sets[1], device,
                                                cfg.monitor.knn_every_epochs, cfg.monitor.k, cfg.monitor.temperature))  # fmt: skip
        all_hooks.append(ProgressHook(enabled=progress))
        if cfg.train.tensorboard:
            all_hooks.append(TensorboardHook(cfg.train.log_every_steps))
        all_hooks.extend(hooks)

    def save(path_name: str = LAST_NAME) -> None:
        if state.sharded:
            save_sharded(method.model, optimizer, out / "checkpoints" / (Path(path_name).stem + DCP_SUFFIX), info.is_main, state.step)
        if cfg.train.zero:  # rank 0 gathers the optimizer state it saves
            optimizer.consolidate_state_dict(to=0)
        ranks = all_gather_objects(state.rank_state(), info)
        if info.is_main:
            save_train_checkpoint(state, spec.name, config_dict, out / "checkpoints" / path_name, rank_states=ranks)

    for hook in all_hooks:
        hook.on_start(run)
    completed = False
    started = time.perf_counter() - state.elapsed_seconds
    window_start, window_steps = time.perf_counter(), 0
    features = _features_for(data, info, device, 512)
    method.train()
    try:
        with _StopSignal() as stop, stream:
            while state.step < total_steps:
                starts = state.batch_in_epoch == 0
                if starts:
                    method.on_epoch_start(EpochContext(state.epoch, device, features, info.rank, info.world_size))
                for batch in stream.epoch(state.epoch, starts, next_epoch=state.epoch + 1 < epochs):
                    values = {k: value_at_step(s, state.step, total_steps, per_epoch if k == "lr" else 0) for k, s in schedules.items()}
                    for group in optimizer.param_groups:
                        group["lr"] = (peak_lr if group["fixed_lr"] else values["lr"]) * group["lr_scale"]
                        group["weight_decay"] = values["weight_decay"] if group["wd_fixed"] is None else group["wd_fixed"]
                    ctx = StepContext(model, state.step, state.epoch, steps_per_epoch, total_steps, values, autocast,
                                      device, info.rank, info.world_size, cfg.train.seed)  # fmt: skip
                    metrics = method.step(batch, ctx)
                    loss = metrics["loss"]
                    if precision == "fp64" and loss.dtype != torch.float64:
                        raise ConfigError(f"train.precision=fp64, but recipe {spec.name} computed its loss in {loss.dtype}")
                    floats = mean_over_ranks(metrics, info)  # the global batch's values, the same on every rank
                    loss_value = floats["loss"]
                    if not math.isfinite(loss_value):
                        raise TrainingDivergedError(
                            f"loss is {loss_value} at step {state.step} (epoch {state.epoch + 1}); "
                            "lower optim.lr or use train.precision=fp32"
                        )
                    optimizer.zero_grad(set_to_none=True)
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        scaler.unscale_(optimizer)
                    else:
                        loss.backward()
                    method.after_backward(ctx)
                    params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
                    if cfg.optim.clip_grad_value > 0:
                        torch.nn.utils.clip_grad_value_(params, cfg.optim.clip_grad_value)
                    if cfg.optim.clip_grad_norm > 0:
                        torch.nn.utils.clip_grad_norm_(params, cfg.optim.clip_grad_norm)
                    if scaler is not None:
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        optimizer.step()
                    method.after_optimizer_step(ctx)
                    state.step += 1
                    state.batch_in_epoch += 1
                    state.loss_history.append(loss_value)
                    state.elapsed_seconds = time.perf_counter() - started
                    window_steps += 1
                    if window_steps >= max(1, cfg.train.log_every_steps):
                        now = time.perf_counter()
                        run.images_per_second = window_steps * global_batch / max(now - window_start, 1e-9)
                        window_start, window_steps = now, 0
                    run.values = values
                    for hook in all_hooks:
                        hook.on_step_end(run, floats)
                    every = cfg.train.checkpoint_every_steps
                    if every and state.step % every == 0 and state.batch_in_epoch < steps_per_epoch:
                        save()
                    if stop.signum is not None or state.step >= total_steps:
                        break
                if stop.signum is not None and state.batch_in_epoch < steps_per_epoch and state.step < total_steps:
                    save()
                    code = 130 if stop.signum == signal.SIGINT else 143
                    where = out / "checkpoints" / LAST_NAME
                    raise TrainingInterrupted(
                        f"interrupted at step {state.step} (epoch {state.epoch + 1}); checkpoint saved to {where}; "
                        f"resume with: ssl pretrain {spec.name} --out {out} --resume", code,
                    )  # fmt: skip
                first = int(state.epoch_log[-1]["step"]) if state.epoch_log else 0
                losses = state.loss_history[first:]
                state.epoch_log.append({"epoch": float(state.epoch + 1), "step": float(state.step),
                                        "loss": sum(losses) / max(1, len(losses)), **run.values})  # fmt: skip
                state.epoch += 1
                state.batch_in_epoch = 0
                state.elapsed_seconds = time.perf_counter() - started
                for hook in all_hooks:
                    hook.on_epoch_end(run)
                save()
                if stop.signum is not None and state.step < total_steps:
                    raise TrainingInterrupted(
                        f"interrupted after epoch {state.epoch}; checkpoint saved to {out / 'checkpoints' / LAST_NAME}; "
                        f"resume with: ssl pretrain {spec.name} --out {out} --resume",
                        130 if stop.signum == signal.SIGINT else 143,
                    )  # fmt: skip
        completed = True
    finally:
        for hook in all_hooks:
            hook.on_end(run, completed)

    if state.sharded:  # final.pt and the result hold the full weights, gathered from the shards
        method.model = unshard_into(method.model, spec.build(cfg).model)
    if info.is_main:
        save_train_checkpoint(state, spec.name, config_dict, out / "checkpoints" / FINAL_NAME, with_train_state=False)
    trunk = method.trunk.to("cpu", memory_format=torch.contiguous_format).eval()
    history = state.loss_history
    tail = history[-steps_per_epoch:] if history else [float("nan")]
    if data.num_invalid:
        print(f"ssl: {data.num_invalid} undecodable image(s) were replaced during training", file=sys.stderr, flush=True)
    return PretrainResult(
        trunk=trunk, loss_history=history, epochs=state.epoch, steps=state.step, minutes=state.elapsed_seconds / 60,
        final_loss=sum(tail) / len(tail), checkpoint=out / "checkpoints" / FINAL_NAME, train_images=data.num_images,
        data_description=data.description, precision=precision,
        images_per_second=state.step * global_batch / max(state.elapsed_seconds, 1e-9),
        monitor_history=list(state.monitor_history), invalid_images=data.num_invalid, epoch_log=list(state.epoch_log),
        threads=choices.threads,
    )  # fmt: skip

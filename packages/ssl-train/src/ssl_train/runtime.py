"""Where and how the run computes: device, precision and CPU threads, chosen from the hardware."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch

from ssl_train.config import ConfigError

__all__ = [
    "PRECISIONS", "RuntimeChoices", "autocast_factory", "cpu_has_fast_bf16", "precision_default_dtype", "precision_reason",
    "busy_cores_elsewhere", "resolve_channels_last", "resolve_device", "resolve_precision", "resolve_threads",
]  # fmt: skip

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "fp64")
"""``fp64``: everything in float64 (model, buffers, batches, losses): slow, for numerics checks."""


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA (this rank's GPU) when available, else CPU; ``cuda`` needs CUDA.

    Raises:
        ConfigError: an unknown device string, or CUDA asked for where there is none.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"train.device={name!r} is not a device (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("train.device=cuda but CUDA is not available on this machine (use train.device=cpu or auto)")
        index = device.index if device.index is not None else local_rank % torch.cuda.device_count()
        if index >= torch.cuda.device_count():
            raise ConfigError(f"train.device={name!r} but this machine has {torch.cuda.device_count()} GPU(s)")
        device = torch.device("cuda", index)
    elif device.type != "cpu":
        raise ConfigError(f"train.device={name!r} is not supported (use auto, cpu, cuda or cuda:N)")
    return device


def cpu_has_fast_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """True when the CPU flags include AVX512-BF16 or AMX-BF16 (native bf16 kernels; whether they
    beat fp32 depends on the model: not for the recipes' small defaults, see :func:`resolve_precision`)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` on GPUs that support it (else ``fp16``), ``fp32`` on every CPU: on an
    Intel Xeon with AVX512-BF16 + AMX, bf16 autocast ran the recipes' default steps at 0.73-1.02x
    the speed of fp32 (``benchmarks/results/benchmark_precision.json``: clusterfit 0.94, simclr
    1.02, jigsaw 0.73, pirl 0.91) and made jigsaw, pirl and 8-channel test trunks diverge (NaN);
    for a ResNet-50 at 112 px it was 1.58x faster (``benchmark_precision_resnet50.json``), which is
    what ``train.precision=bf16`` is for. ``fp16`` on a CPU is
    refused (no gradient-scaler benefit). ``fp64`` (float64 throughout, never chosen by ``auto``)
    runs on any device."""
    if name not in PRECISIONS:
        raise ConfigError(f"train.precision={name!r} is not one of {', '.join(PRECISIONS)}")
    if name == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    if name == "fp16" and device.type == "cpu":
        raise ConfigError("train.precision=fp16 needs a GPU; on a CPU use fp32 or bf16")
    return name


def precision_reason(name: str, resolved: str, device: torch.device, cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """How ``train.precision=name`` became ``resolved``: ``"set"`` or ``"auto: ..."`` (the hardware fact)."""
    if name != "auto":
        return "set"
    if device.type == "cuda":
        return "auto: the GPU supports bf16" if resolved == "bf16" else "auto: the GPU has no bf16"
    if cpu_has_fast_bf16(cpuinfo):
        return "auto: on CPUs bf16 pays only for large models; set train.precision=bf16 for those"
    return "auto: the CPU has no AVX512-BF16/AMX"


def autocast_factory(device: torch.device, precision: str) -> Callable[[], AbstractContextManager[Any]]:
    """Context-manager factory for the run's mixed precision (a no-op for fp32 and fp64)."""
    if precision in ("fp32", "fp64"):
        return contextlib.nullcontext
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return lambda: torch.autocast(device.type, dtype=dtype)


@contextlib.contextmanager
def precision_default_dtype(name: str) -> Iterator[None]:
    """While inside, torch's default dtype is float64 when ``name`` is ``fp64`` (so that every
    tensor a run creates without naming a dtype is float64 too); other precisions leave it alone.
    The previous default comes back on exit."""
    if name != "fp64":
        yield
        return
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def busy_cores_elsewhere(samples: int = 7, interval: float = 0.03) -> int:
    """Cores other processes keep busy right now: the median over ``samples`` readings of the
    machine's runnable threads (``procs_running`` of ``/proc/stat``) less this process's own
    runnable threads; 0 where ``/proc`` cannot be read (not Linux)."""
    import statistics
    import time

    readings = []
    for i in range(samples):
        try:
            with open("/proc/stat") as stat:
                line = next((row for row in stat if row.startswith("procs_running ")), None)
            own = sum(_running(task) for task in Path("/proc/self/task").iterdir())
        except OSError:
            return 0
        if line is None:
            return 0
        readings.append(int(line.split()[1]) - max(1, own))
        if i + 1 < samples:
            time.sleep(interval)
    return max(0, int(statistics.median(readings)))


def _running(task: Path) -> bool:
    """Whether a ``/proc/PID/task/TID`` thread is runnable (state ``R``; gone: not running)."""
    try:
        stat = (task / "stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].startswith("R")


def resolve_threads(requested: int, local_world_size: int) -> tuple[int, str]:
    """torch intra-op threads and how they were chosen (``"set"`` or ``"auto: ..."``):
    ``requested`` when > 0; with several ranks on a host, the cores this process may use divided
    among them (at least 1); otherwise torch's default, less the cores other work keeps busy at
    start-up (:func:`busy_cores_elsewhere`; at least 1).

    Why the last rule: OpenMP threads of one process wait for each other at every parallel
    region, so a process with more threads than free cores waits for the scheduler at every
    operator; with one other busy process on a 2-core machine a training step was measured 9.5x
    slower at 2 threads than at 1. ``OMP_WAIT_POLICY=PASSIVE`` (set by the ``ssl`` command and the
    dev environment before torch loads) keeps waiting threads from spinning on the cores others
    need. Results depend on the count at float precision: a resumed run keeps the count it started
    with, and ``train.threads`` fixes it."""
    if requested > 0:
        return requested, "set"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if local_world_size > 1:
        return max(1, cores // local_world_size), f"auto: the cores shared by {local_world_size} ranks on this host"
    default = torch.get_num_threads()
    busy = busy_cores_elsewhere()
    free = max(1, (os.cpu_count() or cores) - busy)
    if busy == 0 or free >= default:
        return default, "auto: torch's default"
    return free, f"auto: {busy} of {os.cpu_count() or cores} cores busy with other work at start-up"


def resolve_channels_last(value: bool | str) -> bool | None:
    """``train.channels_last`` -> True / False, or None for ``auto`` (measured at start-up).

    Raises:
        ConfigError: a string other than ``auto``.
    """
    if isinstance(value, bool):
        return value
    if str(value).lower() == "auto":
        return None
    raise ConfigError(f"train.channels_last={value!r} is not one of true, false, auto")


@dataclass(frozen=True)
class RuntimeChoices:
    """A run's resolved precision, intra-op threads and memory format, with how each was chosen
    (``"set"``, ``"auto: ..."``, ``"from the checkpoint"``): what the run header reports."""

    precision: str
    precision_how: str
    threads: int
    threads_how: str
    channels_last: bool
    channels_last_how: str

    def precision_text(self) -> str:
        """``"fp32 (auto: the CPU has no AVX512-BF16/AMX)"``."""
        return f"{self.precision} ({self.precision_how})"

    def compute_text(self, device: torch.device) -> str:
        """``"cpu, 2 threads (auto: torch's default), channels_last off (set)"``."""
        fmt = "on" if self.channels_last else "off"
        threads = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"{device}, {threads} ({self.threads_how}), channels_last {fmt} ({self.channels_last_how})"

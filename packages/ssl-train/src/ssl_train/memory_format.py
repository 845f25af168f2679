"""``train.channels_last=auto``: the memory format that trains the run's trunk faster, measured.

The trunk is copied (the run's weights, buffers and random state are left untouched) and timed
forward + backward on real images at every crop size of the recipe, in the contiguous and the
channels-last format by turns; the faster format wins. The run records the choice in its saved
config, so a resumed run computes with the same format (the two give different float bits).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["MemoryFormatTiming", "time_memory_formats"]


@dataclass(frozen=True)
class MemoryFormatTiming:
    """Seconds of one forward + backward pass over all crops (the fastest of the rounds)."""

    contiguous: float
    channels_last: float

    @property
    def channels_last_wins(self) -> bool:
        return self.channels_last < self.contiguous

    def describe(self) -> str:
        """``"channels_last 41.0 ms vs contiguous 47.2 ms per forward+backward"`` (winner first)."""
        cl, ct = f"channels_last {self.channels_last * 1e3:.1f} ms", f"contiguous {self.contiguous * 1e3:.1f} ms"
        return f"{cl} vs {ct}" if self.channels_last_wins else f"{ct} vs {cl}"


def _leaves(out: Any) -> list[Tensor]:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for item in out for t in _leaves(item)]
    return []


def _pass(trunk: nn.Module, crops: Sequence[Tensor], autocast: Callable[[], AbstractContextManager[Any]], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    with autocast():
        total = sum(t.float().sum() for x in crops for t in _leaves(trunk(x)))
    total.backward()  # type: ignore[union-attr]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def time_memory_formats(
    trunk: nn.Module,
    crops: Sequence[Tensor],
    autocast: Callable[[], AbstractContextManager[Any]],
    device: torch.device,
    rounds: int = 2,
) -> MemoryFormatTiming:
    """Time forward + backward of a copy of ``trunk`` (train mode) in both memory formats.

    Args:
        trunk: the run's trunk (on ``device``; not modified).
        crops: float ``[B, 3, S, S]`` batches, one per crop size of the recipe (contiguous, as the
            training batches are).
        autocast: the run's mixed-precision context factory.
        rounds: timed rounds, each format once per round (order alternating), after one untimed
            warm-up pass of each. A fixed count, not a time budget: with synchronised batch norm
            every rank must run the same passes.

    Returns:
        The fastest pass of each format.
    """
    models = {fmt: copy.deepcopy(trunk).train().to(memory_format=fmt) for fmt in (torch.contiguous_format, torch.channels_last)}
    times: dict[torch.memory_format, list[float]] = {fmt: [] for fmt in models}
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        for model in models.values():  # warm-up: first-call allocations, kernel selection
            _pass(model, crops, autocast, device)
        for r in range(max(1, rounds)):
            for fmt in list(models) if r % 2 == 0 else list(models)[::-1]:
                times[fmt].append(_pass(models[fmt], crops, autocast, device))
    return MemoryFormatTiming(min(times[torch.contiguous_format]), min(times[torch.channels_last]))

"""The train state: everything a run must hold to continue bit-identically after a crash."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ssl_train.recipes.base import Method

__all__ = ["TrainState", "per_rank_buffers"]


def per_rank_buffers(method: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The buffers of ``method`` that differ between ranks, by state-dict key: those each
    submodule names in its ``per_rank_buffers`` class attribute (``ssl_losses.SwAVLoss``'s queue,
    ``ssl_losses.DeepClusterV2Loss``'s memory). Rank 0's are in the method's state dict like every
    buffer; a checkpoint keeps every rank's beside it."""
    out = {}
    for prefix, module in method.named_modules():
        for name in getattr(module, "per_rank_buffers", ()):
            out[f"{prefix}.{name}" if prefix else name] = getattr(module, name)
    return out


@dataclass
class TrainState:
    """Counters and history of a run, plus the stateful objects it checkpoints.

    A checkpoint is exactly :meth:`state_dict`: the method (online model, teachers, loss buffers
    such as queues, centers and memory banks), the optimizer, the gradient scaler, the loader's
    position, the CPU and CUDA random states, step / epoch / position in the epoch, the loss
    history and the monitor's history. Schedules are pure functions of the step.
    """

    method: Method
    optimizer: Any
    loader: Any
    scaler: torch.amp.GradScaler | None = None
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    elapsed_seconds: float = 0.0
    loss_history: list[float] = field(default_factory=list)
    monitor_history: list[dict[str, float]] = field(default_factory=list)
    epoch_log: list[dict[str, float]] = field(default_factory=list)
    """One entry per finished epoch: ``epoch``, ``step``, ``loss`` (mean over the epoch) and the
    schedules' values at its last step (``lr``, ``weight_decay``, ...)."""
    world_size: int = 1
    threads: int = 0
    """torch threads of the run (kept so that a resumed run computes with the same count)."""
    sharded: bool = False
    """FSDP: the online model (``model.*`` keys of the method) and the optimizer are saved and
    loaded by ``ssl_train.sharded_checkpoint`` (DCP), not in this state dict."""

    def rank_state(self) -> dict[str, Any]:
        """What differs between ranks: the loader's position, the random states and the
        method's per-rank buffers (:func:`per_rank_buffers`: SwAV's queue, DeepClusterV2's
        memory), on the CPU."""
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            rng["cuda"] = torch.cuda.get_rng_state()
        buffers = {k: v.detach().to("cpu", copy=True) for k, v in per_rank_buffers(self.method).items()}
        return {"loader": self.loader.state_dict(), "rng": rng, "buffers": buffers}

    def _method_state(self) -> dict[str, Any]:
        state = self.method.state_dict()
        return {k: v for k, v in state.items() if not k.startswith("model.")} if self.sharded else state

    def state_dict(self, rank_states: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Tensors and plain containers only (loadable with ``torch.load(weights_only=True)``).

        ``rank_states``: every rank's :meth:`rank_state` (gathered by the caller); this rank's only
        when omitted.
        """
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "elapsed_seconds": self.elapsed_seconds,
            "loss_history": list(self.loss_history),
            "monitor_history": [dict(m) for m in self.monitor_history],
            "epoch_log": [dict(m) for m in self.epoch_log],
            "world_size": self.world_size,
            "threads": self.threads,
            "method": self._method_state(),
            "optimizer": None if self.sharded else self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "ranks": rank_states if rank_states is not None else [self.rank_state()],
        }

    def load_state_dict(self, state: dict[str, Any], rank: int = 0) -> None:
        """Restore what :meth:`state_dict` saved (this rank's loader and random states).

        Raises ``ValueError`` when the checkpoint was written by another world size (the data
        shards and per-rank states would not match: a resume must use the same number of ranks).
        """
        saved_world = int(state.get("world_size", 1))
        if saved_world != self.world_size:
            raise ValueError(
                f"the checkpoint was written by {saved_world} process(es), this run has {self.world_size}; "
                "resume with the same number of processes"
            )
        if self.sharded:  # the model and the optimizer come from the DCP folder
            missing, unexpected = self.method.load_state_dict(state["method"], strict=False)
            wrong = unexpected + [k for k in missing if not k.startswith("model.")]
            if wrong:
                raise ValueError(f"the checkpoint's method state does not match this run: {', '.join(wrong[:5])}")
        else:
            self.method.load_state_dict(state["method"])
            self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        mine = state["ranks"][rank]
        own = per_rank_buffers(self.method)
        for key, value in mine.get("buffers", {}).items():  # this rank's own, over rank 0's
            if key not in own or own[key].shape != value.shape:
                raise ValueError(f"the checkpoint's per-rank buffer {key} does not match this run")
            own[key].copy_(value)
        if int(state["batch_in_epoch"]) > 0:  # at an epoch boundary a fresh iterator is the same position
            self.loader.load_state_dict(mine["loader"])
        torch.set_rng_state(mine["rng"]["torch"])
        if "cuda" in mine["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state(mine["rng"]["cuda"])
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.elapsed_seconds = float(state["elapsed_seconds"])
        self.loss_history = [float(x) for x in state["loss_history"]]
        self.monitor_history = [dict(m) for m in state.get("monitor_history", [])]
        self.epoch_log = [dict(m) for m in state.get("epoch_log", [])]
        self.threads = int(state.get("threads", 0))

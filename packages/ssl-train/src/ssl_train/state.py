"""The train state: everything a run must hold to continue bit-identically after a crash."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ssl_train.recipes.base import MethodParts

__all__ = ["TrainState"]


@dataclass
class TrainState:
    """Counters and history of a run, plus references to the stateful objects it checkpoints.

    A checkpoint is exactly :meth:`state_dict`: every module of the method (trunk, heads, loss
    buffers such as queues or centers, momentum encoders), the optimizer, the step/epoch/position in
    the epoch, the random generators and the loss history. Schedules are pure functions of ``step``.
    """

    parts: MethodParts
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    elapsed_seconds: float = 0.0
    loss_history: list[float] = field(default_factory=list)

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain containers only (loadable with ``torch.load(weights_only=True)``)."""
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "elapsed_seconds": self.elapsed_seconds,
            "loss_history": list(self.loss_history),
            "modules": {name: m.state_dict() for name, m in self.parts.all_modules().items()},
            "optimizer": self.optimizer.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "augment": self.generator.get_state()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved; raises ``ValueError`` if the modules differ."""
        modules = self.parts.all_modules()
        saved = state["modules"]
        if set(saved) != set(modules):
            raise ValueError(
                f"checkpoint holds modules {sorted(saved)}, this recipe builds {sorted(modules)}"
            )
        for name, module in modules.items():
            module.load_state_dict(saved[name])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"]["torch"])
        self.generator.set_state(state["rng"]["augment"])
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.elapsed_seconds = float(state["elapsed_seconds"])
        self.loss_history = [float(x) for x in state["loss_history"]]

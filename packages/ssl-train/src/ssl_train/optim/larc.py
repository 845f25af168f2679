"""LARC: layer-wise adaptive rate control around SGD (NVIDIA apex's LARC, as VISSL uses it)."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["LARC"]


class LARC:
    """Rescale every gradient by a per-parameter adaptive rate, then step the inner optimizer.

    For a parameter ``w`` with gradient ``g`` in a group with learning rate ``lr`` and weight decay
    ``wd`` (apex/VISSL semantics):
    ``local = trust_coefficient * ||w|| / (||g|| + wd * ||w|| + eps)``; in clip mode
    ``local = min(local / lr, 1)``; then ``g <- (g + wd * w) * local``, and the inner optimizer
    steps with weight decay 0. Parameters with ``||w|| = 0`` or ``||g|| = 0``, and groups with
    ``lars_exclude=True``, keep their gradient (and get no weight decay in that step when the
    group's decay is handed to LARC).

    Args:
        optimizer: the inner optimizer (SGD in VISSL).
        trust_coefficient: apex ``trust_coefficient`` (0.001).
        clip: clip mode (True) or scale mode (False).
        eps: added to the denominator (1e-8).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, trust_coefficient: float = 0.001, clip: bool = False, eps: float = 1e-8) -> None:
        if trust_coefficient <= 0:
            raise ValueError(f"trust_coefficient must be positive, got {trust_coefficient}")
        self.optim = optimizer
        self.trust_coefficient = float(trust_coefficient)
        self.clip = bool(clip)
        self.eps = float(eps)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optim.param_groups

    @property
    def state(self) -> Any:
        return self.optim.state

    @property
    def defaults(self) -> dict[str, Any]:
        return self.optim.defaults

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optim.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return self.optim.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optim.load_state_dict(state)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        decays = []
        for group in self.optim.param_groups:
            wd = float(group.get("weight_decay", 0.0))
            decays.append(wd)
            if group.get("lars_exclude", False):
                continue
            group["weight_decay"] = 0.0
            for p in group["params"]:
                if p.grad is None:
                    continue
                param_norm = torch.linalg.vector_norm(p)
                grad_norm = torch.linalg.vector_norm(p.grad)
                if float(param_norm) == 0.0 or float(grad_norm) == 0.0:
                    continue
                local = self.trust_coefficient * param_norm / (grad_norm + param_norm * wd + self.eps)
                if self.clip:
                    local = torch.clamp(local / group["lr"], max=1.0)
                p.grad.add_(p, alpha=wd).mul_(local)
        try:
            return self.optim.step(closure)
        finally:
            for group, wd in zip(self.optim.param_groups, decays):
                group["weight_decay"] = wd

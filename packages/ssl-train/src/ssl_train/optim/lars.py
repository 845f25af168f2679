"""LARS: layer-wise adaptive rate scaling (You et al., 2017), as used by SimCLR, BYOL, Barlow Twins."""

from __future__ import annotations

from typing import Any, Iterable

import torch

__all__ = ["LARS"]


class LARS(torch.optim.Optimizer):
    """SGD with momentum whose update of each parameter tensor is scaled by a trust ratio.

    For a parameter ``w`` with gradient ``g`` (weight decay ``wd`` added first, ``g <- g + wd w``),
    the trust ratio is ``eta * ||w|| / ||g||`` (1 when either norm is 0). Parameter groups with
    ``lars_exclude=True`` (biases and normalisation parameters, by convention) take plain SGD
    steps with neither weight decay nor adaptation.

    Args:
        params: parameters or parameter groups.
        lr: learning rate.
        momentum: momentum factor.
        weight_decay: L2 penalty added to the gradient before adaptation.
        eta: trust coefficient.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        eta: float = 0.001,
    ) -> None:
        if lr < 0:
            raise ValueError(f"lr must be non-negative, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, lars_exclude=False)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # noqa: D102
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if not group["lars_exclude"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                    w_norm = torch.linalg.vector_norm(p)
                    g_norm = torch.linalg.vector_norm(grad)
                    ratio = torch.where(
                        (w_norm > 0) & (g_norm > 0), group["eta"] * w_norm / g_norm, torch.ones_like(w_norm)
                    )
                    grad = grad.mul(ratio)
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = grad.clone()
                else:
                    buf.mul_(group["momentum"]).add_(grad)
                p.add_(buf, alpha=-group["lr"])
        return loss

"""Build an optimizer from plain arguments, with biases and norms kept out of weight decay."""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from ssl_train.optim.lars import LARS

__all__ = ["OPTIMIZERS", "build_optimizer", "split_decay_groups"]

OPTIMIZERS = ("sgd", "lars", "adamw")


def split_decay_groups(modules: Iterable[nn.Module]) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Trainable parameters split into (decayed, not decayed): 1-d tensors (biases, norms) go second."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in modules:
        for p in module.parameters():
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            (no_decay if p.ndim <= 1 else decay).append(p)
    return decay, no_decay


def build_optimizer(
    name: str,
    modules: Iterable[nn.Module],
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    exclude_bias_and_norm: bool = True,
    lars_eta: float = 0.001,
) -> torch.optim.Optimizer:
    """An optimizer over the trainable parameters of ``modules``.

    Args:
        name: ``"sgd"``, ``"lars"`` or ``"adamw"``.
        modules: modules whose parameters are optimised (shared parameters counted once).
        lr: initial learning rate (schedules overwrite it every step).
        momentum: SGD/LARS momentum (AdamW's beta1).
        weight_decay: weight decay.
        nesterov: Nesterov momentum (SGD only).
        exclude_bias_and_norm: 1-d parameters get no weight decay (and no LARS adaptation).
        lars_eta: LARS trust coefficient.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    decay, no_decay = split_decay_groups(modules)
    if not decay and not no_decay:
        raise ValueError("no trainable parameters to optimise")
    if exclude_bias_and_norm:
        groups = [
            {"params": decay, "weight_decay": weight_decay, "lars_exclude": False},
            {"params": no_decay, "weight_decay": 0.0, "lars_exclude": True},
        ]
    else:
        groups = [{"params": decay + no_decay, "weight_decay": weight_decay, "lars_exclude": False}]
    groups = [g for g in groups if g["params"]]
    if name == "lars":
        return LARS(groups, lr=lr, momentum=momentum, weight_decay=weight_decay, eta=lars_eta)
    for g in groups:
        g.pop("lars_exclude")
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov)
    return torch.optim.AdamW(groups, lr=lr, betas=(momentum, 0.999))

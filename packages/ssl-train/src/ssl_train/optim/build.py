"""Build the optimizer from parameter groups: SGD, LARS, AdamW, optionally wrapped in LARC."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from ssl_train.optim.larc import LARC
from ssl_train.optim.lars import LARS
from ssl_train.optim.param_groups import ParamGroup

__all__ = ["OPTIMIZERS", "build_optimizer"]

OPTIMIZERS = ("sgd", "lars", "adamw")


def build_optimizer(
    name: str,
    groups: Sequence[ParamGroup],
    *,
    lr: float,
    weight_decay: float,
    momentum: float = 0.9,
    beta2: float = 0.999,
    nesterov: bool = False,
    lars_eta: float = 0.001,
    use_larc: bool = False,
    larc_clip: bool = False,
    larc_trust_coefficient: float = 0.001,
    larc_eps: float = 1e-8,
) -> Any:
    """An optimizer whose torch param groups carry the :class:`ParamGroup` fields.

    Each torch group holds ``name``, ``lr_scale``, ``fixed_lr``, ``wd_fixed`` (``None`` or the
    fixed weight decay) and ``lars_exclude`` beside torch's keys; the trainer sets ``lr`` and
    ``weight_decay`` of every group at every step from the schedules.

    Args:
        name: ``"sgd"``, ``"lars"`` or ``"adamw"``.
        groups: parameter groups (see ``default_param_groups``).
        lr, weight_decay: initial values (the trainer overwrites them each step).
        momentum: SGD/LARS momentum, AdamW's beta1; ``beta2``: AdamW's beta2.
        use_larc: wrap SGD in :class:`LARC` (apex semantics; SGD only, as in VISSL).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    if use_larc and name != "sgd":
        raise ValueError(f"optim.use_larc wraps SGD only (as in VISSL), not {name!r}")
    torch_groups = []
    for g in groups:
        if not g.params:
            continue
        torch_groups.append({
            "params": list(g.params), "name": g.name, "lr": lr * g.lr_scale, "lr_scale": g.lr_scale,
            "fixed_lr": g.fixed_lr, "wd_fixed": g.weight_decay,
            "weight_decay": weight_decay if g.weight_decay is None else g.weight_decay,
            "lars_exclude": not g.adapt,
        })  # fmt: skip
    if not torch_groups:
        raise ValueError("no trainable parameters to optimise")
    if name == "lars":
        return LARS(torch_groups, lr=lr, momentum=momentum, weight_decay=weight_decay, eta=lars_eta)
    if name == "adamw":
        return torch.optim.AdamW(torch_groups, lr=lr, betas=(momentum, beta2), weight_decay=weight_decay)
    sgd = torch.optim.SGD(torch_groups, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    return LARC(sgd, larc_trust_coefficient, larc_clip, larc_eps) if use_larc else sgd

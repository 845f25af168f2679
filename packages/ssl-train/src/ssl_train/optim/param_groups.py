"""Parameter groups as VISSL forms them: regularised or not, trunk or head, each with its scales."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

import ssl_models
from ssl_models.trunk import norm_and_bias_names

__all__ = ["ParamGroup", "default_param_groups", "module_param_groups"]


@dataclass
class ParamGroup:
    """One optimizer parameter group and how the trainer drives it every step.

    Attributes:
        name: shown in logs (``trunk``, ``trunk/no_decay``, ``heads``, ...).
        params: the parameters (each in exactly one group).
        lr_scale: learning rate = schedule value x ``lr_scale``.
        fixed_lr: hold the learning rate at its peak value (SimSiam's predictor) instead of
            following the schedule.
        weight_decay: ``None`` follows the run's weight decay (``optim.weight_decay`` or the
            recipe's weight-decay schedule); a number fixes it (0 for biases and norms).
        adapt: LARS/LARC adapt this group's steps (by convention not the unregularised ones).
    """

    name: str
    params: list[nn.Parameter] = field(default_factory=list)
    lr_scale: float = 1.0
    fixed_lr: bool = False
    weight_decay: float | None = None
    adapt: bool = True


def module_param_groups(
    module: nn.Module,
    name: str,
    *,
    regularize_bn: bool = False,
    regularize_bias: bool = False,
    non_regularized: tuple[str, ...] | list[str] = (),
    lr_scale: float = 1.0,
    weight_decay: float | None = None,
    exclude: set[int] | None = None,
) -> list[ParamGroup]:
    """``[name, name/no_decay]`` groups of the trainable parameters of ``module``.

    Unregularised: norm parameters (unless ``regularize_bn``), biases (unless ``regularize_bias``),
    the trunk's own ``no_weight_decay()`` names, and names containing any ``non_regularized``
    substring. Layers are recognised by type (``ssl_models.trunk.norm_and_bias_names``), not by
    tensor shape. Parameters whose ``id`` is in ``exclude`` are skipped (already grouped).
    """
    norms, biases = norm_and_bias_names(module)
    exempt = set(module.no_weight_decay()) if isinstance(module, ssl_models.Trunk) else set()
    seen = exclude if exclude is not None else set()
    decay = ParamGroup(name, lr_scale=lr_scale, weight_decay=weight_decay)
    no_decay = ParamGroup(f"{name}/no_decay", lr_scale=lr_scale, weight_decay=0.0, adapt=False)
    for pname, p in module.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        free = (
            (pname in norms and not regularize_bn)
            or (pname in biases and not regularize_bias)
            or pname in exempt
            or any(s and s in pname for s in non_regularized)
        )
        (no_decay if free else decay).params.append(p)
    return [g for g in (decay, no_decay) if g.params]


def default_param_groups(
    model: ssl_models.SSLModel,
    *,
    regularize_bn: bool = False,
    regularize_bias: bool = False,
    non_regularized: tuple[str, ...] | list[str] = (),
    head_lr_scale: float = 1.0,
    head_weight_decay: float | None = None,
) -> list[ParamGroup]:
    """Trunk groups then head groups of an ``SSLModel`` (VISSL's default param groups with
    ``head_optimizer_params``): heads may have their own lr scale and weight decay."""
    seen: set[int] = set()
    groups = module_param_groups(
        model.trunk, "trunk", regularize_bn=regularize_bn, regularize_bias=regularize_bias,
        non_regularized=non_regularized, exclude=seen,
    )
    groups += module_param_groups(
        model.heads, "heads", regularize_bn=regularize_bn, regularize_bias=regularize_bias,
        non_regularized=non_regularized, lr_scale=head_lr_scale, weight_decay=head_weight_decay, exclude=seen,
    )
    return groups

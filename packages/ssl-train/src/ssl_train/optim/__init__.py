"""Optimizers, LARS/LARC and VISSL-style parameter groups."""

from ssl_train.optim.build import OPTIMIZERS, build_optimizer
from ssl_train.optim.larc import LARC
from ssl_train.optim.lars import LARS
from ssl_train.optim.param_groups import ParamGroup, default_param_groups, module_param_groups

__all__ = ["LARC", "LARS", "OPTIMIZERS", "ParamGroup", "build_optimizer", "default_param_groups", "module_param_groups"]

"""Trunk settings shared by recipes, and building a trunk with only the arguments it takes."""

from __future__ import annotations

import re

import ssl_models
from ssl_train.config import ConfigError

__all__ = ["build_recipe_trunk"]


def build_recipe_trunk(name: str, width_multiplier: float = 1.0, small_input: bool = False) -> ssl_models.Trunk:
    """``ssl_models.build_trunk(name)`` with ResNet-style options passed only when they are set
    (``width_multiplier != 1``, ``small_input``), so every trunk of ``list_trunks()`` builds with
    the defaults.

    Raises:
        ConfigError: an unknown trunk, or an option the trunk does not take (one line naming it).
    """
    kwargs: dict[str, object] = {}
    if width_multiplier != 1.0:
        kwargs["width_multiplier"] = width_multiplier
    if small_input:
        kwargs["small_input"] = True
    try:
        return ssl_models.build_trunk(name, **kwargs)
    except TypeError as exc:
        match = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if match is None:
            raise
        option = match.group(1)
        raise ConfigError(
            f"trunk {name!r} does not take {option}; set model.{option} to its default "
            f"({'1.0' if option == 'width_multiplier' else 'false'}) or choose a ResNet trunk"
        ) from None
    except ValueError as exc:
        raise ConfigError(str(exc).splitlines()[0]) from None

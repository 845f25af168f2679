"""Base class of every head: records its factory name and constructor arguments."""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = ["Head"]


class Head(nn.Module):
    """A head (projection, predictor, prototypes, classifier) that can be rebuilt from a checkpoint.

    Attributes:
        name: the head's factory name (``build_head(name, **kwargs)``), VISSL's head name.
        kwargs: the constructor arguments, plain containers only.
    """

    def __init__(self, name: str, kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.name = name
        self.kwargs = dict(kwargs)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"

"""Exceptions raised by ssl-convert. Each carries a one-line message naming the path or argument."""

from __future__ import annotations

__all__ = [
    "ArchKwargsError",
    "ConversionError",
    "FormatError",
    "KeyMappingError",
    "UnsafeLoadError",
    "VerificationError",
]


class ConversionError(ValueError):
    """Base class: the input cannot be converted as asked (one-line message)."""


class FormatError(ConversionError):
    """The file is not a checkpoint, is truncated, is of an unknown layout, or its architecture
    does not match the one asked for."""


class ArchKwargsError(FormatError):
    """``arch_kwargs`` given without ``arch`` that the trunk found in the file does not have (a
    ResNet given ``num_heads``, a ViT whose file records another head count); nothing is written.
    ``given``: those arguments; ``trunk_name`` / ``trunk_kwargs``: the trunk that was found."""

    def __init__(self, message: str, given: dict[str, object], trunk_name: str, trunk_kwargs: dict[str, object]) -> None:
        super().__init__(message)
        self.given, self.trunk_name, self.trunk_kwargs = given, trunk_name, trunk_kwargs


class UnsafeLoadError(ConversionError):
    """The file pickles Python objects other than tensors and plain containers; reading it needs
    ``allow_unsafe_load=True`` (only for files you trust)."""


class KeyMappingError(ConversionError):
    """A key would be lost (no rule converts it) or two source keys would land on one target key."""


class VerificationError(ConversionError):
    """The converted model's outputs differ from the source model's by more than the tolerance."""

"""Comma-separated option values (``--costs 0.1,0.01``); a YAML suite may give a list instead."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from ssl_cli.errors import UsageError

__all__ = ["parse_list"]

T = TypeVar("T")


def parse_list(
    values: str | Sequence[object], cast: Callable[[str], T], what: str, allow_empty: bool = False
) -> list[T]:
    """``"1,2, 4"`` or ``[1, 2, 4]`` -> ``[cast(v), ...]``; one clear error for a bad value or,
    unless ``allow_empty``, an empty list."""
    items = values.split(",") if isinstance(values, str) else list(values)
    try:
        out = [cast(str(v).strip()) for v in items if str(v).strip()]
    except ValueError:
        raise UsageError(f"{what} must be a comma-separated list of {cast.__name__} values, got {values!r}") from None
    if not out and not allow_empty:
        raise UsageError(f"{what} is empty")
    return out

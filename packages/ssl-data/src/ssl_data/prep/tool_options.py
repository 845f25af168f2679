"""Preparer options written as ``key=value`` text (``ssl data prepare NAME ... key=value``), read
into typed keyword arguments and checked against the preparer's signature before it runs."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterable

from ssl_data.prep.registry import preparer_options

__all__ = ["parse_tool_options"]


def _value(raw: str) -> object:
    """A Python literal (``3``, ``0.5``, ``[1, 2]``, ``'x'``) when ``raw`` is one; ``true`` /
    ``false`` in any case as booleans; anything else as the text itself."""
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return {"true": True, "false": False}.get(raw.lower(), raw)


def _check_type(tool: str, key: str, value: object, default: object) -> None:
    """A number or flag option given a value of another type is refused (ints are floats too)."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        return
    if not ok:
        raise ValueError(f"{tool} option {key} takes a {type(default).__name__} (default {default!r}), got {value!r}")


def parse_tool_options(name: str, items: Iterable[str]) -> dict[str, object]:
    """``{"key": value}`` of preparer ``name``'s ``key=value`` items. ValueError (one line) for an
    unknown preparer, an item without ``=``, an option the preparer does not take (``progress``
    included: it is the caller's callback, not an option) or a value of the wrong type for a
    number or flag option (its default's type)."""
    defaults = preparer_options(name)
    options: dict[str, object] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"option {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        options[key.strip()] = _value(raw)
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {unknown}; options are {sorted(defaults)}")
    for key, value in options.items():
        _check_type(name, key, value, defaults.get(key, inspect.Parameter.empty))
    return options

"""Renaming a state dict with a rule function, keeping account of every key.

A rule maps a source key to a target key, to :data:`DROP` (removed on purpose, listed in the
report) or to ``None`` (no rule matched: the key is *unconverted*). Two source keys landing on the
same target key is an error, raised at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from ssl_convert.errors import KeyMappingError

__all__ = ["DROP", "MappedState", "map_keys", "strip_prefix", "template_rule"]


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


DROP: Final = _Drop()
"""Returned by a rule for a key that is removed on purpose (heads, momentum blobs, ...)."""

Rule = Callable[[str], "str | _Drop | None"]


@dataclass
class MappedState:
    """Result of :func:`map_keys`.

    ``state``: the renamed entries (values untouched); ``dropped``: source keys removed on purpose;
    ``unconverted``: source keys no rule matched (the caller refuses to write while any remain).
    """

    state: dict[str, object]
    dropped: list[str] = field(default_factory=list)
    unconverted: list[str] = field(default_factory=list)


def map_keys(state: Mapping[str, object], rule: Rule, *, what: str = "state dict") -> MappedState:
    """Apply ``rule`` to every key of ``state`` (values are kept as they are, order preserved).

    Raises :class:`KeyMappingError` when two source keys map to the same target key.
    """
    out: dict[str, object] = {}
    origin: dict[str, str] = {}
    result = MappedState(state=out)
    for key, value in state.items():
        new = rule(key)
        if new is None:
            result.unconverted.append(key)
            continue
        if isinstance(new, _Drop):
            result.dropped.append(key)
            continue
        if new in out:
            raise KeyMappingError(
                f"{what}: keys {origin[new]!r} and {key!r} would both become {new!r}"
            )
        out[new] = value
        origin[new] = key
    return result


def strip_prefix(state: Mapping[str, object], prefix: str) -> dict[str, object]:
    """Keys that start with ``prefix``, with it removed (other keys are left out)."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


_PLACEHOLDERS = {
    "i": r"(?P<i>\d+)",
    "j": r"(?P<j>\d+)",
    "p": r"(?P<p>weight|bias|running_mean|running_var|num_batches_tracked)",
}


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.escape(template)
    for name, group in _PLACEHOLDERS.items():
        pattern = pattern.replace(re.escape("{" + name + "}"), group)
    return re.compile(f"^{pattern}$")


def template_rule(pairs: Iterable[tuple[str, str]], reverse: bool = False) -> Rule:
    """A rule from ``(source template, target template)`` pairs (swapped when ``reverse``).

    Templates may hold ``{i}``/``{j}`` (block indices) and ``{p}`` (weight, bias, running_mean,
    running_var, num_batches_tracked). The first matching pair wins; no match gives ``None``.
    """
    table = [(b, a) if reverse else (a, b) for a, b in pairs]
    compiled = [(_compile(src), dst) for src, dst in table]

    def rule(key: str) -> str | None:
        for regex, dst in compiled:
            m = regex.match(key)
            if m:
                return dst.format(**m.groupdict())
        return None

    return rule

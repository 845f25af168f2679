"""The in-memory form every reader produces and every writer consumes.

Trunk weights always carry ssl-models' parameter names (torchvision names for ResNe(X)ts); heads
are entries of the ssl checkpoint (``{"name", "kwargs", "state_dict"}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from ssl_convert.errors import FormatError
from ssl_convert.keymap import MappedState

__all__ = ["Weights", "from_mapped", "head_keys", "mapped_trunk", "plain_state", "state_dict_entry"]


@dataclass
class Weights:
    """Trunk (+ heads) weights read from some format, named the ssl-models way.

    Attributes:
        trunk_state: trunk state dict with ssl-models names.
        trunk_name / trunk_kwargs: how to rebuild the trunk, when the file says so (else None:
            worked out from the shapes, or from ``arch``).
        heads: ssl checkpoint head entries.
        dropped: source keys removed on purpose (heads a format cannot hold, momentum blobs...).
        unconverted: source keys no rule matched; a conversion refuses to write while any remain.
        notes: one-line remarks for the report (what was found, what was assumed).
        arch_hints: build arguments the file states outside the weights (e.g. a ViT's
            ``num_heads`` from a timm ``arch`` name): ``{kwarg: (value, where it came from)}``.
    """

    trunk_state: dict[str, Tensor]
    trunk_name: str | None = None
    trunk_kwargs: dict[str, Any] | None = None
    heads: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    unconverted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    arch_hints: dict[str, tuple[Any, str]] = field(default_factory=dict)


def plain_state(obj: object) -> dict[str, Tensor]:
    """A flat state dict of tensors: ``obj`` itself, or its ``state_dict`` / ``model`` entry."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, Tensor) for v in inner.values()):
                return dict(inner)
        if obj and all(isinstance(v, Tensor) for v in obj.values()):
            return dict(obj)
    raise FormatError("expected a state dict of tensors")


def head_keys(payload: Mapping[str, Any]) -> list[str]:
    """``heads.<i>.<key>`` for every head weight of an ssl checkpoint (for "dropped" lists)."""
    return [f"heads.{i}.{k}" for i, h in enumerate(payload.get("heads") or []) for k in h["state_dict"]]


def state_dict_entry(obj: object, what: str) -> Mapping[str, Tensor]:
    """``obj["state_dict"]`` when present, else ``obj`` itself (official checkpoints do both)."""
    state = obj.get("state_dict", obj) if isinstance(obj, Mapping) else None
    if not isinstance(state, Mapping):
        raise FormatError(f"a {what} checkpoint is a dict of tensors (optionally under state_dict)")
    return state


def from_mapped(mapped: MappedState) -> Weights:
    """:class:`Weights` holding a mapped trunk state with its dropped / unconverted keys."""
    return Weights(dict(mapped.state), dropped=list(mapped.dropped), unconverted=list(mapped.unconverted))  # type: ignore[arg-type]


def mapped_trunk(mapped: MappedState, fmt: str) -> dict[str, Any]:
    """The mapped trunk state for writing; :class:`FormatError` if any trunk key has no place."""
    if mapped.unconverted:
        raise FormatError(f"{fmt} has no place for {len(mapped.unconverted)} trunk keys, e.g. {mapped.unconverted[0]!r}")
    return dict(mapped.state)

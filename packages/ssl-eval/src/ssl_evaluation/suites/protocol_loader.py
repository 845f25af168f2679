"""Benchmark protocols from their dataclass defaults, a YAML file and dotted ``key=value``
overrides, validated by OmegaConf's structured configs (unknown keys and wrong types rejected).

The same syntax as ssl-train's recipes: ``k=20 temperature=0.07`` for one benchmark, and
``benchmark.knn.k=20`` inside ``ssl run`` (see :func:`split_overrides`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["ProtocolError", "load_protocol", "protocol_dict", "protocol_yaml", "split_overrides"]

T = TypeVar("T")


class ProtocolError(ValueError):
    """A protocol file or override that does not fit the protocol dataclass (one-line message)."""


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split("\n")[0].split())


def _load_mapping(path: Path) -> Any:
    """A protocol file's YAML mapping; anything else is one clear ProtocolError."""
    import yaml
    from omegaconf import DictConfig, OmegaConf

    try:
        loaded = OmegaConf.load(path)
    except yaml.YAMLError as error:
        raise ProtocolError(f"protocol file {path} is not valid YAML: {_one_line(error)}") from None
    if not isinstance(loaded, DictConfig):
        raise ProtocolError(f"protocol file {path} must hold a mapping of protocol keys, got a {type(loaded).__name__}")
    return loaded


def load_protocol(defaults: T, overrides: Sequence[str] = (), config_file: str | Path | None = None) -> T:
    """Merge ``defaults`` (a protocol dataclass instance), a YAML file and dotted overrides.

    Args:
        defaults: e.g. ``KnnProtocol()``.
        overrides: ``["k=20", "temperature=0.07"]``; nested fields with dots (``knn.k=20``).
        config_file: a YAML mapping of the same keys, applied before ``overrides``.

    Returns:
        A new instance of ``type(defaults)``.

    Raises:
        ProtocolError: unknown key, wrong type, malformed override or unreadable file.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not dataclasses.is_dataclass(defaults) or isinstance(defaults, type):
        raise TypeError(f"defaults must be a dataclass instance, got {defaults!r}")
    name = type(defaults).__name__
    try:
        merged = OmegaConf.structured(defaults)
        OmegaConf.set_struct(merged, True)
        if config_file is not None:
            path = Path(config_file)
            if not path.is_file():
                raise FileNotFoundError(f"protocol file not found: {path}")
            merged = OmegaConf.merge(merged, _load_mapping(path))
        for item in overrides:
            if "=" not in item or item.startswith("="):
                raise ProtocolError(f"override {item!r} is not key=value")
        if overrides:
            merged = OmegaConf.merge(merged, OmegaConf.from_dotlist(list(overrides)))
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except OmegaConfBaseException as error:
        key = getattr(error, "full_key", None)
        raise ProtocolError(f"{name}{'.' + str(key) if key else ''}: {_one_line(error)}") from None


def protocol_dict(protocol: Any) -> dict[str, Any]:
    """A protocol dataclass as plain JSON-ready values (what results.json records)."""
    return dataclasses.asdict(protocol)


def protocol_yaml(protocol: Any) -> str:
    """A protocol dataclass as the YAML that ``load_protocol``'s file takes (``ssl benchmark protocol``)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.structured(protocol))


def split_overrides(items: Sequence[str], prefix: str = "benchmark.") -> tuple[list[str], list[str]]:
    """``(without_prefix, rest)``: the overrides that start with ``prefix`` (prefix removed) and the
    others, in order. ``ssl run`` sends the first to the benchmark protocol and the rest to the
    recipe."""
    ours = [item[len(prefix):] for item in items if item.startswith(prefix)]
    rest = [item for item in items if not item.startswith(prefix)]
    return ours, rest

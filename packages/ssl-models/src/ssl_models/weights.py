"""Loading weights with VISSL's WEIGHTS_INIT semantics: pick a key inside the checkpoint, remove
or append a prefix, skip layers, strict or reporting missing/unexpected keys."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["LoadReport", "load_weights", "select_state_dict"]


@dataclass
class LoadReport:
    """What ``load_weights`` did: keys loaded, model keys left missing, checkpoint keys unused, skipped."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def select_state_dict(checkpoint: Mapping[str, Any], state_dict_key: str) -> dict[str, Tensor]:
    """Walk ``checkpoint`` along the dotted ``state_dict_key`` (VISSL's STATE_DICT_KEY_NAME, e.g.
    ``"classy_state_dict.base_model.model.trunk"``; ``""`` for a flat dict) and return the tensors there."""
    node: Any = checkpoint
    walked = []
    for part in [p for p in state_dict_key.split(".") if p]:
        if not isinstance(node, Mapping) or part not in node:
            where = ".".join(walked) or "the top level"
            keys = ", ".join(sorted(map(str, node))[:10]) if isinstance(node, Mapping) else type(node).__name__
            raise KeyError(f"state_dict_key {state_dict_key!r}: no {part!r} at {where} (has: {keys})")
        node = node[part]
        walked.append(part)
    if not isinstance(node, Mapping):
        raise ValueError(f"state_dict_key {state_dict_key!r} does not lead to a dict of tensors")
    return {k: v for k, v in node.items() if isinstance(v, Tensor)}


def load_weights(
    model: nn.Module,
    checkpoint: Mapping[str, Any] | str | os.PathLike[str],
    state_dict_key: str = "",
    skip_layers: Sequence[str] = ("num_batches_tracked",),
    remove_prefix: str = "",
    append_prefix: str = "",
    strict: bool = False,
) -> LoadReport:
    """Load weights into ``model`` like VISSL's WEIGHTS_INIT.

    Args:
        model: the module to fill (its own key names are the target).
        checkpoint: a dict, or a path read with ``torch.load(weights_only=True)``.
        state_dict_key: dotted key of the state dict inside the checkpoint ("" = top level).
        skip_layers: checkpoint keys containing any of these substrings are not loaded.
        remove_prefix: removed from the start of every checkpoint key that has it.
        append_prefix: then put in front of every key (VISSL appends to all layers).
        strict: raise ``ValueError`` when model keys stay missing or checkpoint keys are unused
            (skipped keys excepted), or when shapes differ.

    Returns:
        a ``LoadReport``.
    """
    if not isinstance(checkpoint, Mapping):
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(checkpoint, Mapping):
            raise ValueError(f"weights file {path} does not hold a dict")
    source = select_state_dict(checkpoint, state_dict_key)
    report = LoadReport()
    renamed: dict[str, Tensor] = {}
    for key, value in source.items():
        if any(s and s in key for s in skip_layers):
            report.skipped.append(key)
            continue
        new = key[len(remove_prefix) :] if remove_prefix and key.startswith(remove_prefix) else key
        renamed[append_prefix + new] = value
    target = model.state_dict()
    skipped_targets = {k for k in target if any(s and s in k for s in skip_layers)}
    mismatched = [k for k, v in renamed.items() if k in target and tuple(target[k].shape) != tuple(v.shape)]
    if mismatched:
        detail = ", ".join(f"{k} {tuple(renamed[k].shape)} vs {tuple(target[k].shape)}" for k in mismatched[:5])
        raise ValueError(f"shape mismatch for {len(mismatched)} keys: {detail}")
    report.loaded = [k for k in renamed if k in target]
    report.unexpected = [k for k in renamed if k not in target]
    report.missing = [k for k in target if k not in renamed and k not in skipped_targets]
    if strict and (report.missing or report.unexpected):
        raise ValueError(
            f"strict weight loading: {len(report.missing)} missing keys (e.g. {report.missing[:3]}), "
            f"{len(report.unexpected)} unexpected keys (e.g. {report.unexpected[:3]})"
        )
    model.load_state_dict({k: renamed[k] for k in report.loaded}, strict=False)
    return report
